"""Data-parallel training across processes and machines on MPI (through mpi4py).

Mini-batch gradient descent parallelises naturally: each of K workers (MPI *ranks*) computes
the gradient on its share of the global batch, the gradients are summed across workers, and
every worker applies the same update, so the parameters and the optimizer state stay
identical on every rank without ever being sent after the start.

The recipe, which :func:`gradstep.fit` follows by itself when the script runs under
``mpiexec -n K`` (this module registers a fit plug-in, see :func:`attach`)::

    import gradstep.distributed as dist

    dist.init()                                   # no-op world of 1 without MPI
    model = build_model(generator=np.random.default_rng(seed))
    dist.broadcast_parameters(model, root=0)      # every rank starts from rank 0's weights
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, flat=True)
    loader = DataLoader(data, batch_size=b, shuffle=True, generator=np.random.default_rng(0),
                        shard=dist.shard())       # same seed on every rank
    averager = dist.GradientAverager(opt)
    for x, y in loader:                           # this rank's slice of each global batch
        opt.zero_grad()
        loss = cross_entropy(model(x), y, reduction="sum")
        loss.backward()
        averager.reduce(len(x))                   # grads <- sum over ranks / global count
        opt.step()

Gradient averaging is exact for uneven shards and a short last batch: every rank sums (not
averages) the loss over its shard, the gradients are summed by one in-place ``Allreduce``
over a single flat gradient buffer, and the sum is divided by the global number of samples.
A rank whose shard is empty contributes zeros.

Everything here works without MPI too: before :func:`init` (or without mpi4py installed)
the world is one process, :func:`rank` is 0, :func:`world_size` is 1 and the reductions
return their input.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from gradstep.callbacks import Callback
from gradstep.data.loader import global_batch_slices, shard_bounds
from gradstep.errors import ConfigError
from gradstep.tensor import Tensor
from gradstep.train import register_fit_plugin

__all__ = [
    "DistributedSampler",
    "GradientAverager",
    "DataParallel",
    "allreduce_sum",
    "attach",
    "assert_synchronized",
    "barrier",
    "broadcast_arrays",
    "broadcast_json",
    "broadcast_parameters",
    "get_comm",
    "init",
    "init_if_launched",
    "is_initialized",
    "is_main",
    "launched_by_mpi",
    "mpi_available",
    "rank",
    "reduce_mean",
    "shard",
    "world_size",
]

_COMM: Any = None
_HOOK_INSTALLED = False

# Environment variables through which MPI launchers announce the size of the job:
# MPICH/Hydra, Intel MPI and Slurm's PMI (PMI_SIZE), PMIx (PMIX_SIZE is not standard, but
# Open MPI sets OMPI_COMM_WORLD_SIZE), MVAPICH (MV2_COMM_WORLD_SIZE).
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")


# ---------------------------------------------------------------------------- world
def mpi_available() -> bool:
    """Whether mpi4py can be imported (it is not imported, and MPI not started, by this)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def launched_by_mpi() -> bool:
    """Whether this process looks like one of several started by an MPI launcher.

    True when ``GRADSTEP_DISTRIBUTED=1``, or when a launcher variable (``PMI_SIZE``,
    ``OMPI_COMM_WORLD_SIZE``, ``MV2_COMM_WORLD_SIZE``, ``PMIX_SIZE``) gives a size above 1;
    ``GRADSTEP_DISTRIBUTED=0`` forces False. Used by ``fit`` to call :func:`init` by itself.
    """
    flag = os.environ.get("GRADSTEP_DISTRIBUTED", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    if flag in ("1", "true", "yes", "on"):
        return True
    for var in _SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def init(comm: Any = None, *, abort_on_error: bool = True) -> Any:
    """Start MPI (through mpi4py) and make ``comm`` the communicator of data parallelism.

    Calling it again returns the communicator already set (unless a new ``comm`` is given).

    Args:
        comm: an ``mpi4py.MPI.Comm``; default ``MPI.COMM_WORLD``.
        abort_on_error: when the world has more than one rank, install a ``sys.excepthook``
            that prints the traceback (prefixed with the rank) and calls ``comm.Abort(1)``,
            so an uncaught exception on one rank ends the whole job with a non-zero status
            instead of leaving the other ranks waiting in a collective for ever. (Running
            the script as ``python -m mpi4py script.py`` does the same.)

    Returns:
        The communicator.

    Raises:
        ImportError: mpi4py is not installed (``pip install "gradstep[mpi]"``).
    """
    global _COMM
    if comm is None:
        if _COMM is not None:
            return _COMM
        try:
            from mpi4py import MPI
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "gradstep.distributed.init: mpi4py is not installed; install it with "
                "pip install 'gradstep[mpi]' (mpi4py and MPICH wheels) or build mpi4py "
                "against your cluster's MPI (see docs/distributed.md)"
            ) from exc
        comm = MPI.COMM_WORLD
    _COMM = comm
    if abort_on_error and comm.Get_size() > 1:
        _install_abort_hook()
    return comm


