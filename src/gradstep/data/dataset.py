"""In-memory datasets and splits: ArrayDataset, Subset, random_split, train_test_split.

Everything here works on NumPy arrays and indexes them with whole index arrays
(vectorised); nothing loops over examples in Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gradstep.errors import DataError

__all__ = [
    "ArrayDataset",
    "IndexableDataset",
    "Subset",
    "random_split",
    "stratified_split",
    "stratified_split_indices",
    "train_test_split",
]

IndexLike = int | np.integer | slice | Sequence[int] | np.ndarray


@runtime_checkable
class IndexableDataset(Protocol):
    """What :class:`~gradstep.data.DataLoader` needs: a length and vectorised indexing.

    ``dataset[idx]`` with an integer array ``idx`` must return the whole batch at once
    (an array, or a tuple of arrays whose first axis is the batch axis).
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> Any: ...


def _as_index(index: IndexLike, n: int, name: str = "index") -> int | slice | np.ndarray:
    if isinstance(index, slice):
        return index
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"{name}: index {i} out of range for dataset of length {n}")
        return i
    arr = np.asarray(index)
    if arr.dtype == np.bool_:
        if arr.shape != (n,):
            raise IndexError(f"{name}: boolean mask of shape {arr.shape} for length {n}")
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}: expected int, slice or integer array, got dtype {arr.dtype}")
    if arr.min() < -n or arr.max() >= n:
        raise IndexError(
            f"{name}: indices in [{int(arr.min())}, {int(arr.max())}] out of range for "
            f"dataset of length {n}"
        )
    return arr


class ArrayDataset:
    """Features ``x`` and optional targets ``y`` held as arrays with a shared first axis.

    Args:
        x: features, shape ``(N, ...)``. Converted with ``np.asarray`` (no copy if possible).
        y: optional targets, shape ``(N, ...)``.

    Indexing with an int returns one example; with an integer array, a slice or a boolean
    mask it returns the whole batch via one vectorised ``np.take``-style gather:
    ``(x[idx], y[idx])`` when ``y`` is set, else ``x[idx]``.

    Raises:
        DataError: ``x`` and ``y`` have different lengths, or ``x`` is a scalar.
    """

    def __init__(self, x: Any, y: Any = None) -> None:
        self.x = np.asarray(x)
        if self.x.ndim == 0:
            raise DataError("ArrayDataset: x must have a first (example) axis, got a scalar")
        self.y: np.ndarray | None = None
        if y is not None:
            yy = np.asarray(y)
            if yy.ndim == 0 or yy.shape[0] != self.x.shape[0]:
                got = "a scalar" if yy.ndim == 0 else f"len(y)={yy.shape[0]}"
                raise DataError(
                    f"ArrayDataset: x and y must have the same length, got "
                    f"len(x)={self.x.shape[0]} and {got}"
                )
            self.y = yy

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: IndexLike) -> Any:
        idx = _as_index(index, len(self), "ArrayDataset")
        if self.y is None:
            return self.x[idx]
        return self.x[idx], self.y[idx]

    def __repr__(self) -> str:
        ys = "None" if self.y is None else f"{self.y.shape} {self.y.dtype}"
        return f"ArrayDataset(x={self.x.shape} {self.x.dtype}, y={ys})"


class Subset:
    """A view of ``dataset`` restricted to ``indices`` (vectorised, no copy until indexed).

    Args:
        dataset: any dataset with vectorised indexing (e.g. :class:`ArrayDataset`).
        indices: integer indices into ``dataset``.
    """

    def __init__(self, dataset: IndexableDataset, indices: Any) -> None:
        self.dataset = dataset
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = np.zeros(0, dtype=np.intp)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise DataError(
                f"Subset: indices must be a 1-D integer array, got shape {idx.shape} "
                f"dtype {idx.dtype}"
            )
        n = len(dataset)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise DataError(
                f"Subset: indices must lie in [0, {n}), got [{int(idx.min())}, {int(idx.max())}]"
            )
        self.indices = idx.astype(np.intp, copy=False)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: IndexLike) -> Any:
        idx = _as_index(index, len(self), "Subset")
        return self.dataset[self.indices[idx]]

    @property
    def x(self) -> np.ndarray:
        """Features of the subset (gathered), when the parent has ``.x``."""
        return np.asarray(self.dataset.x)[self.indices]  # type: ignore[attr-defined]

    @property
    def y(self) -> np.ndarray | None:
        """Targets of the subset (gathered), or None when the parent has none."""
        y = getattr(self.dataset, "y", None)
        return None if y is None else np.asarray(y)[self.indices]

    def __repr__(self) -> str:
        return f"Subset(len={len(self)}, of {self.dataset!r})"


def _default_generator(generator: np.random.Generator | None) -> np.random.Generator:
    if generator is None:
        return np.random.default_rng(0)
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"generator: expected numpy.random.Generator, got {type(generator).__name__}"
        )
    return generator


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    if len(lengths) == 0:
        raise ValueError("random_split: lengths must not be empty")
    vals = list(lengths)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
        ints = [int(v) for v in vals]
        if any(v < 0 for v in ints) or sum(ints) != n:
            raise ValueError(
                f"random_split: integer lengths must be >= 0 and sum to len(dataset)={n}, "
                f"got {ints} (sum {sum(ints)})"
            )
        return ints
    fr = [float(v) for v in vals]
    if any(not 0.0 <= f <= 1.0 for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise ValueError(
            f"random_split: fractions must lie in [0, 1] and sum to 1, got {fr} (sum {sum(fr)})"
        )
    out = [int(math.floor(n * f)) for f in fr]
    # Hand out the remainder round-robin, as PyTorch does.
    for i in range(n - sum(out)):
        out[i % len(out)] += 1
    return out


def random_split(
    dataset: IndexableDataset,
    lengths: Sequence[float],
    generator: np.random.Generator | None = None,
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets.

    Args:
        dataset: dataset to split.
        lengths: integer lengths summing to ``len(dataset)``, or fractions summing to 1
            (floored; the remainder is handed out one by one from the first subset on).
        generator: source of the permutation; default ``np.random.default_rng(0)``.

    Returns:
        One :class:`Subset` per entry of ``lengths``.
    """
    gen = _default_generator(generator)
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    perm = gen.permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, perm[bounds[i] : bounds[i + 1]]) for i in range(len(sizes))]


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
