"""Optimizer trajectories on 2-D test functions.

Each test function is written with gradstep ops on a parameter tensor ``p`` of shape
``(2, ...)`` (``p[0]`` is x, ``p[1]`` is y) and differentiated by gradstep's backward
engine: there is no hand-written gradient anywhere. The optimizers are the real
:mod:`gradstep.optim` classes stepping a 2-element float64 parameter.

Functions (``f*`` is the minimum value):

* ``quadratic``: ill-conditioned bowl ``0.5 * (x**2 + kappa * y**2)``, condition number
  ``kappa`` (default 20), f* = 0 at the origin.
* ``rosenbrock``: ``(1 - x)**2 + 100 * (y - x**2)**2``, a curved narrow valley, f* = 0 at (1, 1).
* ``beale``: ``(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2``,
  flat plateaus and sharp ridges, f* = 0 at (3, 0.5).
* ``himmelblau``: ``(x**2 + y - 11)**2 + (x + y**2 - 7)**2``, four minima with f* = 0.
* ``saddle``: ``x**2 - y**2 + y**4 / 4``, a saddle point at the origin between two minima
  (0, +-sqrt(2)) with f* = -1; started near the saddle's attracting direction, plain
  gradient descent lingers there.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradstep.errors import ConfigError
from gradstep.tensor import Tensor, no_grad, tensor
from gradstep.viz.spec import OptimizerSpec, parse_optimizer_spec

__all__ = [
    "TestFunction",
    "Trajectory",
    "PathsResult",
    "FUNCTIONS",
    "get_function",
    "default_optimizers",
    "run_trajectory",
    "run_paths",
    "plot_paths",
    "animate_paths",
]


@dataclass(frozen=True)
class TestFunction:
    """A 2-D objective built from gradstep ops, with what is needed to draw it.

    Attributes:
        name: short name.
        formula: the formula in plain text (for titles).
        fn: ``fn(p) -> Tensor``; ``p`` has shape ``(2, ...)`` and the result shape ``(...)``.
        start: default starting point.
        xlim, ylim: plot window.
        minima: the global minimisers (drawn as stars).
        f_min: the minimum value f* (the loss panel shows ``f - f*``).
        condition: the condition number of the quadratic bowl (None for the others).
    """

    __test__ = False  # not a pytest test class

    name: str
    formula: str
    fn: Callable[[Tensor], Tensor]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    f_min: float = 0.0
    condition: float | None = None

    def __call__(self, p: Tensor) -> Tensor:
        return self.fn(p)

    def value(self, xy: Sequence[float]) -> float:
        """f at one point (no graph recorded)."""
        with no_grad():
            return float(self.fn(tensor(np.asarray(xy, dtype=np.float64))).item())

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)`` on an ``n`` x ``n`` grid over the plot window."""
        xs = np.linspace(*self.xlim, n)
        ys = np.linspace(*self.ylim, n)
        gx, gy = np.meshgrid(xs, ys)
        with no_grad():
            z = self.fn(tensor(np.stack([gx, gy]).astype(np.float64))).numpy()
        return gx, gy, np.asarray(z, dtype=np.float64)


def _quadratic(kappa: float) -> Callable[[Tensor], Tensor]:
    def f(p: Tensor) -> Tensor:
        return 0.5 * (p[0] ** 2 + kappa * p[1] ** 2)

    return f


