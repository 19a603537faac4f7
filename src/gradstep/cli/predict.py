"""``gradstep predict``: classes or values for new inputs, from a checkpoint."""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gradstep.cli._common import blas_threads
from gradstep.cli.evaluate import load_run_checkpoint
from gradstep.errors import DataError

__all__ = ["cmd_predict", "read_input", "register"]


def register(sub: Any) -> None:
    """Add the ``predict`` subcommand to an argparse subparsers object."""
    pr = sub.add_parser(
        "predict", help="predict classes or values for new inputs",
        description="Predict with a checkpoint written by 'gradstep train'. INPUT is a .npy "
                    "array (loaded without pickle) or a numeric .csv file (optional header), "
                    "one example per row, raw features as in the data set.",
        epilog="examples:\n  gradstep predict runs/digits-mlp/last.safetensors x.npy\n"
               "  gradstep predict ck.safetensors rows.csv --output labels.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pr.add_argument("checkpoint", help="a .safetensors checkpoint from gradstep train")
    pr.add_argument("input", help=".npy or .csv file of examples")
    pr.add_argument("--output", "-o", default=None,
                    help="write predictions to a .txt/.csv (one per line) or .npy file "
                         "(default: print them)")
    pr.add_argument("--names", action="store_true",
                    help="class names instead of indices (default: indices)")
    pr.set_defaults(handler=cmd_predict)


def _read_csv(path: str) -> np.ndarray:
    rows = Path(path).read_text(encoding="utf-8-sig").strip().splitlines()
    if not rows:
        raise DataError(f"{path}: empty CSV file")
    try:
        [float(v) for v in rows[0].split(",")]
    except ValueError:
        rows = rows[1:]  # a header row
    try:
        data = np.array([[float(v) for v in r.split(",")] for r in rows if r.strip()],
                        dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: non-numeric value ({exc})") from None
    if data.ndim != 2 or data.size == 0:
        raise DataError(f"{path}: expected rows of equal length")
    return data


def read_input(path: str) -> np.ndarray:
    """Examples from a ``.npy`` (no pickle) or numeric ``.csv`` file."""
    if not os.path.exists(path):
        raise DataError(f"input file not found: {path}")
    if os.path.isdir(path):
        raise DataError(f"input is a directory: {path}")
    try:
        if path.lower().endswith(".npy"):
            try:
                return np.load(path, allow_pickle=False)  # type: ignore[no-any-return]
            except ValueError as exc:
                raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        if path.lower().endswith(".csv"):
            return _read_csv(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV file") from None
    raise DataError(f"input must be a .npy or .csv file, got {path}")


def _write(path: str, result: np.ndarray, lines: list[str]) -> None:
    from gradstep._atomic import atomic_write_bytes, atomic_write_text

    try:
        if path.endswith(".npy"):
            buf = io.BytesIO()
            np.save(buf, result, allow_pickle=False)
            atomic_write_bytes(path, buf.getvalue())
        else:
            atomic_write_text(path, "\n".join(lines) + "\n")
    except OSError as exc:
        raise DataError(f"--output: cannot write {path}: {exc.strerror or exc}") from None


def cmd_predict(args: argparse.Namespace) -> int:
    """Run ``gradstep predict``; returns the exit status."""
    from gradstep.train import predict

    model, prep, cfg = load_run_checkpoint(args.checkpoint)
    x = prep.x(read_input(args.input), args.input)
    with blas_threads(int(cfg.get("threads", 1) or 0)):
        out = predict(model, x)
    if prep.task == "classification":
        labels = out.argmax(axis=1)
        names = prep.classes
        lines = [names[i] if args.names and i < len(names) else str(int(i)) for i in labels]
        result: np.ndarray = labels
        what = "class names" if args.names else "class indices"
    else:
        result = prep.y_inverse(out[:, 0])
        lines = [repr(float(v)) for v in result]
        what = "values"
    if args.output:
        _write(args.output, result, lines)
        print(f"wrote {len(result):,} predicted {what} to {args.output}")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0
