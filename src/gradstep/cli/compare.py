"""``gradstep compare``: one model under several batch sizes and optimizers, side by side."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

from gradstep.cli import _options, _setup
from gradstep.errors import ConfigError

__all__ = ["cmd_compare", "register"]


def register(sub: Any) -> None:
    """Add the ``compare`` subcommand to an argparse subparsers object."""
    from gradstep.viz.compare import DEFAULT_LR, DEFAULT_MOMENTUM

    c = sub.add_parser(
        "compare", help="train one model under several batch sizes / optimizers and compare",
        description="Train the same model from the same initial weights on the same data "
                    "under several settings (default: batch size 1, 32 and full, each with "
                    "plain SGD and with momentum); write PNG figures of the training loss and "
                    "a self-contained HTML report with the validation accuracy. A run that "
                    "diverges stops there and is marked in the figures and the report.",
    )
    c.add_argument("--dataset", default="digits",
                   help=f"{', '.join(_options.DATASETS)} or csv:PATH (default: digits)")
    c.add_argument("--data-root", default=None,
                   help="folder holding mnist/ or fashion-mnist/ (default: $GRADSTEP_DATA)")
    c.add_argument("--download", action="store_true",
                   help="download mnist/fashion-mnist if missing (default: off)")
    c.add_argument("--model", default="mlp:64", help="model spec as for train (default: mlp:64)")
    c.add_argument("--epochs", type=int, default=10, help="epochs per setting (default: 10)")
    c.add_argument("--batch-sizes", nargs="+", default=["1", "32", "full"], metavar="B",
                   help="batch sizes: integers or 'full' (default: 1 32 full)")
    c.add_argument("--optimizers", nargs="+", default=None, metavar="SPEC",
                   help="optimizer specs NAME[:k=v,...][@label], e.g. sgd:lr=0.05 "
                        "momentum:lr=0.05,momentum=0.9 adam:lr=0.001 (default: sgd and "
                        "momentum at --lr)")
    c.add_argument("--lr", type=float, default=DEFAULT_LR,
                   help=f"lr of the default optimizers (default: {DEFAULT_LR:g})")
    c.add_argument("--momentum", type=float, default=DEFAULT_MOMENTUM,
                   help=f"momentum of the default set (default: {DEFAULT_MOMENTUM:g})")
    c.add_argument("--val-fraction", type=float, default=0.2,
                   help="validation fraction for sets without a test split (default: 0.2)")
    c.add_argument("--limit", type=int, default=0,
                   help="use only the first N training examples (default: 0, all)")
    c.add_argument("--seed", type=int, default=0, help="seed of split, weights, shuffles "
                                                         "(default: 0)")
    c.add_argument("--out", default="compare_out", help="output folder (default: compare_out)")
    c.set_defaults(handler=cmd_compare)


def _check_out(out: str) -> None:
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out: {out} is a file; compare writes a folder of figures and "
                          "report.html")
    parent = p if p.exists() else next((q for q in p.parents if q.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"--out: cannot write into {parent}")


def _data(args: argparse.Namespace) -> tuple[Any, Any, Any, str]:
    from gradstep.data.prep import Preprocessor, resolve_scale, validation_split

    name = _options.dataset_name(args.dataset)
    ds = _setup.load_dataset(name, args.data_root, args.download)
    classify = ds.task == "classification"
    if ds.x_test is not None:
        xtr, ytr, xva, yva = ds.x, ds.y, ds.x_test, ds.y_test
    else:
        if not 0.0 < args.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction: must be in (0, 1), got {args.val_fraction}")
        xtr, xva, ytr, yva = validation_split(ds.x, ds.y, args.val_fraction, args.seed,
                                              classify)
    if args.limit:
        if args.limit < 1:
            raise ConfigError(f"--limit: must be >= 0, got {args.limit}")
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]
        xva, yva = xva[: max(1, args.limit // 4)], yva[: max(1, args.limit // 4)]
    from gradstep import models
    from gradstep.data.prep import model_input_shape

    kind = models.parse_spec(args.model)[0]
    shape = model_input_shape(xtr.shape[1:], kind, images=name in ("digits", "mnist",
                                                                   "fashion-mnist"))
    prep = Preprocessor.fit(xtr, ytr, task=ds.task, scale=resolve_scale("auto", name),
                            model_shape=shape)
    train = (prep.x(xtr, "training data"), prep.y(ytr))
    val = (prep.x(xva, "validation data"), prep.y(yva))
    if not classify:
        train = (train[0], train[1].reshape(len(train[1]), -1))
        val = (val[0], val[1].reshape(len(val[1]), -1))
    desc = (f"Data set {ds.name}: {len(train[0])} training and {len(val[0])} validation "
            f"examples, {ds.task}, inputs scaled '{prep.scale}'.")
    return ds, train, val, desc


def cmd_compare(args: argparse.Namespace) -> int:
    """Run ``gradstep compare``; returns the exit status."""
    from gradstep import models
    from gradstep.viz.compare import default_settings, make_settings, run_compare, write_compare
    from gradstep.viz.plot import require_matplotlib

    require_matplotlib()
    _check_out(args.out)
    if args.epochs < 1:
        raise ConfigError(f"--epochs: must be >= 1, got {args.epochs}")
    ds, train, val, desc = _data(args)
    classify = ds.task == "classification"
    out_features = ds.num_classes if classify else int(np.prod(train[1].shape[1:]) or 1)
    input_shape = train[0].shape[1:]

    def factory() -> Any:
        return models.build(args.model, input_shape, out_features, generator=args.seed)

    if args.optimizers:
        settings = make_settings(args.optimizers, args.batch_sizes)
    else:
        settings = default_settings(args.lr, args.momentum, args.batch_sizes)
    print(f"{desc} Model {args.model}; {len(settings)} settings, {args.epochs} epoch(s) each.")
    result = run_compare(factory, train, val, settings, epochs=args.epochs,
                         loss="cross_entropy" if classify else "mse", seed=args.seed,
                         progress=print)
    result.description = f"{desc} Model {args.model}."
    paths = write_compare(result, args.out, title=f"gradstep compare: {ds.name}")
    for name, p in paths.items():
        print(f"wrote {p}" + ("  (open in a browser)" if name == "report" else ""))
    return 0
