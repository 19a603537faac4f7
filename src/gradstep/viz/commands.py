"""What ``gradstep train --track-layers`` adds: the flag, fit's option, the figure after.

The subcommands that draw (``compare``, ``paths``, ``step``) are in :mod:`gradstep.cli`;
their figures come from :mod:`gradstep.viz.compare`, :mod:`gradstep.viz.paths` and
:mod:`gradstep.viz.explain`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gradstep.viz.plot import INSTALL_HINT, matplotlib_available

__all__ = ["add_track_layers_flag", "after_train", "track_option"]


# ------------------------------------------------------------------ train support
def add_track_layers_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--track-layers [DIR]`` to the ``train`` subcommand's parser."""
    parser.add_argument(
        "--track-layers", nargs="?", const="", default=None, metavar="DIR",
        help="record every layer's gradient norm, weight norm and update/weight ratio at "
             "every step (a viz.LayerTracker callback) and plot them to DIR/layers.png; "
             "overhead measured on the default digits model (mlp:256,128, batch 32): about "
             "25%% more time per step, more for smaller models (default: off; DIR defaults "
             "to the run folder)",
    )


def track_option(args: argparse.Namespace) -> str | None:
    """The ``track`` argument of :func:`gradstep.train.fit` for these parsed arguments."""
    return "layers" if getattr(args, "track_layers", None) is not None else None


def after_train(args: argparse.Namespace, history: Any, run_dir: Any = None) -> None:
    """After ``gradstep train --track-layers``: plot ``history.layers`` and save it as JSON.

    Files go to the ``--track-layers`` folder, or ``run_dir`` when none was given.
    """
    out = getattr(args, "track_layers", None)
    stats = getattr(history, "layers", None)
    if out is None or stats is None:
        return
    import json

    from gradstep._atomic import atomic_write_text

    d = Path(out) if out else Path(run_dir if run_dir is not None else ".")
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / "layers.json", json.dumps(stats.to_dict()))
    print(f"wrote {d / 'layers.json'}")
    if not matplotlib_available():
        print(f"gradstep: no figure: {INSTALL_HINT}", file=sys.stderr)
        return
    from gradstep.viz.layers import gradient_ratio, plot_layer_stats

    p = plot_layer_stats(stats, d / "layers.png", title="Per-layer statistics")["path"]
    print(f"wrote {p}")
    try:
        print(f"first/last layer gradient norm: {gradient_ratio(stats):.3g}")
    except ValueError:
        pass
