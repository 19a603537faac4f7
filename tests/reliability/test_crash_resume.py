"""Crash and resume: an interrupted run, resumed, ends bit-identical to an uninterrupted one,
and the last complete checkpoint is always loadable (never half-written).

* In process: a crash simulated right after the checkpoint of *every* step (including the
  last step of an epoch, before the epoch's bookkeeping), then a resume.
* In subprocesses: SIGKILL at seeded-random times during training, repeatedly, resuming
  each time; and SIGKILL in the middle of a checkpoint write (the worker stalls after
  writing half of the file's data).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gradstep
from gradstep.train import Trainer

from . import _tiny

WORKER = Path(__file__).with_name("train_worker.py")
EPOCHS = 3
TOTAL_STEPS = EPOCHS * _tiny.STEPS_PER_EPOCH
HANG_GUARD_S = 120  # generous: a worker normally finishes in about a second


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    """Weights of an uninterrupted run."""
    return _tiny.weights(_tiny.train(EPOCHS))


def _resume_fresh(path: Path) -> Trainer:
    t = _tiny.make_trainer(EPOCHS)
    t.restore(path)
    return t


@pytest.mark.parametrize("crash_after", range(1, TOTAL_STEPS + 1))
def test_resume_after_crash_at_every_step_is_bit_identical(
    tmp_path: Path, reference: dict[str, np.ndarray], crash_after: int
) -> None:
    path = tmp_path / "last.safetensors"
    with pytest.raises(_tiny._Stop):
        _tiny.train(EPOCHS, callbacks=(_tiny.StepCheckpoint(path, stop_after=crash_after),))
    assert gradstep.load_checkpoint(path, build=False).meta["trainer"]["step"] == crash_after
    resumed = _tiny.train(EPOCHS, resume=path)
    _tiny.assert_bit_identical(reference, _tiny.weights(resumed))


def _start(out: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.Popen(
        [sys.executable, str(WORKER), str(out), str(EPOCHS), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert p.stdout is not None
    line = p.stdout.readline()  # blocks until imports are done
    assert line.strip() == "READY", (line, p.stderr.read() if p.stderr else "")
    return p


def _finish(p: subprocess.Popen[str]) -> str:
    out, err = p.communicate(timeout=HANG_GUARD_S)
    assert p.returncode == 0, err
    return out


def _kill(p: subprocess.Popen[str]) -> None:
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=HANG_GUARD_S)


def _checkpoint_step(path: Path) -> int:
    """Load the checkpoint fully (as a resume would) and return its step."""
    ck = gradstep.load_checkpoint(path, build=False)
    _resume_fresh(path)  # restores model, optimizer, scheduler, loader: must not raise
    return int(ck.meta["trainer"]["step"])


@pytest.mark.slow
def test_sigkill_at_random_times_then_resume_is_bit_identical(
    tmp_path: Path, reference: dict[str, np.ndarray]
) -> None:
    rng = np.random.default_rng(20240610)
    last = tmp_path / "last.safetensors"
    seen_step = 0
    kills = 0
    for _ in range(5):
        p = _start(tmp_path, "--step-delay", "0.02")
        time.sleep(float(rng.uniform(0.0, 0.5)))
        if p.poll() is not None:  # finished before the kill: fine, nothing to kill
            _finish(p)
            break
        _kill(p)
        kills += 1
        if last.exists():
            step = _checkpoint_step(last)
            assert step >= seen_step, "a resumed run went backwards"
            seen_step = step
    assert kills >= 1
    _finish(_start(tmp_path))
    _tiny.assert_bit_identical(reference, _tiny.read_weights(tmp_path / "final.safetensors"))
    assert _checkpoint_step(last) == TOTAL_STEPS


@pytest.mark.parametrize("stall_on_save", [1, 5, _tiny.STEPS_PER_EPOCH])
def test_sigkill_during_checkpoint_write_keeps_previous_checkpoint(
    tmp_path: Path, reference: dict[str, np.ndarray], stall_on_save: int
) -> None:
    last = tmp_path / "last.safetensors"
    before = last.read_bytes() if last.exists() else None
    p = _start(tmp_path, "--stall-on-save", str(stall_on_save))
    deadline = time.monotonic() + HANG_GUARD_S
    while not (tmp_path / "stalled").exists():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "worker never reached the stalled write"
        time.sleep(0.01)
    # A temporary file holds the half-written checkpoint; the target is the previous one.
    partial = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert len(partial) == 1
    if last.exists():
        before = last.read_bytes()
    _kill(p)

    if stall_on_save == 1:
        assert not last.exists()  # the very first write never became visible
    else:
        assert last.read_bytes() == before  # untouched by the interrupted write
        assert _checkpoint_step(last) == stall_on_save - 1
        # The half-written temporary file is itself refused with a typed error.
        with pytest.raises(gradstep.CheckpointError):
            gradstep.load_checkpoint(tmp_path / partial[0], build=False)

    _finish(_start(tmp_path))
    _tiny.assert_bit_identical(reference, _tiny.read_weights(tmp_path / "final.safetensors"))
