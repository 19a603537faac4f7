"""Regression tests for the idioms that used to give a different answer with no error, and
for the engine contract items that go with them (versions, thread-local grad mode, NumPy
conversion, typed errors)."""

from __future__ import annotations

import ast
import pathlib
import threading

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn

torch = pytest.importorskip("torch")

SRC = pathlib.Path(gs.__file__).parent


# ------------------------------------------------------------ 1. in-place SGD loop
def _hand_sgd(lib, steps: int = 200) -> list[float]:  # type: ignore[no-untyped-def]
    """The classic hand-written loop of PyTorch tutorials, on a fixed problem."""
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((64, 3))
    x = lib.tensor(xa)
    y = lib.tensor(xa @ np.array([[1.5], [-2.0], [0.5]]) + 0.1 * rng.standard_normal((64, 1)))
    w = lib.tensor(np.zeros((3, 1)), requires_grad=True)
    b = lib.tensor(np.zeros(1), requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with lib.no_grad():
            for p in (w, b):
                p -= 0.1 * p.grad
                p.grad.zero_()
        losses.append(loss.item())
    return losses


def test_hand_written_sgd_loop_trains_like_torch() -> None:
    g, t = _hand_sgd(gs), _hand_sgd(torch)
    assert g[-1] < 0.01 * g[0]  # it trains (before the fix the loss stayed constant)
    # float64 throughout; the two libraries sum in different orders: 1e-9 relative
    np.testing.assert_allclose(g, t, rtol=1e-9)


def test_no_grad_update_lands_in_the_parameter_of_a_module() -> None:
    model = nn.Linear(3, 2, generator=np.random.default_rng(0))
    before = model.weight._data.copy()
    array_id = id(model.weight._data)
    model(gs.ones(4, 3)).sum().backward()
    with gs.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad
    assert id(model.weight._data) == array_id  # same array: views and optimizers see it
    np.testing.assert_allclose(model.weight._data, before - 0.5 * model.weight._grad)


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad() -> None:
    w = gs.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(gs.GradError, match="leaf"):
        w -= 1.0
    with pytest.raises(RuntimeError):  # the type PyTorch raises
        w.add_(1.0)


def test_version_counter_detects_a_saved_tensor_modified_in_place() -> None:
    x = gs.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = h * h  # saves h
    with gs.no_grad():
        h.add_(1.0)
    with pytest.raises(gs.GradError, match="in-place"):
        y.sum().backward()
    # an input that does not require grad but is saved by the op is checked too
    w = gs.tensor([1.0, 2.0], requires_grad=True)
    c = gs.tensor([3.0, 4.0])
    z = w * c
    c.mul_(2.0)
    with pytest.raises(gs.GradError, match="in-place"):
        z.sum().backward()


def test_in_place_before_the_forward_is_fine() -> None:
    w = gs.tensor([1.0, 2.0], requires_grad=True)
    with gs.no_grad():
        w.mul_(2.0)
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [4.0, 8.0])


def test_in_place_on_a_non_leaf_is_recorded() -> None:
    x = gs.tensor([1.0, 2.0, -1.0], requires_grad=True)
    y = x * 2
    y *= y  # y = (2x)^2, dy/dx = 8x
    y[x < 0] = 0.0  # setitem on a non-leaf: no gradient where overwritten
    y += x  # dy/dx = 8x + 1 (and 1 where overwritten)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [9.0, 17.0, 1.0])


def test_a_tensor_used_before_it_was_modified_in_place_raises_rather_than_misroutes() -> None:
    # PyTorch accepts this; gradstep's graph nodes are the tensors themselves, so the earlier
    # use would route its gradient through the in-place op: backward refuses instead.
    x = gs.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y[0] * 3
    y[0] = z
    with pytest.raises(gs.GradError, match="in-place"):
        y.sum().backward()


# ------------------------------------------------------------------ 2. transpose
def test_transpose_swaps_two_dims() -> None:
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(gs.tensor(m).transpose(0, 1).numpy(), m.T)
    a = np.arange(24.0).reshape(2, 3, 4)
    out = gs.tensor(a).transpose(1, 2)
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out.numpy(), torch.tensor(a).transpose(1, 2).numpy())
    with pytest.raises(TypeError):
        gs.tensor(a).transpose()  # NumPy's reversal has no PyTorch meaning


