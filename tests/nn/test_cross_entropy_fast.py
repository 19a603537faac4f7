"""cross_entropy's fast path (N integer class indices, no weight/smoothing) equals the general one."""

from __future__ import annotations

import numpy as np
import pytest

import gradstep as gs
from gradstep.nn import functional as F


def _run(logits: np.ndarray, target: object, reduction: str) -> tuple[np.ndarray, np.ndarray]:
    x = gs.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target, reduction=reduction)
    loss.backward(np.ones_like(loss._data))
    assert x._grad is not None
    return loss._data, x._grad


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n", [1, 7, 64])
def test_fast_path_equals_general_path(n: int, reduction: str) -> None:
    rng = np.random.default_rng(n)
    logits = rng.standard_normal((n, 5)) * 3
    t = rng.integers(0, 5, n)
    fast = _run(logits, t, reduction)                                     # ndarray of ints
    general = _run(logits, gs.tensor(t, dtype=np.int64), reduction)       # a Tensor: general path
    for a, b in zip(fast, general):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_fast_path_matches_torch_and_is_stable() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((16, 10)) * 1e4  # huge logits: finite loss and gradient
    t = rng.integers(0, 10, 16)
    loss, grad = _run(logits, t, "mean")
    tx = torch.tensor(logits, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t))
    tl.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(loss, tl.item(), rtol=1e-7)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_ignored_and_out_of_range_targets() -> None:
    logits = np.random.default_rng(1).standard_normal((4, 3))
    t = np.array([0, -100, 2, 1])
    loss, grad = _run(logits, t, "mean")  # falls back to the general path
    assert np.all(grad[1] == 0)
    ref, _ = _run(logits[[0, 2, 3]], np.array([0, 2, 1]), "mean")
    np.testing.assert_allclose(loss, ref, rtol=1e-13)
    with pytest.raises(ValueError, match=r"out-of-range values \[3\]"):
        _run(logits, np.array([0, 3, 1, 1]), "mean")
