"""Dataset loaders, re-exported from :mod:`gradstep.data.datasets` for short imports.

``gradstep.datasets.load_digits()`` and friends return a :class:`gradstep.data.Dataset`.
"""

from __future__ import annotations

from gradstep.data.datasets import (
    Dataset,
    load_breast_cancer,
    load_csv,
    load_diabetes,
    load_digits,
    load_fashion_mnist,
    load_iris,
    load_mnist,
    load_wine,
)

__all__ = [
    "Dataset",
    "load_breast_cancer",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_fashion_mnist",
    "load_iris",
    "load_mnist",
    "load_wine",
]
