"""Checkpoints: model, optimizer, scheduler and training position in one safetensors file.

A checkpoint is a `safetensors <https://github.com/huggingface/safetensors>`_ file:

* 8 bytes: little-endian unsigned length ``N`` of the header;
* ``N`` bytes: a JSON object ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``
  plus an optional ``"__metadata__": {str: str}``;
* the byte buffer; every tensor is its ``[begin, end)`` slice, C order, little-endian.

gradstep stores every array (model weights, optimizer buffers, ...) as a tensor and
everything else (model config, optimizer hyperparameters, scheduler state, epoch/step,
the data loader's Generator state and position in the epoch, user metadata) as JSON
strings in ``__metadata__``. Tensor names are namespaced: ``model/<state_dict key>``,
``optimizer/...``, ``scheduler/...``, ``extra/...``. The files are read and written by
the ``safetensors`` package too (``safetensors.numpy.load_file``/``save_file``).

Reading validates everything before any large allocation (header length against the
file size, JSON, dtypes, shapes, offsets in range, contiguous and non-overlapping, names)
so memory use is bounded by the file's real size; any problem raises
:class:`gradstep.CheckpointError` naming the file and the problem. Nothing is ever
pickled or unpickled. Writing is atomic: a temporary file in the same directory,
``fsync``, :func:`os.replace`, then ``fsync`` of the directory, so a crash or a failing
write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradstep.errors import CheckpointError

__all__ = [
    "Checkpoint",
    "save",
    "load",
    "read_safetensors",
    "write_safetensors",
    "encode_state",
    "decode_state",
    "FORMAT_VERSION",
]

FORMAT_VERSION = "1"
"""Version of gradstep's metadata layout inside the safetensors file."""

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""Largest header accepted (the safetensors library uses the same bound)."""

MAX_NAME_LENGTH = 1024

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES: dict[tuple[str, int], str] = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- low level


def _err(path: PathLike, problem: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {os.fspath(path)!r}: {problem}")


def _check_name(path: PathLike, name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise _err(path, f"tensor name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise _err(path, f"tensor name longer than {MAX_NAME_LENGTH} characters: {name[:40]!r}...")
    if not name.isprintable() or any(c.isspace() for c in name):
        raise _err(path, f"tensor name contains control or whitespace characters: {name!r}")
    return name


def write_safetensors(
    path: PathLike,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` (name -> ndarray) and string ``metadata`` to ``path`` atomically.

    The file is first written to a temporary file in the same directory, flushed and
    fsynced, then renamed over ``path`` with :func:`os.replace`; the directory is fsynced
    after the rename. On any failure the temporary file is removed, the previous ``path``
    (if any) is untouched, and :class:`CheckpointError` says what failed.

    Raises:
        CheckpointError: a tensor has an unsupported dtype, a name or metadata value is
            not a string, or writing failed (the message says which step).
    """
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise _err(path, f"metadata must map str to str, got {k!r}: {type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    arrays: list[np.ndarray] = []
    offset = 0
    for name, arr in tensors.items():
        _check_name(path, name)
        if name == "__metadata__":
            raise _err(path, "'__metadata__' is reserved and cannot be a tensor name")
        a = np.asarray(arr)
        code = _CODES.get((a.dtype.kind, a.dtype.itemsize))
        if code is None:
            raise _err(
                path,
                f"tensor {name!r} has dtype {a.dtype}, which cannot be stored "
                f"(supported: {', '.join(_DTYPES)})",
            )
        a = np.require(a, dtype=_DTYPES[code], requirements="C")
        header[name] = {
            "dtype": code,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
        arrays.append(a)
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hbytes += b" " * (-(len(hbytes) + 8) % 8)  # align the buffer to 8 bytes, as safetensors does

    target = Path(os.fspath(path))
    directory = target.parent if str(target.parent) else Path(".")
    step = "creating a temporary file"
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            step = "writing"
            f.write(struct.pack("<Q", len(hbytes)))
            f.write(hbytes)
            for a in arrays:
                if a.nbytes:
                    f.write(a.reshape(-1).view(np.uint8).data)
            step = "flushing"
            f.flush()
            os.fsync(f.fileno())
        step = "renaming the temporary file over the target"
        os.replace(tmp, target)
        tmp = None
        step = "syncing the directory"
        _fsync_dir(directory)
    except OSError as exc:
        raise _err(path, f"write failed while {step}: {exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def read_safetensors(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file, validating it completely, into (tensors, metadata).

    Memory use is bounded by the file's size: nothing is allocated from a header value
    until the header has been checked against the real file size.

    Raises:
        CheckpointError: the file is missing or unreadable, or any part of it is malformed
            (the message names the file and the problem).
    """
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise _err(path, f"cannot open: {exc.strerror or exc}") from None
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
        except OSError as exc:  # pragma: no cover
            raise _err(path, f"cannot stat: {exc}") from None
        if size < 8:
            raise _err(path, f"file is {size} bytes, too short for a safetensors header")
        (n,) = struct.unpack("<Q", _read_exact(path, f, 8))
        if n > size - 8:
            raise _err(path, f"header length {n} exceeds the file size ({size} bytes)")
        if n > MAX_HEADER_BYTES:
            raise _err(path, f"header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")
        if n < 2:
            raise _err(path, f"header length {n} is too small for a JSON object")
        raw = _read_exact(path, f, n)
        if raw[:1] != b"{":
            raise _err(path, "header does not start with '{' (not a safetensors file?)")
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise _err(path, f"header is not valid JSON: {exc}") from None
        if not isinstance(header, dict):
            raise _err(path, "header is not a JSON object")
        metadata = header.pop("__metadata__", None)
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise _err(path, "__metadata__ must be an object mapping strings to strings")

        buffer_len = size - 8 - n
        entries: list[tuple[int, int, str, np.dtype, tuple[int, ...]]] = []
        for name, info in header.items():
            _check_name(path, name)
            if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
                raise _err(
                    path,
                    f"tensor {name!r}: entry must have exactly the keys dtype, shape, data_offsets",
                )
            code = info["dtype"]
            if not isinstance(code, str) or code not in _DTYPES:
                raise _err(
                    path,
                    f"tensor {name!r}: dtype {code!r} is not supported "
                    f"(supported: {', '.join(_DTYPES)})",
                )
            dtype = _DTYPES[code]
            shape = info["shape"]
            if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
                raise _err(
                    path, f"tensor {name!r}: shape must be a list of ints >= 0, got {shape!r}"
                )
            if len(shape) > 64:
                raise _err(path, f"tensor {name!r}: {len(shape)} dimensions (at most 64)")
            offs = info["data_offsets"]
            if not isinstance(offs, list) or len(offs) != 2 or not all(_is_int(o) for o in offs):
                raise _err(
                    path, f"tensor {name!r}: data_offsets must be [begin, end], got {offs!r}"
                )
            begin, end = offs
            if not 0 <= begin <= end <= buffer_len:
                raise _err(
                    path,
                    f"tensor {name!r}: data_offsets [{begin}, {end}] outside the data buffer "
                    f"of {buffer_len} bytes",
                )
            nbytes = math.prod(shape) * dtype.itemsize
            if end - begin != nbytes:
                raise _err(
                    path,
                    f"tensor {name!r}: shape {tuple(shape)} of {code} needs {nbytes} bytes "
                    f"but data_offsets span {end - begin}",
                )
            entries.append((begin, end, name, dtype, tuple(shape)))

        entries.sort(key=lambda e: (e[0], e[1]))
        pos = 0
        for begin, end, name, _, _ in entries:
            if begin != pos:
                what = "overlaps the previous tensor" if begin < pos else f"leaves a gap at {pos}"
                raise _err(path, f"tensor {name!r}: data_offsets [{begin}, {end}] {what}")
            pos = end
        if pos != buffer_len:
            raise _err(
                path,
                f"data buffer is {buffer_len} bytes but the tensors cover {pos} "
                "(trailing bytes or truncated file)",
            )

        tensors: dict[str, np.ndarray] = {}
        for _begin, _end, name, dtype, shape in entries:  # sorted: sequential reads
            arr = np.empty(shape, dtype=dtype)
            if arr.nbytes:
                view = arr.reshape(-1).view(np.uint8).data
                got = f.readinto(view)
                if got != arr.nbytes:
                    raise _err(path, f"tensor {name!r}: file ended early (truncated while reading)")
            if dtype.kind == "b" and arr.size and arr.view(np.uint8).max() > 1:
                raise _err(path, f"tensor {name!r}: BOOL data holds bytes other than 0 and 1")
            if dtype.byteorder not in ("=", "|") and not dtype.isnative:  # pragma: no cover
                arr = arr.astype(dtype.newbyteorder("="))
            tensors[name] = arr
        # header order, as written
        order = {name: i for i, name in enumerate(header)}
        tensors = dict(sorted(tensors.items(), key=lambda kv: order[kv[0]]))
    return tensors, metadata


def _read_exact(path: PathLike, f: Any, n: int) -> bytes:
    try:
        data: bytes = f.read(n)
    except OSError as exc:
        raise _err(path, f"read failed: {exc}") from None
    if len(data) != n:
        raise _err(path, "file ended early (truncated)")
    return data


# --------------------------------------------------------------------- state encoding


def encode_state(obj: Any, prefix: str, tensors: dict[str, np.ndarray]) -> Any:
    """Turn a nested state (dicts, lists, scalars, arrays) into JSON plus named tensors.

    Arrays (and NumPy scalars, which keep their dtype) go into ``tensors`` under names
    starting with ``prefix``; the returned JSON-able structure refers to them. Tuples,
    dicts with non-string keys and non-finite floats are encoded so that
    :func:`decode_state` restores them exactly.

    Raises:
        CheckpointError: a value of a type that cannot be stored (the message gives its path).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if _is_int(obj):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"__float__": repr(obj)}
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biuf":
            raise CheckpointError(f"cannot store {prefix!r}: array of dtype {arr.dtype}")
        tensors[prefix] = arr
        return {"__scalar__" if isinstance(obj, np.generic) else "__array__": prefix}
    if hasattr(obj, "data") and isinstance(getattr(obj, "data", None), np.ndarray):
        return encode_state(obj._data, prefix, tensors)  # a Tensor
    if isinstance(obj, (list, tuple)):
        items = [encode_state(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") and "/" not in k for k in obj):
            return {k: encode_state(v, f"{prefix}/{k}", tensors) for k, v in obj.items()}
        pairs = []
        for i, (k, v) in enumerate(obj.items()):
            if not (k is None or isinstance(k, (str, bool, float)) or _is_int(k)):
                raise CheckpointError(
                    f"cannot store {prefix!r}: dict key of type {type(k).__name__}"
                )
            pairs.append(
                [
                    encode_state(k, f"{prefix}/k{i}", tensors),
                    encode_state(v, f"{prefix}/{i}", tensors),
                ]
            )
        return {"__dict__": pairs}
    raise CheckpointError(
        f"cannot store {prefix!r}: values of type {type(obj).__name__} are not supported "
        "(use arrays, numbers, strings, lists and dicts)"
    )


def decode_state(obj: Any, tensors: Mapping[str, np.ndarray], where: str = "state") -> Any:
    """Inverse of :func:`encode_state`.

    Raises:
        CheckpointError: the structure refers to a tensor that is missing, or is malformed.
    """
    if isinstance(obj, list):
        return [decode_state(v, tensors, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((key, val),) = obj.items()
        if key in ("__array__", "__scalar__"):
            if not isinstance(val, str) or val not in tensors:
                raise CheckpointError(f"{where}: refers to a missing tensor {val!r}")
            arr = tensors[val]
            if key == "__scalar__":
                if arr.ndim != 0:
                    raise CheckpointError(f"{where}: scalar {val!r} has shape {arr.shape}")
                return arr[()]
            return arr
        if key == "__float__":
            if val not in ("nan", "inf", "-inf"):
                raise CheckpointError(f"{where}: bad float literal {val!r}")
            return float(val)
        if key == "__tuple__":
            if not isinstance(val, list):
                raise CheckpointError(f"{where}: malformed tuple")
            return tuple(decode_state(v, tensors, where) for v in val)
        if key == "__dict__":
            if not isinstance(val, list) or not all(
                isinstance(p, list) and len(p) == 2 for p in val
            ):
                raise CheckpointError(f"{where}: malformed dict")
            out = {}
            for k, v in val:
                dk = decode_state(k, tensors, where)
                if isinstance(dk, (list, dict, np.ndarray)):
                    raise CheckpointError(f"{where}: dict key of type {type(dk).__name__}")
                out[dk] = decode_state(v, tensors, where)
            return out
    return {k: decode_state(v, tensors, where) for k, v in obj.items()}


# ------------------------------------------------------------------------ save / load


def _jsonable(obj: Any, where: str) -> Any:
    try:
        json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"save: {where} is not JSON-serialisable: {exc}") from None
    return obj


def _model_config(model: Any) -> Any:
    """The model's reconstruction config, if it offers one (``model.config()``)."""
    cfg = getattr(model, "gradstep_config", None)
    for meth in ("to_config", "config"):
        if cfg is not None:
            break
        fn = getattr(model, meth, None)
        if callable(fn):
            try:
                cfg = fn()
            except (NotImplementedError, TypeError, AttributeError, ValueError):
                cfg = None
    if cfg is None:
        return None
    try:
        json.dumps(cfg, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return cfg


def _state_dict(obj: Any, what: str) -> Any:
    fn = getattr(obj, "state_dict", None)
    if not callable(fn):
        raise TypeError(f"save: {what} has no state_dict() method (got {type(obj).__name__})")
    return fn()


def save(
    path: PathLike,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    *,
    config: Any = None,
    **meta: Any,
) -> Path:
    """Save a checkpoint atomically to ``path`` (a ``.safetensors`` file).

    Args:
        path: destination; its directory must exist. An existing file is replaced
            atomically (a failed save leaves it intact).
        model: a module with ``state_dict()``; its tensors are stored as ``model/<key>``,
            and its config (``model.gradstep_config`` or ``model.config()``) when known.
        optimizer: an optimizer with ``state_dict()`` (arrays become tensors, the rest JSON).
        scheduler: a learning-rate scheduler with ``state_dict()``.
        config: model config to record instead of the one the model reports.
        **meta: anything else to record (epoch, step, loader state, history...): nested
            dicts/lists of numbers, strings and arrays.

    Returns:
        The path written.

    Raises:
        CheckpointError: a value cannot be stored, or the write failed (previous file kept).
    """
    tensors: dict[str, np.ndarray] = {}
    metadata: dict[str, str] = {"format": "gradstep", "gradstep_format": FORMAT_VERSION}
    if model is not None:
        sd = _state_dict(model, "model")
        for k, v in sd.items():
            arr = v._data if isinstance(getattr(v, "_data", None), np.ndarray) else v
            tensors[f"model/{k}"] = np.asarray(arr)
        cfg = config if config is not None else _model_config(model)
        if cfg is not None:
            metadata["model_config"] = json.dumps(_jsonable(cfg, "model config"))
    elif config is not None:
        metadata["model_config"] = json.dumps(_jsonable(config, "model config"))
    for key, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            enc = encode_state(_state_dict(obj, key), key, tensors)
            metadata[key] = json.dumps(enc, allow_nan=False)
            metadata[f"{key}_class"] = type(obj).__name__
    if meta:
        enc = encode_state(dict(meta), "extra", tensors)
        metadata["meta"] = json.dumps(enc, allow_nan=False)
    write_safetensors(path, tensors, metadata)
    return Path(os.fspath(path))


@dataclass
class Checkpoint:
    """What :func:`load` read.

    Attributes:
        path: the file.
        model_state: state dict of the model (key -> ndarray).
        model_config: the model's reconstruction config, or None.
        optimizer_state: the optimizer's state dict, or None.
        scheduler_state: the scheduler's state dict, or None.
        meta: the extra values passed to :func:`save` (epoch, step, loader state, ...).
        model: the model the weights were loaded into (given, or rebuilt from the config).
    """

    path: Path
    model_state: dict[str, np.ndarray] = field(default_factory=dict)
    model_config: Any = None
    optimizer_state: Any = None
    scheduler_state: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    optimizer_class: str | None = None
    scheduler_class: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.meta[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.meta.get(key, default)

    @property
    def epoch(self) -> int | None:
        return self.meta.get("epoch")

    @property
    def step(self) -> int | None:
        return self.meta.get("step")


def _json_meta(path: PathLike, metadata: Mapping[str, str], key: str) -> Any:
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _err(path, f"metadata {key!r} is not valid JSON: {exc}") from None


def load(
    path: PathLike,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    *,
    build: bool = True,
    strict: bool = True,
) -> Checkpoint:
    """Load a checkpoint written by :func:`save`, optionally restoring objects in place.

    Args:
        path: the ``.safetensors`` file.
        model: restore the weights into this module (``load_state_dict``). When None and
            the file records a model config, the model is rebuilt with
            :func:`gradstep.models.from_config` (``build=False`` turns this off).
        optimizer: restore this optimizer's state (``load_state_dict``).
        scheduler: restore this scheduler's state (``load_state_dict``).
        strict: passed to ``model.load_state_dict``.

    Returns:
        A :class:`Checkpoint` with the states, config, metadata and the model.

    Raises:
        CheckpointError: the file is missing, corrupt or hostile, or its contents do not
            fit the given objects.
    """
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != "gradstep":
        # A plain safetensors file (e.g. from safetensors.numpy.save_file): weights only.
        model_state = dict(tensors)
        ck = Checkpoint(path=Path(os.fspath(path)), model_state=model_state)
    else:
        fmt = metadata.get("gradstep_format")
        if fmt != FORMAT_VERSION:
            raise _err(
                path, f"unsupported gradstep checkpoint format {fmt!r} (expected {FORMAT_VERSION})"
            )
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
        where = os.fspath(path)
        try:
            ck = Checkpoint(
                path=Path(where),
                model_state=model_state,
                model_config=_json_meta(path, metadata, "model_config"),
                optimizer_state=decode_state(
                    _json_meta(path, metadata, "optimizer"), tensors, f"{where}: optimizer"
                ),
                scheduler_state=decode_state(
                    _json_meta(path, metadata, "scheduler"), tensors, f"{where}: scheduler"
                ),
                meta=decode_state(_json_meta(path, metadata, "meta"), tensors, f"{where}: meta")
                or {},
                optimizer_class=metadata.get("optimizer_class"),
                scheduler_class=metadata.get("scheduler_class"),
            )
        except RecursionError:
            raise _err(path, "metadata nested too deeply") from None
        if not isinstance(ck.meta, dict):
            raise _err(path, "metadata 'meta' is not an object")
    if model is None and build and ck.model_config is not None:
        from gradstep import models  # local import: models imports nn, which imports much

        stored = sum(int(a.size) for a in model_state.values())
        claimed = _config_elements(ck.model_config)
        if claimed > 4 * stored + 2**20:  # a hostile config must not allocate gigabytes
            raise _err(
                path,
                f"model config asks for about {claimed:,} parameter values but the file "
                f"stores {stored:,}: refusing to build it (corrupt or hostile file)",
            )
        try:
            model = models.from_config(ck.model_config)
        except RecursionError:
            raise _err(path, "cannot rebuild the model: its config is nested too deeply") from None
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError,
                MemoryError) as exc:
            raise _err(path, f"cannot rebuild the model from its config: {exc}") from None
    if model is not None:
        _restore(path, "model", model, model_state, strict=strict)
        ck.model = model
    if optimizer is not None:
        if ck.optimizer_state is None:
            raise _err(path, "holds no optimizer state")
        _restore(path, "optimizer", optimizer, ck.optimizer_state)
    if scheduler is not None:
        if ck.scheduler_state is None:
            raise _err(path, "holds no scheduler state")
        _restore(path, "scheduler", scheduler, ck.scheduler_state)
    return ck


_SIZE_KEYS = ("in_features", "out_features", "in_channels", "out_channels", "num_embeddings",
              "embedding_dim", "num_features", "normalized_shape")


def _config_elements(cfg: Any) -> int:
    """About how many parameter values the layers of a model config allocate (an upper
    bound for gradstep's layers: the product of their size arguments), without building it."""
    total = 0
    stack = [cfg]
    while stack:  # iterative: a deeply nested config cannot exhaust the stack here
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        c = node.get("config")
        if not isinstance(c, dict):
            continue
        n, sized = 1, False
        for key in (*_SIZE_KEYS, "kernel_size"):
            raw = c.get(key)
            for v in raw if isinstance(raw, list) else [raw]:
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    n *= v * v if key == "kernel_size" and not isinstance(raw, list) else v
                    sized = sized or key != "kernel_size"
        groups = c.get("groups")
        if isinstance(groups, int) and not isinstance(groups, bool) and groups > 1:
            n //= groups
        if sized:
            total += n
    return total


def _is_number(x: Any) -> bool:
    return (_is_int(x) or isinstance(x, float) or isinstance(x, np.number)) and not isinstance(
        x, (bool, np.bool_)
    )


def _check_like(path: PathLike, what: str, ref: Any, got: Any, where: str) -> None:
    """``got`` (a state read from a file) has the layout and value kinds of ``ref`` (the
    live object's own state), so that a hostile state fails here, typed, rather than as a
    TypeError deep inside a later optimizer step."""
    bad = None
    if ref is None or isinstance(ref, str) and isinstance(got, str):
        return
    if isinstance(ref, (bool, np.bool_)):
        bad = None if isinstance(got, (bool, np.bool_)) else "a bool"
    elif _is_number(ref):
        bad = None if _is_number(got) else "a number"
    elif isinstance(ref, np.ndarray):
        ok = isinstance(got, np.ndarray) and got.shape == ref.shape
        bad = None if ok else f"an array of shape {ref.shape}"
    elif isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(ref):
            bad = f"a list of {len(ref)}"
        else:
            for i, (r, g) in enumerate(zip(ref, got)):
                _check_like(path, what, r, g, f"{where}[{i}]")
    elif isinstance(ref, Mapping):
        if not isinstance(got, Mapping):
            bad = "a dict"
        elif not ref:  # e.g. per-parameter optimizer state of a fresh optimizer
            kinds: set[frozenset[tuple[str, bool]]] = set()
            for k, entry in got.items():
                if not isinstance(entry, Mapping) or not all(
                    isinstance(v, np.ndarray) or _is_number(v) and 0 <= v < math.inf
                    for v in entry.values()
                ):
                    bad = "a dict of arrays and counts >= 0 per entry"
                    where = f"{where}[{k!r}]"
                    break
                kinds.add(frozenset((str(n), isinstance(v, np.ndarray)) for n, v in entry.items()))
            if bad is None and len(kinds) > 1:
                bad = "the same keys and kinds of values for every entry"
        elif set(got) != set(ref):
            bad = f"the keys {sorted(map(str, ref))}"
        else:
            for k in ref:
                _check_like(path, what, ref[k], got[k], f"{where}[{k!r}]")
    if bad is not None:
        raise _err(path, f"{what} state {where or '(top level)'} should be {bad}, "
                         f"got {type(got).__name__} {str(got)[:60]}")


def _restore(path: PathLike, what: str, obj: Any, state: Any, **kwargs: Any) -> None:
    fn = getattr(obj, "load_state_dict", None)
    if not callable(fn):
        raise TypeError(f"load: {what} has no load_state_dict() method (got {type(obj).__name__})")
    if what != "model" and callable(getattr(obj, "state_dict", None)):
        _check_like(path, what, obj.state_dict(), state, "")
    try:
        fn(state, **kwargs)
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise _err(path, f"does not fit the {what}: {exc}") from None
