"""Loss modules (``torch.nn``-style wrappers around :mod:`gradstep.nn.functional`).

Targets may be NumPy arrays or tensors. Class-index targets may be integers or
whole-number floats (gradstep tensors are float by default); fractional values or
indices outside ``[0, C)`` raise ``ValueError`` naming them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep.nn import functional as F
from gradstep.nn.module import Module, register_module_type
from gradstep.tensor import Tensor

__all__ = [
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "SmoothL1Loss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
]


def _array_or_none(w: Any) -> np.ndarray | None:
    if w is None:
        return None
    return np.array(w._data if isinstance(w, Tensor) else w)


def _list_or_none(w: np.ndarray | None) -> Any:
    return None if w is None else w.tolist()


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


@register_module_type
class MSELoss(_Loss):
    """Mean squared error.

    Shape: input ``(*)``, target ``(*)`` -> scalar (or ``(*)`` with 'none').
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


@register_module_type
class L1Loss(_Loss):
    """Mean absolute error. Shape: input ``(*)``, target ``(*)`` -> scalar (or ``(*)``)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


@register_module_type
class HuberLoss(_Loss):
    """Huber loss with threshold ``delta``.

    Shape: input ``(*)``, target ``(*)`` -> scalar (or ``(*)``).
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = float(delta)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "delta": self.delta}


@register_module_type
class SmoothL1Loss(_Loss):
    """Huber loss divided by ``beta``.

    Shape: input ``(*)``, target ``(*)`` -> scalar (or ``(*)``).
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = float(beta)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "beta": self.beta}


@register_module_type
class CrossEntropyLoss(_Loss):
    """Cross-entropy from logits (fused, numerically stable log-softmax + NLL).

    Args:
        weight: per-class weights ``(C,)``.
        ignore_index: class index whose samples contribute nothing (index targets).
        reduction: 'mean' (weighted mean over non-ignored samples), 'sum' or 'none'.
        label_smoothing: amount in [0, 1] of the uniform distribution mixed into the target.

    Shape: input ``(N, C)`` / ``(C,)`` / ``(N, C, d1, ...)``; target class indices ``(N)`` /
    ``()`` / ``(N, d1, ...)`` or probabilities of the input's shape -> scalar (or per sample).
    """

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}"
            )
        self.weight = _array_or_none(weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing
        )

    def config(self) -> dict[str, Any]:
        return {
            "weight": _list_or_none(self.weight),
            "ignore_index": self.ignore_index,
            "reduction": self.reduction,
            "label_smoothing": self.label_smoothing,
        }


@register_module_type
class NLLLoss(_Loss):
    """Negative log-likelihood of class indices given log-probabilities.

    Shape: input ``(N, C)`` / ``(C,)`` / ``(N, C, d1, ...)``; target ``(N)`` / ``()`` /
    ``(N, d1, ...)`` -> scalar (or per sample).
    """

    def __init__(
        self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction)
        self.weight = _array_or_none(weight)
        self.ignore_index = int(ignore_index)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    def config(self) -> dict[str, Any]:
        return {
            "weight": _list_or_none(self.weight),
            "ignore_index": self.ignore_index,
            "reduction": self.reduction,
        }


@register_module_type
class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (logs clamped at -100, as PyTorch).

    Shape: input ``(*)`` in [0, 1], target ``(*)`` -> scalar (or ``(*)``).
    """

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = _array_or_none(weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)

    def config(self) -> dict[str, Any]:
        return {"weight": _list_or_none(self.weight), "reduction": self.reduction}


@register_module_type
class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable primitive; ``pos_weight`` weighs positives
    (broadcast along the last dimension).

    Shape: input ``(*)`` logits, target ``(*)`` -> scalar (or ``(*)``).
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self.weight = _array_or_none(weight)
        self.pos_weight = _array_or_none(pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )

    def config(self) -> dict[str, Any]:
        return {
            "weight": _list_or_none(self.weight),
            "reduction": self.reduction,
            "pos_weight": _list_or_none(self.pos_weight),
        }
