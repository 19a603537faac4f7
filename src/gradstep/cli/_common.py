"""What every subcommand shares: the parser class, usage errors, messages, BLAS threads."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import NoReturn

__all__ = ["EXTRAS", "UsageError", "Parser", "blas_threads", "missing_package", "one_line"]

#: Optional packages -> the gradstep extra that installs them.
EXTRAS = {
    "sklearn": ("scikit-learn", "datasets"),
    "matplotlib": ("matplotlib", "plot"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "mpi4py": ("mpi4py", "mpi"),
    "tqdm": ("tqdm", "progress"),
}


class UsageError(Exception):
    """Bad command-line input: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line."""
    return " ".join(str(exc).split())


def missing_package(exc: ImportError) -> str:
    """One line for a missing optional package, naming the extra that installs it."""
    names = [getattr(e, "name", None) for e in (exc, exc.__cause__, exc.__context__)]
    msg = one_line(exc)
    for name in names:
        top = (name or "").split(".")[0]
        if top in EXTRAS:
            break
    else:  # a library's own ImportError: find the package it names
        top = next((k for k, (pkg, _) in EXTRAS.items() if pkg in msg or k in msg), "")
    if top in EXTRAS:
        pkg, extra = EXTRAS[top]
        return f'this needs {pkg}, which is not installed: pip install "gradstep[{extra}]"'
    return msg if "pip install" in msg else f"{msg} (a package is missing)"


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit BLAS threads to ``n`` inside the block (0: leave the library default)."""
    if n <= 0:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n):
        yield
