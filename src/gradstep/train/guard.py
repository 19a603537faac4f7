"""The divergence guard of :func:`~gradstep.train.fit`: non-finite values and runaway losses.

Rule (documented in :func:`~gradstep.train.fit`): the *reference* of a run is the larger
of the first optimizer step's loss and the loss of an all-zero output on the first batch
(zero logits give uniform probabilities, zero predictions give the scale of the targets),
so a model that starts near a loss of 0 still has a meaningful scale. While the reference
is not positive (a loss that is exactly 0 everywhere), each later step's loss replaces it.
A step whose loss exceeds ``max_loss_ratio * reference`` stops training with
:class:`~gradstep.errors.DivergenceError`, before its update is applied; so does a
non-finite loss or gradient (unless ``on_nonfinite="skip"``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradstep.callbacks import ModelCheckpoint

__all__ = ["LossGuard", "last_good_checkpoint", "nonfinite_message"]


class LossGuard:
    """Tracks the reference loss and tells when a step's loss ran away.

    Args:
        ratio: ``max_loss_ratio`` (None disables the ratio test).
    """

    def __init__(self, ratio: float | None) -> None:
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(
                ratio, (int, float)) or not ratio > 1):
            raise ValueError(f"fit: max_loss_ratio must be a number > 1 or None, got {ratio!r}")
        self.ratio = None if ratio is None else float(ratio)
        self.reference: float | None = None

    def observe(self, loss: float, baseline: float = math.nan) -> bool:
        """Whether ``loss`` (a finite step loss) diverged; updates the reference first time.

        Args:
            loss: the step's loss.
            baseline: the loss of an all-zero output on the first batch (first step only).
        """
        if self.reference is None or self.reference <= 0:
            cands = [v for v in (self.reference, loss, baseline)
                     if v is not None and math.isfinite(v)]
            self.reference = max(cands) if cands else None
            return False
        return self.ratio is not None and loss > self.ratio * self.reference

    def state(self) -> float | None:
        return self.reference

    def load(self, value: Any) -> None:
        self.reference = None if value is None else float(value)


def last_good_checkpoint(callbacks: Sequence[Any]) -> str | None:
    """The file the first ModelCheckpoint wrote most recently, or None."""
    for cb in callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.last_good is not None:
            return os.fspath(cb.last_good)
    return None


def _name(names: dict[int, str], p: Any) -> str:
    return names.get(id(p), f"<parameter of shape {p._data.shape}>")


def bad_parameter(params: Sequence[Any], names: dict[int, str], what: str) -> str:
    """The name of the first parameter whose gradient (``what="grad"``) or value is not finite."""
    for p in params:
        arr = p._grad if what == "grad" else p._data
        if arr is not None and not np.isfinite(arr).all():
            return _name(names, p)
    return ""


def nonfinite_message(kind: str, value: float, where: str, params: Sequence[Any],
                      names: dict[int, str]) -> tuple[str, str]:
    """The message and the parameter to name for a non-finite loss or gradient."""
    if kind == "grad":
        bad = bad_parameter(params, names, "grad")
        return f"non-finite gradient at {where}: parameter {bad!r} (loss {value:.6g})", bad
    msg = f"non-finite loss ({value}) at {where}"
    bad = bad_parameter(params, names, "data")
    if bad:
        return msg + f"; parameter {bad!r} holds non-finite values", bad
    mags = [(float(np.abs(p._data).max(initial=0.0)), p) for p in params]
    mag, big = max(mags, key=lambda m: m[0]) if mags else (0.0, None)
    if big is not None and mag > 1e15:  # finite weights that blew up (exploding lr)
        bad = _name(names, big)
        return msg + (f"; parameter {bad!r} diverged (largest |value| {mag:.3g}): "
                      "lower the learning rate or clip gradients"), bad
    bad = bad_parameter(params, names, "grad")
    return msg + "; parameters are finite (the batch or the loss produced it)", bad
