"""The textbook per-example formulation of mini-batch SGD, in plain NumPy (the reference).

The network keeps one weight matrix and one bias column per layer; every example is pushed
through as a column vector, its gradient is found by backpropagation (the four equations:
output error ``(a - y) * sigmoid'(z)``, the error of each earlier layer through the
transposed weights, ``dC/db = delta``, ``dC/dw = delta a_prev^T``), and the per-example
gradients of a mini-batch are summed before one update ``w <- w - (lr / m) * sum``. The
cost is the quadratic ``0.5 * ||a - y||^2`` per example. This is how the method is taught;
it is the baseline the vectorised and compiled steps are compared against.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class TextbookNet:
    """Fully connected sigmoid network trained example by example."""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.w = [w.copy() for w in weights]  # (n_out, n_in)
        self.b = [b.reshape(-1, 1).copy() for b in biases]  # (n_out, 1)

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of ``0.5 ||a - y||^2`` for one example (column vectors)."""
        act, acts, zs = x, [x], []
        for w, b in zip(self.w, self.b):
            z = w @ act + b
            zs.append(z)
            act = sigmoid(z)
            acts.append(act)
        gw = [np.empty_like(w) for w in self.w]
        gb = [np.empty_like(b) for b in self.b]
        s = acts[-1]
        delta = (s - y) * s * (1 - s)
        gb[-1], gw[-1] = delta, delta @ acts[-2].T
        for layer in range(2, len(self.w) + 1):
            s = acts[-layer]
            delta = (self.w[-layer + 1].T @ delta) * s * (1 - s)
            gb[-layer], gw[-layer] = delta, delta @ acts[-layer - 1].T
        return gw, gb

    def update(self, xs: np.ndarray, ys: np.ndarray, lr: float) -> None:
        """One mini-batch: the per-example gradients summed, then one step."""
        sw = [np.zeros_like(w) for w in self.w]
        sb = [np.zeros_like(b) for b in self.b]
        for x, y in zip(xs, ys):
            gw, gb = self.backprop(x.reshape(-1, 1), y.reshape(-1, 1))
            for a, g in zip(sw, gw):
                a += g
            for a, g in zip(sb, gb):
                a += g
        k = lr / len(xs)
        for w, g in zip(self.w, sw):
            w -= k * g
        for b, g in zip(self.b, sb):
            b -= k * g

    def mse(self, xs: np.ndarray, ys: np.ndarray) -> float:
        """Mean over all output elements of ``(a - y)^2`` (PyTorch's MSELoss)."""
        act = xs.T
        for w, b in zip(self.w, self.b):
            act = sigmoid(w @ act + b)
        return float(np.mean((act - ys.T) ** 2))
