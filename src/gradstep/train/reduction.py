"""How :func:`~gradstep.train.fit` turns a loss object into sums it can accumulate exactly.

A loss with ``reduction="mean"`` divides a sum by a *normaliser* that depends on the batch:
the number of elements for element-wise losses (``MSELoss`` of ``(N, 10)`` targets divides
by ``N * 10``), the summed class weights of the non-ignored targets for ``CrossEntropyLoss``
and ``NLLLoss`` with ``weight`` or ``ignore_index``, the number of samples for class
probabilities. To give exactly the loss object's value on a group of batches (an
accumulation group, an epoch, a validation set), fit computes every batch's loss with
``reduction="sum"`` and that batch's normaliser, and divides the group's summed loss by the
group's summed normaliser:

.. math:: L_{group} = \\frac{\\sum_b S_b}{\\sum_b D_b}

which is what the loss object returns for the concatenated group. ``reduction="sum"``
divides by 1 (the group's loss is the plain sum); ``reduction="none"`` is reduced by the
mean of its per-element values (as ``loss(out, y).mean()`` in a hand-written loop).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from gradstep.tensor import Tensor

__all__ = ["LossReduction", "resolve_loss"]

_NAMES = {
    "cross_entropy": "CrossEntropyLoss",
    "ce": "CrossEntropyLoss",
    "crossentropy": "CrossEntropyLoss",
    "mse": "MSELoss",
    "l2": "MSELoss",
    "l1": "L1Loss",
    "mae": "L1Loss",
    "bce_with_logits": "BCEWithLogitsLoss",
    "bce": "BCEWithLogitsLoss",
}

# losses whose mean divides by the summed class weights of the non-ignored index targets
_CLASS_LOSSES = {"CrossEntropyLoss", "NLLLoss", "cross_entropy", "nll_loss"}


def _array(y: Any) -> np.ndarray:
    return y._data if isinstance(y, Tensor) else np.asarray(y)


class LossReduction:
    """A loss as ``fit`` uses it: a summed loss per batch plus that batch's normaliser.

    Attributes:
        name: the loss's name (class or function name).
        summed: ``summed(out, y)`` -> the batch's loss summed over its elements (a Tensor).
        mode: ``"mean"``, ``"sum"``, ``"none"`` (reduced by the mean of the elements) or
            ``"examples"`` (a callable without a ``reduction`` keyword, assumed to return
            the mean over the batch's examples).
        exact: whether the group's loss is exactly the loss object's value on the group
            (False only for ``"examples"`` with several batches per group).
    """

    def __init__(self, name: str, summed: Callable[[Any, Any], Tensor], mode: str,
                 kind: str, weight: Any = None, ignore_index: int = -100) -> None:
        self.name = name
        self.summed = summed
        self.mode = mode
        self.kind = kind  # "class" (CE/NLL rule) or "elements"
        self.weight = None if weight is None else np.asarray(_array(weight), dtype=np.float64)
        self.ignore_index = int(ignore_index)
        self.exact = mode != "examples"

    def normaliser(self, y: Any, out_ndim: int) -> float:
        """The divisor this batch contributes (the loss object's own denominator).

        Args:
            y: the batch's targets (as passed to the loss).
            out_ndim: number of dimensions of the model's output (tells class-index
                targets, one dimension fewer, from class probabilities).
        """
        t = _array(y)
        if self.mode == "sum":
            return 0.0
        if self.mode == "examples":
            return float(len(t)) if t.ndim else 1.0
        if self.kind != "class":
            return float(t.size)
        if t.dtype.kind == "f" and t.ndim == out_ndim and self.name.startswith(("Cross", "cross")):
            c = t.shape[1] if t.ndim >= 2 else t.size
            return float(t.size // max(c, 1))  # class probabilities: one per sample
        if self.mode == "none":
            return float(t.size)
        idx = t.reshape(-1).astype(np.int64)
        valid = idx != self.ignore_index
        if self.weight is None:
            return float(np.count_nonzero(valid))
        w = self.weight
        ok = valid & (idx >= 0) & (idx < w.size)  # out-of-range targets: the loss raises
        return float(w[idx[ok]].sum())

    def divisor(self, total: float) -> float:
        """What the summed loss of a group is divided by, given its summed normaliser."""
        return 1.0 if self.mode == "sum" else float(total)


def _from_module(loss: Any) -> LossReduction:
    cls_name = type(loss).__name__
    mode = str(loss.reduction)
    summed = copy.copy(loss)
    try:
        summed.reduction = "sum"
    except AttributeError:
        object.__setattr__(summed, "reduction", "sum")
    kind = "class" if cls_name in _CLASS_LOSSES else "elements"
    return LossReduction(cls_name, summed, mode, kind, getattr(loss, "weight", None),
                         getattr(loss, "ignore_index", -100))


def _from_function(loss: Any, name: str) -> LossReduction | None:
    try:
        params = inspect.signature(loss).parameters
    except (TypeError, ValueError):
        return None
    if "reduction" not in params:
        return None
    base = loss.func if isinstance(loss, functools.partial) else loss
    kw = dict(loss.keywords) if isinstance(loss, functools.partial) else {}
    base_name = getattr(base, "__name__", name)
    mode = str(kw.pop("reduction", params["reduction"].default))
    if mode not in ("mean", "sum", "none"):
        mode = "mean"
    kind = "class" if base_name in _CLASS_LOSSES else "elements"

    def summed(out: Any, y: Any) -> Tensor:
        return loss(out, y, reduction="sum")  # type: ignore[no-any-return]

    return LossReduction(base_name, summed, mode, kind, kw.get("weight"),
                         kw.get("ignore_index", -100))


def resolve_loss(loss: Any) -> LossReduction:
    """Turn ``loss`` into a :class:`LossReduction`.

    ``loss`` may be a name (``"cross_entropy"``, ``"mse"``, ``"bce_with_logits"``, ``"l1"``),
    a loss module with a ``reduction`` attribute (a copy with ``reduction="sum"`` computes
    the sums), a function with a ``reduction`` keyword (called with ``reduction="sum"``),
    or any other callable, which is taken to return the *mean over the batch's examples*
    (exact with one batch per step; with ``accumulate > 1`` the batch means are weighted by
    their numbers of examples).

    Raises:
        ValueError: an unknown loss name.
        TypeError: ``loss`` is neither a name nor callable.
    """
    if isinstance(loss, str):
        from gradstep import nn

        cls_name = _NAMES.get(loss.lower().replace("-", "_"))
        if cls_name is None or not hasattr(nn, cls_name):
            raise ValueError(
                f"loss: unknown loss {loss!r}; expected one of cross_entropy, mse, l1, "
                "bce_with_logits, a loss module or a callable"
            )
        loss = getattr(nn, cls_name)()
    if hasattr(loss, "reduction") and callable(loss):
        return _from_module(loss)
    if not callable(loss):
        raise TypeError(
            f"loss: expected a name, a loss module or a callable, got {type(loss).__name__}"
        )
    name = getattr(loss, "__name__", type(loss).__name__)
    found = _from_function(loss, name)
    if found is not None:
        return found

    def mean_times_n(out: Any, y: Any, _f: Any = loss) -> Tensor:
        t = _array(y)
        return _f(out, y) * float(len(t) if t.ndim else 1)  # type: ignore[no-any-return]

    return LossReduction(name, mean_times_n, "examples", "elements")
