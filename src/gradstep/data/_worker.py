"""Worker processes of the DataLoader (``num_workers > 0``).

Each worker is a child process (forked where the platform allows) with a task pipe
and a result pipe. Tasks and batches travel as bytes in gradstep's own framing (a JSON
header plus raw array buffers), so nothing is pickled: a batch may hold tensors, NumPy
arrays, numbers, strings, bytes, None, and lists, tuples, named tuples and dicts of them.

Seeding follows PyTorch's scheme: each epoch has a ``base_seed`` taken from the loader's
generator (derived from its state at the start of the epoch, see
:class:`~gradstep.data.DataLoader`), and worker ``k`` seeds the default generator
(:func:`gradstep.manual_seed`) and Python's ``random`` with ``base_seed + k``, and NumPy's
legacy global generator with a state derived from both, before ``worker_init_fn(k)`` runs.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import random
import signal
import struct
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradstep.tensor import Tensor

__all__ = ["WorkerInfo", "decode", "encode", "get_worker_info", "worker_loop"]

_MAGIC = b"GSB1"
_ALIGN = 16
# task kinds (first int64 of a task message)
MAP, NEXT, RESET, STOP = 0, 1, 2, 3


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker process.

    Attributes:
        id: this worker's number, ``0 .. num_workers - 1``.
        num_workers: how many workers the loader runs.
        seed: the seed this worker's generators were seeded with (``base_seed + id``).
        dataset: this worker's copy of the dataset.
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any


_INFO: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's :class:`WorkerInfo` inside a DataLoader worker, None in the main process."""
    return _INFO


# ---------------------------------------------------------------- framing (no pickle)
def _enc(obj: Any, bufs: list[np.ndarray]) -> Any:
    if isinstance(obj, Tensor):
        bufs.append(np.ascontiguousarray(obj._data))
        return {"t": "tensor", "i": len(bufs) - 1}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"array of dtype {obj.dtype}")
        bufs.append(np.ascontiguousarray(obj))
        return {"t": "array", "i": len(bufs) - 1}
    if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
        bufs.append(np.asarray(obj))
        return {"t": "scalar", "i": len(bufs) - 1}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"t": "py", "v": obj}
    if isinstance(obj, bytes):
        bufs.append(np.frombuffer(obj, dtype=np.uint8))
        return {"t": "bytes", "i": len(bufs) - 1}
    if isinstance(obj, dict):
        return {"t": "dict", "k": [_enc(k, bufs) for k in obj],
                "v": [_enc(v, bufs) for v in obj.values()]}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        cls = type(obj)
        return {"t": "nt", "c": [cls.__module__, cls.__qualname__],
                "v": [_enc(v, bufs) for v in obj]}
    if isinstance(obj, (list, tuple)):
        return {"t": "list" if isinstance(obj, list) else "tuple",
                "v": [_enc(v, bufs) for v in obj]}
    raise TypeError(type(obj).__name__)


def encode(obj: Any) -> bytes:
    """``obj`` as bytes: magic, header length, JSON header, then aligned array buffers."""
    bufs: list[np.ndarray] = []
    tree = _enc(obj, bufs)
    metas, offset = [], 0
    for b in bufs:
        metas.append([b.dtype.str, list(b.shape), offset])
        offset += -(-b.nbytes // _ALIGN) * _ALIGN
    head = json.dumps({"tree": tree, "bufs": metas}).encode()
    pad = -(len(_MAGIC) + 8 + len(head)) % _ALIGN
    out = bytearray(_MAGIC + struct.pack("<Q", len(head) + pad) + head + b" " * pad)
    start = len(out)
    out.extend(bytes(offset))
    for b, (_, _, off) in zip(bufs, metas):
        out[start + off : start + off + b.nbytes] = b.tobytes()
    return bytes(out)


def _dec(node: Any, arrays: list[np.ndarray]) -> Any:
    kind = node["t"]
    if kind == "py":
        return node["v"]
    if kind == "tensor":
        a = arrays[node["i"]]
        return Tensor(a, dtype=a.dtype)
    if kind == "array":
        return arrays[node["i"]]
    if kind == "scalar":
        return arrays[node["i"]][()]
    if kind == "bytes":
        return arrays[node["i"]].tobytes()
    if kind == "dict":
        return {_dec(k, arrays): _dec(v, arrays) for k, v in zip(node["k"], node["v"])}
    values = [_dec(v, arrays) for v in node["v"]]
    if kind == "list":
        return values
    if kind == "tuple":
        return tuple(values)
    module, qualname = node["c"]
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls(*values)


def decode(data: bytes) -> Any:
    """Inverse of :func:`encode` (arrays are writable copies)."""
    if data[:4] != _MAGIC:
        raise ValueError("DataLoader worker message: bad magic")
    (hlen,) = struct.unpack("<Q", data[4:12])
    head = json.loads(data[12 : 12 + hlen])
    body = bytearray(data[12 + hlen :])
    arrays = []
    for dt, shape, off in head["bufs"]:
        dtype = np.dtype(dt)
        count = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(body, dtype=dtype, count=count, offset=off).reshape(shape))
    return _dec(head["tree"], arrays)


