"""The gradstep command: default training, options, TOML config, evaluate/predict, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradstep as gs
from gradstep.cli import main

SRC = str(Path(gs.__file__).resolve().parents[1])
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _gradstep(*args: str, cwd: Path | None = None, timeout: int = 300):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "gradstep", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One short digits run shared by the evaluate/predict tests."""
    out = tmp_path_factory.mktemp("run") / "digits"
    rc = main(["train", "--epochs", "3", "--out", str(out), "-q"])
    assert rc == 0
    return out


def test_default_train_on_digits(tmp_path):
    """`gradstep train` with no arguments: >= 96% test accuracy and a complete run folder."""
    r = _gradstep("train", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("test accuracy:")]
    assert line, r.stdout
    acc = float(line[0].split()[2])
    assert acc >= 0.96
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    files = {p.name for p in runs[0].iterdir()}
    assert {
        "last.safetensors",
        "history.csv",
        "history.json",
        "config.toml",
        "loss.png",
        "accuracy.png",
        "results.json",
    } <= files
    hist = json.loads((runs[0] / "history.json").read_text())
    assert hist["epoch"] == list(range(1, 21))
    res = json.loads((runs[0] / "results.json").read_text())
    assert res["test"]["accuracy"] == pytest.approx(acc, abs=1e-4)


