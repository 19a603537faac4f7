"""Preparing a loaded data set for a model: splits, input scaling, shapes, targets.

What ``gradstep train`` does to its data, as public functions a :func:`gradstep.fit` user
can call too:

* :func:`holdout_split`: the data set's official test split, or a seeded one.
* :func:`validation_split`: a validation set held out of the training split, given as a
  fraction (seeded, stratified for classification) or as a count ``n`` (the *last* ``n``
  training examples, a fixed split as in Nielsen's book, which holds out the last 10,000
  MNIST training images).
* :func:`resolve_scale`: which input scaling ``"auto"`` means for a data set.
* :class:`Preprocessor`: the input scaling and reshaping fitted on the training split,
  with a JSON-able record that travels in a checkpoint (``mean``/``std`` arrays of one
  example's shape, so any scaling method folds into an ONNX graph the same way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradstep.data.transforms import SCALE_METHODS, Scale
from gradstep.errors import CheckpointError, ConfigError, DataError

__all__ = [
    "IMAGE_DATASETS",
    "Preprocessor",
    "holdout_split",
    "model_input_shape",
    "resolve_scale",
    "validation_split",
]

IMAGE_DATASETS = ("mnist", "fashion_mnist", "fashion-mnist")


def holdout_split(
    ds: Any, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_test, y_train, y_test)`` of a :class:`~gradstep.data.Dataset`.

    The official test split when the data set has one; otherwise a split of ``test_size``
    (a fraction) drawn with ``numpy.random.default_rng(seed)``, stratified by class for
    classification.
    """
    from gradstep.data import stratified_split, train_test_split

    if ds.x_test is not None:
        return ds.x, ds.x_test, ds.y, ds.y_test
    gen = np.random.default_rng(seed)
    if ds.task == "classification":
        return tuple(stratified_split(ds.x, ds.y, test_size, generator=gen))  # type: ignore
    return tuple(train_test_split(ds.x, ds.y, test_size=test_size, generator=gen))  # type: ignore


