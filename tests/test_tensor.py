"""The Tensor type and the backward engine."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gradstep as gs


def test_dtype_rule() -> None:
    # PyTorch's inference: Python floats -> default dtype, ints -> int64, bools -> bool;
    # NumPy arrays keep their dtype
    assert gs.tensor([1.0, 2.0]).dtype == np.float32
    assert gs.tensor(3).dtype == np.int64
    assert gs.tensor([True]).dtype == np.bool_
    assert gs.tensor(np.ones(2)).dtype == np.float64
    assert gs.tensor(np.ones(2, dtype=np.float16)).dtype == np.float16
    assert gs.tensor([1, 2], dtype=np.float64).dtype == np.float64
    # the Tensor class keeps float data and turns integers into the default float dtype
    assert gs.Tensor([1, 2]).dtype == np.float32 and gs.Tensor(np.ones(2)).dtype == np.float64
    x = gs.tensor([1.0, 2.0], requires_grad=True)
    assert (x * 2.0).dtype == np.float32
    assert (x + 1).dtype == np.float32
    y = gs.tensor(np.ones(2), requires_grad=True)
    z = (x * y).sum()
    assert z.dtype == np.float64
    z.backward()
    assert x._grad is not None and x._grad.dtype == np.float32  # gradient takes its tensor's dtype
    assert y._grad is not None and y._grad.dtype == np.float64


def test_tensor_copies_user_data() -> None:
    a = np.ones(3, dtype=np.float32)
    t = gs.tensor(a)
    a[0] = 5
    assert t._data[0] == 1


def test_non_numeric_data_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="numeric"):
        gs.tensor(["a", "b"])
    with pytest.raises(TypeError):
        gs.tensor({"a": 1})
    with pytest.raises(TypeError, match="floating"):
        gs.tensor([1, 2], dtype=np.int64, requires_grad=True)


def test_attributes_and_constructors() -> None:
    rng = np.random.default_rng(0)
    x = gs.randn(2, 3, generator=rng)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float32
    assert x.T.shape == (3, 2)
    assert gs.zeros(2, 3)._data.sum() == 0
    assert gs.ones((2, 3))._data.sum() == 6
    assert gs.full((2,), 7.0)._data.tolist() == [7.0, 7.0]
    assert gs.arange(4)._data.tolist() == [0, 1, 2, 3]
    u = gs.rand(1000, generator=rng, dtype=np.float64)
    assert u.dtype == np.float64 and 0 <= u._data.min() and u._data.max() < 1
    assert gs.tensor([[3.5]]).item() == 3.5
    with pytest.raises(TypeError, match="Generator"):
        gs.randn(2, generator=0)  # type: ignore[arg-type]
    assert gs.randn(2).shape == (2,)  # the default generator
    with pytest.raises(ValueError, match="single-element"):
        x.item()
    a = gs.randn(3, generator=np.random.default_rng(5))._data
    b = gs.randn(3, generator=np.random.default_rng(5))._data
    assert np.array_equal(a, b)


def test_detach_and_numpy_share_data() -> None:
    x = gs.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d._data is x._data
    assert d.numpy() is x._data  # numpy() shares memory (and refuses tensors requiring grad)
    with pytest.raises(gs.GradError, match="detach"):
        x.numpy()


def test_gradients_accumulate_until_zeroed() -> None:
    x = gs.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x._grad, [5, 5, 5])
    x.zero_grad()
    assert x._grad is None


def test_tensor_used_several_times_receives_the_sum() -> None:
    x = gs.tensor([2.0], requires_grad=True)
    y = x * x + x * 3 + x  # dy/dx = 2x + 4
    y.sum().backward()
    np.testing.assert_allclose(x._grad, [8.0])
    # diamond: one intermediate used by two branches
    a = gs.tensor(np.array([1.0, -2.0]), requires_grad=True)
    h = a.exp()
    out = (h * h + h).sum()
    out.backward()
    e = np.exp([1.0, -2.0])
    np.testing.assert_allclose(a._grad, 2 * e * e + e)


def test_gradient_does_not_alias_between_leaves() -> None:
    a = gs.tensor([1.0, 2.0], requires_grad=True)
    b = gs.tensor([1.0, 2.0], requires_grad=True)
    (a + b).sum().backward()
    assert a._grad is not b._grad
    a._grad += 1
    np.testing.assert_array_equal(b._grad, [1, 1])


def test_deep_chain_backpropagates_without_recursion_error() -> None:
    x = gs.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    y.sum().backward()
    np.testing.assert_array_equal(x._grad, [1.0])


def test_graph_is_released_after_backward() -> None:
    x = gs.tensor(np.ones(4), requires_grad=True)
    h = x.exp()
    ref = weakref.ref(h)
    y = (h * 2).sum()
    y.backward()
    del h
    gc.collect()
    assert ref() is None  # the intermediate is no longer reachable from y
    with pytest.raises(gs.GradError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward() -> None:
    x = gs.tensor(np.ones(3), requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x._grad, 4 * np.e * np.ones(3))


def test_backward_errors() -> None:
    x = gs.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(gs.GradError, match=r"single-element.*\(2, 3\)"):
        y.backward()
    with pytest.raises(gs.ShapeError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x._grad, 2 * np.ones((2, 3)))
    with pytest.raises(gs.GradError, match="does not require grad"):
        gs.tensor([1.0]).sum().backward()


def test_no_grad_context_and_decorator() -> None:
    x = gs.tensor([1.0], requires_grad=True)
    with gs.no_grad():
        assert not gs.is_grad_enabled()
        y = x * 2
        with gs.enable_grad():
            z = x * 2
    assert gs.is_grad_enabled()
    assert not y.requires_grad and y._backward is None
    assert z.requires_grad

    @gs.no_grad()
    def f(t: gs.Tensor) -> gs.Tensor:
        return t * 3

    assert not f(x).requires_grad
    assert gs.is_grad_enabled()


def test_shape_errors_name_op_and_shapes() -> None:
    a = gs.zeros(32, 784)
    b = gs.zeros(100, 10)
    with pytest.raises(gs.ShapeError, match=r"matmul: cannot multiply \(32, 784\) by \(100, 10\)"):
        a @ b
    with pytest.raises(gs.ShapeError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        gs.zeros(2, 3) + gs.zeros(4)
    with pytest.raises(gs.ShapeError, match="reshape"):
        gs.zeros(2, 3).reshape(4, 2)
    with pytest.raises(gs.ShapeError, match="cat"):
        gs.concatenate([gs.zeros(2, 3), gs.zeros(2, 4)], axis=0)
    with pytest.raises(gs.ShapeError, match="dim 2 is out of range"):
        gs.zeros(2, 3).sum(axis=2)
    assert gs.zeros(2, 3).squeeze(0).shape == (2, 3)  # PyTorch: a no-op for a dim of size 2
    with pytest.raises(gs.ShapeError, match="squeeze"):
        gs.zeros(2, 3).squeeze(2)
    assert issubclass(gs.ShapeError, ValueError)


def test_stable_at_large_logits() -> None:
    x = gs.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]]), requires_grad=True)
    for f in (lambda t: gs.softmax(t, -1), lambda t: gs.log_softmax(t, -1), lambda t: gs.logsumexp(t, -1)):
        out = f(x)
        assert np.all(np.isfinite(out._data))
        x._grad = None
        out.backward(np.ones_like(out._data))
        assert np.all(np.isfinite(x._grad))
    s = gs.sigmoid(gs.tensor(np.array([-1e4, 1e4]), requires_grad=True))
    assert np.all(np.isfinite(s._data))


def test_backward_into_preallocated_grad_is_in_place() -> None:
    buf = np.zeros(6)
    x = gs.tensor(np.ones((2, 3)), requires_grad=True)
    x._grad = buf[:6].reshape(2, 3)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(buf, 3 * np.ones(6))


def test_comparisons_and_repr() -> None:
    x = gs.tensor([1.0, -1.0])
    assert (x > 0)._data.tolist() == [True, False]
    assert "tensor(" in repr(x)
    assert "requires_grad=True" in repr(gs.tensor([1.0], requires_grad=True))
