"""DataLoader: batches of NumPy arrays for per-example, mini-batch or full-batch descent.

One permutation per epoch is drawn from an explicit ``numpy.random.Generator``; every
batch is gathered by one vectorised index (``x[idx]``), never by a per-example loop.
The loader's position (epoch, batch index, generator state at the start of the epoch)
is exposed as a JSON-able ``state_dict`` so a resumed run continues bit-identically
from the next batch, and ``shard=(rank, world_size)`` gives each of K ranks its
contiguous slice of every global batch so that K ranks together see exactly the
batches of a single process.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from gradstep.data.dataset import ArrayDataset, IndexableDataset
from gradstep.errors import DataError

__all__ = ["DataLoader", "global_batch_slices", "shard_bounds"]

_STATE_VERSION = 1


def shard_bounds(length: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous ``[start, stop)`` of a batch of ``length`` that ``rank`` of ``world_size`` takes.

    ``start = length * rank // world_size``; the shards are disjoint, cover the batch, and
    differ in size by at most one (a rank's shard can be empty when ``length < world_size``).
    """
    return (length * rank) // world_size, (length * (rank + 1)) // world_size


def global_batch_slices(n: int, global_batch_size: int, drop_last: bool = False) -> list[slice]:
    """Slices of an epoch's permutation making the global batch of each step.

    Step ``t`` uses ``perm[t * B:(t + 1) * B]`` with ``B = global_batch_size``; the last,
    shorter batch is dropped when ``drop_last``.
    """
    if n <= 0:
        return []
    b = global_batch_size
    steps = n // b if drop_last else -(-n // b)
    return [slice(t * b, min((t + 1) * b, n)) for t in range(steps)]


def _check_batch_size(batch_size: Any) -> int | None:
    if batch_size is None or (isinstance(batch_size, str) and batch_size == "full"):
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(
            f"batch_size: expected a positive int, None or 'full', got {batch_size!r}"
        )
    if batch_size <= 0:
        raise ValueError(f"batch_size: expected a positive int, None or 'full', got {batch_size}")
    return int(batch_size)


def _check_shard(shard: Any) -> tuple[int, int]:
    if shard is None:
        return 0, 1
    try:
        rank, world = shard
    except (TypeError, ValueError):
        raise ValueError(f"shard: expected (rank, world_size), got {shard!r}") from None
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (rank, world))
    if not ok or world < 1 or not 0 <= rank < world:
        raise ValueError(
            f"shard: expected (rank, world_size) with world_size >= 1 and "
            f"0 <= rank < world_size, got {shard!r}"
        )
    return int(rank), int(world)


