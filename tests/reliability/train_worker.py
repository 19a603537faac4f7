"""Subprocess worker for the crash tests: trains the tiny set-up of ``_tiny.py`` with a
checkpoint after every step, so the parent can SIGKILL it at any moment.

Usage: ``python train_worker.py OUT_DIR EPOCHS [--step-delay S] [--stall-on-save K]``

* Resumes from ``OUT_DIR/last.safetensors`` when it exists (else starts fresh).
* Prints ``READY`` once imports are done (the parent starts its kill timer then).
* ``--step-delay S`` sleeps S seconds after each step, to widen the window for kills.
* ``--stall-on-save K``: on the K-th checkpoint write *of this process*, write half of
  the tensor bytes, create ``OUT_DIR/stalled`` and sleep, so that the parent kills the
  process in the middle of a checkpoint write.
* On completion writes the final weights to ``OUT_DIR/final.safetensors`` and prints ``DONE``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _tiny

import gradstep.checkpoint as ckpt_module


class _StallingFile:
    """File wrapper that stops in the middle of the data buffer of a checkpoint."""

    def __init__(self, f: Any, marker: Path) -> None:
        self._f = f
        self._marker = marker
        self._writes = 0

    def write(self, data: Any) -> int:
        self._writes += 1
        if self._writes == 3:  # length, header, then the first tensor's bytes
            mv = memoryview(data).cast("B")
            self._f.write(mv[: max(1, len(mv) // 2)])
            self._f.flush()
            os.fsync(self._f.fileno())
            self._marker.write_text("stalled mid-write\n")
            time.sleep(60)  # the parent kills us here
        return int(self._f.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _StallingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.__exit__(*exc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("epochs", type=int)
    ap.add_argument("--step-delay", type=float, default=0.0)
    ap.add_argument("--stall-on-save", type=int, default=0)
    args = ap.parse_args()
    out: Path = args.out
    last = out / "last.safetensors"

    if args.stall_on_save:
        real_fdopen = os.fdopen
        saves = {"n": 0}

        def fdopen(fd: int, *a: Any, **k: Any) -> Any:
            f = real_fdopen(fd, *a, **k)
            saves["n"] += 1
            if saves["n"] == args.stall_on_save:
                return _StallingFile(f, out / "stalled")
            return f

        ckpt_module.os.fdopen = fdopen  # type: ignore[assignment]

    class Delay(_tiny.Callback):
        def on_batch_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
            if args.step_delay:
                time.sleep(args.step_delay)

    print("READY", flush=True)
    model = _tiny.train(
        args.epochs,
        resume=last if last.exists() else None,
        callbacks=(_tiny.StepCheckpoint(last), Delay()),
    )
    _tiny.save_weights(out / "final.safetensors", model)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
