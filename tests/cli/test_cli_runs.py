"""The run folder a newcomer can trust, driven through the real command (issue 17, 1-5).

1. ``--resume CKPT`` of a non-default run (iris, linear, cosine, --val-split) takes every
   option from the checkpoint and continues bit-identically in the same folder.
2. ``--out`` on a folder holding a run refuses; ``--overwrite`` replaces the whole run.
3. (compare's divergence: tests/viz/test_compare.py)
4. Without scikit-learn (``pip install -e .`` with no extras) ``gradstep train`` says so in
   one line and exits 2.
5. SIGTERM finishes the step, checkpoints, prints the resume command and exits 143; the
   command resumes bit-identically.

Bit-identity is asserted only between runs of the same code path on the same machine
(the same arithmetic in the same order): an uninterrupted run and an interrupted one.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gradstep as gs
from gradstep.cli import main

SRC = str(Path(gs.__file__).resolve().parents[1])
HANG_GUARD_S = 180

pytest.importorskip("sklearn")


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
                OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", **extra)


def _default_signals() -> None:
    """In the child: default SIGINT/SIGTERM handling even when the test runner ignores them
    (e.g. started as ``(trap '' INT; pytest ...)``), as a user's terminal would have."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gradstep", *args]


def _weights(path: Path) -> dict[str, np.ndarray]:
    return dict(gs.load_checkpoint(path).model_state)


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)  # same machine, same path


IRIS = ["--dataset", "iris", "--model", "linear", "--optimizer", "sgd", "--lr", "0.05",
        "--momentum", "0.9", "--schedule", "step:2:0.5", "--val-split", "0.25",
        "--batch-size", "8", "--seed", "3"]


def test_resume_of_a_non_default_run_continues_in_its_folder(tmp_path, capsys):
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert main(["train", *IRIS, "--epochs", "6", "--out", str(ref), "-q"]) == 0
    assert main(["train", *IRIS, "--epochs", "3", "--out", str(run), "-q"]) == 0
    before = set(os.listdir(tmp_path))
    # every option comes from the checkpoint; only the total number of epochs is given
    assert main(["train", "--resume", str(run / "last.safetensors"), "--epochs", "6", "-q"]) == 0
    assert set(os.listdir(tmp_path)) == before  # no new folder: the same run continued
    hist = json.loads((run / "history.json").read_text())
    assert hist["epoch"] == [1, 2, 3, 4, 5, 6]
    assert len(hist["history"]["val_loss"]) == 6  # the validation split came back too
    _assert_same_weights(ref / "last.safetensors", run / "last.safetensors")
    assert "epochs = 6" in (run / "config.toml").read_text()