def init_if_launched() -> bool:
    """Call :func:`init` when :func:`launched_by_mpi`; returns whether the world has > 1 rank.

    For programs (like ``gradstep train``) that must agree on something, e.g. an output
    folder, before :func:`gradstep.train.fit` would initialise MPI by itself.
    """
    if not is_initialized() and launched_by_mpi():
        init()
    return world_size() > 1


def abort_if_failed(status: int) -> int:
    """Return ``status``; on a failure (non-zero) in a world of several ranks, abort the job.

    A rank that just exits (``sys.exit(2)``) leaves the others waiting in a collective for
    ever; ``MPI_Abort`` ends them all with ``status``. For command-line entry points that
    turn exceptions into exit codes.
    """
    if status and _COMM is not None and _COMM.Get_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        _COMM.Abort(int(status))
    return status


def _install_abort_hook() -> None:
    global _HOOK_INSTALLED
    if _HOOK_INSTALLED:
        return
    previous = sys.excepthook

    def hook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        comm = _COMM
        if comm is None or issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        lines = traceback.format_exception(exc_type, exc, tb)
        r = comm.Get_rank()
        text = "".join(f"[rank {r}] {line}" for line in "".join(lines).splitlines(True))
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
            # MPI_Abort tears the job down at once; give the launcher a moment to forward
            # the traceback first, or the user may see only a bare exit status
            time.sleep(_ABORT_GRACE_S)
        finally:
            comm.Abort(1)

    sys.excepthook = hook
    _HOOK_INSTALLED = True


_ABORT_GRACE_S = 0.5


def is_initialized() -> bool:
    """Whether :func:`init` was called (the world may still be a single rank)."""
    return _COMM is not None


def get_comm() -> Any:
    """The communicator set by :func:`init`, or None."""
    return _COMM


def _reset_for_tests() -> None:
    """Forget the communicator (tests only; MPI itself stays initialised)."""
    global _COMM
    _COMM = None


def rank() -> int:
    """This process's rank (0 when not initialised)."""
    return 0 if _COMM is None else int(_COMM.Get_rank())


def world_size() -> int:
    """The number of ranks (1 when not initialised)."""
    return 1 if _COMM is None else int(_COMM.Get_size())


def is_main() -> bool:
    """True on rank 0, the one rank that prints, shows progress and writes files."""
    return rank() == 0


def shard() -> tuple[int, int]:
    """``(rank(), world_size())``: pass as ``DataLoader(..., shard=dist.shard())``."""
    return rank(), world_size()


def barrier() -> None:
    """Wait until every rank got here (no-op for a world of one)."""
    if _COMM is not None and _COMM.Get_size() > 1:
        _COMM.Barrier()


def _active(comm: Any) -> Any:
    """The communicator to use, or None when there is nothing to communicate."""
    c = _COMM if comm is None else comm
    if c is None or c.Get_size() == 1:
        return None
    return c


