"""Dataset loaders returning one uniform structure, :class:`Dataset`.

* Small tabular sets bundled with scikit-learn (the optional extra
  ``pip install gradstep[datasets]``): :func:`load_digits`, :func:`load_iris`,
  :func:`load_breast_cancer`, :func:`load_wine` (classification), :func:`load_diabetes`
  (regression). They have no official test split: ``x_test``/``y_test`` are None and
  you split with :func:`gradstep.data.stratified_split`.
* The IDX image sets :func:`load_fashion_mnist` and :func:`load_mnist` (official
  train/test split in ``x``/``y`` and ``x_test``/``y_test``).
* Your own table: :func:`load_csv`.

Conventions of every loader: ``x`` is float32 with the example axis first; ``y`` is int64
class indices ``0..C-1`` for classification (``classes[y]`` is the name) and float32 for
regression. Feature values are returned as stored (digits 0..16, iris centimetres...),
except IDX images, which are scaled to ``[0, 1]`` unless ``scale=False``. Nothing is
standardized: fit :class:`gradstep.data.Standardize` on the training split.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gradstep.data.dataset import ArrayDataset
from gradstep.errors import DataError

__all__ = [
    "Dataset",
    "load_breast_cancer",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_wine",
]

Task = Literal["classification", "regression"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set: arrays plus what they mean.

    Attributes:
        name: short name, e.g. ``"digits"``, ``"fashion_mnist"``, or the CSV file stem.
        x: features (the training split when the set has an official split), float32,
            shape ``(N, ...)``: ``(N, D)`` for tables, ``(N, 28, 28)`` for MNIST images.
        y: targets, shape ``(N,)``: int64 class indices for classification, float32
            values for regression.
        task: ``"classification"`` or ``"regression"``.
        feature_names: one name per feature column (empty for images).
        classes: class names, ``classes[k]`` for label ``k`` (empty for regression).
        x_test: official test features, or None when the set has no official split.
        y_test: official test targets, or None.
        description: one line about the source.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    task: Task
    feature_names: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    description: str = field(default="", repr=False)

    @property
    def x_train(self) -> np.ndarray:
        """Alias of ``x``."""
        return self.x

    @property
    def y_train(self) -> np.ndarray:
        """Alias of ``y``."""
        return self.y

    @property
    def target_names(self) -> tuple[str, ...]:
        """Alias of ``classes`` (scikit-learn's name)."""
        return self.classes

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def num_features(self) -> int:
        """Features per example, ``prod(x.shape[1:])``."""
        return int(np.prod(self.x.shape[1:], dtype=np.int64))

    @property
    def has_test_split(self) -> bool:
        return self.x_test is not None

    def to_array_dataset(self, split: Literal["train", "test"] = "train") -> ArrayDataset:
        """The ``train`` (``x, y``) or ``test`` (``x_test, y_test``) part as an ArrayDataset."""
        if split == "train":
            return ArrayDataset(self.x, self.y)
        if split == "test":
            if self.x_test is None:
                raise DataError(f"{self.name}: has no official test split; use stratified_split")
            return ArrayDataset(self.x_test, self.y_test)
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")

    def __repr__(self) -> str:
        test = "" if self.x_test is None else f", x_test={self.x_test.shape}"
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, x={self.x.shape}, "
            f"y={self.y.shape}{test}, num_classes={self.num_classes})"
        )


# -- scikit-learn bundled data ------------------------------------------------------------
def _sklearn_datasets() -> Any:
    try:
        from sklearn import datasets as skd
    except ImportError:
        raise ImportError(
            "gradstep.datasets: the small bundled data sets are read from scikit-learn; "
            "install it with `pip install gradstep[datasets]` (or `pip install scikit-learn`)"
        ) from None
    return skd


def _from_sklearn(name: str, fn_name: str, task: Task) -> Dataset:
    skd = _sklearn_datasets()
    bunch = getattr(skd, fn_name)()
    x = np.ascontiguousarray(bunch.data, dtype=np.float32)
    feature_names = tuple(str(f) for f in getattr(bunch, "feature_names", ()))
    if task == "classification":
        y = np.asarray(bunch.target, dtype=np.int64)
        classes = tuple(str(c) for c in bunch.target_names)
    else:
        y = np.asarray(bunch.target, dtype=np.float32)
        classes = ()
    descr = (getattr(bunch, "DESCR", "") or "").strip().splitlines()
    lines = [ln.strip(" .") for ln in descr if ln.strip(" .:_-=") and not ln.startswith("..")]
    first = lines[0] if lines else name
    return Dataset(
        name=name, x=x, y=y, task=task, feature_names=feature_names, classes=classes,
        description=f"{first} (scikit-learn bundled copy)",
    )


def load_digits() -> Dataset:
    """8x8 handwritten digits: x (1797, 64) float32 in 0..16, y int64 in 0..9, 10 classes.

    Read from the copy bundled inside scikit-learn (no network). No official test split.

    Raises:
        ImportError: scikit-learn is missing (``pip install gradstep[datasets]``).
    """
    return _from_sklearn("digits", "load_digits", "classification")


def load_iris() -> Dataset:
    """Iris: x (150, 4) float32 (cm), y int64 in 0..2, 3 classes. From scikit-learn."""
    return _from_sklearn("iris", "load_iris", "classification")


def load_breast_cancer() -> Dataset:
    """Wisconsin breast cancer: x (569, 30) float32, y int64 in {0, 1}. From scikit-learn."""
    return _from_sklearn("breast_cancer", "load_breast_cancer", "classification")


