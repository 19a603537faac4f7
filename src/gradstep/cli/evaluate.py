"""``gradstep evaluate``: the test accuracy (or error) of a ``gradstep train`` checkpoint."""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from gradstep.cli import _options, _setup
from gradstep.cli._common import blas_threads
from gradstep.errors import CheckpointError

__all__ = ["cmd_evaluate", "load_run_checkpoint", "register"]


def register(sub: Any) -> None:
    """Add the ``evaluate`` subcommand to an argparse subparsers object."""
    e = sub.add_parser(
        "evaluate", help="test accuracy of a checkpoint",
        description="Evaluate a checkpoint written by 'gradstep train' on the test split of "
                    "its data set (rebuilt from the options the checkpoint records).",
        epilog="example:\n  gradstep evaluate runs/digits-mlp/last.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("checkpoint", help="a .safetensors checkpoint from gradstep train")
    e.add_argument("--dataset", default=None,
                   help="evaluate on another data set with the same features "
                        "(default: the run's)")
    e.add_argument("--data-root", default=None,
                   help="folder holding mnist/ or fashion-mnist/ (default: the run's, then "
                        "$GRADSTEP_DATA)")
    e.set_defaults(handler=cmd_evaluate)


def load_run_checkpoint(path: str) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, Preprocessor, options)`` of a checkpoint written by ``gradstep train``."""
    import gradstep
    from gradstep.data.prep import Preprocessor

    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    ck = gradstep.load_checkpoint(path)
    if ck.model is None:
        raise CheckpointError(
            f"checkpoint {path!r}: records no model config; it was not written by gradstep train"
        )
    pre = ck.meta.get("preprocess")
    if not isinstance(pre, dict):
        raise CheckpointError(
            f"checkpoint {path!r}: records no preprocessing (not written by gradstep train)"
        )
    cfg = ck.meta.get("cli_config", {})
    return ck.model, Preprocessor.from_state(pre), cfg if isinstance(cfg, dict) else {}


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run ``gradstep evaluate``; returns the exit status."""
    from gradstep.data.prep import holdout_split
    from gradstep.train import evaluate, predict

    model, prep, saved = load_run_checkpoint(args.checkpoint)
    known = {k: v for k, v in saved.items() if k in _options.TRAIN_OPTIONS}
    known.pop("data_root", None) if args.data_root is not None else None
    if args.dataset is not None:
        known["dataset"] = args.dataset
    if args.data_root is not None:
        known["data_root"] = args.data_root
    if known.get("data_root") and not os.path.isdir(known["data_root"]):
        known.pop("data_root")
    cfg = _options.convert({**known, "resume": None, "out": None})
    ds = _setup.load_dataset(cfg["dataset"], cfg["data_root"], False, cfg["task"])
    _, x_te, _, y_te = holdout_split(ds, cfg["test_size"], cfg["seed"])
    with blas_threads(cfg["threads"]):
        x = prep.x(x_te, "test data")
        if prep.task == "classification":
            loss, _ = _setup.loss_for(cfg, True)
            res = evaluate(model, (x, y_te), loss=loss, metrics=["accuracy"])
            print(f"test accuracy: {res['accuracy']:.4f}  (test loss {res['loss']:.4f}, "
                  f"{len(x):,} examples)")
        else:
            pred = prep.y_inverse(predict(model, x)[:, 0])
            print(f"test MSE: {np.mean((pred - y_te) ** 2):.4g}  "
                  f"MAE: {np.mean(np.abs(pred - y_te)):.4g}  ({len(x):,} examples)")
    return 0