def broadcast_json(obj: Any, root: int = 0, comm: Any = None) -> Any:
    """Rank ``root``'s JSON-able ``obj`` on every rank (e.g. a run folder's name).

    Travels as UTF-8 JSON text in two ``Bcast`` calls (length, bytes); no pickling.
    """
    c = _active(comm)
    if c is None:
        return obj
    import json

    data = json.dumps(obj).encode() if c.Get_rank() == root else b""
    size = np.array([len(data)], dtype=np.int64)
    c.Bcast(size, root=root)
    buf = np.frombuffer(data, dtype=np.uint8).copy() if c.Get_rank() == root else \
        np.empty(int(size[0]), dtype=np.uint8)
    c.Bcast(buf, root=root)
    return json.loads(buf.tobytes().decode())


# ---------------------------------------------------------------------------- sampler
class DistributedSampler:
    """This rank's disjoint shard of every epoch's permutation, batch by batch.

    Every rank draws the same permutation of ``range(num_examples)`` from a generator seeded
    alike on every rank. Step ``t`` of an epoch uses the global batch
    ``perm[t*B:(t+1)*B]`` with ``B = batch_size * world_size``, and rank ``r`` takes its
    contiguous slice ``[len*r//K, len*(r+1)//K)`` of it (the same split as
    ``DataLoader(shard=...)``, see :func:`gradstep.data.shard_bounds`). The shards of one
    step are disjoint and cover the global batch; a short last batch is split as evenly as
    possible, possibly leaving a rank an empty shard, and every rank takes the same number
    of steps. K ranks with per-rank batch ``b`` therefore see exactly the batches of one
    process with batch ``K*b``.

    Args:
        num_examples: size of the data set.
        batch_size: examples per step per rank.
        generator: source of the permutations (same seed on every rank!). Default
            ``np.random.default_rng(0)``.
        shuffle: draw a new permutation each epoch (else the identity).
        drop_last: drop the last, shorter global batch.
        rank: this rank (default :func:`rank`).
        world_size: number of ranks (default :func:`world_size`).

    Iterating yields this rank's index array of each step of the next epoch;
    :meth:`epoch_plan` also gives each step's global count.
    """

    def __init__(
        self,
        num_examples: int,
        batch_size: int,
        *,
        generator: np.random.Generator | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        r = _rank_default(rank)
        k = _world_default(world_size)
        for name, v, lo in (("num_examples", num_examples, 0), ("batch_size", batch_size, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ConfigError(f"DistributedSampler: {name} must be an int >= {lo}, got {v!r}")
        if not 0 <= r < k:
            raise ConfigError(
                f"DistributedSampler: expected 0 <= rank < world_size, got rank={r}, "
                f"world_size={k}"
            )
        if generator is None:
            generator = np.random.default_rng(0)
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"DistributedSampler: generator must be a numpy.random.Generator, got "
                f"{type(generator).__name__}"
            )
        self.num_examples = int(num_examples)
        self.batch_size = int(batch_size)
        self.generator = generator
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rank = r
        self.world_size = k
        self.epoch = 0

    def __len__(self) -> int:
        return len(global_batch_slices(self.num_examples, self.global_batch_size, self.drop_last))

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    def epoch_plan(self) -> list[tuple[np.ndarray, int]]:
        """Draw the next epoch: ``(this rank's indices, global count)`` for every step."""
        n = self.num_examples
        perm = self.generator.permutation(n) if self.shuffle else np.arange(n)
        self.epoch += 1
        plan = []
        for s in global_batch_slices(n, self.global_batch_size, self.drop_last):
            g = perm[s]
            lo, hi = shard_bounds(len(g), self.rank, self.world_size)
            plan.append((g[lo:hi], len(g)))
        return plan

    def __iter__(self) -> Iterator[np.ndarray]:
        for idx, _ in self.epoch_plan():
            yield idx


def _rank_default(r: int | None) -> int:
    return rank() if r is None else int(r)


def _world_default(k: int | None) -> int:
    return world_size() if k is None else int(k)


# ---------------------------------------------------------------------------- parameters
def _collect(model: Any, with_buffers: bool) -> list[np.ndarray]:
    """The parameter arrays (and buffers) of a module, optimizer or iterable of tensors."""
    arrays: list[np.ndarray] = []
    if hasattr(model, "parameters") and callable(model.parameters):
        items: Iterable[Any] = model.parameters()
    elif hasattr(model, "param_groups"):
        items = [p for g in model.param_groups for p in g["params"]]
    else:
        items = model
    for p in items:
        arrays.append(p._data if isinstance(p, Tensor) else p)
    if with_buffers and hasattr(model, "buffers") and callable(model.buffers):
        for b in model.buffers():
            if isinstance(b, Tensor):
                b = b._data
            if isinstance(b, np.ndarray) and b.size:
                arrays.append(b)
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise TypeError(
                f"broadcast_parameters: expected tensors or ndarrays, got {type(a).__name__}"
            )
    return arrays


def broadcast_arrays(arrays: Sequence[np.ndarray], root: int = 0, comm: Any = None) -> None:
    """Overwrite ``arrays`` in place, on every rank, with rank ``root``'s values.

    Arrays of one dtype travel packed in one contiguous buffer: one ``Bcast`` per dtype.
    """
    c = _active(comm)
    if c is None:
        return
    by_dtype: dict[np.dtype, list[np.ndarray]] = {}
    for a in arrays:
        if not a.flags.writeable:
            raise ValueError("broadcast_arrays: an array is read-only")
        by_dtype.setdefault(a.dtype, []).append(a)
    for dt in sorted(by_dtype, key=str):  # same order on every rank
        group = by_dtype[dt]
        buf = np.empty(sum(a.size for a in group), dtype=dt)
        pos = 0
        for a in group:
            buf[pos : pos + a.size] = a.reshape(-1)
            pos += a.size
        c.Bcast(buf, root=root)
        pos = 0
        for a in group:
            a[...] = buf[pos : pos + a.size].reshape(a.shape)
            pos += a.size


def broadcast_parameters(
    model: Any, root: int = 0, *, buffers: bool = True, comm: Any = None
) -> None:
    """Give every rank rank ``root``'s parameters (call once, before training).

    Args:
        model: a module (its ``parameters()`` and, if ``buffers``, its ``buffers()`` such as
            batch-norm running statistics), an optimizer (its parameter groups) or an
            iterable of tensors / ndarrays. Values are overwritten in place, so flat-buffer
            views stay views.
        root: the rank whose values win.
        buffers: also broadcast the module's buffers.
        comm: communicator (default: the one from :func:`init`).
    """
    broadcast_arrays(_collect(model, buffers), root=root, comm=comm)


def assert_synchronized(model: Any, what: str = "parameters", comm: Any = None) -> None:
    """Raise RuntimeError unless ``model``'s parameter arrays are bit-identical on every rank.

    Compares a SHA-256 digest of the bytes (one small ``Allgather``): a debugging aid and a
    test helper.
    """
    c = _active(comm)
    if c is None:
        return
    h = hashlib.sha256()
    for a in _collect(model, True):
        h.update(np.ascontiguousarray(a).tobytes())
    mine = np.frombuffer(h.digest(), dtype=np.uint8).copy()
    every = np.empty((c.Get_size(), mine.size), dtype=np.uint8)
    c.Allgather(mine, every)
    differ = [r for r in range(c.Get_size()) if not np.array_equal(every[r], every[0])]
    if differ:
        raise RuntimeError(f"assert_synchronized: {what} of ranks {differ} differ from rank 0's")


# ---------------------------------------------------------------------------- gradients
class GradientAverager:
    """Average the gradients of all ranks in place: one ``Allreduce`` over one flat buffer.

    Args:
        params: an optimizer (its flat gradient buffer is used directly when it was
            flattened, e.g. ``SGD(..., flat=True)``), a
            :class:`~gradstep.optim.FlatBuffer`, a module (its ``parameters()``) or an
            iterable of tensors. Without a flat buffer the gradients are packed into one
            contiguous buffer per dtype, reduced, and copied back.
        comm: communicator (default: the one from :func:`init` at reduction time).

    :meth:`reduce` is :meth:`pack` + ``Allreduce`` + :meth:`finish`; the two halves are
    public so that the arithmetic can be simulated in one process.
    """

    def __init__(self, params: Any, comm: Any = None) -> None:
        is_opt = hasattr(params, "param_groups") and hasattr(params, "flat")
        self._owner = params if is_opt else None
        self._flat: Any = params if hasattr(params, "grads") and hasattr(params, "bind") else None
        if self._owner is not None:
            plist = [p for g in self._owner.param_groups for p in g["params"]]
        elif self._flat is not None:
            plist = list(self._flat.params)
        elif hasattr(params, "parameters") and callable(params.parameters):
            plist = list(params.parameters())
        else:
            plist = list(params)
        for i, p in enumerate(plist):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"GradientAverager: parameter {i} is a {type(p).__name__}, expected a Tensor"
                )
        self.params: list[Tensor] = plist
        self.comm = comm
        self._own: dict[np.dtype, np.ndarray] = {}
        self.last_global_count: float = 0

    # -- buffers
    def _flat_buffer(self) -> Any:
        if self._flat is not None:
            return self._flat
        if self._owner is not None:
            return self._owner.flat
        return None

    def buffers(self) -> list[np.ndarray]:
        """The contiguous gradient buffers that are reduced (one per dtype, sorted by name)."""
        flat = self._flat_buffer()
        if flat is not None:
            return [flat.grads[dt] for dt in sorted(flat.grads, key=str)]
        if not self._own:
            sizes: dict[np.dtype, int] = {}
            for p in self.params:
                sizes[p._data.dtype] = sizes.get(p._data.dtype, 0) + p._data.size
            self._own = {dt: np.zeros(n, dtype=dt) for dt, n in sizes.items()}
        return [self._own[dt] for dt in sorted(self._own, key=str)]

    @property
    def numel(self) -> int:
        return sum(int(p._data.size) for p in self.params)

    def pack(self, local_count: int, reduction: str = "sum") -> list[np.ndarray]:
        """Put this rank's summed gradient into the flat buffers and return them.

        Args:
            local_count: number of samples in this rank's shard.
            reduction: ``"sum"`` when the loss was summed over the shard (exact, the
                recommended way), ``"mean"`` when it was averaged (the gradient is then
                multiplied by ``local_count`` here).

        An empty shard (``local_count == 0``) contributes zeros, whatever is in ``._grad``.
        """
        if reduction not in ("sum", "mean"):
            raise ConfigError(
                f"GradientAverager: reduction must be 'sum' or 'mean', got {reduction!r}"
            )
        if isinstance(local_count, bool) or not isinstance(local_count, (int, np.integer)):
            raise TypeError(f"GradientAverager: local_count must be an int, got {local_count!r}")
        if local_count < 0:
            raise ValueError(f"GradientAverager: local_count must be >= 0, got {local_count}")
        flat = self._flat_buffer()
        bufs = self.buffers()
        if flat is not None:
            flat.bind()  # copy in any gradient that was replaced rather than accumulated
        else:
            pos = dict.fromkeys(self._own, 0)
            for p in self.params:
                dt = p._data.dtype
                n = p._data.size
                dst = self._own[dt][pos[dt] : pos[dt] + n]
                if p._grad is None:
                    dst.fill(0)
                else:
                    dst[...] = p._grad.reshape(-1)
                pos[dt] += n
        for b in bufs:
            if local_count == 0:
                b.fill(0)
            elif reduction == "mean" and local_count != 1:
                b *= local_count
        return bufs

    def poison(self) -> None:
        """Fill every gradient with NaN (a rank met a non-finite loss: nobody may step)."""
        flat = self._flat_buffer()
        if flat is not None:
            flat.bind()
            for b in self.buffers():
                b.fill(np.nan)
            return
        for p in self.params:
            if p._grad is None or p._grad.shape != p._data.shape:
                p._grad = np.full(p._data.shape, np.nan, dtype=p._data.dtype)
            else:
                p._grad.fill(np.nan)

    def finish(self, global_count: float) -> None:
        """Divide the summed buffers by ``global_count`` and hand them to ``param._grad``.

        ``global_count`` is the global number of samples, or any divisor of a summed loss
        (e.g. the summed class weights); 1 leaves the buffers as they are.
        """
        bufs = self.buffers()
        self.last_global_count = global_count
        if global_count > 0 and global_count != 1:
            for b in bufs:
                b /= global_count
        if self._flat_buffer() is not None:
            return
        pos = dict.fromkeys(self._own, 0)
        for p in self.params:
            dt = p._data.dtype
            n = p._data.size
            src = self._own[dt][pos[dt] : pos[dt] + n].reshape(p._data.shape)
            if p._grad is None or p._grad.shape != p._data.shape or p._grad.dtype != dt:
                p._grad = src.copy()
            else:
                p._grad[...] = src
            pos[dt] += n

    def reduce(
        self, local_count: int, reduction: str = "sum", global_count: int | None = None
    ) -> int:
        """Average the gradients over all ranks, weighted by samples; returns the global count.

        Args:
            local_count: samples in this rank's shard.
            reduction: how the loss was reduced over the shard (``"sum"`` or ``"mean"``).
            global_count: the total number of samples over all ranks when known (saves one
                tiny ``allreduce``).

        Every rank must call this the same number of times (it is a collective).
        """
        bufs = self.pack(local_count, reduction)
        c = _active(self.comm)
        if c is None:
            total = int(local_count) if global_count is None else int(global_count)
        else:
            from mpi4py import MPI

            total = int(c.allreduce(int(local_count), op=MPI.SUM)) if global_count is None \
                else int(global_count)
            for b in bufs:
                c.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM)
        self.finish(total)
        return total


