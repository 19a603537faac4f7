"""Full real-data runs behind the README's results table.

Runs ``gradstep train`` (in this process, through :func:`gradstep.cli.main`) for each
configuration below, reads the run folder's ``results.json`` and prints a Markdown table
with the test accuracy and the training time (the ``fit`` call, excluding data loading),
plus a line describing the machine. Paste the output into README.md.

    python scripts/results.py                     # all runs (the CNN takes several minutes)
    python scripts/results.py --only digits,fashion-mlp
    python scripts/results.py --out runs/results  # keep the run folders

Fashion-MNIST needs the IDX files (Debian: ``apt-get install dataset-fashion-mnist``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gradstep.cli import main as gradstep_main

RUNS: dict[str, dict[str, object]] = {
    "digits": {
        "data": "Digits (1,437/360, stratified)",
        "args": ["train"],
        "target": 0.97,
        "reference": "",
    },
    "fashion-mlp": {
        "data": "Fashion-MNIST (60,000/10,000)",
        "args": ["train", "--dataset", "fashion-mnist", "--model", "mlp:256,128",
                 "--batch-size", "128", "--epochs", "15", "--schedule", "cosine"],
        "target": 0.895,
        "time_limit": 60.0,
        "reference": "MLP 256-128-100: 88.33% (Fashion-MNIST benchmark)",
    },
    "fashion-cnn": {
        "data": "Fashion-MNIST (60,000/10,000)",
        "args": ["train", "--dataset", "fashion-mnist", "--model", "cnn", "--batch-size", "64",
                 "--epochs", "5", "--schedule", "cosine"],
        "target": 0.915,
        "reference": "2 conv + pooling CNNs: 91-92% (Fashion-MNIST benchmark)",
    },
    "nielsen-ch1": {
        "data": "MNIST (50,000/10,000; last 10,000 training images validate)",
        "args": ["train", "--dataset", "mnist", "--model", "mlp:30", "--activation", "sigmoid",
                 "--loss", "mse", "--init", "normal", "--optimizer", "sgd", "--lr", "3.0",
                 "--batch-size", "10", "--epochs", "30", "--val-split", "10000"],
        "target": 0.95,
        "reference": "Nielsen ch. 1: 95.42% (peak test accuracy, published)",
    },
    "nielsen-ch3": {
        "data": "MNIST (50,000/10,000; last 10,000 training images validate)",
        "args": ["train", "--dataset", "mnist", "--model", "mlp:30", "--activation", "sigmoid",
                 "--loss", "cross-entropy", "--init", "normal-scaled", "--optimizer", "sgd",
                 "--lr", "0.5", "--weight-decay", "1e-4", "--weight-decay-on", "weights",
                 "--batch-size", "10", "--epochs", "30", "--val-split", "10000"],
        "target": 0.96,
        "reference": "Nielsen ch. 3: 96.49% (peak test accuracy, published)",
    },
}

#: The runs of the README's results table (the textbook runs take minutes each: --only).
DEFAULT_RUNS = ("digits", "fashion-mlp", "fashion-cnn")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = f"load average {os.getloadavg()[0]:.1f} at start"
    except OSError:
        load = ""
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, 1 BLAS thread (gradstep train's default), {load}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", default=",".join(DEFAULT_RUNS), help="comma-separated subset of "
                   + ", ".join(RUNS) + " (default: " + ",".join(DEFAULT_RUNS) + ")")
    p.add_argument("--out", default=None, help="keep the run folders under this directory")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        p.error(f"unknown runs {unknown}; choose from {list(RUNS)}")
    header = machine()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gradstep-results-"))
    rows = []
    ok_all = True
    for name in names:
        spec = RUNS[name]
        out = root / name
        cmd = [*spec["args"], "--out", str(out), "--overwrite", "-q"]  # type: ignore[misc]
        print(f"running: gradstep {shlex.join(cmd[:-4])}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        rc = gradstep_main(cmd)
        wall = time.perf_counter() - t0
        if rc != 0:
            rows.append((name, spec, None, wall, "failed"))
            ok_all = False
            continue
        res = json.loads((out / "results.json").read_text())
        try:
            res["load"] = f"{os.getloadavg()[1]:.1f}"  # 5-minute load average over the run
        except OSError:
            pass
        acc = res["test"]["accuracy"]
        ok = acc >= float(spec["target"])  # type: ignore[arg-type]
        limit = spec.get("time_limit")
        if limit is not None and res["train_seconds"] > float(limit):  # type: ignore[arg-type]
            ok = False
        ok_all &= ok
        rows.append((name, spec, res, wall, "yes" if ok else "NO"))

    print(f"Measured on: {header}.\n")
    print("Training time: wall-clock seconds of the fit call (CPU seconds of the process beside "
          "it; the machine is shared, so wall time grows with its load average).\n")
    print("| Data set | Command | Test accuracy | Target | Training time | Reference |")
    print("|---|---|---|---|---|---|")
    for _name, spec, res, wall, ok in rows:
        cmd = "gradstep " + shlex.join(spec["args"])  # type: ignore[arg-type]
        target = f">= {float(spec['target']) * 100:.1f}%"  # type: ignore[arg-type]
        if spec.get("time_limit"):
            target += f" in <= {spec['time_limit']:.0f} s"
        if res is None:
            print(f"| {spec['data']} | `{cmd}` | failed | {target} | - | {spec['reference']} |")
            continue
        acc = res["test"]["accuracy"] * 100
        cpu = res.get("train_cpu_seconds")
        cpu_s = f", CPU {cpu:.1f} s" if cpu is not None else ""
        print(f"| {spec['data']} | `{cmd}` | **{acc:.2f}%** ({ok}) | {target} | "
              f"{res['train_seconds']:.1f} s{cpu_s} ({res['epochs']} epochs; {wall:.0f} s in "
              f"all; load {res.get('load', '?')}) | {spec['reference']} |")
    if not args.out:
        print(f"\n(run folders in {root})", file=sys.stderr)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
