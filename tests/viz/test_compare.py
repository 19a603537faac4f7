from __future__ import annotations

import re

import numpy as np
import pytest
from tests.viz.conftest import assert_png

from gradstep import nn
from gradstep.errors import ConfigError
from gradstep.viz import compare as C


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    return x, y


def _factory(calls):
    def make():
        calls.append(1)
        g = np.random.default_rng(len(calls))  # different weights on purpose
        return nn.Sequential(nn.Linear(5, 8, generator=g), nn.ReLU(), nn.Linear(8, 2, generator=g))
    return make


@pytest.fixture(scope="module")
def result():
    x, y = _data()
    calls: list[int] = []
    res = C.run_compare(_factory(calls), (x[:90], y[:90]), (x[90:], y[90:]),
                        C.default_settings(lr=0.05, batch_sizes=(1, 16, "full")), epochs=2)
    assert len(calls) == 6
    return res


def test_default_settings_cover_batch_modes_and_momentum():
    st = C.default_settings()
    assert [s.batch_size for s in st] == [1, 1, 32, 32, None, None]
    assert [s.optimizer.kwargs.get("momentum", 0) for s in st] == [0, 0.9] * 3
    assert st[0].batch_label == "batch 1 (SGD)" and st[-1].batch_label == "full batch"


def test_runs_share_initial_weights_and_record_everything(result):
    runs = result.runs
    # same initial weights: the same loss before training
    assert len({r.epoch_loss[0] for r in runs}) == 1
    steps = [len(r.step_loss) for r in runs]
    assert steps == [180, 180, 12, 12, 2, 2]
    for r in runs:
        assert len(r.step_time) == len(r.step_loss)
        assert np.all(np.diff(r.step_time) >= 0)
        np.testing.assert_array_equal(r.step_loss, r.history.steps["loss"])
        np.testing.assert_array_equal(r.epoch_loss[1:], r.history["loss"])
        assert len(r.epoch_time) == 3 and r.epoch_time[0] == 0
        assert 0 <= r.final["val_accuracy"] <= 1 and "accuracy" in r.final
    # plain SGD on batch 1 made the training loss fall
    assert runs[0].epoch_loss[-1] < runs[0].epoch_loss[0]


def test_figures_plot_the_recorded_series(result, tmp_path):
    out = C.plot_step_loss(result)
    fig = out["figure"]
    by_gid = {ln.get_gid(): ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid()}
    for r in result.runs:
        np.testing.assert_array_equal(by_gid[r.label].get_ydata(), r.step_loss)
        np.testing.assert_array_equal(out["series"][r.label][1], r.step_loss)
    assert [ax.get_title() for ax in fig.axes] == ["batch 1 (SGD)", "batch 16", "full batch"]
    ep = C.plot_epoch_loss(result)["figure"].axes[0]
    lines = {ln.get_label(): ln for ln in ep.get_lines()}
    for r in result.runs:
        np.testing.assert_array_equal(lines[r.label].get_ydata(), r.epoch_loss)
    assert ep.get_xlabel() and ep.get_ylabel() and ep.get_legend() is not None
    tl = C.plot_time_loss(result)["figure"].axes[0]
    lines = {ln.get_label(): ln for ln in tl.get_lines()}
    for r in result.runs:
        np.testing.assert_array_equal(lines[r.label].get_xdata(), r.epoch_time)
    assert "seconds" in tl.get_xlabel()


def test_report_and_pngs(result, tmp_path):
    paths = C.write_compare(result, tmp_path)
    assert_png(paths["step_loss"], (1000, 420))
    assert_png(paths["epoch_loss"], (800, 450))
    assert_png(paths["time_loss"], (800, 450))
    html = paths["report"].read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    assert html.count("<tr>") == 1 + len(result.runs)
    assert "validation accuracy" in html and "training loss" in html
    assert "What the figures show" in html and "noisiest" in html


def test_bad_settings():
    with pytest.raises(ConfigError):
        C.parse_batch_size("zero")
    with pytest.raises(ConfigError):
        C.parse_batch_size(0)
    assert C.parse_batch_size("full") is None and C.parse_batch_size("8") == 8
    with pytest.raises(ConfigError):
        C.make_settings([], [1])
    x, y = _data()
    with pytest.raises(ConfigError, match="epochs"):
        C.run_compare(_factory([]), (x, y), epochs=0)


def test_default_learning_rate_is_one_every_batch_mode_survives():
    st = C.default_settings()
    assert {s.optimizer.kwargs["lr"] for s in st} == {C.DEFAULT_LR}
    assert C.DEFAULT_LR == 0.005


@pytest.fixture(scope="module")
def diverged():
    """Batch 1 with momentum at a large rate diverges; the others do not."""
    x, y = _data(n=80)
    x = x * 3.0
    calls: list[int] = []
    settings = C.make_settings(["sgd:lr=0.05", "momentum:lr=3.0,momentum=0.9"], [1, "full"])
    return C.run_compare(_factory(calls), (x[:60], y[:60]), (x[60:], y[60:]), settings,
                         epochs=2)


def test_a_diverged_run_stops_where_it_diverged(diverged):
    runs = {r.label: r for r in diverged.runs}
    bad = runs["batch 1 (SGD), momentum (lr=3, momentum=0.9)"]
    assert bad.diverged_at is not None and bad.diverged_at == len(bad.step_loss)
    last = bad.step_loss[-1]
    assert not np.isfinite(last) or last > C.DIVERGENCE_RATIO * bad.step_loss[0]
    assert np.all(np.isfinite(bad.step_loss[:-1]))
    # the epoch series ends at the (fractional) epoch of the divergence
    assert bad.epoch_x[-1] == pytest.approx(bad.diverged_at / 60)
    ok = runs["batch 1 (SGD), sgd (lr=0.05)"]
    assert ok.diverged_at is None and len(ok.step_loss) == 120


def test_a_diverged_run_is_marked_and_does_not_rescale_the_others(diverged):
    ep = C.plot_epoch_loss(diverged)["figure"].axes[0]
    labels = [ln.get_label() for ln in ep.get_lines()]
    assert any("(diverged at step" in lab for lab in labels)
    marks = [ln for ln in ep.get_lines() if ln.get_gid() == "diverged"]
    assert len(marks) == sum(1 for r in diverged.runs if r.diverged_at is not None)
    ok = np.concatenate([r.epoch_loss for r in diverged.runs if r.diverged_at is None])
    lo, hi = ep.get_ylim()
    assert hi <= ok.max() * 1.5 * (1 + 1e-9)  # the axis is the surviving runs'
    assert lo >= ok[ok > 0].min() / 1.5 * (1 - 1e-9)
    step = C.plot_step_loss(diverged)["figure"]
    panel = step.axes[0]
    assert panel.get_title() == "batch 1 (SGD)"
    assert [ln.get_gid() for ln in panel.get_lines()].count("diverged") == 1
    good = diverged.runs[0].step_loss
    assert panel.get_ylim()[1] <= good.max() * 1.5 * (1 + 1e-9)
    legend = [t.get_text() for t in step.legends[0].get_texts()]
    assert len(legend) == 2  # one entry per optimizer, the divergence noted in it
    assert any("batch 1 (SGD): diverged at step" in t for t in legend)


def test_the_report_marks_the_divergence(diverged, tmp_path):
    html = C.write_compare(diverged, tmp_path)["report"].read_text()
    assert "diverged at step" in html
    assert "at step " in html and "<td>no</td>" in html
    assert "A smaller --lr avoids it" in html
