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
#: Learning rate and momentum of the default settings: on digits (standardised inputs) every
#: batch mode converges with them, so the figures show the batch-size lesson (batch 1
#: noisy, mini-batch fast, full batch smooth and slow) rather than a divergence.
DEFAULT_LR = 0.005
DEFAULT_MOMENTUM = 0.9
#: A run whose step loss exceeds this multiple of its first step's loss (or is not finite)
#: is stopped and marked as diverged.
DIVERGENCE_RATIO = 1e3


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
        history: the :class:`gradstep.train.History` (None when the run diverged).
        diverged_at: the update step at which the run diverged (its loss was not finite or
            grew past :data:`DIVERGENCE_RATIO` times the first step's), or None. The
            series stop there.
        epoch_x: the epoch coordinate of each ``epoch_loss`` entry: 0, 1, ..., and for a
            diverged run a last, fractional one where it diverged (its loss that step's).
    """

    setting: Setting
    step_loss: np.ndarray
    step_time: np.ndarray
    epoch_loss: np.ndarray
    epoch_time: np.ndarray
    final: dict[str, float]
    history: Any = None
    diverged_at: int | None = None
    epoch_x: Any = None

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
    lr: float = DEFAULT_LR,
    momentum: float = DEFAULT_MOMENTUM,
    batch_sizes: Sequence[Any] = DEFAULT_BATCH_SIZES,
) -> list[Setting]:
    """Batch sizes 1, 32 and full, each with plain SGD and with momentum, at one lr."""
    return make_settings(
        [f"sgd:lr={lr}", f"momentum:lr={lr},momentum={momentum}"], batch_sizes
    )


class _Diverged(Exception):
    """Raised by :class:`_Clock` to stop a diverging run."""


class _Clock(Callback):
    """Wall-clock time and loss of every step and epoch; stops a diverging run."""

    def __init__(self, ratio: float = DIVERGENCE_RATIO) -> None:
        self.t0 = 0.0
        self.ratio = ratio
        self.steps: list[float] = []
        self.losses: list[float] = []
        self.epochs: list[float] = []
        self.epoch_losses: list[float] = []
        self.last: dict[str, float] = {}

    def on_train_begin(self, trainer: Trainer) -> None:
        self.t0 = time.perf_counter()

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        self.steps.append(time.perf_counter() - self.t0)
        loss = float(logs.get("loss", float("nan")))
        self.losses.append(loss)
        first = self.losses[0]
        if not np.isfinite(loss) or (np.isfinite(first) and loss > self.ratio * max(first, 1e-12)):
            raise _Diverged(len(self.losses))

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(time.perf_counter() - self.t0)
        self.epoch_losses.append(float(logs.get("loss", float("nan"))))
        self.last = dict(logs)


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
    from gradstep.train import evaluate

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
        run = _run_one(model, st, train, val, epochs, loss, seed, init_eval["loss"])
        result.runs.append(run)
        if progress is not None:
            progress(_progress_line(run))
    return result


def _run_one(model: Any, st: Setting, train: Any, val: Any, epochs: int, loss: str,
             seed: int, initial_loss: float) -> RunResult:
    """Train one setting; a divergence ends the run where it happened."""
    from gradstep.errors import NonFiniteError
    from gradstep.train import fit

    opt = st.optimizer.build(model.parameters())
    clock = _Clock()
    bs: int | str = "full" if st.batch_size is None else st.batch_size
    hist: History | None = None
    diverged_at = None
    try:
        with np.errstate(all="ignore"):
            hist = fit(model, train, loss=loss, optimizer=opt, epochs=epochs, batch_size=bs,
                       val=val, callbacks=[clock], seed=seed, verbose=0)
    except _Diverged as exc:
        diverged_at = int(exc.args[0])
    except NonFiniteError:
        diverged_at = len(clock.losses) + 1
    logs = hist.last if hist is not None else clock.last
    final = {k2: float(v) for k2, v in logs.items()
             if k2 in ("loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae")}
    if diverged_at is not None:
        final = {"loss": float("nan")}
    final["time"] = clock.steps[-1] if clock.steps else 0.0
    final["steps"] = float(len(clock.losses))
    e_loss, e_time = [initial_loss, *clock.epoch_losses], [0.0, *clock.epochs]
    e_x = [float(i) for i in range(len(e_loss))]
    if diverged_at is not None and clock.losses:
        per_epoch = -(-len(train[0]) // (st.batch_size or len(train[0])))
        done = len(clock.epoch_losses)
        e_x.append(done + (diverged_at - done * per_epoch) / per_epoch)
        e_loss.append(clock.losses[-1])
        e_time.append(clock.steps[-1])
    return RunResult(
        setting=st,
        step_loss=np.asarray(clock.losses, dtype=np.float64),
        step_time=np.asarray(clock.steps, dtype=np.float64),
        epoch_loss=np.asarray(e_loss, dtype=np.float64),
        epoch_time=np.asarray(e_time, dtype=np.float64),
        final=final,
        history=hist,
        diverged_at=diverged_at,
        epoch_x=np.asarray(e_x),
    )


def _progress_line(run: RunResult) -> str:
    final = run.final
    if run.diverged_at is not None:
        return (f"{run.label:42s} diverged at step {run.diverged_at} (loss "
                f"{run.step_loss[-1]:.3g}): try a smaller lr; {final['time']:.1f} s")
    acc = final.get("val_accuracy", final.get("accuracy"))
    extra = f", validation accuracy {acc:.3f}" if acc is not None else ""
    return (f"{run.label:42s} training loss {final.get('loss', float('nan')):.4g}{extra}, "
            f"{int(final['steps'])} steps, {final['time']:.1f} s")


def _diverged_note(run: RunResult) -> str:
    return "" if run.diverged_at is None else f" (diverged at step {run.diverged_at})"


def _ylim(runs: Sequence[RunResult], values: Callable[[RunResult], np.ndarray]) -> Any:
    """Log-axis limits from the runs that did not diverge (None: leave matplotlib's)."""
    vals = [values(r) for r in runs if r.diverged_at is None]
    if not vals:
        return None
    allv = np.concatenate(vals)
    allv = allv[np.isfinite(allv) & (allv > 0)]
    if not allv.size:
        return None
    return float(allv.min()) / 1.5, float(allv.max()) * 1.5


def _mark_divergence(ax: Any, x: Any, y: Any, style: dict[str, Any], top: float | None) -> None:
    """A cross where a diverged run stopped (at the top edge when it is off the axis)."""
    if len(x) == 0:
        return
    yy = float(y[-1]) if np.isfinite(y[-1]) else float("inf")
    if top is not None:
        yy = min(yy, top / 1.2)
    ax.plot([x[-1]], [yy], marker="X", markersize=11, color=style.get("color", "red"),
            markeredgecolor="black", linestyle="none", gid="diverged")
    ax.annotate("diverged", (x[-1], yy), textcoords="offset points", xytext=(4, -12),
                fontsize=8, color=style.get("color", "red"))


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
    notes: dict[str, list[str]] = {}
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
                if r.diverged_at is not None:
                    notes.setdefault(name, []).append(
                        f"{blabel}: diverged at step {r.diverged_at}")
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
                if r.diverged_at is None:
                    values.append(r.step_loss)
            ax.set_yscale("log")
            allv = np.concatenate(values) if values else np.array([])
            allv = allv[np.isfinite(allv) & (allv > 0)]
            top = float(allv.max()) * 1.5 if allv.size else None
            if allv.size:
                bottom = (float(np.percentile(allv, 2)) * 0.8
                          if max(len(v) for v in values) >= 100 else float(allv.min()) / 1.5)
                ax.set_ylim(bottom, top)
            for j, i in enumerate(idx):
                r = result.runs[i]
                if r.diverged_at is not None:
                    _mark_divergence(ax, np.arange(1, len(r.step_loss) + 1), r.step_loss,
                                     series_style(j), top)
            ax.set_xlabel("update step")
            ax.set_title(blabel)
        axes[0].set_ylabel("training loss of the step (log)")
        fig.suptitle("Training loss per update step (faint: each step; bold: running mean)")
        labels = [n + ("  (" + "; ".join(notes[n]) + ")" if n in notes else "") for n in handles]
        fig.legend(list(handles.values()), labels, loc="lower center",
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
        result, lambda r: r.epoch_x if r.epoch_x is not None else np.arange(len(r.epoch_loss)),
        "epoch (passes over the training set)",
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
            ax.plot(xs, r.epoch_loss, label=r.label + _diverged_note(r), **series_style(i))
            series[r.label] = (xs, r.epoch_loss)
        ax.set_yscale("log")
        lim = _ylim(result.runs, lambda r: r.epoch_loss)
        if lim is not None:
            ax.set_ylim(*lim)
        for i, r in enumerate(result.runs):
            if r.diverged_at is not None:
                _mark_divergence(ax, x_of(r), r.epoch_loss, series_style(i),
                                 None if lim is None else lim[1])
        ax.set_xlabel(xlabel)
        if xlabel.startswith("epoch"):
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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


_COLUMN_NAMES = {
    "loss": "training loss", "accuracy": "training accuracy", "mae": "training MAE",
    "val_loss": "validation loss", "val_accuracy": "validation accuracy",
    "val_mae": "validation MAE",
}


def accuracy_table(result: CompareResult) -> tuple[list[str], list[list[Any]]]:
    """``(header, rows)``: one row per setting with final training and validation metrics,
    steps, time, and where it diverged."""
    keys = [k for k in _COLUMN_NAMES if any(k in r.final for r in result.runs)]
    header = ["setting", *[_COLUMN_NAMES[k] for k in keys], "steps", "time (s)", "diverged"]
    rows = []
    for r in result.runs:
        state = "no" if r.diverged_at is None else f"at step {r.diverged_at}"
        rows.append([r.label, *[r.final.get(k, float("nan")) for k in keys],
                     int(r.final["steps"]), round(r.final["time"], 2), state])
    return header, rows


def _noise(r: RunResult) -> float:
    """Spread of the step-to-step change of the log loss (0 for a smooth curve)."""
    v = r.step_loss[np.isfinite(r.step_loss) & (r.step_loss > 0)]
    return float(np.std(np.diff(np.log(v)))) if len(v) > 2 else float("nan")


def summary_sentences(result: CompareResult) -> list[str]:
    """What the figures show, in a few sentences computed from the runs."""
    out: list[str] = []
    ok = [r for r in result.runs if r.diverged_at is None]
    if ok:
        noisy = max(ok, key=lambda r: (np.nan_to_num(_noise(r), nan=-1.0)))
        smooth = min(ok, key=lambda r: (np.nan_to_num(_noise(r), nan=np.inf)))
        if noisy is not smooth:
            out.append(
                f"{noisy.label} made {int(noisy.final['steps'])} update steps and has the "
                f"noisiest step losses (spread of the log-loss change {_noise(noisy):.2g}); "
                f"{smooth.label} made {int(smooth.final['steps'])} and has the smoothest "
                f"({_noise(smooth):.2g})."
            )
        best = min(ok, key=lambda r: np.nan_to_num(r.final.get("loss", np.inf), nan=np.inf))
        slow = max(ok, key=lambda r: np.nan_to_num(r.final.get("loss", -np.inf), nan=-np.inf))
        out.append(
            f"After {result.epochs} epoch(s) the lowest training loss is {best.label}'s "
            f"({best.final.get('loss', float('nan')):.3g}, {best.final['time']:.1f} s of "
            f"training); the highest is {slow.label}'s "
            f"({slow.final.get('loss', float('nan')):.3g}): with one step per epoch, the "
            "full batch moves slowly at the same learning rate."
            if slow.setting.batch_size is None else
            f"After {result.epochs} epoch(s) the lowest training loss is {best.label}'s "
            f"({best.final.get('loss', float('nan')):.3g}); the highest is {slow.label}'s "
            f"({slow.final.get('loss', float('nan')):.3g})."
        )
    for r in result.runs:
        if r.diverged_at is not None:
            out.append(
                f"{r.label} diverged at step {r.diverged_at}: its loss grew past "
                f"{DIVERGENCE_RATIO:g} times its first value (or stopped being finite), so it "
                "was stopped there. Its curves end at the cross marked 'diverged'; the axes "
                "are scaled by the other runs. A smaller --lr avoids it."
            )
    return out


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
        f"data with the same shuffling seed, for {result.epochs} epoch(s). The figures show "
        "training loss; the table gives validation metrics too.",
    ]
    sections = [
        Section("What the figures show", summary_sentences(result)),
        Section("Final results", tables=[Table(header, rows, "After the last epoch (training "
                                                 "and validation metrics)")]),
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
