"""Ctrl-C (SIGINT) during ``gradstep train``: the run stops cleanly after the current step,
writes a resumable checkpoint, exits with status 130 and a message giving the exact command
that resumes it; running that command finishes the run bit-identically to an uninterrupted
one. Also in-process: ``fit`` raises TrainingInterrupted and ``resume`` continues exactly.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import gradstep
from gradstep._safetensors import read_safetensors
from gradstep.callbacks import ModelCheckpoint
from gradstep.errors import TrainingInterrupted

from . import _tiny

HANG_GUARD_S = 150


def _csv(path: Path) -> Path:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((120, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5)
    rows = ["a,b,c,d,label"] + [",".join(f"{v:.5f}" for v in r) + f",{t}" for r, t in zip(x, y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gradstep", *args]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")


def _model_weights(path: Path) -> dict[str, np.ndarray]:
    tensors, _ = read_safetensors(path)
    return {k: v for k, v in tensors.items() if k.startswith("model/")}


@pytest.mark.slow
def test_ctrl_c_in_gradstep_train_writes_checkpoint_and_says_how_to_resume(
    tmp_path: Path,
) -> None:
    data = _csv(tmp_path / "data.csv")
    opts = ["train", "--dataset", f"csv:{data}", "--model", "mlp:16", "--batch-size", "1",
            "--epochs", "40", "--optimizer", "adam", "--lr", "0.003", "--verbose", "2"]

    # Reference: the same run, uninterrupted.
    ref_dir = tmp_path / "ref"
    r = subprocess.run(_cmd(*opts, "--out", str(ref_dir)), capture_output=True, text=True,
                       env=_env(), timeout=HANG_GUARD_S)
    assert r.returncode == 0, r.stderr

    run = tmp_path / "run"
    p = subprocess.Popen(_cmd(*opts, "--out", str(run)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env())
    # Interrupt in the middle of epoch 3 or later (after the epoch lines start appearing).
    assert p.stdout is not None
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        line = p.stdout.readline()
        assert line or p.poll() is None, "training ended before it could be interrupted"
        if line.startswith("epoch 2/"):
            break
        assert time.monotonic() < deadline
    time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=HANG_GUARD_S)
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    assert "saved a resumable checkpoint" in err and "resume with: gradstep train" in err, err
    last = run / "last.safetensors"
    ck = gradstep.load_checkpoint(last, build=False)
    step = ck.meta["trainer"]["step"]
    assert 0 < step < 40 * 96  # interrupted mid-run (96 training examples, batch 1)
    assert (run / "config.toml").exists()

    # Run exactly the command the message gives.
    resume = shlex.split(err.split("resume with: ", 1)[1].strip())
    assert resume[:2] == ["gradstep", "train"]
    r2 = subprocess.run(_cmd(*resume[1:]), capture_output=True, text=True, env=_env(),
                        timeout=HANG_GUARD_S)
    assert r2.returncode == 0, r2.stderr
    _tiny.assert_bit_identical(_model_weights(ref_dir / "last.safetensors"),
                               _model_weights(last))


def _interrupt_at_step(k: int) -> _tiny.Callback:
    class Interrupt(_tiny.Callback):
        def on_batch_end(self, trainer: object, step: int, logs: dict[str, float]) -> None:
            if step == k:
                os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C

    return Interrupt()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("k", [1, 5, _tiny.STEPS_PER_EPOCH, 2 * _tiny.STEPS_PER_EPOCH + 3])
def test_fit_defers_ctrl_c_to_a_step_boundary_and_resumes_exactly(tmp_path: Path, k: int) -> None:
    assert threading.current_thread() is threading.main_thread()
    reference = _tiny.weights(_tiny.train(3))
    with pytest.raises(TrainingInterrupted) as info:
        _tiny.train(3, callbacks=(ModelCheckpoint(tmp_path, save_best=False),
                                  _interrupt_at_step(k)))
    exc = info.value
    assert isinstance(exc, KeyboardInterrupt)
    assert exc.step == k and exc.checkpoint == tmp_path / "last.safetensors"
    assert f"after step {k}" in str(exc) and "resume=" in str(exc)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    resumed = _tiny.train(3, resume=tmp_path / "last.safetensors")
    _tiny.assert_bit_identical(reference, _tiny.weights(resumed))


def test_without_a_checkpoint_folder_ctrl_c_still_stops_cleanly() -> None:
    with pytest.raises(TrainingInterrupted, match="no checkpoint written") as info:
        _tiny.train(2, callbacks=(_interrupt_at_step(3),))
    assert info.value.checkpoint is None and info.value.step == 3
