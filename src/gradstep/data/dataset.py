"""Datasets with PyTorch's meaning, plus gradstep's array datasets.

* :class:`Dataset` is the map-style base class (``__getitem__(i)`` returns one example,
  ``__len__`` the count), :class:`IterableDataset` the stream-style one; subclass them
  as in PyTorch. :class:`TensorDataset`, :class:`Subset`, :class:`ConcatDataset`,
  :class:`ChainDataset` and :func:`random_split` mean what they mean there.
* Fast path: a dataset may also define ``gather(indices)``, returning the whole batch
  for an int64 index array already collated (arrays or tensors in the structure that
  ``default_collate`` would build from the examples). The :class:`~gradstep.data.DataLoader`
  then gathers each batch in one indexing operation instead of one call per example.
  :class:`TensorDataset`, :class:`ArrayDataset` and :class:`Subset` of those do.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gradstep.data.sampler import numpy_rng
from gradstep.errors import DataError
from gradstep.tensor import Tensor

__all__ = [
    "ArrayDataset",
    "ChainDataset",
    "ConcatDataset",
    "Dataset",
    "IndexableDataset",
    "IterableDataset",
    "Subset",
    "TensorDataset",
    "random_split",
]

IndexLike = int | np.integer | slice | Sequence[int] | np.ndarray


def _rows(a: np.ndarray, indices: Any) -> np.ndarray:
    """``a[indices]`` for a batch's integer index array: ``np.take`` along the first axis
    makes the same copy as fancy indexing in a fraction of its time on small batches."""
    if type(indices) is np.ndarray and indices.dtype.kind in "iu" and indices.ndim == 1:
        return a.take(indices, axis=0)
    return a[indices]


@runtime_checkable
class IndexableDataset(Protocol):
    """Anything with a length and ``__getitem__`` (what a map-style dataset needs)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> Any: ...


class Dataset:
    """Base class of map-style datasets: define ``__getitem__(index)`` and ``__len__``.

    ``dataset_a + dataset_b`` is their :class:`ConcatDataset`. ``Dataset[T]`` is accepted in
    annotations and subclass lists, as for PyTorch's generic class.
    """

    def __class_getitem__(cls, item: Any) -> Any:
        return cls

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Any) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of stream-style datasets: define ``__iter__`` yielding examples.

    With ``num_workers > 0`` every worker iterates its own copy; use
    :func:`~gradstep.data.get_worker_info` inside ``__iter__`` to split the stream.
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Any) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other."""

    def __init__(self, datasets: Iterable[IterableDataset]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type,misc]


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


def _plain(arr: np.ndarray) -> Tensor:
    return Tensor(arr, dtype=arr.dtype)


class TensorDataset(Dataset):
    """Examples ``(t[i] for t in tensors)`` of tensors sharing their first dimension.

    Args:
        *tensors: gradstep tensors (or arrays) with the same size of the first axis.

    Raises:
        ValueError: no tensors, or their first dimensions differ.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        self.tensors = tuple(t if isinstance(t, Tensor) else _plain(np.asarray(t))
                             for t in tensors)
        sizes = [t._data.shape[0] if t._data.ndim else None for t in self.tensors]
        if sizes[0] is None or any(s != sizes[0] for s in sizes):
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dims {sizes}")

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        if isinstance(index, Tensor):
            index = index._data
        return tuple(_plain(t._data[index]) for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0]._data.shape[0])

    def gather(self, indices: np.ndarray) -> list[np.ndarray]:
        """The collated batch of ``indices``: one gathered array per tensor."""
        return [_rows(t._data, indices) for t in self.tensors]