# ------------------------------------------------------------------ 3. comparisons
def test_equality_is_elementwise_and_tensors_still_hash_by_identity() -> None:
    a = gs.tensor([1.0, 2.0, 3.0])
    out = gs.where(a == 2.0, a, 0 * a)
    np.testing.assert_array_equal(out.numpy(), [0.0, 2.0, 0.0])
    assert (a != 2.0).dtype == gs.bool
    b = gs.tensor([1.0, 2.0, 3.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


# ---------------------------------------------------- 4. Python scalars keep dtypes
@pytest.mark.parametrize("expr", [
    lambda t: 10.0 / t, lambda t: 2 ** t, lambda t: gs.maximum(t, 0.0),
    lambda t: gs.minimum(t, 1.0), lambda t: gs.where(t > 0, t, 0.0), lambda t: t * 2.5,
    lambda t: 1 - t, lambda t: t.clamp(min=0.0), lambda t: t.masked_fill(t > 0, 1.5),
])
def test_python_scalars_never_change_the_dtype(expr) -> None:  # type: ignore[no-untyped-def]
    t = gs.tensor([0.5, -1.5], requires_grad=True)
    out = expr(t)
    assert out.dtype == gs.float32
    out.sum().backward()
    assert t.grad.dtype == gs.float32


# ------------------------------------------------------------- engine contract
def test_np_array_copies_and_numpy_shares() -> None:
    t = gs.tensor([1.0, 2.0])
    a = np.array(t)
    a[0] = 5.0
    b = np.array(t, copy=True)
    b[1] = 5.0
    assert t.tolist() == [1.0, 2.0]
    t.numpy()[0] = 7.0
    assert t.tolist() == [7.0, 2.0]


def test_every_dim_error_is_a_shape_error() -> None:
    x = gs.zeros(2, 3)
    calls = [lambda: x.sum(dim=2), lambda: x.mean(axis=-3), lambda: x.max(dim=4),
             lambda: x.softmax(dim=2), lambda: x.transpose(0, 2), lambda: x.unsqueeze(4),
             lambda: x.argmax(dim=2), lambda: x.cumsum(dim=5), lambda: gs.cat([x, x], dim=3),
             lambda: x.flatten(0, 3), lambda: x.size(2), lambda: gs.tensor(3.0).sum(dim=1),
             lambda: x.var(dim=7), lambda: x.logsumexp(dim=2), lambda: x.flip(3)]
    for call in calls:
        with pytest.raises(gs.ShapeError):
            call()
        with pytest.raises(IndexError):  # PyTorch's "Dimension out of range" type
            call()


def test_grad_mode_is_thread_local() -> None:
    seen: dict[str, bool] = {}
    inside = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with gs.no_grad():
            inside.set()
            release.wait(5)
            seen["worker"] = gs.is_grad_enabled()

    th = threading.Thread(target=worker)
    th.start()
    inside.wait(5)
    x = gs.tensor([1.0], requires_grad=True)
    seen["main"] = gs.is_grad_enabled()
    seen["main_records"] = (x * 2).requires_grad
    release.set()
    th.join()
    assert seen == {"worker": False, "main": True, "main_records": True}
    assert gs.is_grad_enabled()


def test_no_grad_decorator_forms_and_inference_mode() -> None:
    x = gs.tensor([1.0], requires_grad=True)

    @gs.no_grad
    def bare(t):  # type: ignore[no-untyped-def]
        return t * 2

    @gs.no_grad()
    def called(t):  # type: ignore[no-untyped-def]
        return t * 2

    @gs.inference_mode()
    def inf(t):  # type: ignore[no-untyped-def]
        return t * 2

    assert not bare(x).requires_grad and not called(x).requires_grad
    assert not inf(x).requires_grad
    assert gs.is_grad_enabled()
    gs.set_grad_enabled(False)
    try:
        assert not gs.is_grad_enabled()
    finally:
        gs.set_grad_enabled(True)
    assert gs.is_grad_enabled()


def test_non_finite_error_declares_its_fields() -> None:
    err = gs.NonFiniteError("boom", epoch=2, step=7, parameter="fc.weight")
    assert (err.epoch, err.step, err.parameter) == (2, 7, "fc.weight")
    plain = gs.NonFiniteError("boom")
    assert (plain.epoch, plain.step, plain.parameter) == (None, None, None)


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            if node.module == "gradstep":
                out.update(f"gradstep.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_tensor_and_ops_do_not_import_each_other() -> None:
    engine = ["tensor", "_tensor_methods", "_dtypes", "_format", "_random", "_device", "errors"]
    for name in engine:
        imported = _imports(SRC / f"{name}.py")
        assert not any(m.startswith("gradstep.ops") or m.startswith("gradstep._ops")
                       or m == "gradstep._inplace" for m in imported), (name, imported)


def test_grad_is_the_same_object_while_the_array_is_unchanged() -> None:
    w = gs.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    g = w.grad
    (w * 3).sum().backward()
    assert w.grad is g
    np.testing.assert_array_equal(g.numpy(), [6.0, 6.0])
    with pytest.raises(gs.ShapeError):
        w.grad = gs.zeros(3)
    with pytest.raises(RuntimeError):
        w.grad = gs.zeros(2, dtype=gs.float64)
    w.grad = np.ones(2, dtype=np.float32)
    assert w.grad.tolist() == [1.0, 1.0]


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(gs.DTypeError, match="floating"):
        gs.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError):
        gs.tensor([1, 2]).requires_grad_()
    labels = gs.tensor([0, 2, 1])
    x = gs.tensor(np.eye(3), requires_grad=True)
    picked = x[gs.arange(3), labels]
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(3)[[0, 2, 1]])
