"""Training curves of one run: loss and accuracy (or MAE) per epoch, train beside held-out.

:func:`training_figures` draws them from a :class:`gradstep.train.History` and returns
the matplotlib figures (so tests can inspect titles, lines and ticks);
:func:`write_training_curves` saves them as ``loss.png`` and ``accuracy.png`` (``mae.png``
for regression) in a run folder. Each figure has a title naming the run (data set, model,
optimizer), whole-number epoch ticks, and the validation and test curves beside the
training one, so overfitting shows as the curves parting. Regression curves are in the
data set's units (the model trains on standardised targets; the figures undo that).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gradstep.viz.plot import matplotlib_available, new_figure, save_figure, series_style

__all__ = ["training_figures", "write_training_curves"]

_SPLITS = (("", "training"), ("val_", "validation"), ("test_", "test"))


def _metric_units(metric: str, regression: bool, y_std: float) -> tuple[float, str]:
    """``(factor, y label)`` turning a logged metric into the units the console prints."""
    if not regression:
        return 1.0, {"loss": "loss (cross-entropy or cost)", "accuracy": "accuracy"}.get(
            metric, metric)
    if metric == "loss":
        return y_std**2, "MSE (data set units)"
    return y_std, "MAE (data set units)"


def training_figures(history: Any, *, title: str, regression: bool = False,
                     y_std: float = 1.0) -> dict[str, Any]:
    """The run's figures, by file stem: ``loss`` and ``accuracy`` (regression: ``mae``).

    Args:
        history: a :class:`~gradstep.train.History` (``test_*`` columns are drawn too).
        title: names the run, e.g. ``"mnist, mlp:30, sgd lr=3"``.
        regression: targets were standardised with ``y_std``; curves are shown unscaled.
        y_std: the standardisation of the regression targets.
    """
    from matplotlib.ticker import MaxNLocator

    figures: dict[str, Any] = {}
    epochs = list(history.epoch)
    for metric in ("loss", "mae" if regression else "accuracy"):
        if metric not in history:
            continue
        factor, ylabel = _metric_units(metric, regression, y_std)
        fig, ax = new_figure(640, 420)
        n = 0
        for prefix, label in _SPLITS:
            key = prefix + metric
            if key not in history:
                continue
            pts = [(e, v * factor) for e, v in zip(epochs, history[key]) if math.isfinite(v)]
            if not pts:
                continue
            xs, ys = zip(*pts)
            ax.plot(xs, ys, label=label, **series_style(n))
            n += 1
        ax.set_title(f"{title}: {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best")
        fig.tight_layout()
        figures[metric] = fig
    return figures


def write_training_curves(run: str | os.PathLike[str], history: Any, *, title: str,
                          regression: bool = False, y_std: float = 1.0) -> str | None:
    """Save :func:`training_figures` as PNGs in ``run``; returns a note when it cannot."""
    if not matplotlib_available():
        return 'matplotlib is not installed: skipped the curves (pip install "gradstep[plot]")'
    for name, fig in training_figures(history, title=title, regression=regression,
                                      y_std=y_std).items():
        save_figure(fig, Path(run) / f"{name}.png")
    return None
