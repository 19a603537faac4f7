"""Backprop, layer by layer: per-parameter gradient norm, weight norm and update ratio.

:class:`LayerTracker` is a :class:`gradstep.callbacks.Callback`:
``fit(..., callbacks=[LayerTracker()])`` records the statistics in ``history.layers`` (a
:class:`LayerStats`). For every
parameter (``0.weight``, ``0.bias``, ...) and every optimizer step ``t`` it records

* ``grad_norm``: ``||g_t||``, the L2 norm of the gradient the step used (before clipping);
* ``weight_norm``: ``||w_t||``, the norm of the parameter before the update;
* ``update_norm``: ``||w_{t+1} - w_t||``, the norm of the applied update;
* ``update_ratio``: ``||w_{t+1} - w_t|| / ||w_t||``, the relative size of the update (a
  classic rule of thumb puts healthy values around 1e-3).

A deep sigmoid network shows vanishing gradients as first-layer gradient norms orders of
magnitude below the last layer's; see ``examples/vanishing_gradients.py`` and
:func:`plot_layer_stats`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradstep.callbacks import Callback

if TYPE_CHECKING:
    from gradstep.train import Trainer

__all__ = [
    "LayerStats", "LayerTracker", "plot_layer_stats", "plot_gradient_profile",
    "gradient_ratio", "STATS",
]

#: The recorded statistics, in plotting order.
STATS = ("grad_norm", "weight_norm", "update_norm", "update_ratio")

_LABELS = {
    "grad_norm": "gradient norm ||g||",
    "weight_norm": "weight norm ||w||",
    "update_norm": "update norm ||Δw||",
    "update_ratio": "update / weight  ||Δw|| / ||w||",
}


class LayerStats:
    """Per-parameter, per-step statistics: ``stats[stat][name]`` is a list over steps.

    Attributes:
        names: parameter names in model order (``0.weight``, ``0.bias``, ...).
        steps: the 1-based optimizer step of each record.
        stats: ``{"grad_norm" | "weight_norm" | "update_norm" | "update_ratio":
            {name: [value per step]}}``.
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names: list[str] = list(names)
        self.steps: list[int] = []
        self.stats: dict[str, dict[str, list[float]]] = {
            s: {n: [] for n in self.names} for s in STATS
        }

    def __getitem__(self, stat: str) -> dict[str, list[float]]:
        if stat not in self.stats:
            raise KeyError(f"LayerStats: unknown statistic {stat!r}; known: {list(STATS)}")
        return self.stats[stat]

    def __len__(self) -> int:
        return len(self.steps)

    def array(self, stat: str, name: str) -> np.ndarray:
        """The values of ``stat`` for parameter ``name`` over steps, as an array."""
        return np.asarray(self[stat][name], dtype=np.float64)

    def weights(self) -> list[str]:
        """Names of the weight matrices / kernels (parameters with 2 or more dims)."""
        return [n for n in self.names if not n.endswith("bias")] or list(self.names)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "steps": list(self.steps),
                "stats": {s: {n: list(v) for n, v in d.items()} for s, d in self.stats.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerStats:
        out = cls(d.get("names", ()))
        out.steps = [int(s) for s in d.get("steps", [])]
        for s, per in d.get("stats", {}).items():
            if s in out.stats:
                out.stats[s] = {n: [float(x) for x in v] for n, v in per.items()}
        return out

    def __repr__(self) -> str:
        return f"LayerStats(parameters={len(self.names)}, steps={len(self.steps)})"


def _norm(a: np.ndarray) -> float:
    a = np.asarray(a)
    return float(math.sqrt(float(np.dot(a.ravel(), a.ravel())))) if a.size else 0.0


class LayerTracker(Callback):
    """Record per-parameter gradient norm, weight norm and update ratio at every step.

    Args:
        every: record every ``every``-th optimizer step (1 = all).

    Attributes:
        stats: the :class:`LayerStats` (also set as ``trainer.history.layers``).
    """

    def __init__(self, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"LayerTracker: every must be an int >= 1, got {every!r}")
        self.every = every
        self.stats = LayerStats()
        self._params: list[tuple[str, Any]] = []
        self._before: list[np.ndarray] = []
        self._pending: list[tuple[float, float]] | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        model = trainer.model
        if hasattr(model, "named_parameters"):
            self._params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        else:  # pragma: no cover - any object with parameters()
            self._params = [(str(i), p) for i, p in enumerate(model.parameters())]
        names = [n for n, _ in self._params]
        if self.stats.names != names:
            if len(self.stats):
                raise ValueError("LayerTracker: the model's parameters changed between runs")
            self.stats = LayerStats(names)
        self._before = [np.empty_like(p._data) for _, p in self._params]
        trainer.history.layers = self.stats

    def on_before_step(self, trainer: Trainer) -> None:
        if (trainer.step + 1) % self.every:
            self._pending = None
            return
        rec = []
        for (_, p), buf in zip(self._params, self._before):
            np.copyto(buf, p._data)
            g = p._grad
            rec.append((_norm(g) if g is not None else 0.0, _norm(p._data)))
        self._pending = rec

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        rec, self._pending = self._pending, None
        if rec is None:
            return
        skipped = bool(logs.get("skipped", 0.0))
        st = self.stats.stats
        for (name, p), buf, (gn, wn) in zip(self._params, self._before, rec):
            un = math.nan if skipped else _norm(p._data - buf)
            st["grad_norm"][name].append(gn)
            st["weight_norm"][name].append(wn)
            st["update_norm"][name].append(un)
            st["update_ratio"][name].append(un / wn if wn > 0 else math.nan)
        self.stats.steps.append(int(step))

    def state_dict(self) -> dict[str, Any]:
        return {"layers": self.stats.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "layers" in state:
            self.stats = LayerStats.from_dict(state["layers"])


def gradient_ratio(stats: LayerStats, last: int = 10) -> float:
    """First-layer over last-layer gradient norm (weights only), averaged over the last steps.

    Values far below 1 mean the gradient vanishes on its way back to the first layer.
    """
    w = stats.weights()
    if len(w) < 2 or not len(stats):
        raise ValueError("gradient_ratio: needs at least two weight parameters and one step")
    first = stats.array("grad_norm", w[0])[-last:]
    final = stats.array("grad_norm", w[-1])[-last:]
    return float(np.nanmean(first) / np.nanmean(final))


def plot_layer_stats(
    stats: LayerStats,
    path: str | os.PathLike[str] | None = None,
    title: str = "",
    weights_only: bool = True,
    width_px: int = 1000,
    height_px: int = 700,
) -> dict[str, Any]:
    """Four panels (gradient norm, weight norm, update norm, update ratio) against step.

    One line per parameter; lines differ by dash, marker and colour. For a per-layer
    summary across runs see :func:`plot_gradient_profile`.

    Args:
        stats: from ``history.layers`` or a :class:`LayerTracker`.
        path: PNG to write (None: keep the figure open and return it).
        title: figure title.
        weights_only: skip biases (clearer with deep networks).

    Returns:
        ``{"figure": fig or None, "path": Path or None, "series": {stat: {name: (steps,
        values)}}}`` with exactly the plotted data.
    """
    from gradstep.viz.plot import apply_style, markevery_for, new_figure, save_figure, series_style

    names = stats.weights() if weights_only else list(stats.names)
    steps = np.asarray(stats.steps, dtype=np.int64)
    series: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {s: {} for s in STATS}
    with apply_style():
        fig, axes = new_figure(width_px, height_px, nrows=2, ncols=2)
        me = markevery_for(len(steps), 8)
        for ax, stat in zip(axes.ravel(), STATS):
            for i, name in enumerate(names):
                vals = stats.array(stat, name)
                ax.plot(steps, vals, label=name, **series_style(i, me))
                series[stat][name] = (steps, vals)
            ax.set_yscale("log")
            ax.set_xlabel("optimizer step")
            ax.set_ylabel(_LABELS[stat] + " (log)")
            ax.set_title(_LABELS[stat].split("  ")[0])
        axes[0, 0].legend(loc="best", fontsize=8, ncol=2 if len(names) > 5 else 1)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    out: dict[str, Any] = {"figure": fig, "path": None, "series": series}
    if path is not None:
        out["path"] = save_figure(fig, path)
        out["figure"] = None
    return out


def plot_gradient_profile(
    profiles: dict[str, LayerStats],
    path: str | os.PathLike[str] | None = None,
    last: int = 10,
    width_px: int = 800,
    height_px: int = 450,
) -> dict[str, Any]:
    """Mean gradient norm of each layer's weights (x: layer, first to last), one line per run.

    With a deep sigmoid network the line climbs steeply from the first layer to the last
    (vanishing gradients); with ReLU and He initialisation it stays roughly flat.

    Args:
        profiles: label -> stats of one training run.
        last: average over the last ``last`` recorded steps.

    Returns:
        ``{"figure", "path", "series": {label: (layer index, mean gradient norm)}}``.
    """
    from gradstep.viz.plot import apply_style, new_figure, save_figure, series_style

    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with apply_style():
        fig, ax = new_figure(width_px, height_px)
        for i, (label, st) in enumerate(profiles.items()):
            w = st.weights()
            vals = np.array([np.nanmean(st.array("grad_norm", n)[-last:]) for n in w])
            idx = np.arange(1, len(w) + 1)
            ax.plot(idx, vals, label=label, **series_style(i))
            series[label] = (idx, vals)
        ax.set_yscale("log")
        ax.set_xlabel("layer (1 = first, next to the input)")
        ax.set_ylabel("gradient norm of the layer's weights (log)")
        ax.set_title(f"Gradient norm per layer (mean of the last {last} steps)")
        ax.legend(loc="best")
        fig.tight_layout()
    out: dict[str, Any] = {"figure": fig, "path": None, "series": series}
    if path is not None:
        out["path"] = save_figure(fig, Path(path))
        out["figure"] = None
    return out
