"""A line search satisfying the strong Wolfe conditions (for :class:`~gradstep.optim.LBFGS`).

Given a point :math:`x`, a descent direction :math:`d`, the loss :math:`f_0` and the
directional derivative :math:`f'_0 = g_0^\\top d < 0` at :math:`x`, find a step :math:`t`
with

.. math::

    f(x + t d) \\le f_0 + c_1\\, t\\, f'_0 \\quad\\text{(sufficient decrease)},\\qquad
    |g(x + t d)^\\top d| \\le -c_2\\, f'_0 \\quad\\text{(curvature)}.

The search first brackets an interval that contains such a step (extrapolating by cubic
interpolation between ``t + 0.01 (t - t_prev)`` and ``10 t``), then shrinks the bracket by
safeguarded cubic interpolation ("zoom"). Nocedal & Wright (2006), "Numerical
Optimization", 2nd ed., algorithms 3.5 and 3.6; this follows the variant of Schmidt's
minFunc that PyTorch's ``LBFGS`` uses, decision for decision, so the steps agree with it.
Step lengths and directional derivatives are NumPy scalars of the parameters' dtype (as
PyTorch's 0-dim tensors), losses Python floats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["cubic_interpolate", "strong_wolfe"]

#: ``obj(t) -> (loss, flat gradient)`` at ``x + t d`` (the parameters are restored after).
Objective = Callable[[float], tuple[float, np.ndarray]]


def cubic_interpolate(
    x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The minimiser of the cubic through ``(x1, f1)``, ``(x2, f2)`` with slopes ``g1``,
    ``g2``, clipped to ``bounds`` (default: the interval between ``x1`` and ``x2``); the
    middle of the bounds when the cubic has no real minimiser."""
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(pos, lo), hi)
    return (lo + hi) / 2.0


@dataclass
class _Bracket:
    """Points of the line search: step, loss, flat gradient, directional derivative."""

    t: list[float] = field(default_factory=list)
    f: list[float] = field(default_factory=list)
    g: list[np.ndarray] = field(default_factory=list)
    gtd: list[float] = field(default_factory=list)


@dataclass
class _Search:
    obj: Objective
    d: np.ndarray
    f0: float
    g0: np.ndarray
    gtd0: float
    c1: float
    c2: float
    max_ls: int
    evals: int = 0

    def eval(self, t: float) -> tuple[float, np.ndarray, float]:
        f, g = self.obj(t)
        self.evals += 1
        return f, g, np.dot(g, self.d)

    def armijo_fails(self, t: float, f: float) -> bool:
        return f > self.f0 + self.c1 * t * self.gtd0

    def curvature_holds(self, gtd: float) -> bool:
        return abs(gtd) <= -self.c2 * self.gtd0


def _bracket_phase(s: _Search, t: float) -> tuple[_Bracket, bool, int, float, float,
                                                   np.ndarray]:
    """Extrapolate until an interval contains an acceptable step (or one is found)."""
    f_new, g_new, gtd_new = s.eval(t)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, s.f0, s.g0, s.gtd0
    it = 0
    while it < s.max_ls:
        if s.armijo_fails(t, f_new) or (it > 1 and f_new >= f_prev):
            return (_Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()],
                             [gtd_prev, gtd_new]), False, it, t, f_new, g_new)
        if s.curvature_holds(gtd_new):
            return _Bracket([t], [f_new], [g_new]), True, it, t, f_new, g_new
        if gtd_new >= 0:
            return (_Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()],
                             [gtd_prev, gtd_new]), False, it, t, f_new, g_new)
        t_next = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                   bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new, gtd_new = s.eval(t)
        it += 1
    # out of evaluations: bracket [0, t] (its directional derivatives are never needed)
    return _Bracket([0.0, t], [s.f0, f_new], [s.g0, g_new], []), False, it, t, f_new, g_new


def _zoom_trial(b: _Bracket, insuf_progress: bool) -> tuple[float, bool]:
    """The next trial step inside the bracket, kept away from its ends."""
    t = cubic_interpolate(b.t[0], b.f[0], b.gtd[0], b.t[1], b.f[1], b.gtd[1])
    hi, lo = max(b.t), min(b.t)
    eps = 0.1 * (hi - lo)
    if min(hi - t, t - lo) < eps:  # close to an end of the bracket
        if insuf_progress or t >= hi or t <= lo:
            t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
            return t, False
        return t, True
    return t, False


def _zoom_phase(s: _Search, b: _Bracket, it: int, tolerance_change: float) -> int:
    """Shrink the bracket until its low end satisfies the strong Wolfe conditions."""
    d_norm = np.abs(s.d).max()
    insuf_progress = False
    low, high = (0, 1) if b.f[0] <= b.f[-1] else (1, 0)
    while it < s.max_ls:
        if abs(b.t[1] - b.t[0]) * d_norm < tolerance_change:
            break
        t, insuf_progress = _zoom_trial(b, insuf_progress)
        f_new, g_new, gtd_new = s.eval(t)
        it += 1
        if s.armijo_fails(t, f_new) or f_new >= b.f[low]:
            b.t[high], b.f[high], b.g[high], b.gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if b.f[0] <= b.f[1] else (1, 0)
            continue
        if s.curvature_holds(gtd_new):
            b.t[low], b.f[low], b.g[low], b.gtd[low] = t, f_new, g_new.copy(), gtd_new
            return low
        if gtd_new * (b.t[high] - b.t[low]) >= 0:  # the old low end becomes the high end
            b.t[high], b.f[high], b.g[high], b.gtd[high] = (
                b.t[low], b.f[low], b.g[low], b.gtd[low]
            )
        b.t[low], b.f[low], b.g[low], b.gtd[low] = t, f_new, g_new.copy(), gtd_new
    return low


def strong_wolfe(
    obj: Objective, t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float, *,
    c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:
    """Search along ``d`` from the current point, starting with step ``t``.

    Args:
        obj: evaluates loss and flat gradient at ``x + t d`` (and restores ``x``).
        t: the first trial step.
        d: the search direction (flat).
        f, g, gtd: loss, flat gradient and directional derivative ``g @ d`` at ``x``.
        c1, c2: the sufficient-decrease and curvature constants (``0 < c1 < c2 < 1``).
        tolerance_change: stop when the bracket is shorter than this (times ``max|d|``).
        max_ls: at most this many evaluations after the first.

    Returns:
        ``(loss, flat gradient, step, evaluations)`` of the accepted step.
    """
    s = _Search(obj, d, f, g.copy(), gtd, c1, c2, max_ls)
    b, done, it, t_last, f_last, g_last = _bracket_phase(s, t)
    if done or len(b.t) == 1:
        return f_last, g_last, t_last, s.evals
    if not b.gtd:  # ran out of evaluations while bracketing
        low = 0 if b.f[0] <= b.f[-1] else 1
        return b.f[low], b.g[low], b.t[low], s.evals
    low = _zoom_phase(s, b, it, tolerance_change)
    return b.f[low], b.g[low], b.t[low], s.evals
