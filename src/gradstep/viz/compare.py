"""Batch modes and optimizers side by side: same model, same initial weights, same data.

:func:`run_compare` trains one copy of a model per setting (by default batch size 1,
32 and the full batch, each with plain SGD and with momentum 0.9), every copy starting
from the same initial weights and drawing the same shuffles (same seed), with the real
:func:`gradstep.train.fit`. It records the loss of every update step, the loss per epoch,
wall-clock time, and the final accuracies. :func:`plot_compare` and :func:`write_compare`
draw the figures and write a self-contained HTML report.

What to expect: per-example SGD makes many cheap, noisy steps; the full batch makes one
smooth, expensive step per epoch; mini-batches sit in between and usually reach a low
loss soonest in wall-clock time. Momentum speeds up the small-learning-rate settings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradstep.callbacks import Callback
from gradstep.errors import ConfigError
from gradstep.viz.spec import OptimizerSpec, parse_optimizer_spec

if TYPE_CHECKING:
    from gradstep.train import History, Trainer

__all__ = [
    "Setting",
    "RunResult",
    "CompareResult",
    "default_settings",
    "make_settings",
    "parse_batch_size",
    "run_compare",
    "plot_compare",
    "write_compare",
]

DEFAULT_BATCH_SIZES: tuple[int | None, ...] = (1, 32, None)


@dataclass(frozen=True)
class Setting:
    """One training setting: a batch size (None = full batch) and an optimizer."""

    batch_size: int | None
    optimizer: OptimizerSpec
    label: str = ""

    @property
    def batch_label(self) -> str:
        if self.batch_size is None:
            return "full batch"
        return "batch 1 (SGD)" if self.batch_size == 1 else f"batch {self.batch_size}"

    @property
    def display(self) -> str:
        return self.label or f"{self.batch_label}, {self.optimizer.display}"


@dataclass
class RunResult:
    """What one setting produced.

    Attributes:
        setting: the setting.
        step_loss: training loss of every update step (mean over the step's examples).
        step_time: wall-clock seconds since the start of training at the end of each step.
        epoch_loss: training loss per epoch, with the initial loss at index 0 (epoch 0).
        epoch_time: wall-clock seconds at the end of each epoch (0 for epoch 0).
        final: final metrics: ``loss``, ``accuracy`` (classification), ``val_loss``,
            ``val_accuracy`` (with validation data), ``time`` (s), ``steps``.
        history: the :class:`gradstep.train.History`.
    """

    setting: Setting
    step_loss: np.ndarray
    step_time: np.ndarray
    epoch_loss: np.ndarray
    epoch_time: np.ndarray
    final: dict[str, float]
    history: Any = None

    @property
    def label(self) -> str:
        return self.setting.display


@dataclass
class CompareResult:
    """Every run of a comparison, plus a description of the task."""

    runs: list[RunResult] = field(default_factory=list)
    description: str = ""
    epochs: int = 0


def parse_batch_size(text: Any) -> int | None:
    """``"full"``/``"none"``/None -> None (full batch); otherwise a positive int.

    Raises:
        ConfigError: anything else.
    """
    if text is None:
        return None
    if isinstance(text, str) and text.strip().lower() in ("full", "none", "all"):
        return None
    try:
        b = int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"compare: batch size must be a positive int or 'full', got {text!r}") \
            from None
    if b < 1 or isinstance(text, bool):
        raise ConfigError(f"compare: batch size must be a positive int or 'full', got {text!r}")
    return b


def make_settings(
    optimizers: Sequence[OptimizerSpec | str], batch_sizes: Sequence[Any]
) -> list[Setting]:
    """Every combination of batch size and optimizer (batch size outermost)."""
    specs = [parse_optimizer_spec(o) if isinstance(o, str) else o for o in optimizers]
    sizes = [parse_batch_size(b) for b in batch_sizes]
    if not specs or not sizes:
        raise ConfigError("compare: needs at least one optimizer and one batch size")
    return [Setting(b, s) for b in sizes for s in specs]


def default_settings(
    lr: float = 0.01,
    momentum: float = 0.9,
    batch_sizes: Sequence[Any] = DEFAULT_BATCH_SIZES,
) -> list[Setting]:
    """Batch sizes 1, 32 and full, each with plain SGD and with momentum, at one lr."""
    return make_settings(
        [f"sgd:lr={lr}", f"momentum:lr={lr},momentum={momentum}"], batch_sizes
    )


class _Clock(Callback):
    """Wall-clock time at the end of every step and epoch, from the start of training."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.steps: list[float] = []
        self.epochs: list[float] = []

    def on_train_begin(self, trainer: Trainer) -> None:
        self.t0 = time.perf_counter()

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        self.steps.append(time.perf_counter() - self.t0)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(time.perf_counter() - self.t0)


def run_compare(
    model_factory: Callable[[], Any],
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None = None,
    settings: Sequence[Setting] | None = None,
    *,
    epochs: int = 5,
    loss: str = "cross_entropy",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> CompareResult:
    """Train a fresh copy of the model under every setting, from the same initial weights.

    Args:
        model_factory: returns a new model; it is called once per setting and every copy
            gets the weights of the first one, so all runs start at the same point.
        train: ``(x, y)`` training arrays.
        val: optional ``(x, y)`` validation arrays (for ``val_*`` accuracies).
        settings: default :func:`default_settings`.
        epochs: epochs per run (>= 1).
        loss: the :func:`gradstep.train.fit` loss.
        seed: shuffling seed, the same for every run.
        progress: called with one line per finished run (e.g. ``print``).
    """
    from gradstep.train import evaluate, fit

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"compare: epochs must be an int >= 1, got {epochs!r}")
    settings = list(settings) if settings else default_settings()
    first = model_factory()
    initial = first.state_dict()
    init_eval = evaluate(first, train, loss=loss)
    result = CompareResult(epochs=epochs)
    for k, st in enumerate(settings):
        model = first if k == 0 else model_factory()
        model.load_state_dict(initial)
        opt = st.optimizer.build(model.parameters())
        clock = _Clock()
        bs: int | str = "full" if st.batch_size is None else st.batch_size
        hist: History = fit(model, train, loss=loss, optimizer=opt, epochs=epochs,
                            batch_size=bs, val=val, callbacks=[clock], seed=seed, verbose=0)
        final = {k2: float(v) for k2, v in hist.last.items()
                 if k2 in ("loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae")}
        final["time"] = clock.epochs[-1] if clock.epochs else 0.0
        final["steps"] = float(len(hist.steps["loss"]))
        run = RunResult(
            setting=st,
            step_loss=np.asarray(hist.steps["loss"], dtype=np.float64),
            step_time=np.asarray(clock.steps, dtype=np.float64),
            epoch_loss=np.asarray([init_eval["loss"], *hist["loss"]], dtype=np.float64),
            epoch_time=np.asarray([0.0, *clock.epochs], dtype=np.float64),
            final=final,
            history=hist,
        )
        result.runs.append(run)
        if progress is not None:
            acc = final.get("val_accuracy", final.get("accuracy"))
            extra = f", accuracy {acc:.3f}" if acc is not None else ""
            fl = final.get("loss", float("nan"))
            flag = "  (diverged: try a smaller lr)" if not np.isfinite(fl) or fl > 1e3 else ""
            progress(f"{st.display:42s} loss {fl:.4g}{extra}{flag}, "
                     f"{int(final['steps'])} steps, {final['time']:.1f} s")
    return result


# --------------------------------------------------------------------------- figures
def _window(n: int) -> int:
    """Running-mean window for a series of ``n`` steps (1: plot the raw steps only)."""
    return 1 if n < 100 else max(2, n // 50)


def _running_mean(v: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` steps (shorter at the start), NaNs ignored."""
    v = np.asarray(v, dtype=np.float64)
    ok = np.isfinite(v)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0))])
    n = np.concatenate([[0], np.cumsum(ok)])
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    cnt = n[idx] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[idx] - c[lo]) / np.maximum(cnt, 1), np.nan)


def _batch_groups(result: CompareResult) -> list[tuple[str, list[int]]]:
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(result.runs):
        groups.setdefault(r.setting.batch_label, []).append(i)
    return list(groups.items())


def plot_step_loss(
    result: CompareResult,
    path: str | os.PathLike[str] | None = None,
    width_px: int = 1000,
    height_px: int = 420,
) -> dict[str, Any]:
    """Training loss of every update step: one panel per batch size, to show the noise.

    Long series are drawn faint, step by step, with their running mean on top.

    Returns:
        ``{"figure", "path", "series": {label: (step, loss)}}``, the plotted data.
    """
    from gradstep.viz.plot import apply_style, markevery_for, new_figure, save_figure, series_style

    groups = _batch_groups(result)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    handles: dict[str, Any] = {}
    with apply_style():
        fig, axes = new_figure(width_px, height_px, ncols=len(groups))
        axes = np.atleast_1d(axes)
        for ax, (blabel, idx) in zip(axes, groups):
            values = []
            for j, i in enumerate(idx):
                r = result.runs[i]
                steps = np.arange(1, len(r.step_loss) + 1)
                style = series_style(j, markevery_for(len(steps), 8))
                name = r.setting.optimizer.display
                window = _window(len(steps))
                # every step (gid = the run's label): faint when a running mean is drawn on top
                (raw,) = ax.plot(steps, r.step_loss, label="_" + name, gid=r.label,
                                 **(style if window == 1 else
                                    {"color": style["color"], "linewidth": 0.5, "alpha": 0.3}))
                if window > 1:
                    (raw,) = ax.plot(steps, _running_mean(r.step_loss, window),
                                     label="_" + name + " mean", **style)
                handles.setdefault(name, raw)
                series[r.label] = (steps, r.step_loss)
                values.append(r.step_loss)
            allv = np.concatenate(values) if values else np.array([1.0])
            allv = allv[np.isfinite(allv) & (allv > 0)]
            if allv.size and max(len(v) for v in values) >= 100:
                ax.set_ylim(bottom=float(np.percentile(allv, 2)) * 0.8)
            ax.set_yscale("log")
            ax.set_xlabel("update step")
            ax.set_title(blabel)
        axes[0].set_ylabel("training loss of the step (log)")
        fig.suptitle("Training loss per update step (faint: each step; bold: running mean)")
        fig.legend(list(handles.values()), list(handles), loc="lower center",
                   ncol=min(4, len(handles)), fontsize=9)
        fig.tight_layout(rect=(0, 0.09, 1, 1))
    return _finish(fig, path, series, save_figure)


def plot_epoch_loss(
    result: CompareResult,
    path: str | os.PathLike[str] | None = None,
    width_px: int = 800,
    height_px: int = 450,
) -> dict[str, Any]:
    """Training loss per epoch (epoch 0: the common initial loss), all settings together."""
    return _epoch_loss_figure(
        result, lambda r: np.arange(len(r.epoch_loss)), "epoch (passes over the training set)",
        "Training loss per epoch", path, width_px, height_px,
    )


def plot_time_loss(
    result: CompareResult,
    path: str | os.PathLike[str] | None = None,
    width_px: int = 800,
    height_px: int = 450,
) -> dict[str, Any]:
    """Training loss per epoch against wall-clock seconds (the cost of each batch mode)."""
    return _epoch_loss_figure(
        result, lambda r: r.epoch_time, "wall-clock time (seconds)",
        "Training loss against time", path, width_px, height_px,
    )


def _epoch_loss_figure(
    result: CompareResult, x_of: Any, xlabel: str, title: str,
    path: str | os.PathLike[str] | None, width_px: int, height_px: int,
) -> dict[str, Any]:
    """Every setting's per-epoch loss (log scale) against ``x_of(run)``, one line each."""
    from gradstep.viz.plot import apply_style, new_figure, save_figure, series_style

    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with apply_style():
        fig, ax = new_figure(width_px, height_px)
        for i, r in enumerate(result.runs):
            xs = x_of(r)
            ax.plot(xs, r.epoch_loss, label=r.label, **series_style(i))
            series[r.label] = (xs, r.epoch_loss)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training loss, mean over the epoch (log)")
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
    return _finish(fig, path, series, save_figure)


def _finish(fig: Any, path: Any, series: dict[str, Any], save: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"figure": fig, "path": None, "series": series}
    if path is not None:
        out["path"] = save(fig, path)
        out["figure"] = None
    return out


def accuracy_table(result: CompareResult) -> tuple[list[str], list[list[Any]]]:
    """``(header, rows)``: one row per setting with final loss, accuracies, steps, time."""
    keys = [k for k in ("loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae")
            if any(k in r.final for r in result.runs)]
    header = ["setting", *keys, "steps", "time (s)"]
    rows = []
    for r in result.runs:
        rows.append([r.label, *[r.final.get(k, float("nan")) for k in keys],
                     int(r.final["steps"]), round(r.final["time"], 2)])
    return header, rows


def plot_compare(result: CompareResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the three figures into ``out_dir``; returns ``{name: path}``."""
    out = Path(out_dir)
    return {
        "step_loss": plot_step_loss(result, out / "compare_step_loss.png")["path"],
        "epoch_loss": plot_epoch_loss(result, out / "compare_epoch_loss.png")["path"],
        "time_loss": plot_time_loss(result, out / "compare_time_loss.png")["path"],
    }


def write_compare(
    result: CompareResult, out_dir: str | os.PathLike[str], title: str = "gradstep compare"
) -> dict[str, Path]:
    """Figures plus ``report.html`` (self-contained) in ``out_dir``; returns all paths."""
    from gradstep.viz.report import Section, Table, write_report

    paths = plot_compare(result, out_dir)
    header, rows = accuracy_table(result)
    intro = [
        result.description,
        f"Every setting trains the same model from the same initial weights on the same "
        f"data with the same shuffling seed, for {result.epochs} epoch(s).",
    ]
    sections = [
        Section("Final results", tables=[Table(header, rows, "After the last epoch")]),
        Section("Loss per update step", [
            "Each point is the training loss of one update step (the mean over the step's "
            "examples). Batch size 1 makes many noisy steps; the full batch few smooth ones."
        ], [paths["step_loss"]], captions=["Training loss per update step"]),
        Section("Loss per epoch", [], [paths["epoch_loss"]],
                captions=["Training loss per epoch (epoch 0 is the initial loss)"]),
        Section("Loss against wall-clock time", [], [paths["time_loss"]],
                captions=["Training loss of each epoch (mean over its steps) against "
                          "seconds of training"]),
    ]
    paths["report"] = write_report(Path(out_dir) / "report.html", title, sections,
                                   [p for p in intro if p])
    return paths
