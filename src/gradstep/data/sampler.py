"""Samplers with PyTorch's meaning: which indices a DataLoader visits, in which order.

A sampler is an iterable of dataset indices (``BatchSampler``: of lists of indices).
Random samplers take ``generator=``: a :class:`gradstep.Generator`, a
``numpy.random.Generator`` or None. With None, each pass draws a fresh seed from the
default generator (seeded by :func:`gradstep.manual_seed`), as PyTorch does; the numbers
themselves differ from PyTorch's for the same seed (NumPy's PCG64 streams).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "epoch_rng",
    "numpy_rng",
]


def numpy_rng(generator: Any, op: str) -> np.random.Generator:
    """The ``numpy.random.Generator`` behind ``generator`` (None: the default generator)."""
    if isinstance(generator, np.random.Generator):
        return generator
    from gradstep._random import numpy_generator

    return numpy_generator(generator, op)


def epoch_rng(generator: Any, op: str) -> np.random.Generator:
    """The stream one pass draws from: ``generator`` itself, or (None) a fresh stream seeded
    by one draw from the default generator, as PyTorch's samplers do."""
    if generator is not None:
        return numpy_rng(generator, op)
    seed = int(numpy_rng(None, op).integers(0, 1 << 63, dtype=np.int64))
    return np.random.default_rng(seed)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


class Sampler:
    """Base class of samplers: subclasses define ``__iter__`` (and usually ``__len__``).

    ``Sampler[int]`` is accepted in annotations and subclass lists, as in PyTorch.
    """

    def __class_getitem__(cls, item: Any) -> Any:
        return cls

    def __init__(self, data_source: Any = None) -> None:
        del data_source  # accepted for PyTorch compatibility

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def indices(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """This pass's indices as one int64 array (``rng`` is unused)."""
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random order: a permutation (``replacement=False``) or draws with replacement.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices independently.
        num_samples: how many indices per pass (default ``len(data_source)``); without
            replacement, more than the length chains fresh permutations, as PyTorch does.
        generator: randomness (see the module docstring).
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement: expected a bool, got {replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = None if num_samples is None else _positive_int(
            num_samples, "num_samples")
        self.generator = generator

    @property
    def num_samples(self) -> int:
        """Indices per pass."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def indices(self, rng: np.random.Generator) -> np.ndarray:
        """One pass's indices drawn from ``rng``, as one int64 array."""
        n, k = len(self.data_source), self.num_samples
        if self.replacement:
            return rng.integers(0, n, size=k, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(-(-k // n))] if n else []
        out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return out[:k].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices(epoch_rng(self.generator, "RandomSampler")).tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a fresh permutation every pass)."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rng = epoch_rng(self.generator, "SubsetRandomSampler")
        order = rng.permutation(len(self.indices))
        return (self.indices[int(i)] for i in order)

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))`` drawn with probability ``w_i / sum(w)``.

    Args:
        weights: 1-D non-negative weights (need not sum to one).
        num_samples: indices per pass.
        replacement: draw with replacement (without: no index twice, so ``num_samples``
            may not exceed the number of non-zero weights).
        generator: randomness (see the module docstring).
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement: expected a bool, got {replacement!r}")
        w = np.asarray(weights._data if hasattr(weights, "_data") else weights, np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights: expected a 1-D sequence, got shape {w.shape}")
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights: expected finite non-negative values with a positive sum")
        self.weights = w
        self.num_samples = _positive_int(num_samples, "num_samples")
        if not replacement and self.num_samples > int(np.count_nonzero(w)):
            raise ValueError(
                f"num_samples: {self.num_samples} draws without replacement but only "
                f"{int(np.count_nonzero(w))} non-zero weights"
            )
        self.replacement = replacement
        self.generator = generator

    def indices(self, rng: np.random.Generator) -> np.ndarray:
        """One pass's indices drawn from ``rng``, as one int64 array."""
        p = self.weights / self.weights.sum()
        out = rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return np.asarray(out, dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices(epoch_rng(self.generator, "WeightedRandomSampler")).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last: expected a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