def _rosenbrock(p: Tensor) -> Tensor:
    x, y = p[0], p[1]
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def _beale(p: Tensor) -> Tensor:
    x, y = p[0], p[1]
    return (
        (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2
    )


def _himmelblau(p: Tensor) -> Tensor:
    x, y = p[0], p[1]
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def _saddle(p: Tensor) -> Tensor:
    x, y = p[0], p[1]
    return x**2 - y**2 + 0.25 * y**4


def quadratic(condition: float = 20.0) -> TestFunction:
    """The bowl ``0.5 * (x**2 + condition * y**2)`` (Hessian eigenvalues 1 and ``condition``).

    Raises:
        ConfigError: ``condition`` is not >= 1.
    """
    try:
        kappa = float(condition)
    except (TypeError, ValueError):
        raise ConfigError(f"quadratic: condition must be a number, got {condition!r}") from None
    if not kappa >= 1.0 or not math.isfinite(kappa):
        raise ConfigError(f"quadratic: condition must be a finite number >= 1, got {condition!r}")
    return TestFunction(
        name="quadratic",
        formula=f"0.5·(x² + {kappa:g}·y²), condition number {kappa:g}",
        fn=_quadratic(kappa),
        start=(-4.0, 1.5),
        xlim=(-4.5, 4.5),
        ylim=(-2.0, 2.0),
        minima=((0.0, 0.0),),
        condition=kappa,
    )


FUNCTIONS: dict[str, Callable[..., TestFunction]] = {
    "quadratic": quadratic,
    "rosenbrock": lambda: TestFunction(
        "rosenbrock", "(1−x)² + 100·(y−x²)²", _rosenbrock, (-1.5, 2.0), (-2.0, 2.0),
        (-1.0, 3.0), ((1.0, 1.0),),
    ),
    "beale": lambda: TestFunction(
        "beale", "(1.5−x+xy)² + (2.25−x+xy²)² + (2.625−x+xy³)²", _beale, (1.0, 1.5),
        (-1.0, 4.0), (-1.5, 2.0), ((3.0, 0.5),),
    ),
    "himmelblau": lambda: TestFunction(
        "himmelblau", "(x²+y−11)² + (x+y²−7)²", _himmelblau, (-0.5, -0.3), (-5.0, 5.0),
        (-5.0, 5.0),
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848127)),
    ),
    "saddle": lambda: TestFunction(
        "saddle", "x² − y² + y⁴/4", _saddle, (-2.5, 0.01), (-3.0, 3.0), (-2.5, 2.5),
        ((0.0, math.sqrt(2.0)), (0.0, -math.sqrt(2.0))), -1.0,
    ),
}

#: Default optimizer set per function: learning rates chosen so that each converges (or
#: visibly struggles, as plain SGD does in the narrow valleys) within the default steps.
_DEFAULTS: dict[str, tuple[str, ...]] = {
    "quadratic": (
        "sgd:lr=0.09", "momentum:lr=0.03,momentum=0.8", "nesterov:lr=0.03,momentum=0.8",
        "adam:lr=0.3", "rmsprop:lr=0.05",
    ),
    "rosenbrock": (
        "sgd:lr=0.001", "momentum:lr=0.001,momentum=0.9", "nesterov:lr=0.001,momentum=0.9",
        "adam:lr=0.1", "rmsprop:lr=0.01",
    ),
    "beale": (
        "sgd:lr=0.01", "momentum:lr=0.002,momentum=0.9", "nesterov:lr=0.002,momentum=0.9",
        "adam:lr=0.05", "rmsprop:lr=0.01",
    ),
    "himmelblau": (
        "sgd:lr=0.005", "momentum:lr=0.002,momentum=0.9", "nesterov:lr=0.002,momentum=0.9",
        "adam:lr=0.1", "rmsprop:lr=0.02",
    ),
    "saddle": (
        "sgd:lr=0.05", "momentum:lr=0.02,momentum=0.9", "nesterov:lr=0.02,momentum=0.9",
        "adam:lr=0.05", "rmsprop:lr=0.02",
    ),
}


def get_function(name: str, condition: float = 20.0) -> TestFunction:
    """The test function ``name`` (``condition`` applies to ``quadratic``).

    Raises:
        ConfigError: unknown name.
    """
    key = str(name).lower()
    if key not in FUNCTIONS:
        raise ConfigError(f"paths: unknown function {name!r}; available: {sorted(FUNCTIONS)}")
    if key == "quadratic":
        return quadratic(condition)
    return FUNCTIONS[key]()


