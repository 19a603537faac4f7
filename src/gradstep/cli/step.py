"""``gradstep step --explain``: one update of a tiny network, number by number."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from gradstep.errors import ConfigError

__all__ = ["cmd_step", "register"]


def register(sub: Any) -> None:
    """Add the ``step`` subcommand to an argparse subparsers object."""
    s = sub.add_parser(
        "step", help="print one gradient-descent update of a tiny network as a worked example",
        description="Print one complete update of a tiny network (default 2-3-1): inputs, "
                    "activations, loss, every gradient from the output layer back, lr times "
                    "gradient, the momentum buffer and the new weights. The numbers are "
                    "gradstep's own.",
    )
    s.add_argument("--explain", action="store_true",
                   help="print the worked example (required; default: off)")
    s.add_argument("--sizes", default="2-3-1", help="layer widths (default: 2-3-1)")
    s.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh", "relu"],
                   help="hidden and output activation (default: sigmoid)")
    s.add_argument("--lr", type=float, default=0.5, help="learning rate (default: 0.5)")
    s.add_argument("--momentum", type=float, default=0.9, help="momentum (default: 0.9)")
    s.add_argument("--nesterov", action="store_true", help="Nesterov momentum (default: off)")
    s.add_argument("--steps", type=int, default=1, help="consecutive updates (default: 1)")
    s.add_argument("--x", type=float, nargs="+", default=None,
                   help="one input example (default: drawn from --seed)")
    s.add_argument("--y", type=float, nargs="+", default=None,
                   help="its target (default: drawn from --seed)")
    s.add_argument("--precision", type=int, default=4, help="decimals printed (default: 4)")
    s.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default: 0)")
    s.set_defaults(handler=cmd_step)


def cmd_step(args: argparse.Namespace) -> int:
    """Run ``gradstep step``; returns the exit status."""
    from gradstep.viz.explain import explain_step

    if not args.explain:
        raise ConfigError("step: only --explain is available (print a worked example of one "
                          "step)")
    try:
        sizes = tuple(int(s) for s in args.sizes.split("-"))
    except ValueError:
        raise ConfigError(f"--sizes: expected widths like 2-3-1, got {args.sizes!r}") from None
    x = None if args.x is None else np.array([args.x], dtype=np.float64)
    y = None if args.y is None else np.array([args.y], dtype=np.float64)
    e = explain_step(steps=args.steps, sizes=sizes, activation=args.activation, lr=args.lr,
                     momentum=args.momentum, nesterov=args.nesterov, x=x, y=y,
                     generator=np.random.default_rng(args.seed))
    print(e.text(args.precision), end="")
    return 0
