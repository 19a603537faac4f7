"""Progress output of :func:`~gradstep.train.fit`: a tqdm bar or one line per epoch.

The loop's only output; it prints on the main process only.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from gradstep.train.evaluate import RunningSums

__all__ = ["Progress"]


class Progress:
    """tqdm bar (when wanted and available) or one plain line per epoch."""

    def __init__(self, verbose: int, epochs: int) -> None:
        self.verbose = verbose
        self.epochs = epochs
        self.bar: Any = None
        self.tqdm: Any = None
        self.plain = verbose >= 2
        if verbose == 1:
            try:
                is_tty = sys.stderr.isatty()
            except (AttributeError, ValueError):
                is_tty = False
            if is_tty:
                try:
                    from tqdm.auto import tqdm

                    self.tqdm = tqdm
                except ImportError:
                    pass
            self.plain = self.tqdm is None
        self._last = 0.0

    def epoch_begin(self, epoch: int, steps: int, initial: int) -> None:
        if self.tqdm is not None:
            self.bar = self.tqdm(
                total=steps,
                initial=initial,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                unit="step",
                leave=True,
                dynamic_ncols=True,
                file=sys.stderr,
            )
            self._last = time.perf_counter()

    def step(self, sums: RunningSums, t0: float) -> None:
        bar = self.bar
        if bar is None:
            return
        bar.update(1)
        now = time.perf_counter()
        if now - self._last > 0.25:
            self._last = now
            bar.set_postfix_str(_short(sums.result(), sums.n / max(now - t0, 1e-9)), refresh=False)

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        line = _epoch_line(epoch, self.epochs, logs)
        if self.bar is not None:
            self.bar.set_postfix_str(_short(logs, logs.get("samples_per_s", 0.0)), refresh=False)
            self.bar.close()
            self.bar = None
            if any(k.startswith("val_") for k in logs):
                print("  " + line, file=sys.stderr, flush=True)
        elif self.plain and self.verbose:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _short(logs: dict[str, float], rate: float) -> str:
    parts = [f"loss={logs.get('loss', math.nan):.4f}"]
    if "accuracy" in logs:
        parts.append(f"acc={logs['accuracy']:.4f}")
    parts.append(f"{rate:,.0f} ex/s")
    return " ".join(parts)


def _epoch_line(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    parts = [f"epoch {epoch + 1}/{epochs}"]
    for k, v in logs.items():
        if k in ("time", "samples_per_s", "skipped"):
            continue
        parts.append(f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}")
    if logs.get("skipped"):
        parts.append(f"skipped {int(logs['skipped'])}")
    parts.append(f"{logs.get('samples_per_s', 0):,.0f} ex/s")
    parts.append(f"{logs.get('time', 0):.1f}s")
    return "  ".join(parts)
