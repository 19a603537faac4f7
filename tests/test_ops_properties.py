"""Property tests (hypothesis) for broadcasting and reductions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradstep as gs

floats = st.floats(-10, 10, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4), st.data())
def test_binary_broadcast_gradients_have_input_shapes(shapes, data) -> None:  # type: ignore[no-untyped-def]
    sa, sb = shapes.input_shapes
    a = data.draw(hnp.arrays(np.float64, sa, elements=floats))
    b = data.draw(hnp.arrays(np.float64, sb, elements=floats))
    ta, tb = gs.tensor(a, requires_grad=True), gs.tensor(b, requires_grad=True)
    out = ta * tb + ta - tb
    assert out.shape == np.broadcast_shapes(sa, sb)
    out.backward(np.ones(out.shape))
    assert ta.grad.shape == sa and tb.grad.shape == sb
    # d(sum(a*b + a - b))/da = b + 1 summed over every output position that reads a[i],
    # found by broadcasting the index of each input element (independent of the engine)
    expect_a = _scatter_sum(np.broadcast_to(b + 1.0, out.shape), sa)
    expect_b = _scatter_sum(np.broadcast_to(a - 1.0, out.shape), sb)
    np.testing.assert_allclose(ta.grad.numpy(), expect_a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), expect_b, rtol=1e-12, atol=1e-12)


def _scatter_sum(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``values`` (of the broadcast shape) into the input element each position reads."""
    size = int(np.prod(shape))
    owner = np.broadcast_to(np.arange(size).reshape(shape), values.shape)
    out = np.zeros(size)
    np.add.at(out, owner.reshape(-1), values.reshape(-1))
    return out.reshape(shape)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5), elements=floats),
       st.data(), st.booleans())
def test_sum_and_mean_match_numpy_and_gradients(x, data, keep) -> None:  # type: ignore[no-untyped-def]
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    t = gs.tensor(x, requires_grad=True)
    s = t.sum(axis=axis, keepdims=keep)
    np.testing.assert_allclose(s.data, np.sum(x, axis=axis, keepdims=keep), rtol=1e-12, atol=1e-12)
    s.backward(np.ones(s.shape))
    np.testing.assert_array_equal(t.grad, np.ones_like(x))
    t.grad = None
    m = t.mean(axis=axis, keepdims=keep)
    np.testing.assert_allclose(m.data, np.mean(x, axis=axis, keepdims=keep), rtol=1e-12, atol=1e-12)
    m.backward(np.ones(m.shape))
    count = x.size if axis is None else x.shape[axis]
    np.testing.assert_allclose(t.grad, np.full_like(x, 1.0 / count), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=floats, unique=True), st.data())
def test_max_gradient_is_one_hot_of_argmax(x, data) -> None:  # type: ignore[no-untyped-def]
    axis = data.draw(st.integers(0, x.ndim - 1))
    t = gs.tensor(x, requires_grad=True)
    m = t.amax(axis=axis)
    np.testing.assert_array_equal(m._data, x.max(axis=axis))
    m.backward(np.ones(m.shape))
    expect = (x == x.max(axis=axis, keepdims=True)).astype(float)
    np.testing.assert_array_equal(t.grad, expect)
