"""Metrics on plain NumPy arrays: accuracy, top-k accuracy, mean squared and absolute error.

Every metric takes ``(y_pred, y_true)``: predictions first (logits, probabilities or
values, as a model outputs them), targets second, and returns a Python float. Tensors
are accepted too (their values are used). For classification, ``y_pred`` is either
``(N, C)`` scores (the arg-max is the predicted class) or ``(N,)`` class labels; with a
single output column, ``(N, 1)``, scores above 0 (logits) count as class 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "accuracy",
    "top_k_accuracy",
    "mse",
    "mae",
    "get",
    "METRICS",
    "correct_count",
]


def _arr(x: Any, name: str) -> np.ndarray:
    data = getattr(x, "_data", x)  # a Tensor's array
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {data.dtype}")
    return data


def _check_len(op: str, y_pred: np.ndarray, y_true: np.ndarray) -> None:
    if y_pred.ndim == 0 or y_true.ndim == 0:
        raise ValueError(
            f"{op}: expected arrays with a batch axis, got shapes {y_pred.shape} and {y_true.shape}"
        )
    if len(y_pred) != len(y_true):
        raise ValueError(
            f"{op}: y_pred has {len(y_pred)} rows but y_true has {len(y_true)} "
            f"(shapes {y_pred.shape} and {y_true.shape})"
        )


def _labels(op: str, y_true: np.ndarray, n: int) -> np.ndarray:
    if y_true.ndim == 2 and y_true.shape[1] > 1:  # one-hot / probabilities
        return y_true.argmax(axis=1)  # type: ignore[no-any-return]
    y = y_true.reshape(n)
    return y


def correct_count(y_pred: Any, y_true: Any) -> int:
    """Number of correctly classified rows (the numerator of :func:`accuracy`)."""
    p = _arr(y_pred, "accuracy: y_pred")
    t = _arr(y_true, "accuracy: y_true")
    _check_len("accuracy", p, t)
    n = len(p)
    if p.ndim == 2 and p.shape[1] > 1:
        pred = p.argmax(axis=1)
    elif p.ndim == 2 or (p.ndim == 1 and p.dtype.kind == "f"):
        flat = p.reshape(n)
        if t.dtype.kind == "f" and not np.all((t == 0) | (t == 1)):
            raise ValueError("accuracy: single-column predictions need 0/1 targets")
        pred = (flat > 0).astype(np.int64)
    else:
        pred = p.reshape(n)
    return int(np.count_nonzero(pred == _labels("accuracy", t, n)))


def accuracy(y_pred: Any, y_true: Any) -> float:
    """Fraction of rows whose predicted class equals the target class.

    Args:
        y_pred: ``(N, C)`` scores, ``(N, 1)``/``(N,)`` float logits (class 1 when > 0) or
            ``(N,)`` integer labels.
        y_true: ``(N,)`` integer labels or ``(N, C)`` one-hot targets.

    Returns:
        A float in [0, 1] (0.0 for empty input).
    """
    p = _arr(y_pred, "accuracy: y_pred")
    if len(p) == 0:
        return 0.0
    return correct_count(y_pred, y_true) / len(p)


def top_k_accuracy(y_pred: Any, y_true: Any, k: int = 5) -> float:
    """Fraction of rows whose target class is among the ``k`` highest scores.

    Args:
        y_pred: ``(N, C)`` scores.
        y_true: ``(N,)`` integer labels (or ``(N, C)`` one-hot).
        k: number of top classes that count; ``k >= C`` gives 1.0.

    Ties are broken by NumPy's partition order (as in scikit-learn, a tie at the k-th
    place may count either way).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"top_k_accuracy: k must be an int >= 1, got {k!r}")
    p = _arr(y_pred, "top_k_accuracy: y_pred")
    t = _arr(y_true, "top_k_accuracy: y_true")
    _check_len("top_k_accuracy", p, t)
    if p.ndim != 2:
        raise ValueError(f"top_k_accuracy: y_pred must be (N, C) scores, got shape {p.shape}")
    n, c = p.shape
    if n == 0:
        return 0.0
    labels = _labels("top_k_accuracy", t, n)
    if k >= c:
        return 1.0
    top = np.argpartition(p, c - k, axis=1)[:, c - k :]
    return float(np.count_nonzero(top == labels[:, None].astype(top.dtype)) / n)


def _regression(op: str, y_pred: Any, y_true: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _arr(y_pred, f"{op}: y_pred")
    t = _arr(y_true, f"{op}: y_true")
    if p.shape != t.shape:
        if p.size == t.size and len(p) == len(t):
            t = t.reshape(p.shape)
        else:
            raise ValueError(f"{op}: y_pred has shape {p.shape} but y_true has shape {t.shape}")
    return p, t


def mse(y_pred: Any, y_true: Any) -> float:
    """Mean squared error, averaged over every element."""
    p, t = _regression("mse", y_pred, y_true)
    if p.size == 0:
        return 0.0
    d = p.astype(np.float64) - t
    return float(np.mean(d * d))


def mae(y_pred: Any, y_true: Any) -> float:
    """Mean absolute error, averaged over every element."""
    p, t = _regression("mae", y_pred, y_true)
    if p.size == 0:
        return 0.0
    return float(np.mean(np.abs(p.astype(np.float64) - t)))


METRICS: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "top_k_accuracy": top_k_accuracy,
    "top5": lambda p, t: top_k_accuracy(p, t, 5),
    "mse": mse,
    "mae": mae,
}


def get(metric: str | Callable[[Any, Any], float]) -> tuple[str, Callable[[Any, Any], float]]:
    """Resolve a metric name (``"accuracy"``, ``"top5"``, ``"top3_accuracy"``, ``"mse"``,
    ``"mae"``) or a callable ``(y_pred, y_true) -> float`` to ``(name, function)``.

    Raises:
        ValueError: unknown metric name.
    """
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    if not isinstance(metric, str):
        raise TypeError(f"metric: expected a name or a callable, got {type(metric).__name__}")
    name = metric.lower()
    if name == "acc":
        name = "accuracy"
    if name in METRICS:
        return name, METRICS[name]
    for prefix in ("top", "top_"):
        rest = name[len(prefix) :].removesuffix("_accuracy")
        if name.startswith(prefix) and rest.isdigit() and int(rest) >= 1:
            k = int(rest)
            return f"top{k}_accuracy", lambda p, t, k=k: top_k_accuracy(p, t, k)
    raise ValueError(
        f"metric: unknown metric {metric!r}; expected one of accuracy, top5 (topK), mse, mae "
        "or a callable (y_pred, y_true) -> float"
    )
