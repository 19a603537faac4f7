"""Closures return gradients and the engine alone writes ``_grad``: it adopts a fresh
gradient without copying it, and never one that something else can still reach."""

from __future__ import annotations

import numpy as np
import pytest

import gradstep as gs
from gradstep.nn import functional as F

torch = pytest.importorskip("torch")


def _r(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def test_linear_gradients_match_torch_with_and_without_existing_buffers() -> None:
    x, w, b = _r(5, 4), _r(3, 4, seed=1), _r(3, seed=2)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    (torch.nn.functional.linear(xt, wt, bt) ** 2).sum().backward()
    for preset in (False, True):
        wg, bg = gs.tensor(w, requires_grad=True), gs.tensor(b, requires_grad=True)
        xg = gs.tensor(x, requires_grad=True)
        if preset:  # preallocated (zeroed) buffers, as a flat optimizer keeps them
            buf_w, buf_b = np.zeros_like(w), np.zeros_like(b)
            wg._grad, bg._grad = buf_w, buf_b
        (F.linear(xg, wg, bg) ** 2).sum().backward()
        if preset:
            assert wg._grad is buf_w and bg._grad is buf_b  # accumulated in place
        for g, t in ((xg, xt), (wg, wt), (bg, bt)):
            np.testing.assert_allclose(g._grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_one_gradient_sent_to_two_leaves_is_not_shared() -> None:
    a, b = gs.tensor(_r(3), requires_grad=True), gs.tensor(_r(3), requires_grad=True)
    (a + b).sum().backward()  # add's backward returns the same array for both inputs
    assert not np.shares_memory(a._grad, b._grad)
    a._grad += 1
    assert np.array_equal(b._grad, np.ones(3))


def test_retained_graph_gradients_are_not_adopted() -> None:
    x = gs.tensor(_r(4, 3), requires_grad=True)
    w = gs.tensor(_r(2, 3, seed=1), requires_grad=True)
    y = F.linear(x, w).sum()
    y.backward(retain_graph=True)
    first = w._grad.copy()
    y.backward()
    np.testing.assert_allclose(w._grad, 2 * first, rtol=1e-15)


def test_a_callers_gradient_array_is_copied() -> None:
    x = gs.tensor(_r(3), requires_grad=True)
    g = np.ones(3)
    x.backward(g)
    g[:] = 5.0
    assert np.array_equal(x._grad, np.ones(3))


def test_tied_weight_accumulates_like_torch() -> None:
    x, w = _r(5, 4), _r(4, 4, seed=3)
    xt, wt = torch.tensor(x), torch.tensor(w, requires_grad=True)
    torch.nn.functional.linear(torch.nn.functional.linear(xt, wt).tanh(), wt).sum().backward()
    wg = gs.tensor(w, requires_grad=True)
    F.linear(F.linear(gs.tensor(x), wg).tanh(), wg).sum().backward()
    np.testing.assert_allclose(wg._grad, wt.grad.numpy(), rtol=1e-12, atol=1e-12)
