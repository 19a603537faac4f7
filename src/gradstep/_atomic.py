"""Atomic file output: every file gradstep writes appears whole or not at all.

:func:`atomic_write` writes through a temporary file in the target's directory, flushes
and ``fsync``\\ s it, renames it over the target with :func:`os.replace` and then
``fsync``\\ s the directory. A crash or a failing write therefore leaves the previous file
(if any) untouched, and the temporary file is removed on every error.

The temporary file is created with mode ``0o666`` through :func:`os.open`, so the
operating system applies the user's umask exactly as it does for ``open(path, "w")``: the
result is ``0o644`` under a umask of ``022`` and ``0o600`` under ``077``.

Errors are :class:`OSError` naming the target (never the temporary file) and the step that
failed (``"creating a temporary file"``, ``"writing"``, ``"flushing"``, ``"renaming the
temporary file over the target"``, ``"syncing the directory"``); an exception raised by the
caller's ``writer`` propagates unchanged after the clean-up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "fsync_dir"]

PathLike = str | os.PathLike[str]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class _Step:
    """The step in progress, for the error message."""

    def __init__(self) -> None:
        self.name = "creating a temporary file"


def fsync_dir(directory: PathLike) -> None:
    """``fsync`` a directory so that a rename inside it survives a power cut (POSIX only)."""
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _create_temp(target: Path) -> tuple[int, Path]:
    """Open a new temporary file beside ``target`` (mode 0o666 minus the umask)."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(17, "could not find a free temporary file name")  # pragma: no cover


def _failure(exc: OSError, step: str, target: Path) -> OSError:
    """An OSError like ``exc`` that names ``target`` and the step, not the temporary file."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    message = f"write failed while {step}: {reason}"
    if exc.errno is None:  # no errno: the target goes into the message itself
        return OSError(f"{message} ({os.fspath(target)!r})")
    return OSError(exc.errno, message, os.fspath(target))  # the errno's subclass


def atomic_write(path: PathLike, writer: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically: ``writer(f)`` fills a temporary binary file ``f``.

    Args:
        path: the destination; its directory must exist. An existing file is replaced only
            once the new content is complete and on disk.
        writer: called once with the open temporary file (binary mode).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: a step of the write failed; ``filename`` is ``path`` and the message says
            which step and why (e.g. ``write failed while writing: No space left on device``).
            The previous file is intact and no temporary file is left behind.
    """
    target = Path(os.fspath(path))
    step = _Step()
    tmp: Path | None = None
    try:
        fd, tmp = _create_temp(target)
        with os.fdopen(fd, "wb") as f:
            step.name = "writing"
            writer(f)
            step.name = "flushing"
            f.flush()
            os.fsync(f.fileno())
        step.name = "renaming the temporary file over the target"
        os.replace(tmp, target)
        tmp = None
        step.name = "syncing the directory"
        fsync_dir(target.parent if str(target.parent) else ".")
    except OSError as exc:
        raise _failure(exc, step.name, target) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return target


def atomic_write_bytes(path: PathLike, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode(encoding))