def load_wine() -> Dataset:
    """Wine: x (178, 13) float32, y int64 in 0..2, 3 classes. From scikit-learn."""
    return _from_sklearn("wine", "load_wine", "classification")


def load_diabetes() -> Dataset:
    """Diabetes progression (regression): x (442, 10) float32 (scikit-learn's scaled
    features), y (442,) float32 in 25..346. From scikit-learn."""
    return _from_sklearn("diabetes", "load_diabetes", "regression")


# -- CSV ------------------------------------------------------------------------------------
def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def load_csv(
    path: str | os.PathLike[str],
    target: int | str = -1,
    delimiter: str = ",",
    header: bool = True,
    *,
    task: Task | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a numeric table with one target column.

    Args:
        path: the CSV file (UTF-8; a leading BOM is ignored).
        target: the target column, by header name or by index (negative counts from the
            end; default the last column).
        delimiter: field separator.
        header: the first row holds column names (else columns are named ``col0``...).
        task: ``"classification"`` or ``"regression"``; None infers it: a target column
            that is not all numeric, or all integer-valued, means classification;
            otherwise regression.
        name: the data set's name (default: the file stem).

    Returns:
        :class:`Dataset` with ``x`` (N, D) float32. For classification ``classes`` are
        the distinct target strings (numerically sorted when all numeric, else sorted as
        strings) and ``y`` their int64 indices; for regression ``y`` is float32.

    Raises:
        DataError: missing file, empty table, ragged rows, unknown target, non-numeric
            feature values or NaN/inf (naming the row and column), or a non-numeric target
            with ``task="regression"``.
    """
    p = os.fspath(path)
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task: expected 'classification', 'regression' or None, got {task!r}")
    if not os.path.isfile(p):
        raise DataError(f"load_csv: file not found: {p}")
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh, delimiter=delimiter)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"load_csv: cannot parse {p}: {exc}") from None
    # Skip fully blank lines (a trailing newline is common) but keep numbering from the file.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise DataError(f"load_csv: {p} is empty")
    if header:
        names = [c.strip() for c in numbered[0][1]]
        data = numbered[1:]
    else:
        names = [f"col{j}" for j in range(len(numbered[0][1]))]
        data = numbered
    ncol = len(names)
    if not data:
        raise DataError(f"load_csv: {p} has a header but no data rows")
    if ncol < 2:
        raise DataError(f"load_csv: {p} needs at least 2 columns (features and target), got {ncol}")
    for line, r in data:
        if len(r) != ncol:
            raise DataError(
                f"load_csv: {p} line {line}: expected {ncol} fields, got {len(r)} (ragged rows)"
            )
    if isinstance(target, str):
        if target not in names:
            raise DataError(f"load_csv: target column {target!r} not in header {names}")
        t = names.index(target)
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -ncol <= int(target) < ncol:
            raise DataError(f"load_csv: target index {target} out of range for {ncol} columns")
        t = int(target) % ncol
    else:
        raise TypeError(f"target: expected a column name or index, got {target!r}")
    feat_cols = [j for j in range(ncol) if j != t]
    x = np.empty((len(data), len(feat_cols)), dtype=np.float64)
    for i, (line, r) in enumerate(data):
        for k, j in enumerate(feat_cols):
            v = _parse_float(r[j].strip())
            if v is None:
                raise DataError(
                    f"load_csv: {p} line {line}, column {j} ({names[j]!r}): "
                    f"non-numeric value {r[j]!r}"
                )
            if not math.isfinite(v):
                raise DataError(
                    f"load_csv: {p} line {line}, column {j} ({names[j]!r}): "
                    f"value {r[j]!r} is NaN or infinite"
                )
            x[i, k] = v
    raw_t = [r[t].strip() for _, r in data]
    nums = [_parse_float(s) for s in raw_t]
    all_numeric = all(v is not None and math.isfinite(v) for v in nums)
    if task is None:
        integral = all_numeric and all(float(v).is_integer() for v in nums)  # type: ignore[arg-type]
        task = "classification" if (not all_numeric or integral) else "regression"
    if task == "regression":
        for (line, _), s, v in zip(data, raw_t, nums):
            if v is None or not math.isfinite(v):
                raise DataError(
                    f"load_csv: {p} line {line}, target column {t} ({names[t]!r}): "
                    f"regression target {s!r} is not a finite number"
                )
        y = np.asarray(nums, dtype=np.float32)
        classes: tuple[str, ...] = ()
    else:
        for (line, _), s in zip(data, raw_t):
            if s == "":
                raise DataError(
                    f"load_csv: {p} line {line}, target column {t} ({names[t]!r}): empty label"
                )
        if all_numeric:  # "1" and "1.0" are the same class
            values = sorted({float(v) for v in nums})  # type: ignore[arg-type]
            index = {v: k for k, v in enumerate(values)}
            y = np.asarray([index[float(v)] for v in nums], dtype=np.int64)  # type: ignore[arg-type]
            classes = tuple(str(int(v)) if v.is_integer() else repr(v) for v in values)
        else:
            ordered = sorted(set(raw_t))
            lookup = {s: k for k, s in enumerate(ordered)}
            y = np.asarray([lookup[s] for s in raw_t], dtype=np.int64)
            classes = tuple(ordered)
    stem = os.path.splitext(os.path.basename(p))[0]
    return Dataset(
        name=name or stem,
        x=x.astype(np.float32),
        y=y,
        task=task,
        feature_names=tuple(names[j] for j in feat_cols),
        classes=classes,
        description=f"CSV file {p}, target column {names[t]!r}",
    )
