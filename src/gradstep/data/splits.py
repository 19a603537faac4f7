"""Train/test splits of arrays: ``train_test_split``, ``stratified_split`` (vectorised).

These are gradstep helpers (scikit-learn's argument order); with no ``generator`` they use
``np.random.default_rng(0)``, so the same call gives the same split.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradstep.errors import DataError

__all__ = ["stratified_split", "stratified_split_indices", "train_test_split"]


def _default_generator(generator: np.random.Generator | None) -> np.random.Generator:
    if generator is None:
        return np.random.default_rng(0)
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"generator: expected numpy.random.Generator, got {type(generator).__name__}"
        )
    return generator


def _n_test(n: int, test_size: float) -> int:
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        k = int(test_size)
        if not 0 <= k <= n:
            raise ValueError(f"test_size: expected an int in [0, {n}], got {k}")
        return k
    f = float(test_size)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"test_size: expected a fraction in [0, 1] or an int, got {test_size}")
    return int(math.ceil(f * n))


def stratified_split_indices(
    y: Any, test_size: float = 0.2, generator: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with every class split in proportion (largest remainder).

    The test set gets ``ceil(test_size * N)`` examples (or ``test_size`` when it is an
    int), shared out between classes in proportion to their counts by the
    largest-remainder method, so each class's test share is within one example of
    ``test_size * n_class``. Both index arrays are shuffled.

    Args:
        y: class labels, shape ``(N,)`` (any hashable dtype).
        test_size: fraction in [0, 1] or an absolute count.
        generator: randomness; default ``np.random.default_rng(0)``.

    Returns:
        ``(train_idx, test_idx)``, int64 arrays.
    """
    gen = _default_generator(generator)
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"stratified_split: y must be 1-D, got shape {labels.shape}")
    n = labels.shape[0]
    k = _n_test(n, test_size)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * (k / n) if n else counts * 0.0
    alloc = np.floor(exact).astype(np.int64)
    rest = k - int(alloc.sum())
    if rest > 0:
        order = np.argsort(-(exact - alloc), kind="stable")
        alloc[order[:rest]] += 1
    order_all = gen.permutation(n)
    # Group the shuffled positions by class (stable sort keeps the shuffle inside a class).
    by_class = order_all[np.argsort(inverse[order_all], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank_in_class = np.arange(n) - np.repeat(starts, counts)
    cls_of = np.repeat(np.arange(len(classes)), counts)
    is_test = rank_in_class < alloc[cls_of]
    test_idx = gen.permutation(by_class[is_test]).astype(np.int64)
    train_idx = gen.permutation(by_class[~is_test]).astype(np.int64)
    return train_idx, test_idx


def train_test_split(
    x: Any,
    y: Any,
    test_size: float = 0.2,
    *,
    stratify: bool = False,
    generator: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split arrays into train and test parts (scikit-learn order of results).

    Args:
        x: features, shape ``(N, ...)``.
        y: targets, shape ``(N, ...)``.
        test_size: fraction in [0, 1] (test gets ``ceil(test_size * N)``) or a count.
        stratify: keep class proportions (``y`` must be 1-D class labels).
        generator: randomness; default ``np.random.default_rng(0)``.

    Returns:
        ``(x_train, x_test, y_train, y_test)``.
    """
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.ndim == 0 or ya.ndim == 0 or xa.shape[0] != ya.shape[0]:
        raise DataError(
            f"train_test_split: x and y must have the same length, got shapes {xa.shape} "
            f"and {ya.shape}"
        )
    gen = _default_generator(generator)
    if stratify:
        tr, te = stratified_split_indices(ya, test_size, gen)
    else:
        n = xa.shape[0]
        k = _n_test(n, test_size)
        perm = gen.permutation(n)
        te, tr = perm[:k], perm[k:]
    return xa[tr], xa[te], ya[tr], ya[te]


def stratified_split(
    x: Any, y: Any, test_size: float = 0.2, generator: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified :func:`train_test_split`: ``(x_train, x_test, y_train, y_test)``."""
    return train_test_split(x, y, test_size, stratify=True, generator=generator)
