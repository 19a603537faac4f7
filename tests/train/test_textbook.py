"""The textbook experiments of examples/nielsen_ch1.py and nielsen_ch3.py take exactly the
textbook's mini-batch update (Nielsen, "Neural Networks and Deep Learning", network.py and
network2.py), written out here in NumPy, in float64. Both sides compute the same
quantities in a different order (a fused loss versus explicit backprop), so they agree to
rounding: rel 1e-12 is far above float64's ~1e-16 per operation over a few hundred terms.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradstep import nn
from gradstep.train import fit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import nielsen_ch1  # noqa: E402
import nielsen_ch3  # noqa: E402

M, N_TRAIN = 10, 50_000


def _batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((M, 784))
    labels = rng.integers(0, 10, M)
    return x, labels, np.eye(10)[labels]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _weights(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    lins = [m for m in model if isinstance(m, nn.Linear)]
    return [(lin.weight._data.copy(), lin.bias._data.copy()) for lin in lins]


def _textbook_step(params: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, y: np.ndarray,
                   eta: float, cost: str, lmbda: float = 0.0) -> list[tuple[np.ndarray, ...]]:
    """One mini-batch of Nielsen's update_mini_batch: per-example backprop, summed."""
    nabla = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    for xi, yi in zip(x, y):
        acts, zs = [xi], []
        for w, b in params:
            zs.append(w @ acts[-1] + b)
            acts.append(_sigmoid(zs[-1]))
        sp = acts[-1] * (1 - acts[-1])
        delta = (acts[-1] - yi) * (sp if cost == "quadratic" else 1.0)
        for i in range(len(params) - 1, -1, -1):
            nw, nb = nabla[i]
            nabla[i] = (nw + np.outer(delta, acts[i]), nb + delta)
            if i:
                s = acts[i] * (1 - acts[i])
                delta = (params[i][0].T @ delta) * s
    return [((1 - eta * lmbda / N_TRAIN) * w - eta / len(x) * nw, b - eta / len(x) * nb)
            for (w, b), (nw, nb) in zip(params, nabla)]


def _fit_one_batch(model: Any, loss: Any, opt: Any, x: np.ndarray, y: np.ndarray) -> None:
    fit(model, (x, y), loss=loss, optimizer=opt, epochs=1, batch_size=M, shuffle=False,
        verbose=0)


def _close(got: list[tuple[np.ndarray, np.ndarray]], want: list[tuple[np.ndarray, ...]]) -> None:
    for (w, b), (ww, wb) in zip(got, want):
        np.testing.assert_allclose(w, ww, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b, wb, rtol=1e-12, atol=1e-14)


def test_chapter_1_update_is_the_textbook_update() -> None:
    x, _, y = _batch()
    model = nielsen_ch1.build(0, dtype=np.float64)
    want = _textbook_step(_weights(model), x, y, nielsen_ch1.ETA, "quadratic")
    from gradstep import optim

    _fit_one_batch(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=nielsen_ch1.LR), x, y)
    _close(_weights(model), want)


def test_chapter_3_update_is_the_textbook_update() -> None:
    x, _, y = _batch(1)
    model = nielsen_ch3.build(0, dtype=np.float64)
    want = _textbook_step(_weights(model), x, y, nielsen_ch3.ETA, "cross-entropy",
                          nielsen_ch3.LAMBDA)
    _fit_one_batch(model, nn.BCEWithLogitsLoss(), nielsen_ch3.optimizer(model), x, y)
    _close(_weights(model), want)


def test_chapter_3_initialisation_scales_weights_by_fan_in() -> None:
    model = nielsen_ch3.build(0, dtype=np.float64)
    (w1, b1), (w2, _) = _weights(model)
    assert w1.std() == pytest.approx(1 / np.sqrt(784), rel=0.05)
    assert w2.std() == pytest.approx(1 / np.sqrt(30), rel=0.3)
    assert b1.std() == pytest.approx(1.0, rel=0.5)