def _quadratic_defaults(kappa: float) -> tuple[str, ...]:
    """Rates inside the stability bounds of the bowl with condition number ``kappa``.

    Gradient descent on eigenvalue ``kappa`` is stable for ``lr < 2/kappa``; heavy-ball
    momentum ``mu`` for ``lr < 2(1+mu)/kappa``; Nesterov for ``lr < 2(1+mu)/(kappa(1+2mu))``.
    The defaults take 90% (SGD) and 50% (momentum, Nesterov) of those bounds, and rates for
    Adam and RMSprop that do not depend on the curvature's scale.
    """
    mu = 0.8
    sgd = 1.8 / kappa
    heavy = (1.0 + mu) / kappa
    nest = (1.0 + mu) / (kappa * (1.0 + 2.0 * mu))
    return (f"sgd:lr={sgd:.3g}", f"momentum:lr={heavy:.3g},momentum={mu:g}",
            f"nesterov:lr={nest:.3g},momentum={mu:g}", "adam:lr=0.3", "rmsprop:lr=0.05")


def default_optimizers(function: str, condition: float = 20.0) -> list[OptimizerSpec]:
    """The default optimizer specs for ``function``, keeping those gradstep.optim provides.

    On ``quadratic`` the rates follow ``condition`` so that every default converges.
    """
    from gradstep.viz.spec import optimizer_classes

    have = optimizer_classes()
    if function == "quadratic":
        texts = _quadratic_defaults(float(condition))
    else:
        texts = _DEFAULTS.get(function, _DEFAULTS["quadratic"])
    specs = [parse_optimizer_spec(s) for s in texts]
    return [s for s in specs if s.name.lower() in have]


@dataclass
class Trajectory:
    """The path of one optimizer: points ``xy[t]`` (t = 0 is the start) and ``loss[t] = f(xy[t])``.

    ``diverged`` is set when the iterate left the finite range (the path stops there);
    ``reason`` then says at which step and why, in words (drawn in the figure).
    """

    label: str
    xy: np.ndarray
    loss: np.ndarray
    diverged: bool = False
    reason: str = ""

    @property
    def steps(self) -> int:
        return int(len(self.xy) - 1)


@dataclass
class PathsResult:
    """The function and every optimizer's trajectory from the same start."""

    function: TestFunction
    start: tuple[float, float]
    trajectories: list[Trajectory] = field(default_factory=list)


