"""The record of a :func:`~gradstep.train.fit` run: :class:`History`."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from gradstep._atomic import atomic_write_text

__all__ = ["History"]


class History:
    """What :func:`fit` records.

    Attributes:
        epoch: 1-based numbers of the completed epochs.
        history: per-epoch values, key -> list: ``loss``, each metric (``accuracy``...),
            ``val_loss`` and ``val_<metric>`` with validation data, ``lr`` (the rate of the
            epoch's last step, before a per-epoch scheduler steps), ``time`` (seconds),
            ``samples_per_s``, ``skipped`` (steps dropped by the non-finite guard).
        steps: per optimizer step: ``loss`` (the loss object's value on the step's
            examples) and ``lr`` (the rate the step used).
        layers: per-parameter statistics recorded by a layer-tracking callback
            (:class:`gradstep.viz.layers.LayerTracker`), else None.

    Epochs without validation (``fit(..., eval_every=k)``) hold NaN in the ``val_*`` columns.
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.steps: dict[str, list[float]] = {"loss": [], "lr": []}
        self.layers: Any = None

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self) -> list[str]:
        return list(self.history)

    def append_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        n = len(self.epoch)
        self.epoch.append(epoch)
        for k, v in logs.items():
            col = self.history.setdefault(k, [math.nan] * n)
            col.append(float(v))
        for col in self.history.values():
            if len(col) < n + 1:
                col.append(math.nan)

    @property
    def last(self) -> dict[str, float]:
        """The logs of the last epoch."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def best(self, monitor: str = "val_loss", mode: str = "auto") -> tuple[int, float]:
        """The best epoch of ``monitor`` and its value.

        Args:
            monitor: a per-epoch key, e.g. ``"val_loss"`` or ``"val_accuracy"``.
            mode: ``"min"``, ``"max"`` or ``"auto"`` (max when the key names an accuracy,
                AUC or F1, else min).

        Returns:
            ``(epoch, value)``: the 1-based epoch and its value; the earliest epoch on a tie.
            Epochs where the value is NaN (no validation that epoch) are skipped.

        Raises:
            KeyError: ``monitor`` was not recorded.
            ValueError: a bad ``mode``, or no epoch has a finite value.
        """
        if monitor not in self.history:
            raise KeyError(f"History.best: {monitor!r} was not recorded (keys: {self.keys()})")
        if mode == "auto":
            mode = "max" if any(s in monitor for s in ("acc", "auc", "f1")) else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'min', 'max' or 'auto', got {mode!r}")
        best: tuple[int, float] | None = None
        for e, v in zip(self.epoch, self.history[monitor]):
            if not math.isfinite(v):
                continue
            if best is None or (v < best[1] if mode == "min" else v > best[1]):
                best = (e, v)
        if best is None:
            raise ValueError(f"History.best: no epoch has a finite {monitor!r}")
        return best

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": list(self.epoch),
            "history": {k: list(v) for k, v in self.history.items()},
            "steps": {k: list(v) for k, v in self.steps.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls()
        h.epoch = [int(e) for e in d.get("epoch", [])]
        h.history = {k: [float(x) for x in v] for k, v in d.get("history", {}).items()}
        h.steps = {
            "loss": [], "lr": [],
            **{k: [float(x) for x in v] for k, v in d.get("steps", {}).items()},
        }
        if any(len(v) != len(h.epoch) for v in h.history.values()) or any(
            len(v) != len(h.steps["loss"]) for v in h.steps.values()
        ):
            raise ValueError("History.from_dict: columns of different lengths")
        return h

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the history as JSON (NaN written as null), atomically."""

        def clean(v: list[float]) -> list[float | None]:
            return [x if math.isfinite(x) else None for x in v]

        d = {
            "epoch": self.epoch,
            "history": {k: clean(v) for k, v in self.history.items()},
            "steps": {k: clean(v) for k, v in self.steps.items()},
        }
        atomic_write_text(path, json.dumps(d, indent=1) + "\n")

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write one row per epoch: ``epoch`` then every per-epoch key (atomically)."""
        keys = list(self.history)
        lines = [",".join(["epoch", *keys])]
        for i, e in enumerate(self.epoch):
            lines.append(",".join([str(e)] + [repr(self.history[k][i]) for k in keys]))
        atomic_write_text(path, "\n".join(lines) + "\n")

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"
