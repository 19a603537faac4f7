"""IDX files (the MNIST family's format), raw or gzip-compressed, read defensively.

Layout: a 4-byte magic ``0x00 0x00 <dtype> <ndim>``, then ``ndim`` big-endian uint32
dimensions, then the values in C order, big-endian. dtype codes: ``0x08`` uint8,
``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64.
So labels (``N``) have magic ``0x00000801`` and images (``N, rows, cols``) ``0x00000803``.

The reader never trusts the header: a raw file's size must equal header plus payload
exactly before anything is allocated; a gzip file is decompressed in bounded chunks
into a buffer that grows only with the data actually decompressed, is refused at once
when the header claims more than deflate could ever expand the compressed file to
(about 1032:1), and must end exactly where the header says. Every failure is a
:class:`~gradstep.errors.DataError` naming the path and the numbers involved.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradstep.errors import DataError

__all__ = ["IDX_DTYPES", "IdxHeader", "read_idx", "read_idx_bytes", "write_idx"]

#: IDX type code -> NumPy dtype (big-endian as stored).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

DEFAULT_MAX_BYTES = 1 << 31  # 2 GiB of decompressed content
_MAX_DEFLATE_RATIO = 1100  # deflate cannot exceed ~1032:1; leave a margin
_CHUNK = 1 << 20
_MAX_HEADER = 4 + 4 * 255
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IdxHeader:
    """Parsed IDX header: ``magic`` (e.g. 0x803), ``dtype`` code, ``shape``, sizes in bytes."""

    magic: int
    dtype_code: int
    shape: tuple[int, ...]
    header_bytes: int
    payload_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.header_bytes + self.payload_bytes


def _parse_magic(path: str, head: bytes) -> tuple[int, int, int]:
    if len(head) < 4:
        raise DataError(f"IDX {path}: file too short for the 4-byte magic ({len(head)} bytes)")
    magic = int.from_bytes(head[:4], "big")
    if head[0] != 0 or head[1] != 0:
        raise DataError(
            f"IDX {path}: bad magic 0x{magic:08x}: the first two bytes must be zero "
            f"(expected e.g. 0x00000801 labels or 0x00000803 images)"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        raise DataError(
            f"IDX {path}: unknown dtype byte 0x{code:02x} in magic 0x{magic:08x} "
            f"(known: {', '.join(f'0x{c:02x}' for c in IDX_DTYPES)})"
        )
    if ndim == 0:
        raise DataError(f"IDX {path}: magic 0x{magic:08x} declares 0 dimensions")
    return magic, code, ndim


def _parse_header(path: str, head: bytes) -> IdxHeader:
    magic, code, ndim = _parse_magic(path, head)
    hlen = 4 + 4 * ndim
    if len(head) < hlen:
        raise DataError(
            f"IDX {path}: truncated header: {ndim} dimensions need {hlen} bytes, "
            f"got {len(head)}"
        )
    shape = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    payload = IDX_DTYPES[code].itemsize
    for d in shape:  # Python ints: no overflow however large the claim
        payload *= d
    return IdxHeader(magic, code, shape, hlen, payload)


def _check_expect(
    path: str, h: IdxHeader, expected_magic: int | None, expected_dtype: int | None
) -> None:
    if expected_magic is not None and h.magic != expected_magic:
        raise DataError(
            f"IDX {path}: magic 0x{h.magic:08x}, expected 0x{expected_magic:08x}"
        )
    if expected_dtype is not None and h.dtype_code != expected_dtype:
        raise DataError(
            f"IDX {path}: dtype byte 0x{h.dtype_code:02x}, expected 0x{expected_dtype:02x}"
        )


def _check_limit(path: str, h: IdxHeader, max_bytes: int) -> None:
    if h.total_bytes > max_bytes:
        raise DataError(
            f"IDX {path}: header claims shape {h.shape} = {h.total_bytes} bytes, over the "
            f"limit max_bytes={max_bytes}"
        )


def _read_raw(
    path: str, fh: Any, size: int, max_bytes: int, em: int | None, ed: int | None
) -> tuple[IdxHeader, bytearray]:
    head = fh.read(4)
    _, _, ndim = _parse_magic(path, head)
    head += fh.read(4 * ndim)
    h = _parse_header(path, head)
    _check_expect(path, h, em, ed)
    if size != h.total_bytes:
        kind = "truncated" if size < h.total_bytes else "oversized"
        raise DataError(
            f"IDX {path}: {kind}: header claims shape {h.shape} = {h.total_bytes} bytes "
            f"({h.header_bytes} header + {h.payload_bytes} data), file has {size} bytes"
        )
    _check_limit(path, h, max_bytes)
    buf = bytearray(h.total_bytes)  # == the real file size, checked above
    buf[: h.header_bytes] = head
    view = memoryview(buf)[h.header_bytes :]
    got = fh.readinto(view)
    if got != h.payload_bytes:
        raise DataError(f"IDX {path}: file changed while reading ({got} of {h.payload_bytes})")
    return h, buf


def _read_gzip(
    path: str, fh: Any, size: int, max_bytes: int, em: int | None, ed: int | None
) -> tuple[IdxHeader, bytearray]:
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    buf = bytearray()  # grows only with data actually decompressed
    h: IdxHeader | None = None
    cap = _MAX_HEADER  # bytes allowed in buf so far: the longest header until it is parsed
    done = False

    def parse_header() -> IdxHeader | None:
        if len(buf) < 4:
            return None
        _, _, ndim = _parse_magic(path, bytes(buf[:4]))
        if len(buf) < 4 + 4 * ndim:
            return None
        hh = _parse_header(path, bytes(buf[: 4 + 4 * ndim]))
        _check_expect(path, hh, em, ed)
        _check_limit(path, hh, max_bytes)
        most = size * _MAX_DEFLATE_RATIO + 1024
        if hh.total_bytes > most:
            raise DataError(
                f"IDX {path}: header claims shape {hh.shape} = {hh.total_bytes} bytes, more "
                f"than a {size}-byte gzip file can hold (at most ~{most} bytes)"
            )
        return hh

    try:
        while not done:
            data = fh.read(_CHUNK)
            if not data:
                break
            while data:
                out = dec.decompress(data, cap + 1 - len(buf))
                buf.extend(out)
                data = dec.unconsumed_tail
                if h is None:
                    h = parse_header()
                    if h is not None:
                        cap = h.total_bytes
                if len(buf) > cap:
                    raise DataError(
                        f"IDX {path}: oversized: header claims shape {h.shape if h else '?'} "
                        f"= {cap} bytes, the decompressed content is longer"
                    )
                if dec.eof:
                    rest = dec.unused_data + data + fh.read()
                    if rest.startswith(_GZIP_MAGIC):  # another gzip member follows
                        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        data = rest
                    elif rest.strip(b"\x00"):
                        raise DataError(
                            f"IDX {path}: {len(rest)} bytes of trailing garbage after the "
                            f"gzip data"
                        )
                    else:
                        done = True
                        break
    except zlib.error as exc:
        raise DataError(f"IDX {path}: corrupt gzip data: {exc}") from None
    if not dec.eof:
        raise DataError(
            f"IDX {path}: truncated gzip stream (decompressed {len(buf)} bytes before the end)"
        )
    if h is None:
        _parse_header(path, bytes(buf))  # raises with the precise reason
        raise DataError(f"IDX {path}: incomplete header")  # pragma: no cover
    if len(buf) != h.total_bytes:
        raise DataError(
            f"IDX {path}: truncated: header claims shape {h.shape} = {h.total_bytes} bytes "
            f"({h.header_bytes} header + {h.payload_bytes} data), decompressed content has "
            f"{len(buf)} bytes"
        )
    return h, buf


def read_idx_bytes(
    path: str | os.PathLike[str],
    *,
    expected_magic: int | None = None,
    expected_dtype: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[IdxHeader, bytearray]:
    """Validated header and the whole (decompressed) file content.

    gzip is detected from the content (``1f 8b``), not the file name.

    Raises:
        DataError: missing/unreadable file, bad magic or dtype byte, truncated or
            oversized content, claims over ``max_bytes``, corrupt gzip.
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(2)
            fh.seek(0)
            if head == _GZIP_MAGIC:
                return _read_gzip(p, fh, size, max_bytes, expected_magic, expected_dtype)
            return _read_raw(p, fh, size, max_bytes, expected_magic, expected_dtype)
    except FileNotFoundError:
        raise DataError(f"IDX {p}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"IDX {p}: is a directory") from None
    except OSError as exc:
        raise DataError(f"IDX {p}: cannot read: {exc}") from None


def read_idx(
    path: str | os.PathLike[str],
    *,
    expected_magic: int | None = None,
    expected_dtype: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    return_sha256: bool = False,
) -> Any:
    """Read an IDX file (raw or gzip) into a native-endian array of the stored shape.

    Args:
        path: the file.
        expected_magic: if set, the full 4-byte magic must equal it (e.g. ``0x803``).
        expected_dtype: if set, the dtype byte must equal it (e.g. ``0x08``).
        max_bytes: refuse content (header + data) larger than this.
        return_sha256: also return the SHA-256 hex digest of the decompressed content.

    Returns:
        The array, or ``(array, sha256_hex)`` when ``return_sha256``.

    Raises:
        DataError: see :func:`read_idx_bytes`.
    """
    h, buf = read_idx_bytes(
        path, expected_magic=expected_magic, expected_dtype=expected_dtype, max_bytes=max_bytes
    )
    dt = IDX_DTYPES[h.dtype_code]
    arr = np.frombuffer(buf, dtype=dt, offset=h.header_bytes).reshape(h.shape)
    if dt.itemsize > 1:
        arr = arr.astype(dt.newbyteorder("="))
    if return_sha256:
        return arr, hashlib.sha256(buf).hexdigest()
    return arr


def write_idx(path: str | os.PathLike[str], array: Any, *, compress: bool | None = None) -> None:
    """Write ``array`` as IDX, atomically (temp file + fsync + rename).

    Args:
        path: destination; gzip-compressed when it ends in ``.gz`` (or ``compress=True``).
        array: uint8, int8, int16, int32, float32 or float64 data with 1 to 255 dims,
            each < 2**32.
        compress: force gzip on/off (default: by extension).

    Raises:
        DataError: unsupported dtype or shape, or the write failed (disk full, unwritable
            directory); any previous file at ``path`` is then left intact.
    """
    p = os.fspath(path)
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"write_idx: dtype {arr.dtype} has no IDX code (use uint8, int32, ...)")
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise DataError(f"write_idx: cannot store shape {arr.shape} in IDX")
    header = bytes([0, 0, code, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape
    )
    payload = np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    gz = p.endswith(".gz") if compress is None else compress
    directory = os.path.dirname(os.path.abspath(p))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".idx", dir=directory)
    except OSError as exc:
        raise DataError(f"write_idx: cannot create a temporary file for {p}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            if gz:
                with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gzf:
                    gzf.write(header)
                    gzf.write(payload)
            else:
                fh.write(header)
                fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, unwritable: say which file; old one kept
            raise DataError(f"write_idx: writing {p} failed (previous file kept): {exc}") from exc
        raise
