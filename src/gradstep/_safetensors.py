"""The safetensors file format: a validating reader and an atomic writer.

A `safetensors <https://github.com/huggingface/safetensors>`_ file is:

* 8 bytes: little-endian unsigned length ``N`` of the header;
* ``N`` bytes: a JSON object ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``
  plus an optional ``"__metadata__": {str: str}``;
* the byte buffer; every tensor is its ``[begin, end)`` slice, C order, little-endian.

Reading validates everything before any large allocation (header length against the
file size, JSON, dtypes, shapes, offsets in range, contiguous and non-overlapping, names)
so memory use is bounded by the file's real size; any problem raises
:class:`gradstep.CheckpointError` naming the file and the problem. A file that is not a
safetensors file at all (a text file, a Python pickle such as a ``torch.save`` file) is
named as such; nothing is ever unpickled. Writing to a path is atomic
(:mod:`gradstep._atomic`).
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from gradstep._atomic import atomic_write
from gradstep.errors import CheckpointError

__all__ = ["read_safetensors", "write_safetensors", "MAX_HEADER_BYTES", "DTYPES"]

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""Largest header accepted (the safetensors library uses the same bound)."""

MAX_NAME_LENGTH = 1024

DTYPES: dict[str, np.dtype] = {
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
_CODES: dict[tuple[str, int], str] = {(dt.kind, dt.itemsize): code for code, dt in DTYPES.items()}

PathLike = str | os.PathLike[str]
Source = PathLike | IO[bytes]

_PICKLE_HINT = (
    "gradstep never loads pickles (unpickling can run arbitrary code). Convert it once "
    "in PyTorch: load it there and write it with safetensors.torch.save_file(state_dict, "
    "'model.safetensors')"
)

# (begin, end, name, dtype, shape) of one stored tensor
_Entry = tuple[int, int, str, np.dtype, tuple[int, ...]]


def describe(source: Any) -> str:
    """How error messages name ``source``: the path, or the file object's name."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def err(source: Any, problem: str) -> CheckpointError:
    """A :class:`CheckpointError` ``checkpoint '<file>': <problem>``."""
    return CheckpointError(f"checkpoint {describe(source)!r}: {problem}")


def check_name(source: Any, name: Any) -> str:
    """``name`` if it is a valid tensor name, else :class:`CheckpointError`."""
    if not isinstance(name, str) or not name:
        raise err(source, f"tensor name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise err(source, f"tensor name longer than {MAX_NAME_LENGTH} characters: {name[:40]!r}...")
    if not name.isprintable() or any(c.isspace() for c in name):
        raise err(source, f"tensor name contains control or whitespace characters: {name!r}")
    return name


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# ----------------------------------------------------------------------------- writing


def _encode(
    source: Any, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None
) -> tuple[bytes, list[np.ndarray]]:
    """The padded header bytes and the arrays to write after it, in order."""
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise err(source, f"metadata must map str to str, got {k!r}: {type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    arrays: list[np.ndarray] = []
    offset = 0
    for name, arr in tensors.items():
        check_name(source, name)
        if name == "__metadata__":
            raise err(source, "'__metadata__' is reserved and cannot be a tensor name")
        a = np.asarray(getattr(arr, "_data", arr))
        code = _CODES.get((a.dtype.kind, a.dtype.itemsize))
        if code is None:
            raise err(
                source,
                f"tensor {name!r} has dtype {a.dtype}, which cannot be stored "
                f"(supported: {', '.join(DTYPES)})",
            )
        a = np.require(a, dtype=DTYPES[code], requirements="C")
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hbytes += b" " * (-(len(hbytes) + 8) % 8)  # align the buffer to 8 bytes, as safetensors does
    return hbytes, arrays


def _dump(f: IO[bytes], hbytes: bytes, arrays: list[np.ndarray]) -> None:
    f.write(struct.pack("<Q", len(hbytes)))
    f.write(hbytes)
    for a in arrays:
        if a.nbytes:
            f.write(a.reshape(-1).view(np.uint8).data)


def write_safetensors(
    path: Source,
    tensors: Mapping[str, Any],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` (name -> ndarray or tensor) and string ``metadata``.

    Args:
        path: a path, written atomically (temporary file, fsync, rename, directory fsync;
            mode ``0o666`` minus the umask), or a binary file object open for writing
            (written from its current position, then flushed).
        tensors: name -> array; every name a non-empty printable string.
        metadata: string -> string, stored as the header's ``__metadata__``.

    Raises:
        CheckpointError: a tensor has an unsupported dtype, a name or metadata value is
            not a string, or writing failed (the message says which step and why; the
            previous file is intact).
    """
    hbytes, arrays = _encode(path, tensors, metadata)
    if not isinstance(path, (str, os.PathLike)):
        try:
            _dump(path, hbytes, arrays)
            if callable(getattr(path, "flush", None)):
                path.flush()
        except OSError as exc:
            raise err(path, f"write failed: {exc.strerror or exc}") from None
        except TypeError:
            if isinstance(path, io.TextIOBase):
                raise TypeError(
                    f"save: the file {describe(path)!r} is open in text mode; open it with 'wb'"
                ) from None
            raise
        return
    try:
        atomic_write(path, lambda f: _dump(f, hbytes, arrays))
    except OSError as exc:  # the message names the step and the reason, not the temp file
        raise err(path, str(exc.strerror if exc.errno is not None else exc)) from None


# ----------------------------------------------------------------------------- reading


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _read_exact(source: Any, f: IO[bytes], n: int) -> bytes:
    try:
        data = f.read(n)
    except OSError as exc:
        raise err(source, f"read failed: {exc.strerror or exc}") from None
    if len(data) != n:
        raise err(source, f"file is truncated: expected {n} more bytes, got {len(data)}")
    return bytes(data)


def _looks_foreign(head: bytes) -> bool:
    """Whether a short file's bytes are a pickle, a zip or text rather than a header length."""
    return (head.startswith(b"PK") or head[:1] == b"\x80"
            or all(32 <= b < 127 or b in (9, 10, 13) for b in head))


def _not_safetensors(source: Any, head: bytes) -> CheckpointError:
    """The error for a file whose first bytes cannot start a safetensors file."""
    if head.startswith(b"PK\x03\x04"):
        return err(source, "is a zip archive, not a safetensors file: torch.save writes this "
                           f"format, a zip holding a Python pickle. {_PICKLE_HINT}")
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return err(source, "is a Python pickle (e.g. written by torch.save or pickle.dump), "
                           f"not a safetensors file. {_PICKLE_HINT}")
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:8]):
        return err(source, "not a safetensors file: it starts with text "
                           f"({head[:8].decode('ascii')!r}), not an 8-byte header length")
    return err(source, "not a safetensors file: a safetensors file starts with an 8-byte "
                       "header length followed by a JSON header ('{')")


