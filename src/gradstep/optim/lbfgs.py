"""L-BFGS, with an optional strong-Wolfe line search."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from gradstep.optim._line_search import strong_wolfe
from gradstep.optim.flat import FlatBuffer
from gradstep.optim.optimizer import Optimizer, _check_nonneg
from gradstep.tensor import Tensor, enable_grad

__all__ = ["LBFGS", "lbfgs_direction"]

LINE_SEARCHES = (None, "strong_wolfe")
_HISTORY = ("old_dirs", "old_stps", "ro")


def lbfgs_direction(
    grad: np.ndarray, old_dirs: list[np.ndarray], old_stps: list[np.ndarray],
    ro: list[float], h_diag: float,
) -> np.ndarray:
    r"""The L-BFGS search direction :math:`d = -H g` by the two-loop recursion.

    The scalars (dot products, :math:`\rho_i`, :math:`\gamma`) are NumPy scalars of the
    gradient's dtype, so that float32 parameters round them to float32 as PyTorch does.

    With the stored pairs :math:`s_i` (``old_stps``: steps taken), :math:`y_i`
    (``old_dirs``: changes of the gradient), :math:`\rho_i = 1 / y_i^\top s_i` (``ro``) and
    the initial inverse-Hessian scale :math:`\gamma` = ``h_diag``
    (:math:`y^\top s / y^\top y` of the newest pair):

    .. math::

        q &\leftarrow -g;\quad \text{for } i = k-1, \dots, 0:\
            a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i \\
        r &\leftarrow \gamma q;\quad \text{for } i = 0, \dots, k-1:\
            b_i = \rho_i y_i^\top r,\ r \leftarrow r + (a_i - b_i) s_i

    and :math:`d = r`. Nocedal & Wright (2006), "Numerical Optimization", algorithm 7.4.
    """
    q = np.negative(grad)
    al = [0.0] * len(old_dirs)
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = np.dot(old_stps[i], q) * ro[i]
        q += -al[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        be_i = np.dot(old_dirs[i], r) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return r


def _positive_int(name: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: {key} must be a positive int, got {value!r}")


class LBFGS(Optimizer):
    r"""L-BFGS (limited-memory BFGS); PyTorch semantics (``torch.optim.LBFGS``).

    Each :meth:`step` runs up to ``max_iter`` quasi-Newton iterations on the closure's
    loss. Iteration :math:`k` moves all parameters (as one flat vector :math:`x`) along the
    direction of :func:`lbfgs_direction` (steepest descent :math:`-g` on the very first
    iteration):

    .. math::

        x \leftarrow x + t_k\, d_k,\qquad
        s_k = t_k d_k,\quad y_k = g_{k+1} - g_k \ \text{(stored when } y_k^\top s_k >
        10^{-10}\text{, at most history\_size pairs)}

    with :math:`t_k` = ``lr`` (the very first iteration: ``min(1, 1/||g||_1) * lr``), or, with
    ``line_search_fn="strong_wolfe"``, the step found from that guess by a line search that
    satisfies the strong Wolfe conditions (:func:`gradstep.optim._line_search.strong_wolfe`,
    :math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`). A step stops early when
    :math:`\max|g| \le` ``tolerance_grad``, when :math:`g^\top d > -`
    ``tolerance_change``, when the change of the loss or :math:`\max|t d|` falls below
    ``tolerance_change``, or after ``max_eval`` loss evaluations. The history carries over
    from one :meth:`step` to the next. No momentum, no weight decay. Liu & Nocedal (1989),
    "On the limited memory BFGS method for large scale optimization", Math. Programming 45.

    Args:
        params: parameters (a single parameter group: LBFGS has no per-group options).
        lr: step length :math:`t` (>= 0, default 1).
        max_iter: iterations per :meth:`step` (positive int, default 20).
        max_eval: loss evaluations per :meth:`step` (positive int; default
            ``max_iter * 5 // 4``).
        tolerance_grad: stop when every gradient entry is at most this in magnitude.
        tolerance_change: stop when the loss or the parameters change less than this.
        history_size: pairs :math:`(s, y)` kept (positive int, default 100).
        line_search_fn: None (fixed step) or ``"strong_wolfe"``.
        flat: move the parameters into flat buffers (see :meth:`Optimizer.flatten`).

    State (under the first parameter, as PyTorch): ``func_evals``, ``n_iter`` (ints), ``d``,
    ``prev_flat_grad`` (flat arrays), ``t``, ``H_diag``, ``prev_loss`` (floats),
    ``old_dirs``, ``old_stps``, ``ro`` (lists). In :meth:`state_dict` the three lists are
    stacked into arrays of shape ``(k, n)``, ``(k, n)`` and ``(k,)`` so that a checkpoint
    stores them as tensors; PyTorch's scratch list ``al`` is not kept.

    Memory: ``2 * history_size + 3`` flat vectors of the parameters' size.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
        *,
        flat: bool = False,
    ) -> None:
        _positive_int(type(self).__name__, "max_iter", max_iter)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change, history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if flat:
            self.flatten()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Only one group: LBFGS has no per-group options (ValueError for a second)."""
        if self.param_groups:
            raise ValueError(
                "LBFGS: supports a single parameter group (no per-parameter options); "
                f"it already has one, got another with {len(param_group.get('params', []))} "
                "parameters"
            )
        super().add_param_group(param_group)

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for k in ("lr", "tolerance_grad", "tolerance_change"):
            _check_nonneg(name, k, group[k])
        for k in ("max_iter", "max_eval", "history_size"):
            _positive_int(name, k, group[k])
        if group["line_search_fn"] not in LINE_SEARCHES:
            raise ValueError(
                f"{name}: line_search_fn must be None or 'strong_wolfe', "
                f"got {group['line_search_fn']!r}"
            )

    # ------------------------------------------------------------------ flat vector
    def _evaluate(self, closure: Callable[[], Any]) -> Any:
        with enable_grad():
            loss = closure()
        if self._flat is not None:
            self._flat.bind()
        return loss

    def _gather_flat_grad(self) -> np.ndarray:
        parts = [
            np.zeros(p._data.size, p._data.dtype) if p._grad is None else p._grad.reshape(-1)
            for p in self.param_groups[0]["params"]
        ]
        return np.concatenate(parts)

    def _add_grad(self, t: float, d: np.ndarray) -> None:
        """``x += t * d`` over the parameters as one flat vector."""
        offset = 0
        for p in self.param_groups[0]["params"]:
            n = p._data.size
            np.add(p._data, t * d[offset: offset + n].reshape(p._data.shape), out=p._data)
            offset += n

    def _clone_param(self) -> list[np.ndarray]:
        return [p._data.copy() for p in self.param_groups[0]["params"]]

    def _set_param(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self.param_groups[0]["params"], values):
            np.copyto(p._data, v)

    # ------------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations.

        Args:
            closure: re-evaluates the model: clears the gradients, computes the loss, calls
                ``backward`` and returns the loss (required; it runs with gradient
                recording enabled, possibly several times).

        Returns:
            The closure's loss at the starting point.

        Raises:
            TypeError: no closure.
        """
        if closure is None or not callable(closure):
            raise TypeError(
                "LBFGS.step: needs a closure that clears the gradients, computes the loss, "
                f"calls backward and returns the loss; got {closure!r}"
            )
        group = self.param_groups[0]
        state = self.state.setdefault(group["params"][0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = self._evaluate(closure)
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if float(np.abs(flat_grad).max(initial=0.0)) <= group["tolerance_grad"]:
            return orig_loss
        self._iterate(closure, group, state, float(orig_loss), flat_grad)
        return orig_loss

    def _next_direction(
        self, state: dict[str, Any], flat_grad: np.ndarray, history_size: int,
    ) -> None:
        """Update the history with the last step and set ``state["d"]``."""
        if state["n_iter"] == 1:
            state["d"] = np.negative(flat_grad)
            state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1.0)
            return
        y = flat_grad - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = np.dot(y, s)
        if ys > 1e-10:
            if len(state["old_dirs"]) == history_size:
                for k in _HISTORY:
                    state[k].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / np.dot(y, y)
        state["d"] = lbfgs_direction(
            flat_grad, state["old_dirs"], state["old_stps"], state["ro"], state["H_diag"]
        )

    def _line_search(
        self, closure: Callable[[], Any], t: float, loss: float, flat_grad: np.ndarray,
        gtd: float, max_ls: int,
    ) -> tuple[float, np.ndarray, float, int]:
        d = self.state[self.param_groups[0]["params"][0]]["d"]
        x_init = self._clone_param()

        def obj(step: float) -> tuple[float, np.ndarray]:
            self._add_grad(step, d)
            f = float(self._evaluate(closure))
            g = self._gather_flat_grad()
            self._set_param(x_init)
            return f, g

        return strong_wolfe(obj, t, d, loss, flat_grad, gtd, max_ls=max_ls)

    def _iterate(
        self, closure: Callable[[], Any], group: dict[str, Any], state: dict[str, Any],
        loss: float, flat_grad: np.ndarray,
    ) -> None:
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        current_evals, n_iter = 1, 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            self._next_direction(state, flat_grad, group["history_size"])
            d = state["d"]
            if state.get("prev_flat_grad") is None:
                state["prev_flat_grad"] = flat_grad.copy()
            else:
                np.copyto(state["prev_flat_grad"], flat_grad)
            prev_loss = state["prev_loss"] = loss
            if state["n_iter"] == 1:
                state["t"] = t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                state["t"] = t = float(lr)
            gtd = np.dot(flat_grad, d)
            if gtd > -tol_change:
                break
            evals = 0
            opt_cond = False
            if group["line_search_fn"] is not None:
                loss, flat_grad, t, evals = self._line_search(
                    closure, t, loss, flat_grad, gtd, max_eval - current_evals
                )
                state["t"] = t
                self._add_grad(t, d)
                opt_cond = float(np.abs(flat_grad).max()) <= tol_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:  # no point re-evaluating after the last move
                    loss = float(self._evaluate(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = float(np.abs(flat_grad).max()) <= tol_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals
            if (n_iter == max_iter or current_evals >= max_eval or opt_cond
                    or float(np.abs(d * t).max()) <= tol_change
                    or abs(loss - prev_loss) < tol_change):
                break

    # ------------------------------------------------------------------ flat / state
    def flatten(self) -> FlatBuffer:
        """As :meth:`Optimizer.flatten`; the L-BFGS state (flat vectors) stays as it is."""
        saved, self.state = self.state, {}
        try:
            return super().flatten()
        finally:
            self.state = saved

    def state_dict(self) -> dict[str, Any]:
        """As :meth:`Optimizer.state_dict`, with the history lists stacked into arrays."""
        sd = super().state_dict()
        p0 = self.param_groups[0]["params"][0]
        for st in sd["state"].values():
            live = self.state[p0]
            n = sum(p._data.size for p in self.param_groups[0]["params"])
            dtype = live["d"].dtype if "d" in live else p0._data.dtype
            for k in ("old_dirs", "old_stps"):
                if k in live:
                    st[k] = (np.stack(live[k]) if live[k] else np.zeros((0, n), dtype))
            if "ro" in live:
                st["ro"] = np.array(live["ro"], dtype=np.float64)
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (ValueError when it does not fit)."""
        name = type(self).__name__
        if not (isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict)):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state'")
        entries = dict(state_dict["state"])
        if any(str(k) != "0" for k in entries):
            raise ValueError(
                f"{name}.load_state_dict: state for parameters {sorted(map(str, entries))}; "
                "LBFGS keeps its state under parameter 0 only"
            )
        super().load_state_dict({**state_dict, "state": {}})
        if entries:
            self.state = {self.param_groups[0]["params"][0]: self._unpack(next(iter(
                entries.values())))}

    def _unpack(self, st: dict[str, Any]) -> dict[str, Any]:
        name = type(self).__name__
        n = sum(p._data.size for p in self.param_groups[0]["params"])
        dtype = self._gather_flat_grad().dtype
        out: dict[str, Any] = {}
        for k, v in st.items():
            if isinstance(v, Tensor):  # e.g. a state read back by gradstep.load
                v = v._data
            if k in ("d", "prev_flat_grad"):
                if not isinstance(v, np.ndarray) or v.shape != (n,):
                    raise ValueError(f"{name}.load_state_dict: '{k}' must be an array of "
                                     f"shape ({n},), got {getattr(v, 'shape', type(v))}")
                out[k] = np.array(v, copy=True)
            elif k in ("old_dirs", "old_stps"):
                arr = np.asarray(v)
                if arr.ndim != 2 or arr.shape[1] != n:
                    raise ValueError(f"{name}.load_state_dict: '{k}' must be an array of "
                                     f"shape (k, {n}), got {arr.shape}")
                out[k] = [row.copy() for row in arr]
            elif k == "ro":
                out[k] = [dtype.type(x) for x in np.asarray(v).reshape(-1)]
            elif k in ("t", "H_diag"):  # scalars of the parameters' dtype, as when stepping
                out[k] = dtype.type(v)
            else:
                out[k] = v
        if len({len(out.get(k, [])) for k in _HISTORY}) > 1:
            raise ValueError(f"{name}.load_state_dict: old_dirs, old_stps and ro differ in length")
        return out
