"""The ``gradstep compare``, ``gradstep paths`` and ``gradstep step`` subcommands.

:mod:`gradstep.cli` registers them with :func:`add_subcommands` (and the ``--track-layers``
flag of ``train`` with :func:`add_track_layers_flag`); the logic lives here and in the
other :mod:`gradstep.viz` modules so that the CLI stays free of math. Every handler takes
the parsed ``argparse.Namespace`` and returns an exit status.

Without matplotlib the figure-drawing commands print how to install it
(``pip install "gradstep[plot]"``) and return 1; ``gradstep step --explain`` needs no
matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gradstep.errors import ConfigError, DataError
from gradstep.viz.plot import INSTALL_HINT, matplotlib_available

__all__ = [
    "add_subcommands",
    "add_track_layers_flag",
    "after_train",
    "track_option",
    "cmd_compare",
    "cmd_paths",
    "cmd_step",
    "load_dataset",
]

DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes", "mnist", "fashion_mnist")



def _err(msg: str) -> int:
    print(f"gradstep: error: {msg}", file=sys.stderr)
    return 2


def _need_plot() -> bool:
    if matplotlib_available():
        return True
    print(f"gradstep: {INSTALL_HINT}", file=sys.stderr)
    return False


# --------------------------------------------------------------------------- data
def load_dataset(name: str, data_root: str | None = None, download: bool = False) -> Any:
    """A :class:`gradstep.data.Dataset` by the names ``gradstep train`` accepts.

    ``digits``, ``iris``, ``wine``, ``breast-cancer``, ``diabetes``, ``mnist``,
    ``fashion-mnist`` (``_`` or ``-``), or ``csv:PATH`` (a bare ``.csv`` path works too).
    """
    from gradstep import data

    if name.lower().startswith("csv:") or Path(name).suffix.lower() == ".csv":
        path = name[4:] if name.lower().startswith("csv:") else name
        if not Path(path).is_file():
            raise DataError(f"--dataset: file not found: {path}")
        return data.load_csv(path)
    key = name.lower().replace("-", "_")
    if key in ("mnist", "fashion_mnist"):
        return getattr(data, f"load_{key}")(data_root, download=download)
    if key in DATASETS:
        return getattr(data, f"load_{key}")()
    raise ConfigError(
        f"--dataset: expected one of {', '.join(DATASETS)} or csv:PATH, got {name!r}"
    )


def _prepare(args: argparse.Namespace) -> tuple[Any, tuple[np.ndarray, np.ndarray],
                                                tuple[np.ndarray, np.ndarray], str]:
    from gradstep.data import Standardize, stratified_split, train_test_split

    ds = load_dataset(args.dataset, getattr(args, "data_root", None),
                      getattr(args, "download", False))
    gen = np.random.default_rng(args.seed)
    classify = ds.task == "classification"
    if ds.x_test is not None:
        xtr, ytr, xva, yva = ds.x, ds.y, ds.x_test, ds.y_test
    elif classify:
        xtr, xva, ytr, yva = stratified_split(ds.x, ds.y, args.val_fraction, generator=gen)
    else:
        xtr, xva, ytr, yva = train_test_split(ds.x, ds.y, args.val_fraction, generator=gen)
    if args.limit:
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]
        xva, yva = xva[: max(1, args.limit // 4)], yva[: max(1, args.limit // 4)]
    if xtr.ndim == 2:
        sc = Standardize().fit(xtr)
        xtr, xva = sc.transform(xtr), sc.transform(xva)
    elif xtr.ndim == 3:  # grey images (N, H, W) -> (N, 1, H, W) for convolutional models
        xtr, xva = xtr[:, None], xva[:, None]
    loss = "cross_entropy" if classify else "mse"
    if not classify:
        ytr = ytr.reshape(len(ytr), -1)
        yva = yva.reshape(len(yva), -1)
    desc = (f"Data set {ds.name}: {len(xtr)} training and {len(xva)} validation examples, "
            f"{ds.task}.")
    return ds, (xtr.astype(np.float32), ytr), (xva.astype(np.float32), yva), loss + "|" + desc


# ------------------------------------------------------------------------ compare
def cmd_compare(args: argparse.Namespace) -> int:
    """``gradstep compare``: batch sizes x optimizers from the same initial weights."""
    from gradstep import models
    from gradstep.viz.compare import default_settings, make_settings, run_compare, write_compare

    if not _need_plot():
        return 1
    try:
        ds, train, val, info = _prepare(args)
        loss, desc = info.split("|", 1)
        out_features = ds.num_classes if ds.task == "classification" else int(
            np.prod(train[1].shape[1:]) or 1)
        input_shape = train[0].shape[1:]

        def factory() -> Any:
            return models.build(args.model, input_shape, out_features, generator=args.seed)

        if args.optimizers:
            settings = make_settings(args.optimizers, args.batch_sizes)
        else:
            settings = default_settings(args.lr, args.momentum, args.batch_sizes)
        print(f"{desc} Model {args.model}; {len(settings)} settings, {args.epochs} epoch(s) each.")
        result = run_compare(factory, train, val, settings, epochs=args.epochs, loss=loss,
                             seed=args.seed, progress=print)
        result.description = f"{desc} Model {args.model}."
        paths = write_compare(result, args.out, title=f"gradstep compare: {ds.name}")
    except (ConfigError, DataError, ValueError) as exc:
        return _err(str(exc))
    for name, p in paths.items():
        print(f"wrote {p}" + ("  (open in a browser)" if name == "report" else ""))
    return 0


# -------------------------------------------------------------------------- paths
def cmd_paths(args: argparse.Namespace) -> int:
    """``gradstep paths``: optimizer trajectories on a 2-D test function."""
    from gradstep.viz.paths import animate_paths, plot_paths, run_paths

    if not _need_plot():
        return 1
    try:
        start = None if args.start is None else tuple(args.start)
        res = run_paths(args.function, args.optimizers or None, start, args.steps,
                        args.condition)
    except ConfigError as exc:
        return _err(str(exc))
    out = Path(args.out)
    png = plot_paths(res, out / f"paths_{res.function.name}.png")["path"]
    for t in res.trajectories:
        state = "diverged" if t.diverged else f"f - f* = {t.loss[-1] - res.function.f_min:.3g}"
        print(f"{t.label:42s} end ({t.xy[-1][0]: .4f}, {t.xy[-1][1]: .4f})  {state}")
    print(f"wrote {png}")
    if args.gif:
        gif = animate_paths(res, out / f"paths_{res.function.name}.gif", frames=args.frames)
        print(f"wrote {gif}")
    return 0


# --------------------------------------------------------------------------- step
def cmd_step(args: argparse.Namespace) -> int:
    """``gradstep step --explain``: one update of a tiny network, number by number."""
    from gradstep.viz.explain import explain_step

    if not args.explain:
        return _err("step: only --explain is available (print a worked example of one step)")
    try:
        sizes = tuple(int(s) for s in args.sizes.split("-"))
        x = None if args.x is None else np.array([args.x], dtype=np.float64)
        y = None if args.y is None else np.array([args.y], dtype=np.float64)
        e = explain_step(steps=args.steps, sizes=sizes, activation=args.activation, lr=args.lr,
                         momentum=args.momentum, nesterov=args.nesterov, x=x, y=y,
                         generator=np.random.default_rng(args.seed))
    except (ConfigError, ValueError) as exc:
        return _err(str(exc))
    print(e.text(args.precision), end="")
    return 0


# ------------------------------------------------------------------ train support
def add_track_layers_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--track-layers [DIR]`` to the ``train`` subcommand's parser."""
    parser.add_argument(
        "--track-layers", nargs="?", const="", default=None, metavar="DIR",
        help="record every layer's gradient norm, weight norm and update/weight ratio at "
             "every step (fit(track='layers')) and plot them to DIR/layers.png "
             "(default DIR: the run folder)",
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

    d = Path(out) if out else Path(run_dir if run_dir is not None else ".")
    d.mkdir(parents=True, exist_ok=True)
    (d / "layers.json").write_text(json.dumps(stats.to_dict()))
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


# -------------------------------------------------------------------- registration
def add_subcommands(subparsers: Any) -> None:
    """Register ``compare``, ``paths`` and ``step`` on an argparse subparsers object."""
    from gradstep.viz.paths import FUNCTIONS

    c = subparsers.add_parser(
        "compare", help="train one model under several batch sizes / optimizers and compare",
        description="Train the same model from the same initial weights on the same data "
                    "under several settings (default: batch size 1, 32 and full, each with "
                    "and without momentum); write PNG figures and a self-contained HTML report.",
    )
    c.add_argument("--dataset", default="digits",
                   help=f"one of {', '.join(DATASETS)}, or csv:PATH (default digits)")
    c.add_argument("--data-root", default=None, help="folder with the IDX files of (fashion-)mnist")
    c.add_argument("--download", action="store_true", help="download MNIST-type data if missing")
    c.add_argument("--model", default="mlp:64", help="model spec as for train (default mlp:64)")
    c.add_argument("--epochs", type=int, default=10)
    c.add_argument("--batch-sizes", nargs="+", default=["1", "32", "full"], metavar="B",
                   help="batch sizes: integers or 'full' (default: 1 32 full)")
    c.add_argument("--optimizers", nargs="+", default=None, metavar="SPEC",
                   help="optimizer specs NAME[:k=v,...][@label], e.g. sgd:lr=0.05 "
                        "momentum:lr=0.05,momentum=0.9 adam:lr=0.001 (default: sgd and "
                        "momentum at --lr)")
    c.add_argument("--lr", type=float, default=0.01, help="lr of the default optimizers")
    c.add_argument("--momentum", type=float, default=0.9, help="momentum of the default set")
    c.add_argument("--val-fraction", type=float, default=0.2)
    c.add_argument("--limit", type=int, default=0, help="use only the first N training examples")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="compare_out", help="output folder (default compare_out)")
    c.set_defaults(func=cmd_compare, handler=cmd_compare)

    p = subparsers.add_parser(
        "paths", help="optimizer trajectories on a 2-D test function (contour plot, GIF)",
        description="Run optimizers from the same start on a 2-D test function built from "
                    "gradstep ops and differentiated by gradstep; plot their paths on the "
                    "contours and the loss against step.",
    )
    p.add_argument("--function", default="quadratic", choices=sorted(FUNCTIONS))
    p.add_argument("--condition", type=float, default=20.0,
                   help="condition number of the quadratic bowl (default 20)")
    p.add_argument("--optimizers", nargs="+", default=None, metavar="SPEC",
                   help="optimizer specs, e.g. sgd:lr=0.05 nesterov:lr=0.02 adam:lr=0.1 "
                        "(default: a set tuned per function)")
    p.add_argument("--start", nargs=2, type=float, default=None, metavar=("X", "Y"))
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--gif", action="store_true", help="also write an animated GIF")
    p.add_argument("--frames", type=int, default=40, help="frames of the GIF")
    p.add_argument("--out", default=".", help="output folder (default: current folder)")
    p.set_defaults(func=cmd_paths, handler=cmd_paths)

    s = subparsers.add_parser(
        "step", help="print one gradient-descent update of a tiny network as a worked example",
        description="Print one complete update of a tiny network (default 2-3-1): inputs, "
                    "activations, loss, every gradient from the output layer back, lr times "
                    "gradient, the momentum buffer and the new weights. The numbers are "
                    "gradstep's own.",
    )
    s.add_argument("--explain", action="store_true", help="print the worked example")
    s.add_argument("--sizes", default="2-3-1", help="layer widths, e.g. 2-3-1 (default)")
    s.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh", "relu"])
    s.add_argument("--lr", type=float, default=0.5)
    s.add_argument("--momentum", type=float, default=0.9)
    s.add_argument("--nesterov", action="store_true")
    s.add_argument("--steps", type=int, default=1, help="consecutive updates to print")
    s.add_argument("--x", type=float, nargs="+", default=None, help="one input example")
    s.add_argument("--y", type=float, nargs="+", default=None, help="its target")
    s.add_argument("--precision", type=int, default=4, help="decimals printed")
    s.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    s.set_defaults(func=cmd_step, handler=cmd_step)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m gradstep.viz.commands``) with the three commands."""
    ap = argparse.ArgumentParser(prog="gradstep")
    sub = ap.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
