"""The main-process side of DataLoader workers: start, feed, collect in order, shut down.

Tasks go to the workers round robin, ``prefetch_factor`` per worker ahead of the batch
being consumed; batches come back on per-worker pipes and are yielded in order. A worker
that raises has its exception re-raised here (same type for built-in exceptions, with the
worker's traceback in the message); a worker that dies, or a ``timeout`` without a batch,
raises RuntimeError. Stopping the loop early, an error, or the end of the epoch (unless
``persistent_workers``) stops every worker: none is left running.
"""

from __future__ import annotations

import builtins
import multiprocessing
import os
import time
import weakref
from collections.abc import Iterator
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from gradstep.data import _worker as w

__all__ = ["WorkerPool", "worker_batches"]

_POLL = 0.5  # seconds between liveness checks while waiting for a batch


def _context(spec: Any) -> Any:
    if spec is None:
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context("fork" if "fork" in methods else None)
    if isinstance(spec, str):
        return multiprocessing.get_context(spec)
    return spec


def _stop_all(procs: list[Any], task_conns: list[Any], result_conns: list[Any]) -> None:
    for conn in task_conns:
        try:
            conn.send_bytes(w.task_message(w.STOP, 0))
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 5.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(1.0)
        if p.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
            p.kill()
            p.join()
    for conn in (*task_conns, *result_conns):
        conn.close()


class WorkerPool:
    """``num_workers`` processes serving one loader (kept across epochs when persistent)."""

    def __init__(self, loader: Any, base_seed: int) -> None:
        ctx = _context(loader.multiprocessing_context)
        n = loader.num_workers
        self.num_workers = n
        self.procs: list[Any] = []
        self.task_conns: list[Any] = []
        self.result_conns: list[Any] = []
        fetch = loader._fetch_stream if loader._iterable else loader._fetch
        parent = os.getpid()
        for k in range(n):
            task_r, task_w = ctx.Pipe(duplex=False)
            res_r, res_w = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=w.worker_loop,
                args=(k, n, loader.dataset, fetch, task_r, res_w, base_seed,
                      loader.worker_init_fn, parent),
                daemon=True,
                name=f"gradstep-DataLoader-worker-{k}",
            )
            proc.start()
            task_r.close()
            res_w.close()
            self.procs.append(proc)
            self.task_conns.append(task_w)
            self.result_conns.append(res_r)
        self.next_task = 0
        self._finalizer = weakref.finalize(self, _stop_all, self.procs, self.task_conns,
                                           self.result_conns)

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def send(self, worker: int, kind: int, task_id: int, indices: Any = None) -> None:
        self.task_conns[worker].send_bytes(w.task_message(kind, task_id, indices))

    def receive(self, timeout: float) -> tuple[dict[str, Any], bytes]:
        """The next reply from any worker; RuntimeError on a dead worker or a timeout."""
        start = time.monotonic()
        while True:
            wait_for = _POLL if timeout <= 0 else min(_POLL, timeout - (time.monotonic() - start))
            ready = wait(self.result_conns, max(wait_for, 0.0))
            for conn in ready:
                try:
                    return w.reply_parts(conn.recv_bytes())  # type: ignore[union-attr]
                except EOFError:
                    break
            dead = [p for p in self.procs if p.exitcode is not None]
            if dead:
                self.shutdown()
                info = ", ".join(f"pid {p.pid} exit code {p.exitcode}" for p in dead)
                raise RuntimeError(f"DataLoader worker(s) exited unexpectedly ({info})")
            if timeout > 0 and time.monotonic() - start >= timeout:
                self.shutdown()
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def shutdown(self) -> None:
        """Stop every worker (idempotent)."""
        self._finalizer()


def _raise_worker_error(err: dict[str, Any]) -> None:
    name, k, tb = err["type"], err["worker"], err["traceback"]
    msg = f"Caught {name} in DataLoader worker process {k}.\nOriginal {tb}"
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc = cls(msg)
        except Exception:
            exc = RuntimeError(msg)
    else:
        exc = RuntimeError(msg)
    raise exc


class _Feeder:
    """Which worker gets the next task, and which tasks are still expected back."""

    def __init__(self, pool: WorkerPool, plan: Iterator[np.ndarray] | None) -> None:
        self.pool = pool
        self.plan = plan
        self.active = list(range(pool.num_workers))
        self.turn = 0
        self.pending: list[tuple[int, int]] = []  # (task id, worker)

    def send_one(self) -> bool:
        if not self.active:
            return False
        if self.plan is not None:
            idx = next(self.plan, None)
            if idx is None:
                return False
        worker = self.active[self.turn % len(self.active)]
        self.turn += 1
        task = self.pool.next_task
        self.pool.next_task += 1
        if self.plan is not None:
            self.pool.send(worker, w.MAP, task, idx)
        else:
            self.pool.send(worker, w.NEXT, task)
        self.pending.append((task, worker))
        return True


def worker_batches(loader: Any, plan: Iterator[np.ndarray] | None, start: int,
                   steps: int | None, base_seed: int) -> Iterator[Any]:
    """The epoch's batches from worker processes, in order, for ``loader.__iter__``."""
    pool = loader._pool
    if pool is None or not pool.alive:
        pool = WorkerPool(loader, base_seed)
        if loader.persistent_workers:
            loader._pool = pool
    elif plan is None:
        for k in range(pool.num_workers):  # a new pass over each worker's stream
            pool.send(k, w.RESET, -1)
    return _iterate(loader, pool, plan, start, steps)


def _iterate(loader: Any, pool: WorkerPool, plan: Iterator[np.ndarray] | None, start: int,
             steps: int | None) -> Iterator[Any]:
    feeder = _Feeder(pool, plan)
    done: dict[int, tuple[dict[str, Any], bytes]] = {}
    first = pool.next_task
    try:
        for _ in range(pool.num_workers * loader.prefetch_factor):
            if not feeder.send_one():
                break
        t = start
        while feeder.pending:
            task, worker = feeder.pending[0]
            while task not in done:
                head, payload = pool.receive(loader.timeout)
                if "error" in head:
                    _raise_worker_error(head["error"])
                if head["task"] >= first:  # older tasks: an abandoned epoch's leftovers
                    done[head["task"]] = (head, payload)
            head, payload = done.pop(task)
            feeder.pending.pop(0)
            if head.get("end"):
                feeder.active = [k for k in feeder.active if k != worker]
                feeder.send_one()
                continue
            feeder.send_one()
            batch = w.decode(payload)
            loader._mark(t, steps)
            t += 1
            yield batch
        if steps is None:
            loader._finish_epoch()
    finally:
        if not loader.persistent_workers or loader._pool is not pool:
            pool.shutdown()