# ---------------------------------------------------------------------------- metrics
def allreduce_sum(values: Any, comm: Any = None) -> np.ndarray:
    """Element-wise sum over ranks of a scalar or array, as a float64 array (a new one)."""
    arr = np.array(values, dtype=np.float64)
    c = _active(comm)
    if c is not None:
        from mpi4py import MPI

        flat = np.ascontiguousarray(arr.reshape(-1))
        c.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        arr = flat.reshape(arr.shape)
    return arr


def reduce_mean(metrics: Mapping[str, float], count: float, comm: Any = None) -> dict[str, float]:
    """Sample-weighted mean of per-rank mean metrics: ``sum_r count_r*m_r / sum_r count_r``.

    Args:
        metrics: this rank's metrics, each a mean over its ``count`` samples (NaN values
            with a zero count are ignored).
        count: samples behind this rank's metrics.

    One ``Allreduce``; every rank gets the same dict (keys sorted the same on all ranks).
    """
    keys = sorted(metrics)
    vals = np.array(
        [0.0 if count == 0 else float(metrics[k]) * float(count) for k in keys] + [float(count)],
        dtype=np.float64,
    )
    tot = allreduce_sum(vals, comm)
    n = tot[-1]
    return {k: (float(tot[i] / n) if n > 0 else float("nan")) for i, k in enumerate(keys)}


