"""DataLoader with PyTorch's signature and defaults, plus exact resume and sharding.

Batches are gradstep tensors built by ``default_collate`` (or your ``collate_fn``). A
dataset that can gather a whole batch at once (``gather(indices)``: TensorDataset,
ArrayDataset, Subset of them, the loaders' data bundles) is read with one indexing
operation per batch; any other map-style dataset is read one example at a time, as in
PyTorch. ``num_workers > 0`` builds batches in worker processes (see
:mod:`gradstep.data._worker`).

gradstep's additions: the loader's position (epoch, batch index, generator state at the
start of the epoch) is a JSON-able ``state_dict`` so a resumed run continues exactly from
the next batch; ``shard=(rank, world_size)`` gives each of K ranks its contiguous slice of
every global batch so that K ranks together see exactly the batches of one process;
``batch_size="full"`` is the whole data set every step; a bare array ``x`` or a tuple
``(x, y)`` is wrapped as an :class:`~gradstep.data.ArrayDataset`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gradstep.data.collate import as_batch_tensors, default_collate, default_convert
from gradstep.data.dataset import ArrayDataset, IterableDataset
from gradstep.data.sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    epoch_rng,
    numpy_rng,
)
from gradstep.errors import DataError
from gradstep.tensor import _plain

__all__ = ["DataLoader", "global_batch_slices", "shard_bounds"]

_STATE_VERSION = 1
_UNBATCHED = "unbatched"


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


def _check_batch_size(batch_size: Any) -> int | str | None:
    if batch_size is None:
        return None
    if isinstance(batch_size, str) and batch_size == "full":
        return "full"
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


def _check_workers(num_workers: Any, timeout: Any, prefetch_factor: Any,
                   persistent_workers: bool) -> int | None:
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
            or num_workers < 0:
        raise ValueError(f"num_workers: expected an int >= 0, got {num_workers!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError(f"timeout: expected a number >= 0, got {timeout!r}")
    if num_workers == 0:
        if prefetch_factor is not None:
            raise ValueError("prefetch_factor: only applies with num_workers > 0, got "
                             f"prefetch_factor={prefetch_factor!r} and num_workers=0")
        if persistent_workers:
            raise ValueError("persistent_workers: needs num_workers > 0")
        return None
    if prefetch_factor is None:
        return 2
    if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int) \
            or prefetch_factor < 1:
        raise ValueError(f"prefetch_factor: expected a positive int, got {prefetch_factor!r}")
    return prefetch_factor


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


def _rng_from_state(kind: type, state: Any) -> np.random.Generator:
    bit_gen = kind()
    bit_gen.state = copy.deepcopy(state)
    return np.random.Generator(bit_gen)


def _draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 1 << 63, dtype=np.int64))


def _base_seed(epoch_state: Any, epoch: int) -> int:
    """The workers' base seed of an epoch: derived from the loader's generator state at the
    start of the epoch (and the epoch number), so it does not move the order's stream and
    the order is the same for any ``num_workers``."""
    text = json.dumps([epoch, _to_json(epoch_state)], sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


class DataLoader:
    """Iterate over a dataset in batches, as ``torch.utils.data.DataLoader``.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``), an
            :class:`~gradstep.data.IterableDataset`, a bare array (rows are examples) or a
            tuple ``(x, y)`` of arrays (wrapped as ``ArrayDataset(x, y)``).
        batch_size: examples per batch (*per rank* with ``shard``); ``None`` turns automatic
            batching off (each example is yielded on its own, converted by
            ``default_convert``); ``"full"`` is the whole data set every step.
        shuffle: a fresh random order every epoch (default: keep the order).
        sampler: the order of indices (excludes ``shuffle``).
        batch_sampler: yields lists of indices (excludes ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``).
        num_workers: worker processes building batches (0: in this process).
        collate_fn: turns a list of examples into a batch (default ``default_collate``).
        pin_memory: accepted for compatibility (CPU only; no effect).
        drop_last: drop the last, shorter (global) batch of an epoch.
        timeout: seconds to wait for a worker's batch before raising (0: no limit).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker, after seeding.
        multiprocessing_context: a start method name or context (default: ``"fork"`` where
            available).
        generator: a :class:`gradstep.Generator` or ``numpy.random.Generator`` for the order
            and the workers' base seed; None draws a fresh seed from the default generator
            every epoch (seeded by :func:`gradstep.manual_seed`), as PyTorch does.
        prefetch_factor: batches loaded in advance per worker (default 2 with workers).
        persistent_workers: keep the workers alive between epochs.
        pin_memory_device: accepted for compatibility.
        in_order: yield batches in order (always true here).
        shard: ``(rank, world_size)`` for data-parallel training: every rank draws the same
            order, the global batch of step ``t`` is ``B = batch_size * world_size`` indices
            and rank ``r`` takes its contiguous slice ``[len*r//K, len*(r+1)//K)``
            (:func:`shard_bounds`), so K ranks together see exactly the batches of one
            process with batch ``K*b``. Pass the same generator seed on every rank.

    ``len(loader)`` is the number of batches per epoch. Position and resume: ``iter(loader)``
    starts the next epoch (an abandoned epoch counts as done) except right after
    :meth:`load_state_dict`, when it continues the saved epoch from its next batch. With
    ``shuffle`` or sequential order the resume is exact; with your own sampler the loader
    skips the batches already seen, which is exact when the sampler repeats its order.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | str | None = 1,
        shuffle: bool | None = False,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if isinstance(dataset, np.ndarray):
            dataset = ArrayDataset(dataset)
        elif isinstance(dataset, tuple):
            dataset = ArrayDataset(*dataset)
        self._iterable = isinstance(dataset, IterableDataset)
        if not self._iterable and not (hasattr(dataset, "__len__")
                                       and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"dataset: expected an object with __len__ and __getitem__, or an "
                f"IterableDataset, got {type(dataset).__name__}"
            )
        if generator is not None:
            numpy_rng(generator, "DataLoader")  # type check now, not at the first epoch
        self.dataset = dataset
        self.generator = generator
        self.shuffle = bool(shuffle)
        self.num_workers = int(num_workers)
        self.prefetch_factor = _check_workers(num_workers, timeout, prefetch_factor,
                                              persistent_workers)
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = bool(persistent_workers)
        self.pin_memory, self.pin_memory_device, self.in_order = pin_memory, pin_memory_device, True
        self.rank, self.world_size = _check_shard(shard)
        self._setup_sampling(_check_batch_size(batch_size), sampler, batch_sampler,
                             bool(drop_last))
        self._custom_collate = collate_fn is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.epoch = 0
        self._batch_index = 0
        self._epoch_start_state: Any = None
        self._resume = False
        self._pool: Any = None

    # -- sampling -----------------------------------------------------------------------
    def _setup_sampling(self, batch_size: int | str | None, sampler: Any, batch_sampler: Any,
                        drop_last: bool) -> None:
        if self._iterable and (self.shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader with an IterableDataset: shuffle, sampler and "
                             "batch_sampler must not be given")
        if self._iterable and (batch_size == "full" or self.world_size > 1):
            raise ValueError("DataLoader with an IterableDataset: batch_size='full' and "
                             "shard are not supported")
        if sampler is not None and self.shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or self.shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        self._builtin = sampler is None and batch_sampler is None and not self._iterable
        if sampler is None and not self._iterable:
            sampler = (RandomSampler(self.dataset, generator=self.generator) if self.shuffle
                       else SequentialSampler(self.dataset))
        if batch_size is not None and batch_sampler is None and not self._iterable:
            size = len(sampler) if batch_size == "full" else batch_size
            batch_sampler = BatchSampler(sampler, max(int(size), 1), drop_last)
        self._batch_size = batch_size
        self.batch_size: int | None = (None if batch_size in (None, "full")
                                       else int(batch_size))  # type: ignore[arg-type]
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or (
            self._iterable and batch_size is not None)

    @property
    def global_batch_size(self) -> int:
        """Indices per step over all ranks: ``batch_size * world_size`` (``N`` if full)."""
        if self._batch_size == "full":
            return max(len(self.dataset), 1)
        if self.batch_sampler is not None and not self._builtin:
            return int(getattr(self.batch_sampler, "batch_size", 1)) * self.world_size
        return int(self._batch_size or 1) * self.world_size

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self._batch_size is None:
                return n
            b = int(self._batch_size)  # type: ignore[arg-type]
            return n // b if self.drop_last else -(-n // b)
        if self._builtin:
            n = len(self.sampler)
            return len(global_batch_slices(n, self.global_batch_size, self.drop_last))
        if self.batch_sampler is not None and self.world_size == 1:
            return len(self.batch_sampler)
        n, b = len(self.sampler), self.global_batch_size
        return n // b if self.drop_last else -(-n // b)

    def _local(self, global_idx: np.ndarray) -> np.ndarray:
        if self.world_size == 1:
            return global_idx
        lo, hi = shard_bounds(len(global_idx), self.rank, self.world_size)
        return global_idx[lo:hi]

    def _epoch_rng(self) -> np.random.Generator:
        """The stream of the epoch about to start, its state recorded for resume."""
        if self._resume and self._epoch_start_state is not None and self.generator is None:
            rng = _rng_from_state(np.random.PCG64, self._epoch_start_state)
        else:
            rng = epoch_rng(self.generator, "DataLoader")
        self._epoch_start_state = copy.deepcopy(rng.bit_generator.state)
        return rng

    def _permutation(self, rng: np.random.Generator) -> np.ndarray:
        if self.shuffle:
            return self.sampler.indices(rng)  # type: ignore[no-any-return]
        return np.arange(len(self.sampler), dtype=np.int64)

    def _planned_rng(self) -> np.random.Generator:
        state = self._epoch_start_state
        if state is not None:
            kind = (np.random.PCG64 if self.generator is None
                    else type(numpy_rng(self.generator, "DataLoader").bit_generator))
            return _rng_from_state(kind, state)
        source = numpy_rng(self.generator, "DataLoader")
        sim = _rng_from_state(type(source.bit_generator), source.bit_generator.state)
        if self.generator is None:
            return np.random.default_rng(_draw_seed(sim))
        return sim

    def global_batch_indices(self) -> list[np.ndarray]:
        """Global index arrays of every step of the current (or next) epoch, over all ranks.

        Computed from a copy of the saved generator state; the loader does not advance.
        Only for the loader's own order (``shuffle`` or sequential).
        """
        if not self._builtin:
            raise DataError("DataLoader.global_batch_indices: only without sampler= and "
                            "batch_sampler=")
        rng = self._planned_rng()
        perm = self._permutation(rng)
        return [perm[s] for s in global_batch_slices(len(perm), self.global_batch_size,
                                                     self.drop_last)]

    def batch_indices(self) -> list[np.ndarray]:
        """This rank's index arrays for every step of the current (or next) epoch."""
        return [self._local(g) for g in self.global_batch_indices()]

    def _plan(self, rng: np.random.Generator) -> tuple[Iterator[np.ndarray], int | None]:
        """This rank's index arrays of the epoch, and the number of steps if known."""
        if self._builtin:
            perm = self._permutation(rng)
            slices = global_batch_slices(len(perm), self.global_batch_size, self.drop_last)
            if self.world_size == 1:
                return (perm[s] for s in slices), len(slices)
            return (self._local(perm[s]) for s in slices), len(slices)
        try:
            steps: int | None = len(self)
        except TypeError:
            steps = None
        if self.batch_sampler is None:
            source: Any = ([i] for i in self.sampler)
        elif self.world_size == 1 or not isinstance(self.batch_sampler, BatchSampler):
            source = iter(self.batch_sampler)
        else:
            source = iter(BatchSampler(self.sampler, self.global_batch_size, self.drop_last))
        if self.world_size == 1:
            return (np.asarray(b, dtype=np.int64) for b in source), steps
        return (self._local(np.asarray(b, dtype=np.int64)) for b in source), steps

    # -- batches ------------------------------------------------------------------------
    def _fetch(self, indices: np.ndarray) -> Any:
        """The batch of ``indices`` (one example when automatic batching is off)."""
        ds = self.dataset
        if not self._auto_collation:
            return self.collate_fn(ds[int(indices[0])])
        gather = None if self._custom_collate else getattr(ds, "gather", None)
        if gather is not None:
            return as_batch_tensors(gather(indices))
        items = indices.tolist()
        getitems = getattr(ds, "__getitems__", None)
        samples = getitems(items) if getitems is not None else [ds[i] for i in items]
        return self.collate_fn(samples)

    def _fetch_stream(self, stream: Iterator[Any]) -> Any:
        """The next batch of an iterable dataset's stream (StopIteration at its end)."""
        if self._batch_size is None:
            return self.collate_fn(next(stream))
        size = int(self._batch_size)  # type: ignore[arg-type]
        items = []
        for item in stream:
            items.append(item)
            if len(items) == size:
                break
        if not items or (self.drop_last and len(items) < size):
            raise StopIteration
        return self.collate_fn(items)

    def _mark(self, t: int, steps: int | None) -> None:
        """Batch ``t`` is being handed out: the position now points at batch ``t + 1``."""
        if steps is not None and t + 1 == steps:
            self._finish_epoch()
        else:
            self._batch_index = t + 1

    def _finish_epoch(self) -> None:
        self.epoch += 1
        self._batch_index = 0
        self._epoch_start_state = None

    def __iter__(self) -> Iterator[Any]:
        if self._resume:
            start = self._batch_index
        else:
            if self._epoch_start_state is not None:  # previous epoch abandoned mid-way
                self.epoch += 1
            start = 0
        rng = self._epoch_rng()
        self._resume = False
        base_seed = _base_seed(self._epoch_start_state, self.epoch)
        self._batch_index = start
        if self._iterable:
            plan, steps = None, None
        else:
            plan, steps = self._plan(rng)
            if steps is not None and start >= steps:
                self._finish_epoch()
                return iter(())
            for _ in range(start):
                next(plan)
        if self.num_workers > 0:
            from gradstep.data._pool import worker_batches

            return worker_batches(self, plan, start, steps, base_seed)
        if plan is None:
            return self._stream_batches(start)
        return self._batches(plan, start, steps)

    def _batches(self, plan: Iterator[np.ndarray], start: int,
                 steps: int | None) -> Iterator[Any]:
        t = start
        fetch = self._fetch
        gather = None
        if self._auto_collation and not self._custom_collate:
            gather = getattr(self.dataset, "gather", None)
        for idx in plan:
            if gather is None:
                batch: Any = fetch(idx)
            else:  # _fetch's common case, without its lookups
                arrays = gather(idx)
                a, b = arrays if type(arrays) is list and len(arrays) == 2 else (None, None)
                if type(a) is np.ndarray and type(b) is np.ndarray \
                        and a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
                    batch = [_plain(a), _plain(b)]  # as as_batch_tensors makes numeric arrays
                else:
                    batch = as_batch_tensors(arrays)
            # Record the position *before* handing the batch out, so state_dict() taken
            # after consuming batch t points at batch t + 1.
            t += 1
            if steps is not None and t == steps:
                self._finish_epoch()
            else:
                self._batch_index = t
            yield batch
        if steps is None:
            self._finish_epoch()

    def _stream_batches(self, start: int) -> Iterator[Any]:
        stream = iter(self.dataset)
        t = 0
        while True:
            try:
                batch = self._fetch_stream(stream)
            except StopIteration:
                break
            if t >= start:
                self._mark(t, None)
                yield batch
            t += 1
        self._finish_epoch()

    # -- state ------------------------------------------------------------------------
    def _geometry(self) -> dict[str, Any]:
        bs = self._batch_size
        return {
            "num_examples": None if self._iterable else len(self.dataset),
            "batch_size": None if bs == "full" else (_UNBATCHED if bs is None else bs),
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "shard": [self.rank, self.world_size],
        }

    def state_dict(self) -> dict[str, Any]:
        """JSON-able position: the next batch is batch ``batch_index`` of epoch ``epoch``.

        ``generator_state`` is the state of the epoch's stream at its start (before the
        order was drawn); big integers stay Python ints, which
        ``json`` writes exactly. The geometry (size, batch size, shuffle, drop_last, shard)
        is recorded too so a mismatched resume is refused.
        """
        if self._epoch_start_state is None:
            gen_state: Any = copy.deepcopy(numpy_rng(self.generator, "DataLoader")
                                           .bit_generator.state)
            batch_index = 0
        else:
            gen_state = self._epoch_start_state
            batch_index = self._batch_index
        return {
            "version": _STATE_VERSION,
            "epoch": int(self.epoch),
            "batch_index": int(batch_index),
            "generator_state": _to_json(gen_state),
            **self._geometry(),
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
        for key, value in self._geometry().items():
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
        if bi > 0 and not self._iterable and bi >= len(self):
            raise DataError(
                f"DataLoader.load_state_dict: batch_index {bi} out of range for "
                f"{len(self)} batches per epoch"
            )
        self._restore_generator(_from_json(state["generator_state"]), bi > 0)
        self.epoch = epoch
        self._batch_index = bi
        self._resume = bi > 0

    def _restore_generator(self, gen_state: Any, mid_epoch: bool) -> None:
        """Put the saved stream state back (checked against the generator's type).

        Without a generator of its own, a loader between epochs draws its next epoch from
        the default generator, which is left alone here.
        """
        if self.generator is None and not mid_epoch:
            self._epoch_start_state = None
            return
        target = (np.random.PCG64() if self.generator is None and mid_epoch
                  else numpy_rng(self.generator, "DataLoader").bit_generator)
        try:
            target.state = copy.deepcopy(gen_state)
        except (TypeError, ValueError, KeyError) as exc:
            raise DataError(
                f"DataLoader.load_state_dict: generator_state does not fit this loader's "
                f"{type(target).__name__} generator: {exc}"
            ) from None
        self._epoch_start_state = copy.deepcopy(target.state) if mid_epoch else None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown()

    def __repr__(self) -> str:
        bs = "full" if self._batch_size == "full" else self._batch_size
        shard = "" if self.world_size == 1 else f", shard=({self.rank}, {self.world_size})"
        return (
            f"DataLoader(len(dataset)={len(self.dataset)}, batch_size={bs}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}{shard})"
        )