def validation_split(
    x: np.ndarray, y: np.ndarray, val: float | int, seed: int, classification: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold a validation set out of the training split: ``(x_tr, x_val, y_tr, y_val)``.

    Args:
        x, y: the training split.
        val: a float in ``(0, 1)``: that fraction, drawn with
            ``numpy.random.default_rng(seed)`` (stratified when ``classification``); an
            int ``n >= 1``: the last ``n`` examples, in order (no randomness).
        seed: seed of a fractional split.
        classification: stratify a fractional split by class.

    Raises:
        ConfigError: ``val`` out of range, or a count that leaves no training example.
    """
    n = len(x)
    if isinstance(val, (int, np.integer)) and not isinstance(val, bool):
        if not 1 <= val < n:
            raise ConfigError(
                f"--val-split: a count must be between 1 and {n - 1} (the training split has "
                f"{n} examples), got {val}"
            )
        k = n - int(val)
        return x[:k], x[k:], y[:k], y[k:]
    if not 0.0 < float(val) < 1.0:
        raise ConfigError(f"--val-split: a fraction must be in (0, 1), got {val}")
    from gradstep.data import stratified_split, train_test_split

    gen = np.random.default_rng(seed)
    if classification:
        return tuple(stratified_split(x, y, float(val), generator=gen))  # type: ignore
    return tuple(train_test_split(x, y, test_size=float(val), generator=gen))  # type: ignore


def resolve_scale(scale: str, dataset: str) -> str:
    """The scaling method ``scale`` stands for on ``dataset``.

    ``"auto"`` is ``"unit"`` (pixels in [0, 1]) for the image data sets (mnist,
    fashion-mnist) and ``"feature"`` (per-feature standardisation with a floor on the std)
    for everything else; any other value must be one of ``feature``, ``global``, ``unit``,
    ``none`` and is returned as is.
    """
    if scale == "auto":
        return "unit" if dataset.lower() in IMAGE_DATASETS else "feature"
    if scale not in SCALE_METHODS:
        raise ConfigError(
            f"--scale: expected auto, {', '.join(SCALE_METHODS)}, got {scale!r}"
        )
    return scale


def model_input_shape(
    raw_shape: Sequence[int], kind: str, images: bool = False
) -> tuple[int, ...]:
    """The shape of one model input for examples of ``raw_shape`` and a model ``kind``.

    ``cnn`` needs images: ``(H, W)`` becomes ``(1, H, W)``; a square vector ``(H*H,)``
    becomes ``(1, H, H)`` only when ``images`` says the data set is made of images (the
    8x8 digits); other kinds keep ``raw_shape``.

    Raises:
        ConfigError: ``cnn`` on data that are not images.
    """
    raw = tuple(int(s) for s in raw_shape)
    if kind != "cnn":
        return raw
    if len(raw) == 2:
        return (1, *raw)
    if len(raw) == 3:
        return raw
    if images and len(raw) == 1 and math.isqrt(raw[0]) ** 2 == raw[0]:
        return (1, math.isqrt(raw[0]), math.isqrt(raw[0]))
    raise ConfigError(
        f"--model cnn: needs image input (examples of shape (H, W) or (C, H, W)); this data "
        f"set has tabular examples of shape {raw}; use --model mlp or linear"
    )


class Preprocessor:
    """Input scaling and reshaping fitted on a training split, saved with the model.

    Attributes:
        scaler: the fitted :class:`~gradstep.data.Scale`.
        raw_shape: shape of one example as the data set gives it.
        model_shape: shape of one model input.
        task: ``"classification"`` or ``"regression"``.
        classes: class names.
        y_mean, y_std: regression targets are standardised with these.
    """

    def __init__(
        self,
        scaler: Scale,
        raw_shape: Sequence[int],
        model_shape: Sequence[int],
        task: str,
        classes: Sequence[str] = (),
        y_mean: float = 0.0,
        y_std: float = 1.0,
    ) -> None:
        self.scaler = scaler
        self.raw_shape = tuple(int(s) for s in raw_shape)
        self.model_shape = tuple(int(s) for s in model_shape)
        self.task = task
        self.classes = [str(c) for c in classes]
        self.y_mean, self.y_std = float(y_mean), float(y_std)

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        *,
        task: str,
        classes: Sequence[str] = (),
        scale: str = "feature",
        model_shape: Sequence[int] | None = None,
    ) -> Preprocessor:
        """Fit the scaling (``scale``: a :class:`~gradstep.data.Scale` method) on ``x``."""
        scaler = Scale(scale).fit(x)
        # the record keeps float32 statistics: use exactly those, so that a model restored
        # from a checkpoint sees the same inputs as the one trained
        scaler.mean = np.asarray(scaler.mean, np.float32).astype(np.float64)
        scaler.std = np.asarray(scaler.std, np.float32).astype(np.float64)
        raw = x.shape[1:]
        y_mean, y_std = 0.0, 1.0
        if task == "regression":
            y_mean, y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        shape = raw if model_shape is None else model_shape
        return cls(scaler, raw, shape, task, classes, y_mean, y_std)

    @property
    def scale(self) -> str:
        """The scaling method's name."""
        return self.scaler.method

    def x(self, x: Any, what: str = "input") -> np.ndarray:
        """Check, scale and reshape inputs (one example or a batch) to float32 model input."""
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise DataError(f"{what}: expected numbers, got dtype {x.dtype}")
        n = int(math.prod(self.raw_shape))
        if x.shape[1:] != self.raw_shape:
            if x.ndim >= 1 and len(x) > 0 and x.size == len(x) * n:
                x = x.reshape((len(x), *self.raw_shape))
            elif x.ndim == len(self.raw_shape) and x.size == n:
                x = x.reshape((1, *self.raw_shape))
            else:
                raise DataError(
                    f"{what}: examples must have shape {self.raw_shape} "
                    f"({n} values), got array of shape {x.shape}"
                )
        if not np.all(np.isfinite(x)):
            raise DataError(f"{what}: contains NaN or infinite values")
        z = self.scaler.transform(x.astype(np.float32, copy=False)).astype(np.float32)
        return z.reshape((len(z), *self.model_shape))

    def y(self, y: np.ndarray) -> np.ndarray:
        """Targets as the model is trained on them (regression: standardised)."""
        if self.task == "regression":
            return ((y - self.y_mean) / self.y_std).astype(np.float32)
        return y

    def y_inverse(self, out: np.ndarray) -> np.ndarray:
        """Regression outputs back in the data set's units."""
        return np.asarray(out) * self.y_std + self.y_mean

    def state(self) -> dict[str, Any]:
        """JSON-able record (``mean``, ``std``, ``scale``, shapes, task, classes, targets)."""
        if self.scaler.mean is None or self.scaler.std is None:
            raise DataError("Preprocessor.state: the scaling is not fitted")
        return {
            "mean": self.scaler.mean.astype(np.float32),
            "std": self.scaler.std.astype(np.float32),
            "scale": self.scale,
            "raw_shape": list(self.raw_shape),
            "model_shape": list(self.model_shape),
            "task": self.task,
            "classes": self.classes,
            "y_mean": self.y_mean,
            "y_std": self.y_std,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Preprocessor:
        """Rebuild from :meth:`state` (records without ``scale`` are per-feature ones)."""
        try:
            raw = [int(v) for v in s["raw_shape"]]
            mean = np.asarray(s["mean"], np.float64).reshape(raw)
            std = np.asarray(s["std"], np.float64).reshape(raw)
            scaler = Scale(str(s.get("scale", "feature")))
            scaler.mean, scaler.std = mean, std
            return cls(scaler, raw, s["model_shape"], s["task"], s.get("classes", []),
                       s.get("y_mean", 0.0), s.get("y_std", 1.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint: malformed preprocessing record: {exc}") from None