# ---------------------------------------------------------------------------- fit plug-in
class DataParallel(Callback):
    """The callback that makes a :func:`gradstep.fit` step global over K ranks.

    Added by :func:`attach` (the fit plug-in this module registers). It works through the
    step hooks users have:

    * ``on_step_begin``: every batch's summed loss is backpropagated with seed 1 (so each
      rank's gradients are its summed gradients);
    * ``on_after_backward``: one small ``Allreduce`` of the step's sums (summed loss, its
      normaliser, examples, metric sums, the zero-output baseline of the first step) and a
      "bad step" flag makes them global on every rank (progress, history, checkpoints and
      the divergence guard see the whole global batch, identically on every rank); then
      the in-place ``Allreduce`` of the flat gradient buffer, divided by the global
      divisor of the loss. The gradients are then those of the loss object on the global
      batch, exactly as one process would compute them.

    If any rank met a non-finite loss, every rank marks the step non-finite (no gradient
    reduction), so all ranks skip (or raise on) the same step.
    """

    def __init__(self, trainer: Any, comm: Any = None) -> None:
        self.comm = _COMM if comm is None else comm
        self.averager = GradientAverager(trainer.optimizer, comm=self.comm)
        self.allreduce_seconds = 0.0

    def on_step_begin(self, trainer: Any, step: Any) -> None:
        step.backward_scale = 1.0

    def on_after_backward(self, trainer: Any, step: Any) -> None:
        from mpi4py import MPI

        sums = step.sums
        local_n = sums.n
        msg = np.concatenate([sums.vector(), [step.baseline_sum, step.baseline_norm,
                                              float(step.has_baseline), float(not step.finite)]])
        t0 = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, msg, op=MPI.SUM)
        sums.set_vector(msg[:-4])
        step.baseline_sum, step.baseline_norm = float(msg[-4]), float(msg[-3])
        step.has_baseline = bool(msg[-2])
        if msg[-1]:
            step.finite = False
        else:
            bufs = self.averager.pack(local_n)
            for b in bufs:
                self.comm.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM)
            self.averager.finish(sums.divisor(sums.norm))
        self.allreduce_seconds += time.perf_counter() - t0


