"""Downloads into a cache, atomically and verified, with the standard library only.

A file is streamed to a temporary file in the destination folder, with a size limit,
flushed and fsynced, handed to a ``verify`` callback (which raises
:class:`~gradstep.errors.DataError` to reject it), and only then renamed over the final
name (``os.replace``) and the folder fsynced. A rejected or interrupted download leaves
no file behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from gradstep.errors import DataError

__all__ = ["cache_dir", "download_file", "file_md5"]

_CHUNK = 1 << 20


def cache_dir(name: str) -> Path:
    """Cache folder of data set ``name``: ``$GRADSTEP_DATA/<name>``, else
    ``~/.cache/gradstep/<name>`` (``$XDG_CACHE_HOME`` is honoured). Not created here."""
    base = os.environ.get("GRADSTEP_DATA")
    if base:
        return Path(base).expanduser() / name
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "gradstep" / name


def file_md5(path: str | os.PathLike[str]) -> str:
    """MD5 hex digest of a file's bytes (only to match published checksums)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    verify: Callable[[Path], None] | None = None,
    max_bytes: int = 256 << 20,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` into ``dest`` atomically.

    Args:
        url: http(s) (or file) URL.
        dest: final path; its folder is created if needed.
        verify: called with the complete temporary file; raise DataError to reject it.
        max_bytes: refuse responses larger than this (declared or actual).
        timeout: socket timeout in seconds.

    Returns:
        ``Path(dest)``.

    Raises:
        DataError: network/HTTP failure, oversized response, or ``verify`` rejected the
            file. ``dest`` is then untouched and no temporary file remains.
    """
    # imported here: http.client/urllib.request (with email.*) add ~40-120 ms to import gradstep
    import http.client
    import urllib.error
    import urllib.request

    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                    dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    declared = resp.headers.get("Content-Length")
                    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                        raise DataError(
                            f"download {url}: {declared} bytes declared, over the limit "
                            f"{max_bytes}"
                        )
                    got = 0
                    while True:
                        block = resp.read(_CHUNK)
                        if not block:
                            break
                        got += len(block)
                        if got > max_bytes:
                            raise DataError(
                                f"download {url}: response exceeds the limit of {max_bytes} bytes"
                            )
                        out.write(block)
                    if declared is not None and declared.isdigit() and got != int(declared):
                        raise DataError(
                            f"download {url}: incomplete, got {got} of {declared} bytes"
                        )
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                if isinstance(exc, DataError):
                    raise
                raise DataError(f"download {url}: failed: {exc}") from None
            out.flush()
            os.fsync(out.fileno())
        if verify is not None:
            verify(tmp)
        os.replace(tmp, target)
        _fsync_dir(str(target.parent))
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