def _to_json(obj: Any) -> Any:
    """Generator state -> JSON-able (ints stay Python ints, however large)."""
    if isinstance(obj, dict):
        return {str(k): _to_json(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _from_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


class DataLoader:
    """Iterate over a dataset in batches: per-example SGD, mini-batches or the full set.

    Args:
        dataset: an :class:`~gradstep.data.ArrayDataset`, a ``Subset``, any object with
            ``__len__`` and vectorised ``__getitem__(int_array)``, a bare array (wrapped
            as ``ArrayDataset(x)``) or a tuple ``(x, y)`` (wrapped as ``ArrayDataset(x, y)``).
        batch_size: examples per step *per rank*: ``1`` is per-example SGD, an int ``b``
            gives mini-batches, ``None`` or ``"full"`` uses the whole data set every step.
        shuffle: draw a fresh permutation each epoch (else examples keep their order).
        drop_last: drop the last, shorter global batch of an epoch.
        generator: source of the per-epoch permutations. Default: a new
            ``np.random.default_rng(0)`` created here, so two loaders built the same way
            yield the same batches. Pass the same seed on every rank when sharding.
        shard: ``(rank, world_size)`` for data-parallel training. Every rank draws the
            same permutation; the global batch of step ``t`` is
            ``perm[t*B:(t+1)*B]`` with ``B = batch_size * world_size`` (``B = N`` for
            full batch) and rank ``r`` takes its contiguous slice
            ``[len*r//K, len*(r+1)//K)`` of it (see :func:`shard_bounds`). So K ranks with
            per-rank batch ``b`` together see exactly the batches of one process with
            batch ``K*b``. A last, shorter global batch is split as evenly as possible
            (shard sizes differ by at most one; a rank may get an *empty* batch when it
            has fewer than K examples); all ranks always take the same number of steps.
            Use ``drop_last=True`` for equal shard sizes.

    Yields:
        ``dataset[idx]`` for the batch's index array ``idx``: ``(x_batch, y_batch)`` for
        an ``ArrayDataset`` with targets, ``x_batch`` without. Batches are fresh arrays.

    ``len(loader)`` is the number of steps (batches) per epoch.

    Position and resume: ``iter(loader)`` starts the next epoch (an epoch left unfinished
    by an abandoned iterator counts as done), except right after :meth:`load_state_dict`,
    when it continues the saved epoch from its next batch. :meth:`state_dict` can be called
    at any time, including inside the ``for`` loop after a batch was consumed. Only one
    iterator per loader may be active at a time.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | str | None = 32,
        shuffle: bool = True,
        drop_last: bool = False,
        generator: np.random.Generator | None = None,
        *,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if isinstance(dataset, np.ndarray):
            dataset = ArrayDataset(dataset)
        elif isinstance(dataset, tuple):
            dataset = ArrayDataset(*dataset)
        if not isinstance(dataset, IndexableDataset):
            raise TypeError(
                f"dataset: expected an object with __len__ and __getitem__, got "
                f"{type(dataset).__name__}"
            )
        if generator is None:
            generator = np.random.default_rng(0)
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"generator: expected numpy.random.Generator, got {type(generator).__name__}"
            )
        self.dataset: IndexableDataset = dataset
        self.batch_size: int | None = _check_batch_size(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator
        self.rank, self.world_size = _check_shard(shard)
        self.epoch = 0
        self._batch_index = 0
        self._epoch_start_state: Any = None
        self._resume = False

    # -- geometry ---------------------------------------------------------------------
    @property
    def global_batch_size(self) -> int:
        """Examples per step over all ranks: ``batch_size * world_size`` (``N`` if full)."""
        n = len(self.dataset)
        if self.batch_size is None:
            return max(n, 1)
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        return len(global_batch_slices(len(self.dataset), self.global_batch_size, self.drop_last))

    def _permutation(self, generator: np.random.Generator) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            return generator.permutation(n)
        return np.arange(n)

    def _local(self, global_idx: np.ndarray) -> np.ndarray:
        if self.world_size == 1:
            return global_idx
        lo, hi = shard_bounds(len(global_idx), self.rank, self.world_size)
        return global_idx[lo:hi]

    def _planned_permutation(self) -> np.ndarray:
        """Permutation of the epoch in progress (or the next one), without drawing."""
        state = self._epoch_start_state
        if state is None:
            state = self.generator.bit_generator.state
        bit_gen = type(self.generator.bit_generator)()
        bit_gen.state = copy.deepcopy(state)
        return self._permutation(np.random.Generator(bit_gen))

    def global_batch_indices(self) -> list[np.ndarray]:
        """Global index arrays of every step of the current (or next) epoch, over all ranks.

        Computed from a copy of the saved generator state; the loader does not advance.
        ``loader.batch_indices()[t]`` is this rank's slice of ``global_batch_indices()[t]``,
        and a single-process loader with batch ``K*b`` yields exactly these batches.
        """
        perm = self._planned_permutation()
        return [perm[s] for s in global_batch_slices(len(perm), self.global_batch_size,
                                                     self.drop_last)]

    def batch_indices(self) -> list[np.ndarray]:
        """This rank's index arrays for every step of the current (or next) epoch."""
        return [self._local(g) for g in self.global_batch_indices()]

    # -- iteration --------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if self._resume:
            self._resume = False
            start = self._batch_index
        else:
            if self._epoch_start_state is not None:  # previous epoch abandoned mid-way
                self.epoch += 1
            start = 0
        self._epoch_start_state = copy.deepcopy(self.generator.bit_generator.state)
        perm = self._permutation(self.generator)
        slices = global_batch_slices(len(perm), self.global_batch_size, self.drop_last)
        self._batch_index = start
        if start >= len(slices):
            self._finish_epoch()
        return self._batches(perm, slices, start)

    def _finish_epoch(self) -> None:
        self.epoch += 1
        self._batch_index = 0
        self._epoch_start_state = None

    def _batches(self, perm: np.ndarray, slices: list[slice], start: int) -> Iterator[Any]:
        steps = len(slices)
        for t in range(start, steps):
            idx = self._local(perm[slices[t]])
            batch = self.dataset[idx]
            # Record the position *before* handing the batch out, so state_dict() taken
            # after consuming batch t points at batch t + 1.
            if t + 1 == steps:
                self._finish_epoch()
            else:
                self._batch_index = t + 1
            yield batch

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-able position: the next batch is batch ``batch_index`` of epoch ``epoch``.

        ``generator_state`` is the generator's ``bit_generator.state`` at the start of
        that epoch (before its permutation was drawn); big integers stay Python ints,
        which ``json`` writes exactly. The geometry (size, batch size, shuffle,
        drop_last, shard) is recorded too so a mismatched resume is refused.
        """
        if self._epoch_start_state is None:
            gen_state: Any = copy.deepcopy(self.generator.bit_generator.state)
            batch_index = 0
        else:
            gen_state = self._epoch_start_state
            batch_index = self._batch_index
        return {
            "version": _STATE_VERSION,
            "epoch": int(self.epoch),
            "batch_index": int(batch_index),
            "generator_state": _to_json(gen_state),
            "num_examples": len(self.dataset),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "shard": [self.rank, self.world_size],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next ``iter()`` continues from the next batch.

        Raises:
            DataError: the state is malformed or was saved with a different data set size,
                batch size, shuffle, drop_last or shard, or a different bit generator type.
        """
        if not isinstance(state, dict):
            raise DataError(f"DataLoader.load_state_dict: expected a dict, got {type(state)}")
        missing = {"version", "epoch", "batch_index", "generator_state"} - set(state)
        if missing:
            raise DataError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        if state["version"] != _STATE_VERSION:
            raise DataError(
                f"DataLoader.load_state_dict: unsupported version {state['version']!r}, "
                f"expected {_STATE_VERSION}"
            )
        mine = {
            "num_examples": len(self.dataset),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "shard": [self.rank, self.world_size],
        }
        for key, value in mine.items():
            if key in state and state[key] != value:
                raise DataError(
                    f"DataLoader.load_state_dict: {key} differs: saved {state[key]!r}, "
                    f"this loader has {value!r}"
                )
        epoch, bi = state["epoch"], state["batch_index"]
        for name, v in (("epoch", epoch), ("batch_index", bi)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise DataError(
                    f"DataLoader.load_state_dict: {name} must be an int >= 0, got {v!r}"
                )
        if bi > 0 and bi >= len(self):
            raise DataError(
                f"DataLoader.load_state_dict: batch_index {bi} out of range for "
                f"{len(self)} batches per epoch"
            )
        gen_state = _from_json(state["generator_state"])
        try:
            self.generator.bit_generator.state = gen_state
        except (TypeError, ValueError, KeyError) as exc:
            raise DataError(
                f"DataLoader.load_state_dict: generator_state does not fit this loader's "
                f"{type(self.generator.bit_generator).__name__} generator: {exc}"
            ) from None
        self.epoch = epoch
        self._batch_index = bi
        if bi == 0:
            self._epoch_start_state = None
            self._resume = False
        else:
            self._epoch_start_state = copy.deepcopy(self.generator.bit_generator.state)
            self._resume = True

    def __repr__(self) -> str:
        bs = "full" if self.batch_size is None else self.batch_size
        shard = "" if self.world_size == 1 else f", shard=({self.rank}, {self.world_size})"
        return (
            f"DataLoader(len(dataset)={len(self.dataset)}, batch_size={bs}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}{shard})"
        )
