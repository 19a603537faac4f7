"""Feature transforms fitted on training data only: Standardize, MinMaxScale, Scale, OneHot.

Each transform has ``fit`` (statistics from the training split only), ``transform``,
``fit_transform`` and a JSON-able ``state_dict`` / ``from_state_dict`` pair so the
statistics travel inside a checkpoint. Statistics are computed in float64; outputs keep
the input's floating dtype (float32 stays float32; integer input becomes float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep.errors import DataError

__all__ = ["SCALE_METHODS", "MinMaxScale", "OneHot", "Scale", "Standardize"]


def _float_out(x: np.ndarray) -> np.dtype:
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)


def _check_x(name: str, x: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 0:
        raise DataError(f"{name}: expected an array of shape (N, ...), got a scalar")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    if shape is not None and arr.shape[1:] != shape:
        raise DataError(
            f"{name}: fitted on features of shape {shape}, got data of shape {arr.shape}"
        )
    return arr


class Standardize:
    """``(x - mean) / std`` per feature, with mean and std from the training data only.

    Statistics are over axis 0 (examples); a feature's std is the population std
    (``ddof=0``). A constant feature (std below ``eps``) gets std 1, so it maps to 0
    instead of NaN/inf.

    Shape: ``(N, ...) -> (N, ...)``.

    Args:
        eps: stds below this count as zero.
    """

    def __init__(self, eps: float = 1e-12) -> None:
        self.eps = float(eps)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def fit(self, x: Any) -> Standardize:
        """Compute mean and std from ``x`` (the training split). Returns ``self``."""
        arr = _check_x("Standardize.fit", x, None)
        if arr.shape[0] == 0:
            raise DataError("Standardize.fit: need at least one example, got 0")
        a64 = arr.astype(np.float64, copy=False)
        if not np.all(np.isfinite(a64)):
            raise DataError("Standardize.fit: training data contains NaN or infinity")
        mean = a64.mean(axis=0)
        std = a64.std(axis=0)
        std = np.where(std < self.eps, 1.0, std)
        self.mean, self.std = mean, std
        return self

    def transform(self, x: Any) -> np.ndarray:
        """Standardize ``x`` with the fitted statistics (any split)."""
        if self.mean is None or self.std is None:
            raise DataError("Standardize.transform: call fit(x_train) first")
        arr = _check_x("Standardize.transform", x, self.mean.shape)
        out = (arr.astype(np.float64, copy=False) - self.mean) / self.std
        return out.astype(_float_out(arr), copy=False)

    def fit_transform(self, x: Any) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse_transform(self, z: Any) -> np.ndarray:
        """Map standardized values back: ``z * std + mean``."""
        if self.mean is None or self.std is None:
            raise DataError("Standardize.inverse_transform: call fit(x_train) first")
        arr = _check_x("Standardize.inverse_transform", z, self.mean.shape)
        out = arr.astype(np.float64, copy=False) * self.std + self.mean
        return out.astype(_float_out(arr), copy=False)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able ``{"type", "mean", "std", "shape", "eps"}`` (mean/std as flat lists)."""
        if self.mean is None or self.std is None:
            raise DataError("Standardize.state_dict: not fitted")
        return {
            "type": "Standardize",
            "shape": list(self.mean.shape),
            "mean": self.mean.ravel().tolist(),
            "std": self.std.ravel().tolist(),
            "eps": self.eps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore statistics saved by :meth:`state_dict`."""
        try:
            shape = tuple(int(s) for s in state["shape"])
            mean = np.asarray(state["mean"], dtype=np.float64).reshape(shape)
            std = np.asarray(state["std"], dtype=np.float64).reshape(shape)
            eps = float(state.get("eps", self.eps))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"Standardize.load_state_dict: malformed state: {exc}") from None
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise DataError("Standardize.load_state_dict: mean/std must be finite and std > 0")
        self.mean, self.std, self.eps = mean, std, eps

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Standardize:
        obj = cls()
        obj.load_state_dict(state)
        return obj

    def __repr__(self) -> str:
        shape = None if self.mean is None else self.mean.shape
        return f"Standardize(fitted={self.fitted}, feature_shape={shape})"


class MinMaxScale:
    """Scale each feature to ``[low, high]`` using the training min and max.

    Constant features map to ``low``. Shape: ``(N, ...) -> (N, ...)``.
    """

    def __init__(self, low: float = 0.0, high: float = 1.0) -> None:
        if not high > low:
            raise ValueError(f"MinMaxScale: expected high > low, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)
        self.min: np.ndarray | None = None
        self.range: np.ndarray | None = None

    def fit(self, x: Any) -> MinMaxScale:
        arr = _check_x("MinMaxScale.fit", x, None)
        if arr.shape[0] == 0:
            raise DataError("MinMaxScale.fit: need at least one example, got 0")
        a64 = arr.astype(np.float64, copy=False)
        if not np.all(np.isfinite(a64)):
            raise DataError("MinMaxScale.fit: training data contains NaN or infinity")
        lo, hi = a64.min(axis=0), a64.max(axis=0)
        rng = hi - lo
        self.min, self.range = lo, np.where(rng > 0, rng, 1.0)
        return self

    def transform(self, x: Any) -> np.ndarray:
        if self.min is None or self.range is None:
            raise DataError("MinMaxScale.transform: call fit(x_train) first")
        arr = _check_x("MinMaxScale.transform", x, self.min.shape)
        unit = (arr.astype(np.float64, copy=False) - self.min) / self.range
        return (self.low + unit * (self.high - self.low)).astype(_float_out(arr), copy=False)

    def fit_transform(self, x: Any) -> np.ndarray:
        return self.fit(x).transform(x)

    def state_dict(self) -> dict[str, Any]:
        if self.min is None or self.range is None:
            raise DataError("MinMaxScale.state_dict: not fitted")
        return {
            "type": "MinMaxScale",
            "shape": list(self.min.shape),
            "min": self.min.ravel().tolist(),
            "range": self.range.ravel().tolist(),
            "low": self.low,
            "high": self.high,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            shape = tuple(int(s) for s in state["shape"])
            self.min = np.asarray(state["min"], dtype=np.float64).reshape(shape)
            self.range = np.asarray(state["range"], dtype=np.float64).reshape(shape)
            self.low, self.high = float(state["low"]), float(state["high"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"MinMaxScale.load_state_dict: malformed state: {exc}") from None


SCALE_METHODS = ("feature", "global", "unit", "none")


class Scale:
    """Input scaling ``(x - mean) / std`` chosen by name, with statistics from training data.

    Methods:

    * ``"feature"``: per-feature standardisation; a feature's std is floored at its training
      range divided by ``max_z``, so no training value lies more than ``max_z`` units from
      its mean (a pixel that is non-zero in one image in 60,000 cannot reach |x| = 245);
      a constant feature gets std 1.
    * ``"global"``: one mean and one std over every value of the training data.
    * ``"unit"``: one affine map of the training range ``[min, max]`` onto ``[0, 1]``
      (uint8 data: its full range ``[0, 255]``), as for image pixels.
    * ``"none"``: the identity (mean 0, std 1).

    Whatever the method, :attr:`mean` and :attr:`std` are arrays of one example's shape,
    so a consumer (a checkpoint record, an ONNX export) applies every method the same way.

    Shape: ``(N, ...) -> (N, ...)``.

    Args:
        method: one of :data:`SCALE_METHODS`.
        max_z: the floor of ``"feature"``: std >= range / max_z.

    Raises:
        ValueError: unknown ``method`` or ``max_z <= 0``.
    """

    def __init__(self, method: str = "feature", max_z: float = 20.0) -> None:
        if method not in SCALE_METHODS:
            raise ValueError(
                f"Scale: method must be one of {', '.join(SCALE_METHODS)}, got {method!r}"
            )
        if not max_z > 0:
            raise ValueError(f"Scale: max_z must be > 0, got {max_z!r}")
        self.method, self.max_z = method, float(max_z)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: Any) -> Scale:
        """Compute the statistics from ``x`` (the training split). Returns ``self``."""
        arr = _check_x(f"Scale({self.method}).fit", x, None)
        if arr.shape[0] == 0:
            raise DataError(f"Scale({self.method}).fit: need at least one example, got 0")
        a64 = arr.astype(np.float64, copy=False)
        if not np.all(np.isfinite(a64)):
            raise DataError(f"Scale({self.method}).fit: training data contains NaN or infinity")
        shape = arr.shape[1:]
        if self.method == "feature":
            mean, std = a64.mean(axis=0), a64.std(axis=0)
            span = a64.max(axis=0) - a64.min(axis=0)
            std = np.where(span > 0, np.maximum(std, span / self.max_z), 1.0)
        elif self.method == "global":
            m, s = float(a64.mean()), float(a64.std())
            mean, std = np.full(shape, m), np.full(shape, s if s > 0 else 1.0)
        elif self.method == "unit":
            if arr.dtype == np.uint8:
                lo, hi = 0.0, 255.0
            else:
                lo, hi = float(a64.min()), float(a64.max())
            mean, std = np.full(shape, lo), np.full(shape, hi - lo if hi > lo else 1.0)
        else:
            mean, std = np.zeros(shape), np.ones(shape)
        self.mean, self.std = mean, std
        return self

    def transform(self, x: Any) -> np.ndarray:
        """Scale ``x`` with the fitted statistics (any split)."""
        if self.mean is None or self.std is None:
            raise DataError(f"Scale({self.method}).transform: call fit(x_train) first")
        arr = _check_x(f"Scale({self.method}).transform", x, self.mean.shape)
        out = (arr.astype(np.float64, copy=False) - self.mean) / self.std
        return out.astype(_float_out(arr), copy=False)

    def fit_transform(self, x: Any) -> np.ndarray:
        return self.fit(x).transform(x)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able ``{"type", "method", "max_z", "shape", "mean", "std"}``."""
        if self.mean is None or self.std is None:
            raise DataError(f"Scale({self.method}).state_dict: not fitted")
        return {
            "type": "Scale",
            "method": self.method,
            "max_z": self.max_z,
            "shape": list(self.mean.shape),
            "mean": self.mean.ravel().tolist(),
            "std": self.std.ravel().tolist(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Scale:
        """Rebuild a fitted :class:`Scale` from :meth:`state_dict`."""
        try:
            obj = cls(str(state["method"]), float(state.get("max_z", 20.0)))
            shape = tuple(int(s) for s in state["shape"])
            mean = np.asarray(state["mean"], dtype=np.float64).reshape(shape)
            std = np.asarray(state["std"], dtype=np.float64).reshape(shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"Scale.from_state_dict: malformed state: {exc}") from None
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise DataError("Scale.from_state_dict: mean/std must be finite and std > 0")
        obj.mean, obj.std = mean, std
        return obj

    def __repr__(self) -> str:
        shape = None if self.mean is None else self.mean.shape
        return f"Scale({self.method!r}, fitted={self.mean is not None}, feature_shape={shape})"


class OneHot:
    """Integer class labels ``(N,)`` -> one-hot float32 ``(N, num_classes)``.

    Shape: ``(N,) -> (N, C)``.

    Raises:
        DataError: labels not integers in ``[0, num_classes)``.
    """

    def __init__(self, num_classes: int) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or (
            num_classes < 1
        ):
            raise ValueError(f"OneHot: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = int(num_classes)

    def __call__(self, y: Any, dtype: Any = np.float32) -> np.ndarray:
        labels = np.asarray(y)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"OneHot: expected 1-D integer labels, got shape {labels.shape} "
                f"dtype {labels.dtype}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise DataError(
                f"OneHot: labels must lie in [0, {self.num_classes}), got "
                f"[{int(labels.min())}, {int(labels.max())}]"
            )
        out = np.zeros((labels.shape[0], self.num_classes), dtype=dtype)
        out[np.arange(labels.shape[0]), labels] = 1
        return out

    transform = __call__