class ArrayDataset(Dataset):
    """Features ``x`` and optional targets ``y`` held as arrays with a shared first axis.

    Args:
        x: features, shape ``(N, ...)``. Converted with ``np.asarray`` (no copy if possible).
        y: optional targets, shape ``(N, ...)``.

    ``ds[i]`` is one example ``(x[i], y[i])`` (``x[i]`` without targets); an integer
    array, a slice or a boolean mask returns the arrays of those examples in one
    vectorised gather. Through a :class:`~gradstep.data.DataLoader` a batch is
    ``[x_batch, y_batch]`` as tensors, gathered in one indexing operation.

    Raises:
        DataError: ``x`` and ``y`` have different lengths, or ``x`` is a scalar.
    """

    def __init__(self, x: Any, y: Any = None) -> None:
        self.x = np.asarray(x._data if isinstance(x, Tensor) else x)
        if self.x.ndim == 0:
            raise DataError("ArrayDataset: x must have a first (example) axis, got a scalar")
        self.y: np.ndarray | None = None
        if y is not None:
            yy = np.asarray(y._data if isinstance(y, Tensor) else y)
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

    def gather(self, indices: np.ndarray) -> Any:
        """The collated batch of ``indices``: ``[x[idx], y[idx]]`` (``x[idx]`` alone)."""
        if type(indices) is np.ndarray and indices.dtype.kind in "iu" and indices.ndim == 1:
            x = self.x.take(indices, axis=0)  # as _rows, inline: this runs once per batch
            return x if self.y is None else [x, self.y.take(indices, axis=0)]
        return self.x[indices] if self.y is None else [self.x[indices], self.y[indices]]

    def __repr__(self) -> str:
        ys = "None" if self.y is None else f"{self.y.shape} {self.y.dtype}"
        return f"ArrayDataset(x={self.x.shape} {self.x.dtype}, y={ys})"


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: a map-style dataset.
        indices: indices into ``dataset`` (a sequence or integer array).

    Raises:
        DataError: the indices are not a 1-D integer sequence within ``[0, len(dataset))``.
    """

    def __init__(self, dataset: Any, indices: Any) -> None:
        self.dataset = dataset
        idx = np.asarray(indices._data if isinstance(indices, Tensor) else indices)
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

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[int(self.indices[i]) for i in index]]
        idx = _as_index(index, len(self), "Subset")
        if isinstance(idx, int):
            return self.dataset[int(self.indices[idx])]
        return self.dataset[self.indices[idx]]

    @property
    def gather(self) -> Any:
        """Batch gather through the parent's ``gather`` (absent when the parent has none)."""
        parent = getattr(self.dataset, "gather", None)
        if parent is None:
            raise AttributeError("gather")
        return lambda indices: parent(self.indices[indices])

    @property
    def x(self) -> np.ndarray:
        """Features of the subset (gathered), when the parent has ``.x``."""
        return np.asarray(self.dataset.x)[self.indices]

    @property
    def y(self) -> np.ndarray | None:
        """Targets of the subset (gathered), or None when the parent has none."""
        y = getattr(self.dataset, "y", None)
        return None if y is None else np.asarray(y)[self.indices]

    def __repr__(self) -> str:
        return f"Subset(len={len(self)}, of {self.dataset!r})"


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other.

    Raises:
        ValueError: no datasets, or one of them is an :class:`IterableDataset`.
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise ValueError("ConcatDataset: does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise ValueError("ConcatDataset: absolute value of index should not exceed "
                                 f"dataset length {len(self)}, got {index}")
            index = len(self) + index
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    vals = list(lengths)
    if not vals:
        raise ValueError("random_split: lengths must not be empty")
    total = sum(vals)
    if math.isclose(total, 1) and total <= 1:
        out = []
        for i, frac in enumerate(vals):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1")
            out.append(math.floor(n * frac))
        for i in range(n - sum(out)):  # the remainder, round robin, as PyTorch does
            out[i % len(out)] += 1
        for i, size in enumerate(out):
            if size == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0", stacklevel=3)
        return out
    if any(isinstance(v, bool) or not float(v).is_integer() or v < 0 for v in vals):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions "
                         f"summing to 1, got {vals}")
    if total != n:
        raise ValueError(f"random_split: sum of input lengths {int(total)} does not equal the "
                         f"length of the input dataset {n}")
    return [int(v) for v in vals]


def random_split(dataset: Any, lengths: Sequence[float], generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    Args:
        dataset: a map-style dataset.
        lengths: lengths summing to ``len(dataset)``, or fractions summing to 1 (floored;
            the remainder handed out one at a time from the first split on).
        generator: a :class:`gradstep.Generator`, a ``numpy.random.Generator``, or None
            for the default generator (seeded by :func:`gradstep.manual_seed`).

    Returns:
        One :class:`Subset` per entry of ``lengths``.
    """
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    perm = numpy_rng(generator, "random_split").permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, perm[bounds[i] : bounds[i + 1]]) for i in range(len(sizes))]
