from __future__ import annotations

import math

import numpy as np
import pytest
from tests.viz.conftest import assert_png

from gradstep import nn
from gradstep.optim import SGD
from gradstep.train import fit
from gradstep.viz.layers import (
    LayerStats,
    LayerTracker,
    gradient_ratio,
    plot_gradient_profile,
    plot_layer_stats,
)


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _mlp(seed=0):
    g = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(6, 8, generator=g), nn.Tanh(), nn.Linear(8, 2, generator=g))


def test_tracker_records_the_real_step():
    x, y = _data()
    model = _mlp()
    w0 = {n: p.data.copy() for n, p in model.named_parameters()}
    ref = _mlp()
    tracker = LayerTracker()
    # full batch, plain SGD: update = lr * grad exactly
    h = fit(model, (x, y), optimizer=SGD(model.parameters(), lr=0.1), epochs=2,
            batch_size="full", callbacks=[tracker], verbose=0, shuffle=False)
    st = h.layers
    assert st is tracker.stats
    assert st.names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert st.steps == [1, 2]
    # first step, by hand: the gradient of the reference model at the initial weights
    loss = nn.CrossEntropyLoss()(ref(x), y)
    loss.backward()
    for n, p in ref.named_parameters():
        g = np.linalg.norm(p.grad)
        assert st["grad_norm"][n][0] == pytest.approx(g, rel=1e-5)
        assert st["weight_norm"][n][0] == pytest.approx(np.linalg.norm(w0[n]), rel=1e-6)
        assert st["update_norm"][n][0] == pytest.approx(0.1 * g, rel=1e-4)
        assert st["update_ratio"][n][0] == pytest.approx(0.1 * g / np.linalg.norm(w0[n]), rel=1e-4)
    for stat in ("grad_norm", "weight_norm", "update_norm", "update_ratio"):
        for n in st.names:
            assert len(st[stat][n]) == 2 and all(math.isfinite(v) for v in st[stat][n])


def test_every_and_round_trip():
    x, y = _data()
    model = _mlp()
    t = LayerTracker(every=3)
    fit(model, (x, y), optimizer=SGD(model.parameters(), lr=0.1), epochs=1, batch_size=8,
        callbacks=[t], verbose=0)
    assert t.stats.steps == [3, 6, 9, 12]
    back = LayerStats.from_dict(t.stats.to_dict())
    assert back.steps == t.stats.steps and back["grad_norm"] == t.stats["grad_norm"]
    t2 = LayerTracker()
    t2.load_state_dict(t.state_dict())
    assert t2.stats.to_dict() == t.stats.to_dict()
    with pytest.raises(ValueError):
        LayerTracker(every=0)
    with pytest.raises(KeyError):
        t.stats["nope"]


def _deep(activation, depth=8, width=32, seed=0):
    g = np.random.default_rng(seed)
    sizes = [64] + [width] * depth + [10]
    layers = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1], generator=g)
        if activation == "relu":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu", generator=g)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.Sigmoid() if activation == "sigmoid" else nn.ReLU())
    return nn.Sequential(*layers)


def test_vanishing_gradients_sigmoid_versus_relu():
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    x = (d.data[:384] / 16.0).astype(np.float32)
    y = d.target[:384].astype(np.int64)
    ratios = {}
    for act in ("sigmoid", "relu"):
        m = _deep(act)
        t = LayerTracker()
        fit(m, (x, y), optimizer=SGD(m.parameters(), lr=0.05, momentum=0.9), epochs=1,
            batch_size=64, callbacks=[t], verbose=0)
        ratios[act] = gradient_ratio(t.stats)
    # first-layer / last-layer gradient norm: vanishing for sigmoid, order one for ReLU + He
    assert ratios["sigmoid"] < 1e-3
    assert ratios["relu"] > 1e-1
    assert ratios["sigmoid"] < 1e-3 * ratios["relu"]


def test_plots_show_the_recorded_history(tmp_path):
    x, y = _data()
    model = _mlp()
    t = LayerTracker()
    fit(model, (x, y), optimizer=SGD(model.parameters(), lr=0.1), epochs=1, batch_size=16,
        callbacks=[t], verbose=0)
    out = plot_layer_stats(t.stats, None, title="t")
    axes = out["figure"].axes
    assert len(axes) == 4
    for ax, stat in zip(axes, ("grad_norm", "weight_norm", "update_norm", "update_ratio")):
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert set(lines) == {"0.weight", "2.weight"}
        for name, ln in lines.items():
            np.testing.assert_array_equal(ln.get_xdata(), t.stats.steps)
            np.testing.assert_array_equal(ln.get_ydata(), t.stats[stat][name])
    saved = plot_layer_stats(t.stats, tmp_path / "l.png", width_px=600, height_px=400)
    assert_png(saved["path"], (600, 400))
    prof = plot_gradient_profile({"a": t.stats}, tmp_path / "g.png", last=3, width_px=400,
                                 height_px=300)
    assert_png(prof["path"], (400, 300))
    idx, vals = prof["series"]["a"]
    np.testing.assert_array_equal(idx, [1, 2])
    assert vals[0] == pytest.approx(np.mean(t.stats["grad_norm"]["0.weight"][-3:]))


def test_fit_with_a_layer_tracker_callback():
    x, y = _data()
    model = _mlp()
    tracker = LayerTracker()
    h = fit(model, (x, y), optimizer=SGD(model.parameters(), lr=0.1), epochs=1, batch_size=32,
            verbose=0, callbacks=[tracker])
    assert isinstance(h.layers, LayerStats) and h.layers is tracker.stats
    assert h.layers.steps == [1, 2, 3]
    assert len(h.layers["update_ratio"]["0.weight"]) == 3