def test_options_and_schedules(tmp_path, capsys):
    rc = main(
        [
            "train",
            "--dataset",
            "iris",
            "--model",
            "linear",
            "--optimizer",
            "sgd",
            "--lr",
            "0.1",
            "--momentum",
            "0.9",
            "--nesterov",
            "--batch-size",
            "full",
            "--epochs",
            "60",
            "--schedule",
            "cosine",
            "--weight-decay",
            "1e-4",
            "--out",
            str(tmp_path / "iris"),
            "-q",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert float(out.split()[2]) >= 0.85
    rc = main(
        [
            "train",
            "--dataset",
            "wine",
            "--model",
            "mlp:16:dropout=0.1",
            "--optimizer",
            "adamw",
            "--batch-size",
            "1",
            "--epochs",
            "2",
            "--schedule",
            "onecycle",
            "--val-split",
            "0.2",
            "--out",
            str(tmp_path / "wine"),
            "-q",
        ]
    )
    assert rc == 0
    assert (tmp_path / "wine" / "best.safetensors").exists()
    rc = main(
        [
            "train",
            "--dataset",
            "diabetes",
            "--model",
            "mlp:32",
            "--epochs",
            "5",
            "--schedule",
            "step:2:0.5",
            "--out",
            str(tmp_path / "diab"),
            "-q",
        ]
    )
    assert rc == 0
    assert "test MSE" in capsys.readouterr().out


def test_config_toml_and_flag_override(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'dataset = "iris"\nmodel = "mlp:8"\nepochs = 3\nbatch-size = "full"\nlr = 0.5\nseed = 4\n'
    )
    rc = main(["train", "--config", str(cfg), "--lr", "0.01", "--out", str(tmp_path / "r"), "-q"])
    assert rc == 0
    written = (tmp_path / "r" / "config.toml").read_text()
    assert 'dataset = "iris"' in written and "lr = 0.01" in written and "epochs = 3" in written
    assert 'batch-size = "full"' in written and "seed = 4" in written
    # the written config reproduces the run
    capsys.readouterr()
    rc = main(
        [
            "train",
            "--config",
            str(tmp_path / "r" / "config.toml"),
            "--out",
            str(tmp_path / "r2"),
            "-q",
        ]
    )
    assert rc == 0
    a = gs.load_checkpoint(tmp_path / "r" / "last.safetensors").model_state
    b = gs.load_checkpoint(tmp_path / "r2" / "last.safetensors").model_state
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_continues(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--dataset", "iris", "--epochs", "2", "--out", str(out), "-q"]) == 0
    assert (
        main(
            [
                "train",
                "--dataset",
                "iris",
                "--epochs",
                "4",
                "--out",
                str(out),
                "-q",
                "--resume",
                str(out / "last.safetensors"),
            ]
        )
        == 0
    )
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2, 3, 4]
    assert (
        main(["train", "--dataset", "iris", "--epochs", "4", "--out", str(tmp_path / "f"), "-q"])
        == 0
    )
    a = gs.load_checkpoint(out / "last.safetensors").model_state
    b = gs.load_checkpoint(tmp_path / "f" / "last.safetensors").model_state
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_evaluate_and_predict(digits_run, tmp_path, capsys):
    from sklearn.datasets import load_digits

    ck = str(digits_run / "last.safetensors")
    assert main(["evaluate", ck]) == 0
    out = capsys.readouterr().out
    assert out.startswith("test accuracy:")
    trained = json.loads((digits_run / "results.json").read_text())["test"]["accuracy"]
    assert float(out.split()[2]) == pytest.approx(trained, abs=1e-4)

    d = load_digits()
    np.save(tmp_path / "x.npy", d.data[:20])
    np.savetxt(
        tmp_path / "x.csv",
        d.data[:20],
        delimiter=",",
        header=",".join(f"f{i}" for i in range(64)),
        comments="",
    )
    assert main(["predict", ck, str(tmp_path / "x.npy")]) == 0
    labels = np.array([int(v) for v in capsys.readouterr().out.split()])
    assert len(labels) == 20 and (labels == d.target[:20]).mean() >= 0.8
    assert main(["predict", ck, str(tmp_path / "x.csv"), "-o", str(tmp_path / "p.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), labels)
    assert capsys.readouterr().out.strip() == (
        f"wrote 20 predicted class indices to {tmp_path / 'p.npy'}")
    # written atomically with the user's umask, like every output
    old = os.umask(0o027)
    try:
        assert main(["predict", ck, str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.txt")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "p.txt").read_text().split() == [str(v) for v in labels]


BAD = [
    (["train", "--dataset", "nope"], "unknown dataset"),
    (["train", "--bogus"], "unrecognized arguments"),
    (["train", "--lr", "-1"], "--lr: must be > 0"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--batch-size", "many"], "--batch-size"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--momentum", "1.5"], "--momentum"),
    (["train", "--model", "rnn"], "unknown model"),
    (["train", "--optimizer", "lbfgs"], "unknown optimizer"),
    (["train", "--schedule", "sometimes"], "unknown schedule"),
    (["train", "--nesterov"], "--nesterov"),
    (["train", "--config", "MISSING.toml"], "file not found"),
    (["train", "--config", "BAD.toml"], "not valid TOML"),
    (["train", "--config", "UNKNOWN.toml"], "unknown option 'colour'"),
    (["train", "--config", "BADVALUE.toml"], "--epochs"),
    (["train", "--dataset", "csv:MISSING.csv"], "file not found"),
    (["train", "--resume", "MISSING.safetensors"], "not found"),
    (["evaluate", "MISSING.safetensors"], "not found"),
    (["evaluate", "GARBAGE.safetensors"], "checkpoint"),
    (["predict", "GARBAGE.safetensors", "x.npy"], "checkpoint"),
    (["predict", "CKPT", "MISSING.npy"], "not found"),
    (["predict", "CKPT", "PICKLE.npy"], "npy"),
    (["predict", "CKPT", "WRONG.npy"], "shape"),
    (["predict", "CKPT", "x.txt"], ".npy or .csv"),
    (["frobnicate"], "invalid choice"),
    (["predict"], "required"),
    (["train", "--dataset", "iris", "--model", "cnn"], "tabular"),
    (["train", "--dataset", "mnist", "--data-root", "NO_SUCH_DIR"], "no such folder"),
    (["train", "--dataset", "digits", "--task", "regression"], "--task"),
    (["train", "--val-split", "1.5"], "--val-split"),
    (["train", "--loss", "hinge"], "--loss"),
    (["train", "--scale", "zscore"], "--scale"),
    (["train", "--init", "orthogonal"], "--init"),
    (["train", "--activation", "gelu"], "--activation"),
    (["train", "--dataset", "diabetes", "--loss", "bce"], "regression"),
    (["compare", "--out", "x.txt"], "is a file"),
]


@pytest.mark.parametrize(("argv", "match"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(argv, match, tmp_path, digits_run, capsys):
    (tmp_path / "BAD.toml").write_text("epochs = [\n")
    (tmp_path / "UNKNOWN.toml").write_text("colour = 'red'\n")
    (tmp_path / "BADVALUE.toml").write_text("epochs = -3\n")
    (tmp_path / "GARBAGE.safetensors").write_bytes(b"\x00" * 64)
    np.save(tmp_path / "PICKLE.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "WRONG.npy", np.zeros((3, 5)))
    (tmp_path / "x.txt").write_text("1,2,3\n")
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    argv = [str(digits_run / "last.safetensors") if a == "CKPT" else a for a in argv]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        rc = main(argv)
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    assert rc == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert match in lines[0]
    assert "Traceback" not in captured.err
    assert not (tmp_path / "runs").exists()


def test_bad_input_subprocess_has_no_traceback(tmp_path):
    r = _gradstep("train", "--lr", "-1", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    r = _gradstep("evaluate", str(tmp_path / "absent.safetensors"), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_every_option_has_help_showing_its_default():
    import argparse

    from gradstep.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name, p in sub.choices.items():
        for action in p._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            assert action.help, f"{name} {action.option_strings}: no help"
            assert "default" in action.help or action.required, \
                f"{name} {action.option_strings}: help does not show the default"
            checked += 1
    assert checked > 60


def test_version_and_dataset_spellings(capsys):
    from gradstep import __version__
    from gradstep.cli import build_parser, resolve_train_config

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"gradstep {__version__}"
    p = build_parser()
    for spelling in ("fashion_mnist", "fashion-mnist", "Fashion_MNIST"):
        cfg = resolve_train_config(p.parse_args(["train", "--dataset", spelling]))
        assert cfg["dataset"] == "fashion-mnist"


def test_help_shows_examples():
    r = _gradstep("train", "--help")
    assert r.returncode == 0
    assert "examples:" in r.stdout and "gradstep train --dataset fashion-mnist" in r.stdout
    for flag in (
        "--dataset",
        "--model",
        "--optimizer",
        "--lr",
        "--momentum",
        "--nesterov",
        "--weight-decay",
        "--batch-size",
        "--epochs",
        "--schedule",
        "--seed",
        "--resume",
        "--out",
        "--config",
        "--verbose",
        "-q",
    ):
        assert flag in r.stdout
    r = _gradstep("--help")
    assert r.returncode == 0 and "gradstep evaluate" in r.stdout


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist absent")
def test_fashion_mnist_short_real_run():
    """5,000 real training images, 1 epoch: well above 70% test accuracy."""
    from gradstep import datasets, models, optim
    from gradstep.train import evaluate, fit

    ds = datasets.load_fashion_mnist()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(ds.x))[:5000]
    x, y = ds.x[idx].reshape(5000, -1), ds.y[idx]
    mean, std = x.mean(0), x.std(0) + 1e-3
    m = models.mlp(784, [128], 10, generator=0)
    fit(
        m,
        ((x - mean) / std, y),
        optimizer=optim.Adam(m.parameters(), lr=1e-3),
        epochs=1,
        batch_size=32,
        verbose=0,
    )
    xt = (ds.x_test.reshape(len(ds.x_test), -1) - mean) / std
    acc = evaluate(m, (xt.astype(np.float32), ds.y_test))["accuracy"]
    assert acc > 0.70


def test_plots_skipped_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc = main(["train", "--dataset", "iris", "--epochs", "2", "--out", str(tmp_path / "r")])
    assert rc == 0
    err = capsys.readouterr().err
    assert err.count("matplotlib is not installed") == 1
    assert not list((tmp_path / "r").glob("*.png"))
    assert (tmp_path / "r" / "history.csv").exists()


def test_no_compile_trains_the_same_weights(tmp_path, monkeypatch):
    # fit's compiled plan and the eager steps give the same weights, bit for bit; the
    # command's own callbacks (test metrics, SIGTERM) leave fit its fast steps
    from gradstep.train.loop import Trainer

    fast: list[bool] = []
    orig = Trainer._fast_step
    monkeypatch.setattr(Trainer, "_fast_step",
                        lambda self, b: fast.append(orig(self, b)) or fast[-1])
    for name, extra in (("c", []), ("e", ["--no-compile"])):
        argv = ["train", "--dataset", "iris", "--epochs", "3", "--out", str(tmp_path / name),
                "-q", *extra]
        assert main(argv) == 0
        assert (fast.count(True) > 0) == (name == "c")
        fast.clear()
    a = gs.load_checkpoint(tmp_path / "c" / "last.safetensors").model_state
    b = gs.load_checkpoint(tmp_path / "e" / "last.safetensors").model_state
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