def run_trajectory(
    function: TestFunction,
    spec: OptimizerSpec,
    start: Sequence[float] | None = None,
    steps: int = 500,
    limit: float = 1e6,
) -> Trajectory:
    """Minimise ``function`` from ``start`` for ``steps`` optimizer steps.

    Each step is the real training step: ``zero_grad``, ``loss = f(p)``, ``loss.backward()``,
    ``optimizer.step()``, with ``p`` a float64 tensor of 2 elements.

    Args:
        function: the objective.
        spec: which optimizer and hyperparameters.
        start: starting point (default: the function's).
        steps: number of updates (>= 1).
        limit: stop (``diverged=True``) when ``|p|`` or ``f`` leaves this bound or is non-finite.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"paths: steps must be an integer >= 1, got {steps!r}")
    p0 = np.asarray(function.start if start is None else start, dtype=np.float64)
    if p0.shape != (2,):
        raise ConfigError(f"paths: start must be 2 numbers (x, y), got {start!r}")
    p = tensor(p0.copy(), dtype=np.float64, requires_grad=True)
    opt = spec.build([p])
    xy = [p0.copy()]
    losses: list[float] = []
    diverged = False
    for _ in range(steps):
        opt.zero_grad()
        loss = function(p)
        losses.append(float(loss.item()))
        loss.backward()
        opt.step()
        cur = np.array(p._data, dtype=np.float64)
        if not np.all(np.isfinite(cur)) or np.max(np.abs(cur)) > limit:
            diverged = True
            break
        xy.append(cur)
    if not diverged:
        losses.append(function.value(xy[-1]))
    else:
        xy = xy[: len(losses)]
    if not np.isfinite(losses[-1]) or abs(losses[-1]) > limit:
        diverged = True
    reason = _divergence_reason(function, spec, len(losses), limit) if diverged else ""
    return Trajectory(spec.display, np.array(xy), np.array(losses), diverged, reason)


def _divergence_reason(function: TestFunction, spec: OptimizerSpec, step: int,
                       limit: float) -> str:
    """Why a path diverged, in one sentence (the step-size bound on the quadratic)."""
    where = f"{spec.display} diverged at step {step}: the iterate left |p| < {limit:g}"
    lr = spec.kwargs.get("lr")
    kappa = getattr(function, "condition", None)
    if function.name == "quadratic" and kappa and lr is not None:
        mu = float(spec.kwargs.get("momentum", 0.0))
        bound = 2.0 * (1.0 + mu) / kappa
        if float(lr) >= bound:
            return (f"{where}, because lr = {float(lr):g} is above the stability bound "
                    f"2(1+momentum)/condition = {bound:.3g} of the steep direction")
    return where + ", because the steps overshoot where the function is steep"


def run_paths(
    function: TestFunction | str,
    optimizers: Sequence[OptimizerSpec | str] | None = None,
    start: Sequence[float] | None = None,
    steps: int = 500,
    condition: float = 20.0,
) -> PathsResult:
    """Run every optimizer from the same start on ``function``.

    Args:
        function: a :class:`TestFunction` or its name.
        optimizers: specs (strings like ``"adam:lr=0.1"`` are parsed); default: a set tuned
            for the function (SGD, momentum, Nesterov, Adam, RMSprop).
        start: starting point (default: the function's).
        steps: updates per optimizer.
        condition: condition number when ``function == "quadratic"``.
    """
    fn = get_function(function, condition) if isinstance(function, str) else function
    if optimizers is None or len(optimizers) == 0:
        specs = default_optimizers(fn.name, getattr(fn, "condition", None) or condition)
    else:
        specs = [parse_optimizer_spec(s) if isinstance(s, str) else s for s in optimizers]
    if not specs:
        raise ConfigError("paths: no optimizers to run")
    st = tuple(float(v) for v in (fn.start if start is None else start))
    result = PathsResult(fn, (st[0], st[1]))
    for spec in specs:
        result.trajectories.append(run_trajectory(fn, spec, st, steps))
    return result


def _contour_levels(z: np.ndarray, f_min: float) -> np.ndarray:
    gap = np.asarray(z - f_min, dtype=np.float64)
    gap = gap[np.isfinite(gap)]
    lo = max(float(np.percentile(gap, 0.5)), 1e-3)
    hi = float(np.percentile(gap, 97))
    if not hi > lo:
        hi = lo * 10
    return f_min + np.geomspace(lo, hi, 18)


def plot_paths(
    result: PathsResult,
    path: str | os.PathLike[str] | None = None,
    width_px: int = 1000,
    height_px: int = 450,
) -> dict[str, Any]:
    """Contour plot with each optimizer's path, and ``f - f*`` against step.

    Args:
        result: from :func:`run_paths`.
        path: PNG file to write (None: do not save; the figure is returned open).
        width_px, height_px: image size in pixels.

    Returns:
        ``{"figure": fig or None, "path": Path or None, "paths": {label: (x, y)},
        "loss": {label: (step, f - f*)}}``: exactly the plotted data.
    """
    from gradstep.viz.plot import apply_style, markevery_for, new_figure, save_figure, series_style

    fn = result.function
    with apply_style():
        fig, (ax, ax2) = new_figure(width_px, height_px, ncols=2)
        gx, gy, z = fn.grid(160)
        levels = _contour_levels(z, fn.f_min)
        cs = ax.contour(gx, gy, z, levels=levels, colors="0.55", linewidths=0.7)
        del cs
        plotted: dict[str, Any] = {"paths": {}, "loss": {}}
        for i, tr in enumerate(result.trajectories):
            me = markevery_for(len(tr.xy), 12)
            label = tr.label + (f" (diverged at step {len(tr.loss)})" if tr.diverged else "")
            ax.plot(tr.xy[:, 0], tr.xy[:, 1], label=label, **series_style(i, me))
            plotted["paths"][tr.label] = (tr.xy[:, 0].copy(), tr.xy[:, 1].copy())
            gap = np.maximum(tr.loss - fn.f_min, 1e-16)
            steps = np.arange(len(gap))
            ax2.plot(steps, gap, label=label, **series_style(i, markevery_for(len(gap), 10)))
            plotted["loss"][tr.label] = (steps, gap)
        ax.plot(*result.start, marker="o", color="black", markersize=9, linestyle="none",
                markerfacecolor="none", markeredgewidth=2, label="start")
        mx = [m[0] for m in fn.minima]
        my = [m[1] for m in fn.minima]
        ax.plot(mx, my, marker="*", color="black", markersize=13, linestyle="none",
                label="minimum")
        ax.set_xlim(*fn.xlim)
        ax.set_ylim(*fn.ylim)
        ax.set_xlabel("x (parameter 1)")
        ax.set_ylabel("y (parameter 2)")
        ax.set_title(f"{fn.name}: {fn.formula}", fontsize=10)
        handles = ax.get_legend_handles_labels()[0][-2:]
        ax.legend(handles=handles, loc="upper right", fontsize=8)
        ax2.set_yscale("log")
        ax2.set_xlabel("step (updates)")
        ax2.set_ylabel("f(x, y) − f*  (log scale)")
        ax2.set_title("loss against step")
        ax2.legend(loc="best", fontsize=8)
        reasons = [tr.reason for tr in result.trajectories if tr.diverged and tr.reason]
        plotted["notes"] = reasons
        if reasons:
            fig.text(0.01, 0.01, "\n".join(reasons), fontsize=7, color="#D55E00",
                     va="bottom", ha="left", wrap=True)
            fig.tight_layout(rect=(0, 0.04 * len(reasons) + 0.02, 1, 1))
        else:
            fig.tight_layout()
    plotted["figure"] = fig
    plotted["path"] = None
    if path is not None:
        plotted["path"] = save_figure(fig, path)
        plotted["figure"] = None
    return plotted


def animate_paths(
    result: PathsResult,
    path: str | os.PathLike[str],
    frames: int = 40,
    fps: int = 10,
    width_px: int = 560,
    height_px: int = 440,
) -> Path:
    """An animated GIF of the paths growing step by step (matplotlib's PillowWriter).

    Args:
        result: from :func:`run_paths`.
        path: the ``.gif`` to write.
        frames: number of frames (the steps are subsampled to fit).
        fps: frames per second.
    """
    from gradstep.viz.plot import apply_style, new_figure, require_matplotlib, series_style

    plt = require_matplotlib()
    from matplotlib.animation import FuncAnimation, PillowWriter

    fn = result.function
    n = max(len(t.xy) for t in result.trajectories)
    frames = max(2, min(int(frames), n))
    ends = np.unique(np.linspace(1, n, frames).round().astype(int))
    with apply_style():
        fig, ax = new_figure(width_px, height_px)
        gx, gy, z = fn.grid(120)
        ax.contour(gx, gy, z, levels=_contour_levels(z, fn.f_min), colors="0.6", linewidths=0.7)
        lines = []
        for i, tr in enumerate(result.trajectories):
            style = series_style(i)
            (ln,) = ax.plot([], [], label=tr.label, markevery=[-1] if len(tr.xy) else None,
                            **{k: v for k, v in style.items() if k != "markevery"})
            lines.append(ln)
        ax.plot(*result.start, marker="o", color="black", markerfacecolor="none",
                markersize=9, linestyle="none")
        ax.plot([m[0] for m in fn.minima], [m[1] for m in fn.minima], marker="*",
                color="black", markersize=13, linestyle="none")
        ax.set_xlim(*fn.xlim)
        ax.set_ylim(*fn.ylim)
        ax.set_xlabel("x (parameter 1)")
        ax.set_ylabel("y (parameter 2)")
        ax.legend(loc="best", fontsize=8)
        title = ax.set_title("")
        fig.tight_layout()

        def update(k: int) -> list[Any]:
            end = int(ends[k])
            for ln, tr in zip(lines, result.trajectories):
                ln.set_data(tr.xy[:end, 0], tr.xy[:end, 1])
            title.set_text(f"{fn.name}: step {end - 1}")
            return [*lines, title]

        anim = FuncAnimation(fig, update, frames=len(ends), blit=False)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        # PillowWriter needs a file name: render into a private temporary folder, then
        # publish the finished file atomically (with the user's umask).
        import tempfile

        from gradstep._atomic import atomic_write_bytes

        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            scratch = Path(tmp) / "anim.gif"
            anim.save(str(scratch), writer=PillowWriter(fps=fps), dpi=100)
            atomic_write_bytes(out, scratch.read_bytes())
    plt.close(fig)
    return out