def test_resume_refuses_a_changed_option_in_one_line_and_creates_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *IRIS, "--epochs", "2", "--out", str(run), "-q"]) == 0
    capsys.readouterr()
    files = sorted(os.listdir(run))
    stamp = (run / "last.safetensors").stat().st_mtime_ns
    rc = main(["train", "--resume", str(run / "last.safetensors"), "--epochs", "4",
               "--model", "mlp:8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "--model" in err[0] and "'linear'" in err[0] and "'mlp:8'" in err[0]
    # the same value as the run's is fine, and so is --epochs
    assert main(["train", "--resume", str(run / "last.safetensors"), "--epochs", "3",
                 "--dataset", "iris", "--model", "linear", "-q"]) == 0
    assert sorted(os.listdir(run)) == files
    assert (run / "last.safetensors").stat().st_mtime_ns != stamp
    rc = main(["train", "--resume", str(run / "last.safetensors"), "--epochs", "3"])
    assert rc == 2 and "trained 3 epochs" in capsys.readouterr().err
    rc = main(["train", "--resume", str(run / "nope.safetensors")])
    assert rc == 2 and "not found" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_out_on_an_existing_run_refuses_unless_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *IRIS, "--epochs", "2", "--out", str(run), "-q"]) == 0
    assert (run / "best.safetensors").exists()
    capsys.readouterr()
    stamp = (run / "last.safetensors").read_bytes()
    rc = main(["train", "--dataset", "iris", "--epochs", "1", "--out", str(run)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "already holds a run" in err[0] and "--resume" in err[0] and "--overwrite" in err[0]
    assert (run / "last.safetensors").read_bytes() == stamp
    # --overwrite replaces the whole run: no best.safetensors of the old one survives
    (run / "notes.txt").write_text("mine")
    rc = main(["train", "--dataset", "iris", "--model", "linear", "--epochs", "1", "--out",
               str(run), "--overwrite", "-q"])
    assert rc == 0
    assert not (run / "best.safetensors").exists()
    assert json.loads((run / "history.json").read_text())["epoch"] == [1]
    assert (run / "notes.txt").read_text() == "mine"  # not a file of the run: kept


def test_config_toml_is_written_before_the_first_step(tmp_path, monkeypatch):
    from gradstep.cli import train as train_cmd

    seen: list[bool] = []
    fit = train_cmd._fit

    def probe(*args, **kwargs):
        seen.append((tmp_path / "run" / "config.toml").exists())
        return fit(*args, **kwargs)

    monkeypatch.setattr(train_cmd, "_fit", probe)
    assert main(["train", "--dataset", "iris", "--epochs", "1", "--out",
                 str(tmp_path / "run"), "-q"]) == 0
    assert seen == [True]


def _wait_for(p: subprocess.Popen, prefix: str) -> None:
    assert p.stdout is not None
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        line = p.stdout.readline()
        assert line or p.poll() is None, "training ended before it could be stopped"
        if line.startswith(prefix):
            return
        assert time.monotonic() < deadline


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_checkpoints_and_resumes_bit_identically(tmp_path):
    opts = ["train", "--dataset", "iris", "--model", "linear", "--optimizer", "sgd", "--lr",
            "0.01", "--momentum", "0.9", "--schedule", "cosine", "--val-split", "0.25",
            "--batch-size", "1", "--epochs", "30", "--verbose", "2"]
    ref = tmp_path / "ref"
    r = subprocess.run(_cmd(*opts, "--out", str(ref)), capture_output=True, text=True,
                       env=_env(), timeout=HANG_GUARD_S, preexec_fn=_default_signals)
    assert r.returncode == 0, r.stderr

    run = tmp_path / "run"
    p = subprocess.Popen(_cmd(*opts, "--out", str(run)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(),
                         preexec_fn=_default_signals)
    _wait_for(p, "epoch 2/")
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=HANG_GUARD_S)
    assert p.returncode == 143, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "saved a resumable checkpoint" in err and "resume with: gradstep train" in err
    assert (run / "config.toml").exists()
    step = gs.load_checkpoint(run / "last.safetensors", build=False).meta["trainer"]["step"]
    n_train = 90  # iris: 150 examples, 30 for test, a quarter of the rest for validation
    assert 0 < step < 30 * n_train

    resume = shlex.split(err.split("resume with: ", 1)[1].strip())
    assert resume[:3] == ["gradstep", "train", "--resume"]
    r2 = subprocess.run(_cmd(*resume[1:], "-q"), capture_output=True, text=True, env=_env(),
                        timeout=HANG_GUARD_S, preexec_fn=_default_signals)
    assert r2.returncode == 0, r2.stderr
    _assert_same_weights(ref / "last.safetensors", run / "last.safetensors")
    hist = json.loads((run / "history.json").read_text())
    assert hist["epoch"] == list(range(1, 31))
    # throughput after the resume counts only the examples this process trained on
    res = json.loads((run / "results.json").read_text())
    # batch 1: one example per step; `step` of them were trained before the interruption
    assert res["examples_per_s"] * res["train_seconds"] == pytest.approx(30 * n_train - step,
                                                                          rel=1e-9)


_BLOCK_SKLEARN = """
import sys, importlib.abc
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
import runpy
sys.argv = ["gradstep", *sys.argv[1:]]
runpy.run_module("gradstep", run_name="__main__")
"""


def test_without_scikit_learn_train_is_one_line_naming_the_extra(tmp_path):
    r = subprocess.run([sys.executable, "-c", _BLOCK_SKLEARN, "train"], capture_output=True,
                       text=True, env=_env(), cwd=tmp_path, timeout=HANG_GUARD_S)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert 'pip install "gradstep[datasets]"' in lines[0] and "scikit-learn" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_a_diverging_run_is_one_line_and_exit_1_not_a_result(tmp_path, capsys):
    rc = main(["train", "--dataset", "iris", "--optimizer", "sgd", "--lr", "1e4", "--momentum",
               "0.9", "--epochs", "5", "--out", str(tmp_path / "d"), "-q"])
    captured = capsys.readouterr()
    assert rc == 1
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "diverged" in err[0] and "--max-loss-ratio" in err[0]
    assert "test accuracy" not in captured.out
    assert not (tmp_path / "d" / "results.json").exists()


def test_broken_checkpoints_are_named_plainly(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--dataset", "iris", "--epochs", "1", "--out", str(run), "-q"]) == 0
    (tmp_path / "text.safetensors").write_text("hello\n")
    (tmp_path / "cut.safetensors").write_bytes((run / "last.safetensors").read_bytes()[:500])
    capsys.readouterr()
    for name, words in (("text", "not a safetensors file"), ("cut", "truncated")):
        for argv in (["evaluate", str(tmp_path / f"{name}.safetensors")],
                     ["train", "--resume", str(tmp_path / f"{name}.safetensors")]):
            assert main(argv) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and words in err[0], err
            assert ".tmp" not in err[0]


def test_every_file_of_a_run_has_the_users_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        assert main(["train", *IRIS, "--epochs", "2", "--out", str(tmp_path / "r"), "-q"]) == 0
    finally:
        os.umask(old)
    files = sorted((tmp_path / "r").iterdir())
    names = {p.name for p in files}
    assert {"config.toml", "last.safetensors", "best.safetensors", "history.csv",
            "history.json", "results.json", "loss.png", "accuracy.png"} <= names
    for p in files:
        assert p.stat().st_mode & 0o777 == 0o640, p.name
    assert not [n for n in names if n.startswith(".")]  # no temporary file left behind


def test_a_planned_schedule_cannot_be_stretched_on_resume(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--dataset", "iris", "--model", "linear", "--schedule", "cosine",
                 "--epochs", "2", "--out", str(run), "-q"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run / "last.safetensors"), "--epochs", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cosine schedule was laid out for 2 epochs" in err[0]


def test_resume_with_track_layers_keeps_the_other_callbacks_state(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", *IRIS, "--epochs", "2", "--out", str(run), "-q"]) == 0
    assert main(["train", "--resume", str(run / "last.safetensors"), "--epochs", "3",
                 "--track-layers", str(tmp_path / "layers"), "-q"]) == 0
    hist = json.loads((run / "history.json").read_text())["history"]
    # the test metrics of epochs 1-2 came back from the checkpoint (not NaN/null)
    assert all(v is not None for v in hist["test_loss"])
    assert (tmp_path / "layers" / "layers.json").exists()
