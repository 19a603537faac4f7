"""Gradcheck cases for the fused primitives that gradstep.nn registers in ops.PRIMITIVES.

``GRADCHECK_CASES``: primitive name -> list of zero-argument callables returning
``(fn, inputs)`` or ``(fn, inputs, gradcheck_kwargs)``. tests/test_ops_gradcheck.py
imports this to check that every primitive has a case; tests/nn/test_nn_gradcheck.py
runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import gradstep as gs
from gradstep.nn import functional as F

R = np.random.default_rng(7)


def reseed(seed: int) -> None:
    """Restart the cases' generator (each test calls it with its own seed, so that no test's
    inputs depend on which tests ran before it)."""
    global R
    R = np.random.default_rng(seed)



def T(*shape: int, positive: bool = False, scale: float = 1.0) -> gs.Tensor:
    x = R.standard_normal(shape) * scale
    if positive:
        x = np.abs(x) + 0.5
    return gs.Tensor(x, requires_grad=True)


def P(*shape: int) -> gs.Tensor:
    """Probabilities away from 0 and 1."""
    return gs.Tensor(R.uniform(0.1, 0.9, shape), requires_grad=True)


def _distinct(*shape: int) -> gs.Tensor:
    """Values with no ties (so max-pool's gradient is well defined under perturbation)."""
    x = R.permutation(np.prod(shape)).reshape(shape) * 0.1 + R.uniform(-0.01, 0.01, shape)
    return gs.Tensor(x.astype(np.float64), requires_grad=True)


_Y32 = R.uniform(0, 1, (3, 2))

Case = Callable[[], tuple[Any, ...]]

GRADCHECK_CASES: dict[str, list[Case]] = {
    "mse_loss": [
        lambda: (lambda x, t: F.mse_loss(x, t), [T(4, 3), T(4, 3)]),
        lambda: (lambda x, t: F.mse_loss(x, t, reduction="sum"), [T(5), T(5)]),
        lambda: (lambda x, t: F.mse_loss(x, t, reduction="none"), [T(2, 3), T(2, 3)]),
        lambda: (lambda x: F.mse_loss(x, np.linspace(-1, 1, 6).reshape(2, 3)), [T(2, 3)]),
    ],
    "linear": [
        lambda: (F.linear, [T(4, 3), T(5, 3), T(5)]),
        lambda: (F.linear, [T(2, 3, 3), T(2, 3)]),
        lambda: (lambda x, w: F.linear(x, w), [T(3), T(2, 3)]),
    ],
    "conv2d": [
        lambda: (F.conv2d, [T(2, 3, 5, 5), T(4, 3, 3, 3), T(4)]),
        lambda: (lambda x, w: F.conv2d(x, w, None, 2, 1), [T(2, 2, 6, 5), T(3, 2, 3, 2)]),
        lambda: (lambda x, w, b: F.conv2d(x, w, b, 1, 2, 2), [T(1, 2, 5, 6), T(2, 2, 3, 3), T(2)]),
        lambda: (
            lambda x, w: F.conv2d(x, w, None, (1, 2), (1, 0), 1, 2),
            [T(2, 4, 5, 5), T(6, 2, 2, 3)],
        ),
        lambda: (lambda x, w: F.conv2d(x, w, None, 1, "same"), [T(1, 2, 4, 4), T(2, 2, 2, 2)]),
    ],
    "max_pool2d": [
        lambda: (lambda x: F.max_pool2d(x, 2), [_distinct(2, 2, 4, 5)]),
        lambda: (lambda x: F.max_pool2d(x, 3, 1, 1), [_distinct(1, 2, 4, 4)]),
        lambda: (lambda x: F.max_pool2d(x, (2, 3), (2, 1), 0, 2), [_distinct(1, 2, 6, 6)]),
        lambda: (lambda x: F.max_pool2d(x, 2, ceil_mode=True), [_distinct(1, 2, 5, 5)]),
        lambda: (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [_distinct(1, 2, 6, 5)]),
    ],
    "avg_pool2d": [
        lambda: (lambda x: F.avg_pool2d(x, 2), [T(2, 2, 4, 5)]),
        lambda: (lambda x: F.avg_pool2d(x, 3, 2, 1), [T(1, 2, 5, 5)]),
        lambda: (lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), [T(1, 2, 4, 4)]),
        lambda: (lambda x: F.avg_pool2d(x, 2, ceil_mode=True), [T(1, 2, 5, 5)]),
        lambda: (lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), [T(1, 2, 6, 5)]),
    ],
    "embedding": [
        lambda: (lambda w: F.embedding(np.array([[0, 2], [2, 3]]), w), [T(5, 3)]),
        lambda: (lambda w: F.embedding(gs.Tensor([1.0, 0.0, 1.0]), w), [T(3, 2)]),
    ],
    "cross_entropy": [
        lambda: (lambda x: F.cross_entropy(x, np.array([0, 2, 1, 2])), [T(4, 3)]),
        lambda: (
            lambda x: F.cross_entropy(
                x, np.array([0, 2, -100, 1]), weight=np.array([0.3, 1.0, 2.0]), label_smoothing=0.2
            ),
            [T(4, 3)],
        ),
        lambda: (
            lambda x: F.cross_entropy(x, np.array([[0, 1], [2, 2]]), reduction="none"),
            [T(2, 3, 2)],
        ),
        lambda: (
            lambda x, t: F.cross_entropy(x, t, reduction="sum"),
            [T(3, 4), gs.Tensor(R.dirichlet(np.ones(4), 3), requires_grad=True)],
        ),
    ],
    "nll_loss": [
        lambda: (lambda x: F.nll_loss(x, np.array([0, 2, 1])), [T(3, 3)]),
        lambda: (
            lambda x: F.nll_loss(
                x, np.array([0, 2, 1]), weight=np.array([1.0, 2.0, 0.5]), reduction="sum"
            ),
            [T(3, 3)],
        ),
        lambda: (lambda x: F.nll_loss(x, np.array([[0, 1, 1]]), reduction="none"), [T(1, 2, 3)]),
    ],
    "binary_cross_entropy": [
        lambda: (lambda x: F.binary_cross_entropy(x, _Y32), [P(3, 2)]),
        lambda: (
            lambda x: F.binary_cross_entropy(
                x, np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0, 0.5]), reduction="none"
            ),
            [P(3)],
        ),
    ],
    "binary_cross_entropy_with_logits": [
        lambda: (
            lambda x: F.binary_cross_entropy_with_logits(x, _Y32),
            [T(3, 2)],
        ),
        lambda: (
            lambda x: F.binary_cross_entropy_with_logits(
                x,
                np.array([[0.0, 1.0], [1.0, 0.0]]),
                weight=np.array([1.0, 0.5]),
                pos_weight=np.array([3.0, 0.5]),
                reduction="sum",
            ),
            [T(2, 2, scale=3.0)],
        ),
    ],
}
