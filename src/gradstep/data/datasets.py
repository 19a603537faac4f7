"""The data-set loaders, one module: every one returns a :class:`DataBundle`.

* Small tabular sets bundled with scikit-learn (the optional extra
  ``pip install gradstep[datasets]``): :func:`load_digits`, :func:`load_iris`,
  :func:`load_breast_cancer`, :func:`load_wine` (classification), :func:`load_diabetes`
  (regression). They have no official test split: ``x_test``/``y_test`` are None and
  you split with :func:`gradstep.data.stratified_split`.
* The IDX image sets :func:`load_fashion_mnist` and :func:`load_mnist` (official
  train/test split in ``x``/``y`` and ``x_test``/``y_test``; see :mod:`gradstep.data.mnist`
  for where they are looked for).
* Your own table: :func:`load_csv`.

Conventions of every loader: ``x`` is float32 with the example axis first; ``y`` is int64
class indices ``0..C-1`` for classification (``classes[y]`` is the name) and float32 for
regression. Feature values are returned as stored (digits 0..16, iris centimetres...),
except IDX images, which are scaled to ``[0, 1]`` unless ``scale=False``. Nothing is
standardized: fit :class:`gradstep.data.Standardize` on the training split.

``gradstep.datasets`` is this same module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep.data.bundle import DataBundle, Task
from gradstep.data.mnist import (
    FASHION_MNIST,
    MNIST,
    IdxFile,
    IdxSource,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
)
from gradstep.data.tables import load_csv

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "DataBundle",
    "IdxFile",
    "IdxSource",
    "load_breast_cancer",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_iris",
    "load_mnist",
    "load_wine",
]


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


def _from_sklearn(name: str, fn_name: str, task: Task) -> DataBundle:
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
    return DataBundle(
        name=name, x=x, y=y, task=task, feature_names=feature_names, classes=classes,
        description=f"{first} (scikit-learn bundled copy)",
    )


def load_digits() -> DataBundle:
    """8x8 handwritten digits: x (1797, 64) float32 in 0..16, y int64 in 0..9, 10 classes.

    Read from the copy bundled inside scikit-learn (no network). No official test split.

    Raises:
        ImportError: scikit-learn is missing (``pip install gradstep[datasets]``).
    """
    return _from_sklearn("digits", "load_digits", "classification")


def load_iris() -> DataBundle:
    """Iris: x (150, 4) float32 (cm), y int64 in 0..2, 3 classes. From scikit-learn."""
    return _from_sklearn("iris", "load_iris", "classification")


def load_breast_cancer() -> DataBundle:
    """Wisconsin breast cancer: x (569, 30) float32, y int64 in {0, 1}. From scikit-learn."""
    return _from_sklearn("breast_cancer", "load_breast_cancer", "classification")


def load_wine() -> DataBundle:
    """Wine: x (178, 13) float32, y int64 in 0..2, 3 classes. From scikit-learn."""
    return _from_sklearn("wine", "load_wine", "classification")


def load_diabetes() -> DataBundle:
    """Diabetes progression (regression): x (442, 10) float32 (scikit-learn's scaled
    features), y (442,) float32 in 25..346. From scikit-learn."""
    return _from_sklearn("diabetes", "load_diabetes", "regression")