def _generator_digest(gen: Any) -> str:
    import json

    state = getattr(getattr(gen, "bit_generator", None), "state", None)
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def attach(trainer: Any) -> DataParallel | None:
    """The fit plug-in: prepare a trainer for data parallelism; None for a single process.

    Registered with :func:`gradstep.train.register_fit_plugin` when this module is imported
    (``import gradstep`` does), so every :func:`gradstep.fit` calls it. Calls :func:`init`
    when the process was started by an MPI launcher (see :func:`launched_by_mpi`). With more
    than one rank: sets ``trainer.is_main``, turns off the deferral of Ctrl-C (the launcher
    handles it), shards the
    training loader (``shard=(rank, world_size)``, so ``batch_size`` is per rank and the
    global batch is ``world_size * batch_size``) unless it is sharded already, checks that
    the loader's generator is in the same state on every rank, and broadcasts the model's
    parameters and buffers from rank 0.

    Raises:
        ConfigError: the loaders' generators differ between ranks, or the loader is sharded
            for another world size.
    """
    if not is_initialized():
        if not launched_by_mpi():
            return None
        init()
    k = world_size()
    if k == 1:
        return None
    trainer.is_main = is_main()
    trainer.handle_sigint = False
    loader = trainer.loader
    if hasattr(loader, "world_size") and hasattr(loader, "rank"):
        if loader.world_size == 1:
            loader.rank, loader.world_size = rank(), k
        elif (loader.rank, loader.world_size) != (rank(), k):
            raise ConfigError(
                f"fit: the training loader is sharded as {(loader.rank, loader.world_size)}, "
                f"but this is rank {rank()} of {k}"
            )
    gen = getattr(loader, "generator", None)
    if gen is not None:
        digest = np.frombuffer(bytes.fromhex(_generator_digest(gen)), dtype=np.uint8).copy()
        every = np.empty((k, digest.size), dtype=np.uint8)
        _COMM.Allgather(digest, every)
        differ = [r for r in range(k) if not np.array_equal(every[r], every[0])]
        if differ:
            raise ConfigError(
                f"fit: the training loader's generator differs on ranks {differ} from rank 0's; "
                "seed it identically on every rank so all ranks draw the same permutation"
            )
    broadcast_parameters(trainer.model)
    return DataParallel(trainer)


register_fit_plugin("distributed", attach)
