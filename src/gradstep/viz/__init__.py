"""Seeing gradient descent: comparisons, optimizer paths, layer statistics, worked steps.

Nothing here imports matplotlib until a figure is drawn; without it the plotting
functions raise :class:`ImportError` saying ``pip install "gradstep[plot]"``.

* :mod:`gradstep.viz.compare`: the same model from the same weights under several batch
  sizes / optimizers; loss per step, per epoch, against time; an HTML report.
* :mod:`gradstep.viz.paths`: optimizer trajectories on 2-D test functions.
* :mod:`gradstep.viz.layers`: per-layer gradient norm, weight norm and update ratio.
* :mod:`gradstep.viz.explain`: one update step of a tiny network, printed number by number.
* :mod:`gradstep.viz.plot` and :mod:`gradstep.viz.report`: shared figure and HTML helpers.
"""

from __future__ import annotations

from gradstep.viz.paths import (
    FUNCTIONS,
    PathsResult,
    TestFunction,
    Trajectory,
    animate_paths,
    get_function,
    plot_paths,
    run_paths,
    run_trajectory,
)
from gradstep.viz.plot import INSTALL_HINT, matplotlib_available, png_size, require_matplotlib
from gradstep.viz.report import Section, Table, write_report
from gradstep.viz.spec import OptimizerSpec, parse_optimizer_spec

__all__ = [
    "FUNCTIONS",
    "INSTALL_HINT",
    "OptimizerSpec",
    "PathsResult",
    "Section",
    "Table",
    "TestFunction",
    "Trajectory",
    "animate_paths",
    "get_function",
    "matplotlib_available",
    "parse_optimizer_spec",
    "plot_paths",
    "png_size",
    "require_matplotlib",
    "run_paths",
    "run_trajectory",
    "write_report",
]
