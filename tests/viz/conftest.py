"""Helpers for the viz tests: a PNG checker reading the signature and IHDR by hand."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")


def assert_png(path: str | Path, size: tuple[int, int] | None = None, max_bytes: int = 400_000) -> None:
    """The file is a PNG (signature + IHDR) of ``size`` (width, height) pixels."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG signature"
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    if size is not None:
        assert (w, h) == size, f"{path}: {w}x{h}, expected {size[0]}x{size[1]}"
    assert len(data) < max_bytes
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND"
