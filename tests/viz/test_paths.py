from __future__ import annotations

import numpy as np
import pytest
from tests.viz.conftest import assert_png

import gradstep as gs
from gradstep.errors import ConfigError
from gradstep.viz import paths as P
from gradstep.viz.spec import parse_optimizer_spec


def _hand_grad(name: str, x: float, y: float) -> np.ndarray:
    if name == "quadratic":
        return np.array([x, 20.0 * y])
    if name == "rosenbrock":
        return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])
    if name == "beale":
        a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
        return np.array([
            2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
            2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2,
        ])
    if name == "himmelblau":
        u, v = x**2 + y - 11, x + y**2 - 7
        return np.array([4 * x * u + 2 * v, 2 * u + 4 * y * v])
    return np.array([2 * x, -2 * y + y**3])


@pytest.mark.parametrize("name", sorted(P.FUNCTIONS))
def test_functions_are_differentiated_by_gradstep(name):
    fn = P.get_function(name)
    for xy in [(0.3, -0.7), (1.2, 0.4), fn.start]:
        p = gs.tensor(np.array(xy, dtype=np.float64), requires_grad=True)
        fn(p).backward()
        np.testing.assert_allclose(p.grad, _hand_grad(name, *xy), rtol=1e-10, atol=1e-10)
    for m in fn.minima:
        assert fn.value(m) == pytest.approx(fn.f_min, abs=1e-5)


def test_grid_matches_pointwise_values():
    fn = P.get_function("himmelblau")
    gx, gy, z = fn.grid(7)
    assert z.shape == (7, 7)
    assert z[3, 5] == pytest.approx(fn.value((gx[3, 5], gy[3, 5])))


def test_trajectory_is_the_real_optimizer_step():
    fn = P.get_function("quadratic", condition=10)
    tr = P.run_trajectory(fn, parse_optimizer_spec("momentum:lr=0.05,momentum=0.5"), (2.0, 1.0), 3)
    # hand: PyTorch momentum b = mu*b + g (b = g first), p -= lr*b
    p = np.array([2.0, 1.0])
    b = None
    pts = [p.copy()]
    for _ in range(3):
        g = np.array([p[0], 10 * p[1]])
        b = g if b is None else 0.5 * b + g
        p = p - 0.05 * b
        pts.append(p.copy())
    np.testing.assert_allclose(tr.xy, np.array(pts), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tr.loss, [fn.value(q) for q in pts], rtol=1e-12)
    assert tr.steps == 3 and not tr.diverged


def test_divergence_stops_the_path():
    fn = P.get_function("quadratic", condition=10)
    tr = P.run_trajectory(fn, parse_optimizer_spec("sgd:lr=1.0"), None, 500)
    assert tr.diverged and tr.steps < 500
    assert np.all(np.isfinite(tr.xy))
    assert len(tr.loss) == len(tr.xy)


def test_default_optimizers_converge_on_the_bowl():
    res = P.run_paths("quadratic", steps=300, condition=20)
    labels = [t.label for t in res.trajectories]
    assert any(lab.startswith("sgd") for lab in labels)
    assert any(lab.startswith("nesterov") for lab in labels)
    assert any(lab.startswith("adam") for lab in labels)
    for t in res.trajectories:
        assert t.loss[-1] < 1e-6, t.label
        np.testing.assert_allclose(t.xy[0], res.start)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="unknown function"):
        P.get_function("nope")
    with pytest.raises(ConfigError, match="condition"):
        P.quadratic(0.5)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        P.run_paths("saddle", ["frobnicate:lr=1"], steps=2)
    with pytest.raises(ConfigError, match="bad arguments"):
        P.run_paths("saddle", ["sgd:lr=1,nope=3"], steps=2)
    with pytest.raises(ConfigError, match="start"):
        P.run_paths("saddle", ["sgd:lr=1"], start=(1.0, 2.0, 3.0), steps=2)


def test_plot_paths_draws_the_recorded_paths(tmp_path):
    res = P.run_paths("rosenbrock", ["sgd:lr=0.001", "adam:lr=0.05"], steps=40)
    out = P.plot_paths(res, None)
    fig = out["figure"]
    ax, ax2 = fig.axes
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    for t in res.trajectories:
        x, y = lines[t.label].get_data()
        np.testing.assert_array_equal(x, t.xy[:, 0])
        np.testing.assert_array_equal(y, t.xy[:, 1])
        np.testing.assert_array_equal(out["paths"][t.label][0], t.xy[:, 0])
    loss_lines = {ln.get_label(): ln for ln in ax2.get_lines()}
    for t in res.trajectories:
        np.testing.assert_allclose(loss_lines[t.label].get_ydata(), np.maximum(t.loss, 1e-16))
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert ax2.get_yscale() == "log" and ax2.get_legend() is not None
    # distinct line styles and markers, not only colours
    styles = {(ln.get_linestyle(), ln.get_marker()) for ln in ax2.get_lines()}
    assert len(styles) == len(res.trajectories)
    saved = P.plot_paths(res, tmp_path / "p.png", width_px=640, height_px=300)
    assert_png(saved["path"], (640, 300))


def test_animation_writes_a_gif(tmp_path):
    res = P.run_paths("saddle", ["sgd:lr=0.05", "momentum:lr=0.02"], steps=30)
    out = P.animate_paths(res, tmp_path / "a.gif", frames=5, width_px=300, height_px=240)
    data = out.read_bytes()
    assert data[:6] in (b"GIF89a", b"GIF87a")
    w, h = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    assert (w, h) == (300, 240)


def test_scalar_gradient_accumulation_regression():
    # a 0-d tensor used three or more times: NumPy's 0-d `a + b` is a scalar, not an array;
    # the engine must still accumulate every contribution (found via the Beale function)
    x = gs.tensor(np.array(0.3), requires_grad=True)
    (x * 2 + x * 2 + x * 2 + x * 2).backward()
    assert float(x.grad) == pytest.approx(8.0)


@pytest.mark.parametrize("name", sorted(P.FUNCTIONS))
def test_defaults_never_diverge_on_any_function(name):
    res = P.run_paths(name, steps=300)
    for t in res.trajectories:
        assert not t.diverged, (name, t.label, t.reason)
        assert t.loss[-1] < t.loss[0], (name, t.label)


@pytest.mark.parametrize("condition", [1.0, 5.0, 20.0, 100.0, 1e3, 1e5])
def test_quadratic_defaults_follow_the_condition_number(condition):
    res = P.run_paths("quadratic", steps=300, condition=condition)
    for t in res.trajectories:
        assert not t.diverged, (condition, t.label, t.reason)
        assert t.loss[-1] < t.loss[0], (condition, t.label)


def test_a_diverged_path_says_why_in_the_figure():
    res = P.run_paths("quadratic", ["sgd:lr=0.5", "sgd:lr=0.01"], steps=200, condition=20)
    bad, good = res.trajectories
    assert bad.diverged and not good.diverged
    assert "lr = 0.5 is above the stability bound" in bad.reason and "0.1" in bad.reason
    out = P.plot_paths(res)
    texts = [t.get_text() for t in out["figure"].texts]
    assert any(bad.reason in t for t in texts)
    labels = [ln.get_label() for ln in out["figure"].axes[1].get_lines()]
    assert any(lab.startswith("sgd (lr=0.5) (diverged at step") for lab in labels)