def task_message(kind: int, task_id: int, indices: np.ndarray | None = None) -> bytes:
    """A task: kind, task id, then the int64 indices of a map-style batch."""
    head = struct.pack("<qq", kind, task_id)
    if indices is None:
        return head
    return head + np.ascontiguousarray(indices, dtype="<i8").tobytes()


def _reply(conn: Any, task_id: int, payload: bytes = b"", **fields: Any) -> None:
    head = json.dumps({"task": task_id, **fields}).encode()
    conn.send_bytes(struct.pack("<Q", len(head)) + head + payload)


def reply_parts(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a worker's reply into its JSON header and the encoded batch."""
    (hlen,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + hlen]), data[8 + hlen :]


def _seed_worker(base_seed: int, worker_id: int) -> int:
    seed = (base_seed + worker_id) % (1 << 64)
    random.seed(seed)
    try:
        from gradstep._random import manual_seed

        manual_seed(seed)
    except ImportError:  # pragma: no cover - older engines without a default generator
        pass
    state = np.random.SeedSequence([worker_id, base_seed]).generate_state(4)
    np.random.seed(state)  # noqa: NPY002 - user code in workers may draw from it
    return seed


def _drain_tasks(conn: Any, tasks: queue.Queue[bytes | None], parent: int) -> None:
    """Reader thread: keep the task pipe empty so the main process never blocks on it."""
    try:
        while True:
            if conn.poll(0.5):
                msg = conn.recv_bytes()
                tasks.put(msg)
                if struct.unpack("<q", msg[:8])[0] == STOP:
                    return
            elif os.getppid() != parent:
                break
    except (EOFError, OSError):
        pass
    tasks.put(None)


def _error_fields(exc: BaseException, worker_id: int) -> dict[str, Any]:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"error": {"type": type(exc).__name__, "worker": worker_id, "traceback": tb}}


def worker_loop(worker_id: int, num_workers: int, dataset: Any, fetch: Callable[[Any], Any],
                task_conn: Any, result_conn: Any, base_seed: int, init_fn: Any,
                parent: int) -> None:
    """Body of a worker process: seed, run ``init_fn``, then serve tasks until STOP.

    ``fetch(indices)`` builds a map-style batch; for ``NEXT`` tasks ``fetch`` is called
    with the worker's example iterator instead and returns a batch or raises
    StopIteration when the stream is exhausted.
    """
    global _INFO
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    tasks: queue.Queue[bytes | None] = queue.Queue()
    threading.Thread(target=_drain_tasks, args=(task_conn, tasks, parent), daemon=True).start()
    seed = _seed_worker(base_seed, worker_id)
    _INFO = WorkerInfo(worker_id, num_workers, seed, dataset)
    stream: Any = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
    except Exception as exc:
        _reply(result_conn, -1, **_error_fields(exc, worker_id))
    while True:
        msg = tasks.get()
        if msg is None:
            return
        kind, task_id = struct.unpack("<qq", msg[:16])
        if kind == STOP:
            return
        if kind == RESET:
            stream = None
            continue
        try:
            if kind == MAP:
                batch = fetch(np.frombuffer(msg[16:], dtype="<i8").astype(np.int64))
            else:
                if stream is None:
                    stream = iter(dataset)
                batch = fetch(stream)
            payload = _encode_batch(batch)
        except StopIteration:
            _reply(result_conn, task_id, end=True)
        except Exception as exc:
            _reply(result_conn, task_id, **_error_fields(exc, worker_id))
        else:
            _reply(result_conn, task_id, payload)


def _encode_batch(batch: Any) -> bytes:
    try:
        return encode(batch)
    except TypeError as exc:
        raise TypeError(
            f"the batch holds a {exc}, which cannot be sent from a worker process; return "
            "tensors, numeric arrays, numbers, strings or containers of them, or use "
            "num_workers=0"
        ) from None
