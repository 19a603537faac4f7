"""The drawing subcommands (compare, paths, step) and --track-layers, through gradstep.cli."""

from __future__ import annotations

import argparse
import sys

import pytest
from tests.viz.conftest import assert_png

from gradstep.cli import main
from gradstep.viz import commands


def test_step_explain_prints_the_worked_example(capsys):
    assert main(["step", "--explain", "--steps", "2", "--lr", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "=== step 2" in out and "momentum buf b" in out and "SGD(lr=0.1, momentum=0.9)" in out
    assert main(["step"]) == 2
    assert "only --explain" in capsys.readouterr().err


def test_paths_command_writes_png_and_gif(tmp_path, capsys):
    rc = main(["paths", "--function", "saddle", "--steps", "30", "--optimizers",
               "sgd:lr=0.05", "nesterov:lr=0.02", "--gif", "--frames", "4",
               "--out", str(tmp_path)])
    assert rc == 0
    assert_png(tmp_path / "paths_saddle.png", (1000, 450))
    assert (tmp_path / "paths_saddle.gif").read_bytes()[:3] == b"GIF"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert "nesterov" in capsys.readouterr().out
    assert main(["paths", "--optimizers", "bogus", "--out", str(tmp_path)]) == 2


def test_compare_command_on_a_digits_subset(tmp_path, capsys):
    pytest.importorskip("sklearn")
    rc = main(["compare", "--limit", "120", "--epochs", "1", "--batch-sizes", "8",
               "full", "--optimizers", "sgd:lr=0.05", "adam:lr=0.01", "--out", str(tmp_path)])
    assert rc == 0
    for name in ("compare_step_loss", "compare_epoch_loss", "compare_time_loss"):
        assert_png(tmp_path / f"{name}.png")
    html = (tmp_path / "report.html").read_text()
    assert "batch 8, adam (lr=0.01)" in html and "full batch, sgd (lr=0.05)" in html


def test_compare_out_on_a_file_fails_before_training(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["compare", "--out", str(tmp_path / "f")]) == 2
    captured = capsys.readouterr()
    assert "is a file" in captured.err and captured.out == ""  # nothing trained


def test_without_matplotlib_the_commands_say_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["paths", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "gradstep[plot]"' in err[0]
    assert main(["compare", "--out", str(tmp_path)]) == 2
    assert 'pip install "gradstep[plot]"' in capsys.readouterr().err
    # the worked example needs no matplotlib
    assert main(["step", "--explain"]) == 0


def test_track_layers_flag_and_after_train(tmp_path, capsys):
    import numpy as np

    from gradstep import nn
    from gradstep.optim import SGD
    from gradstep.train import fit

    ap = argparse.ArgumentParser()
    commands.add_track_layers_flag(ap)
    assert ap.parse_args([]).track_layers is None
    assert ap.parse_args(["--track-layers"]).track_layers == ""
    assert commands.track_option(ap.parse_args([])) is None
    args = ap.parse_args(["--track-layers", str(tmp_path)])
    assert commands.track_option(args) == "layers"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    from gradstep.viz.layers import LayerTracker

    h = fit(m, (x, y), optimizer=SGD(m.parameters(), lr=0.1), epochs=1, batch_size=10,
            verbose=0, callbacks=[LayerTracker()])
    commands.after_train(args, h)
    assert_png(tmp_path / "layers.png", (1000, 700))
    assert (tmp_path / "layers.json").exists()
    assert "first/last layer gradient norm" in capsys.readouterr().out
    commands.after_train(ap.parse_args(["--track-layers"]), h, run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "layers.png").exists()


def test_track_layers_help_states_the_measured_overhead():
    ap = argparse.ArgumentParser()
    commands.add_track_layers_flag(ap)
    help_text = next(a.help for a in ap._actions if "--track-layers" in a.option_strings)
    assert "overhead" in help_text and "%" in help_text


def test_registered_in_the_gradstep_command(tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["step", "--explain"]) == 0
    assert "Backward pass" in capsys.readouterr().out
    rc = main(["train", "--dataset", "iris", "--model", "mlp:8", "--epochs", "1",
               "--track-layers", str(tmp_path / "layers"), "--out", str(tmp_path / "run"), "-q"])
    assert rc == 0
    assert_png(tmp_path / "layers" / "layers.png", (1000, 700))
