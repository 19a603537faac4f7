"""The training curves of a run: title, whole-number epoch ticks, held-out curves, units."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.viz.conftest import assert_png

from gradstep.train import History
from gradstep.viz.curves import training_figures, write_training_curves


def _history(n=7, regression=False):
    h = History()
    for e in range(1, n + 1):
        logs = {"loss": 1.0 / e, "val_loss": 1.2 / e + 0.01 * e}
        if regression:
            logs.update({"mae": 0.5 / e, "val_mae": 0.6 / e})
        else:
            logs.update({"accuracy": 1 - 0.5 / e, "val_accuracy": 1 - 0.6 / e})
        h.append_epoch(e, logs)
    h.history["test_loss"] = [math.nan if e % 2 else 1.1 / e for e in h.epoch]
    return h


def test_title_epoch_ticks_and_held_out_curves():
    figs = training_figures(_history(), title="digits, mlp:64, sgd lr=0.1")
    assert set(figs) == {"loss", "accuracy"}
    ax = figs["loss"].axes[0]
    assert ax.get_title() == "digits, mlp:64, sgd lr=0.1: loss"
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels == ["training", "validation", "test"]
    test_line = ax.get_lines()[2]
    np.testing.assert_array_equal(test_line.get_xdata(), [2, 4, 6])  # evaluated epochs only
    figs["loss"].canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    acc = figs["accuracy"].axes[0]
    assert [ln.get_label() for ln in acc.get_lines()] == ["training", "validation"]
    assert acc.get_ylabel() == "accuracy"


def test_regression_curves_are_in_the_data_set_units():
    h = _history(regression=True)
    figs = training_figures(h, title="diabetes", regression=True, y_std=10.0)
    assert set(figs) == {"loss", "mae"}
    loss = figs["loss"].axes[0]
    np.testing.assert_allclose(loss.get_lines()[0].get_ydata(), np.array(h["loss"]) * 100.0)
    assert "data set units" in loss.get_ylabel()
    mae = figs["mae"].axes[0]
    np.testing.assert_allclose(mae.get_lines()[1].get_ydata(), np.array(h["val_mae"]) * 10.0)


def test_written_pngs(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        assert write_training_curves(tmp_path, _history(), title="t") is None
    finally:
        os.umask(old)
    for name in ("loss", "accuracy"):
        assert_png(tmp_path / f"{name}.png", (640, 420))
        assert (tmp_path / f"{name}.png").stat().st_mode & 0o777 == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_cli_run_curves_have_the_run_title(tmp_path):
    pytest.importorskip("sklearn")
    import matplotlib

    from gradstep.cli import main
    from gradstep.viz import curves

    seen = {}
    real = curves.training_figures

    def spy(history, **kw):
        figs = real(history, **kw)
        seen.update({k: (f.axes[0].get_title(), [ln.get_label() for ln in f.axes[0].get_lines()])
                     for k, f in figs.items()})
        return figs

    curves.training_figures = spy
    try:
        assert main(["train", "--dataset", "iris", "--model", "linear", "--optimizer", "sgd",
                     "--lr", "0.1", "--epochs", "3", "--val-split", "0.2", "--out",
                     str(tmp_path / "r"), "-q"]) == 0
    finally:
        curves.training_figures = real
    assert matplotlib is not None
    title, labels = seen["loss"]
    assert title == "iris, linear, sgd lr=0.1: loss"
    assert labels == ["training", "validation", "test"]
