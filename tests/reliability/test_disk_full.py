"""Disk full or unwritable output: the previous file survives intact, no temporary file is
left behind, and the error is typed and says what failed (which file, which step, why).

Faults are injected at each step of the atomic write (creating the temporary file, writing,
flushing/fsync, renaming) with ``OSError(ENOSPC)`` / ``PermissionError``; one test uses a
real operating-system limit (``RLIMIT_FSIZE``) in a subprocess instead of a mock.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradstep
import gradstep._atomic as ck
from gradstep.callbacks import ModelCheckpoint
from gradstep.data import idx

from . import _tiny


def _enospc(*_: Any, **__: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullDiskFile:
    """A file object that accepts ``budget`` bytes, then fails like a full disk."""

    def __init__(self, f: Any, budget: int) -> None:
        self._f, self._budget = f, budget

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        if n > self._budget:
            self._f.write(memoryview(data).cast("B")[: self._budget])
            self._budget = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget -= n
        return int(self._f.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _FullDiskFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.__exit__(*exc)


def _full_disk_after(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    real = os.fdopen
    monkeypatch.setattr(ck.os, "fdopen", lambda fd, *a, **k: _FullDiskFile(real(fd, *a, **k),
                                                                          budget))


def _failing_create(error: OSError) -> Any:
    """An ``os.open`` that fails like ``error`` when asked to create a file."""
    real = os.open

    def fake(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            raise error
        return real(path, flags, *args, **kwargs)

    return fake


FAULTS = {
    # name: (installer, text the message must contain)
    "create-temp": (lambda mp: mp.setattr(ck.os, "open", _failing_create(
                    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))),
                    "creating a temporary file"),
    "readonly-dir": (lambda mp: mp.setattr(ck.os, "open", _failing_create(
                     PermissionError(errno.EACCES, "Permission denied"))),
                     "Permission denied"),
    "write-header": (lambda mp: _full_disk_after(mp, 4), "while writing"),
    "write-data": (lambda mp: _full_disk_after(mp, 300), "while writing"),
    "fsync": (lambda mp: mp.setattr(ck.os, "fsync", _enospc), "flushing"),
    "rename": (lambda mp: mp.setattr(ck.os, "replace", _enospc), "renaming"),
}


def _state(tmp_path: Path) -> tuple[Any, Any, Any]:
    model, opt, sched = _tiny.build()
    gradstep.save_checkpoint(tmp_path / "ck.safetensors", model, opt, sched, epoch=1)
    return model, opt, sched


def _no_temp_files(d: Path) -> None:
    assert [f for f in os.listdir(d) if f.endswith(".tmp")] == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_failed_checkpoint_write_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    model, opt, sched = _state(tmp_path)
    target = tmp_path / "ck.safetensors"
    before = target.read_bytes()
    install, expected = FAULTS[fault]
    with monkeypatch.context() as mp:
        install(mp)
        model[1].weight._data[...] += 1.0  # a different state to save
        with pytest.raises(gradstep.CheckpointError) as info:
            gradstep.save_checkpoint(target, model, opt, sched, epoch=2)
    msg = str(info.value)
    assert str(target) in msg and "write failed" in msg and expected in msg, msg
    if fault not in ("readonly-dir",):
        assert "No space left on device" in msg, msg
    assert target.read_bytes() == before
    assert gradstep.load_checkpoint(target, build=False).meta["epoch"] == 1
    _no_temp_files(tmp_path)


@pytest.mark.parametrize("fault", ["write-data", "fsync", "rename"])
def test_failed_weights_write_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    model, _, _ = _tiny.build()
    target = tmp_path / "w.safetensors"
    gradstep.save_weights(target, model)
    before = target.read_bytes()
    with monkeypatch.context() as mp:
        FAULTS[fault][0](mp)
        with pytest.raises(gradstep.CheckpointError, match="No space left on device"):
            gradstep.save_weights(target, model)
    assert target.read_bytes() == before
    _no_temp_files(tmp_path)


def test_disk_full_during_training_keeps_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up at the end of epoch 2: fit stops with a CheckpointError naming the
    file, ``last.safetensors`` is still epoch 1's, and resuming from it after space is freed
    ends bit-identical to an uninterrupted run."""
    reference = _tiny.weights(_tiny.train(3))

    class FillDisk(_tiny.Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
            if epoch == 1:
                _full_disk_after(monkeypatch, 100)

    ckpt = ModelCheckpoint(tmp_path, save_best=False)
    with pytest.raises(gradstep.CheckpointError) as info:
        _tiny.train(3, callbacks=(FillDisk(), ckpt))
    assert "last.safetensors" in str(info.value) and "No space left" in str(info.value)
    monkeypatch.undo()  # space freed
    last = tmp_path / "last.safetensors"
    assert gradstep.load_checkpoint(last, build=False).meta["trainer"]["epoch"] == 1
    _no_temp_files(tmp_path)
    _tiny.assert_bit_identical(reference, _tiny.weights(_tiny.train(3, resume=last)))


def test_write_idx_failure_keeps_previous_file_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "labels.idx"
    idx.write_idx(target, np.arange(10, dtype=np.uint8))
    before = target.read_bytes()
    monkeypatch.setattr(idx.os, "fsync", _enospc)
    with pytest.raises(gradstep.DataError) as info:
        idx.write_idx(target, np.arange(20, dtype=np.uint8))
    assert str(target) in str(info.value) and "No space left" in str(info.value), info.value
    assert target.read_bytes() == before
    assert [f for f in os.listdir(tmp_path) if f != "labels.idx"] == []


def test_real_file_size_limit_in_subprocess(tmp_path: Path) -> None:
    """Not a mock: the OS refuses to grow files past RLIMIT_FSIZE (EFBIG)."""
    resource = pytest.importorskip("resource")
    del resource
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        import numpy as np
        import gradstep, gradstep._safetensors
        target = {str(tmp_path / "ck.safetensors")!r}
        gradstep._safetensors.write_safetensors(target, {{"w": np.zeros(10, np.float32)}})
        before = open(target, "rb").read()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        try:
            gradstep._safetensors.write_safetensors(target, {{"w": np.zeros(100_000, np.float32)}})
        except gradstep.CheckpointError as exc:
            print("ERROR:", exc)
        assert open(target, "rb").read() == before
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ERROR:" in r.stdout and "write failed while writing" in r.stdout, r.stdout
    assert "File too large" in r.stdout, r.stdout
    _no_temp_files(tmp_path)
