"""``gradstep paths``: optimizer trajectories on a 2-D test function (contours, GIF)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gradstep.cli._common import UsageError

__all__ = ["cmd_paths", "register"]


def register(sub: Any) -> None:
    """Add the ``paths`` subcommand to an argparse subparsers object."""
    from gradstep.viz.paths import FUNCTIONS

    p = sub.add_parser(
        "paths", help="optimizer trajectories on a 2-D test function (contour plot, GIF)",
        description="Run optimizers from the same start on a 2-D test function built from "
                    "gradstep ops and differentiated by gradstep; plot their paths on the "
                    "contours and the loss against step. The default optimizers converge on "
                    "every function (on the quadratic, their rates follow --condition); a "
                    "path that diverges is marked, with the reason, in the figure.",
    )
    p.add_argument("--function", default="quadratic", choices=sorted(FUNCTIONS),
                   help="the test function (default: quadratic)")
    p.add_argument("--condition", type=float, default=20.0,
                   help="condition number of the quadratic bowl, >= 1 (default: 20)")
    p.add_argument("--optimizers", nargs="+", default=None, metavar="SPEC",
                   help="optimizer specs, e.g. sgd:lr=0.05 nesterov:lr=0.02 adam:lr=0.1 "
                        "(default: a set that converges on the function)")
    p.add_argument("--start", nargs=2, type=float, default=None, metavar=("X", "Y"),
                   help="starting point (default: the function's)")
    p.add_argument("--steps", type=int, default=500, help="updates per optimizer (default: 500)")
    p.add_argument("--gif", action="store_true", help="also write an animated GIF (default: off)")
    p.add_argument("--frames", type=int, default=40, help="frames of the GIF (default: 40)")
    p.add_argument("--out", default=".", help="output folder (default: the current folder)")
    p.set_defaults(handler=cmd_paths)


def cmd_paths(args: argparse.Namespace) -> int:
    """Run ``gradstep paths``; returns the exit status."""
    from gradstep.viz.paths import animate_paths, plot_paths, run_paths
    from gradstep.viz.plot import require_matplotlib

    require_matplotlib()
    if args.steps < 1 or args.frames < 1:
        raise UsageError("gradstep paths: error: --steps and --frames must be >= 1")
    start = None if args.start is None else tuple(args.start)
    res = run_paths(args.function, args.optimizers or None, start, args.steps, args.condition)
    out = Path(args.out)
    png = plot_paths(res, out / f"paths_{res.function.name}.png")["path"]
    for t in res.trajectories:
        state = (t.reason or "diverged") if t.diverged else \
            f"f - f* = {t.loss[-1] - res.function.f_min:.3g}"
        print(f"{t.label:42s} end ({t.xy[-1][0]: .4f}, {t.xy[-1][1]: .4f})  {state}")
    print(f"wrote {png}")
    if args.gif:
        gif = animate_paths(res, out / f"paths_{res.function.name}.gif", frames=args.frames)
        print(f"wrote {gif}")
    return 0