def _read_header(source: Any, f: IO[bytes], size: int) -> tuple[dict[str, Any], int]:
    """Check the header length against ``size``; the parsed JSON header and its length."""
    if size == 0:
        raise err(source, "empty file (0 bytes): not a safetensors file")
    head = _read_exact(source, f, min(size, 9))
    if size >= 9 and head[8:9] != b"{":
        raise _not_safetensors(source, head)
    if size < 9:
        if _looks_foreign(head):
            raise _not_safetensors(source, head)
        raise err(source, f"file is truncated: {size} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", head[:8])
    if n > MAX_HEADER_BYTES:
        raise err(source, f"header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")
    if n > size - 8:
        raise err(source, f"file is truncated: the header length says {n} bytes but only "
                          f"{size - 8} follow")
    if n < 2:
        raise err(source, f"header length {n} is too small for a JSON object")
    raw = head[8:] + _read_exact(source, f, n - len(head[8:]))
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise err(source, f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise err(source, "header is not a JSON object")
    return header, n


def _metadata(source: Any, header: dict[str, Any]) -> dict[str, str]:
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise err(source, "__metadata__ must be an object mapping strings to strings")
    return metadata


def _entry(source: Any, name: Any, info: Any, buffer_len: int) -> _Entry:
    """One header entry, validated against the buffer length."""
    check_name(source, name)
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise err(source,
                  f"tensor {name!r}: entry must have exactly the keys dtype, shape, data_offsets")
    code = info["dtype"]
    if not isinstance(code, str) or code not in DTYPES:
        raise err(source, f"tensor {name!r}: dtype {code!r} is not supported "
                          f"(supported: {', '.join(DTYPES)})")
    dtype = DTYPES[code]
    shape = info["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise err(source, f"tensor {name!r}: shape must be a list of ints >= 0, got {shape!r}")
    if len(shape) > 64:
        raise err(source, f"tensor {name!r}: {len(shape)} dimensions (at most 64)")
    offs = info["data_offsets"]
    if not isinstance(offs, list) or len(offs) != 2 or not all(_is_int(o) for o in offs):
        raise err(source, f"tensor {name!r}: data_offsets must be [begin, end], got {offs!r}")
    begin, end = offs
    if not 0 <= begin <= end:
        raise err(source, f"tensor {name!r}: data_offsets [{begin}, {end}] are not ordered")
    if end > buffer_len:
        raise err(source, f"tensor {name!r}: data_offsets [{begin}, {end}] end outside the data "
                          f"buffer of {buffer_len} bytes (the file is truncated or corrupt)")
    nbytes = math.prod(shape) * dtype.itemsize
    if end - begin != nbytes:
        raise err(source, f"tensor {name!r}: shape {tuple(shape)} of {code} needs {nbytes} bytes "
                          f"but data_offsets span {end - begin}")
    return (begin, end, name, dtype, tuple(shape))


def _check_layout(source: Any, entries: list[_Entry], buffer_len: int) -> None:
    """The tensors tile the data buffer exactly: sorted, contiguous, no gap, no overlap."""
    entries.sort(key=lambda e: (e[0], e[1]))
    pos = 0
    for begin, end, name, _, _ in entries:
        if begin != pos:
            what = "overlaps the previous tensor" if begin < pos else f"leaves a gap at {pos}"
            raise err(source, f"tensor {name!r}: data_offsets [{begin}, {end}] {what}")
        pos = end
    if pos != buffer_len:
        raise err(source, f"data buffer is {buffer_len} bytes but the tensors cover {pos} "
                          "(trailing bytes)")


def _read_tensors(source: Any, f: IO[bytes], entries: list[_Entry]) -> dict[str, np.ndarray]:
    """Read the (sorted, validated) entries sequentially."""
    tensors: dict[str, np.ndarray] = {}
    for _begin, _end, name, dtype, shape in entries:
        arr = np.empty(shape, dtype=dtype)
        if arr.nbytes:
            got = f.readinto(arr.reshape(-1).view(np.uint8).data)  # type: ignore[attr-defined]
            if got != arr.nbytes:
                raise err(source, f"file is truncated: tensor {name!r} ended early")
        if dtype.kind == "b" and arr.size and arr.view(np.uint8).max() > 1:
            raise err(source, f"tensor {name!r}: BOOL data holds bytes other than 0 and 1")
        if not dtype.isnative:  # pragma: no cover - big-endian hosts
            arr = arr.astype(dtype.newbyteorder("="))
        tensors[name] = arr
    return tensors


def _read_from(
    source: Any, f: IO[bytes], size: int
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    header, n = _read_header(source, f, size)
    metadata = _metadata(source, header)
    buffer_len = size - 8 - n
    entries = [_entry(source, name, info, buffer_len) for name, info in header.items()]
    _check_layout(source, entries, buffer_len)
    tensors = _read_tensors(source, f, entries)
    order = {name: i for i, name in enumerate(header)}  # header order, as written
    return dict(sorted(tensors.items(), key=lambda kv: order[kv[0]])), metadata


def _file_size(source: Any, f: IO[bytes]) -> int:
    try:
        if f.seekable():
            pos = f.tell()
            end = f.seek(0, io.SEEK_END)
            f.seek(pos)
            return int(end - pos)
    except OSError as exc:
        raise err(source, f"cannot determine the size: {exc.strerror or exc}") from None
    raise err(source, "the file object is not seekable")  # pragma: no cover


def read_safetensors(path: Source) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file, validating it completely, into (tensors, metadata).

    Memory use is bounded by the file's size: nothing is allocated from a header value
    until the header has been checked against the real file size.

    Args:
        path: a path, or a binary file object open for reading (read from its current
            position; one that cannot seek is read into memory first).

    Raises:
        CheckpointError: the file is missing or unreadable, is not a safetensors file (a
            text file, a pickle), is truncated, or any part of it is malformed (the message
            names the file and the problem).
    """
    if not isinstance(path, (str, os.PathLike)):
        f: IO[bytes] = path
        if not callable(getattr(f, "read", None)):
            raise TypeError(
                f"load: f must be a path or a binary file object, got {type(f).__name__}"
            )
        seekable = getattr(f, "seekable", None)
        if not (callable(seekable) and seekable() and hasattr(f, "readinto")):
            f = io.BytesIO(f.read())  # a stream: its size is known once it is read
        return _read_from(path, f, _file_size(path, f))
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise err(path, f"cannot open: {exc.strerror or exc}") from None
    with fh:
        try:
            size = os.fstat(fh.fileno()).st_size
        except OSError as exc:  # pragma: no cover
            raise err(path, f"cannot stat: {exc.strerror or exc}") from None
        return _read_from(path, fh, size)
