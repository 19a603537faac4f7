"""The shared atomic writer: whole file or previous file, the user's umask, clean errors."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradstep
from gradstep import _atomic
from gradstep._atomic import atomic_write, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask() -> Any:
    """Set a umask for the test and restore the previous one afterwards."""
    saved: list[int] = []

    def set_umask(mask: int) -> None:
        previous = os.umask(mask)
        if not saved:
            saved.append(previous)

    yield set_umask
    if saved:
        os.umask(saved[0])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _writers(tmp_path: Path) -> dict[str, Any]:
    """Every kind of output this module is responsible for, as path -> write function."""
    model = gradstep.nn.Sequential(gradstep.nn.Linear(3, 2))
    return {
        "bytes.bin": lambda p: atomic_write_bytes(p, b"abc"),
        "text.txt": lambda p: atomic_write_text(p, "héllo\n"),
        "save.safetensors": lambda p: gradstep.save(model.state_dict(), p),
        "ckpt.safetensors": lambda p: gradstep.save_checkpoint(p, model, epoch=1),
        "weights.safetensors": lambda p: gradstep.save_weights(p, model),
    }


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_users_umask(tmp_path: Path, umask: Any, mask: int, expected: int) -> None:
    umask(mask)
    for name, write in _writers(tmp_path).items():
        p = tmp_path / name
        write(p)
        assert _mode(p) == expected, (name, oct(_mode(p)))
        write(p)  # replacing an existing file gives the same mode
        assert _mode(p) == expected, (name, oct(_mode(p)))


def test_onnx_export_gets_the_users_umask(tmp_path: Path, umask: Any) -> None:
    pytest.importorskip("onnx")
    model = gradstep.nn.Sequential(gradstep.nn.Linear(3, 2))
    for mask, expected in ((0o022, 0o644), (0o077, 0o600)):
        umask(mask)
        p = tmp_path / f"m{mask:o}.onnx"
        gradstep.export_onnx(model, p, np.zeros((1, 3), np.float32))
        assert _mode(p) == expected


def test_content_is_written_and_replaced_whole(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    atomic_write(p, lambda f: (f.write(b"one"), f.write(b"two")))
    assert p.read_bytes() == b"onetwo"
    atomic_write_bytes(p, b"x")
    assert p.read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_writer_exception_keeps_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"previous")

    def writer(f: Any) -> None:
        f.write(b"half of the new")
        raise ValueError("the figure could not be drawn")

    with pytest.raises(ValueError, match="could not be drawn"):
        atomic_write(p, writer)
    assert p.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["f.bin"]


@pytest.mark.parametrize("fault, step", [
    ("fsync", "flushing"),
    ("replace", "renaming the temporary file over the target"),
])
def test_os_errors_name_the_target_and_step_never_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, step: str
) -> None:
    p = tmp_path / "out.json"
    p.write_text("{}")

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]))

    monkeypatch.setattr(_atomic.os, fault, fail)
    with pytest.raises(OSError) as info:
        atomic_write_text(p, '{"a": 1}')
    monkeypatch.undo()
    msg = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(p)
    assert f"write failed while {step}" in msg and "No space left on device" in msg, msg
    assert ".tmp" not in msg, msg
    assert p.read_text() == "{}"
    assert os.listdir(tmp_path) == ["out.json"]


def test_checkpoint_error_message_has_no_temp_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(src: Any, dst: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(src), None, str(dst))

    monkeypatch.setattr(_atomic.os, "replace", fail)
    target = tmp_path / "c.safetensors"
    with pytest.raises(gradstep.CheckpointError) as info:
        gradstep.save({"w": np.zeros(2)}, target)
    monkeypatch.undo()
    msg = str(info.value)
    assert str(target) in msg and "Permission denied" in msg and ".tmp" not in msg, msg
    assert os.listdir(tmp_path) == []


def test_missing_directory_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "f.txt"
    with pytest.raises(FileNotFoundError) as info:
        atomic_write_text(target, "x")
    assert info.value.filename == str(target)
    assert "creating a temporary file" in str(info.value)
