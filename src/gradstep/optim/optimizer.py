"""The optimizer base class: parameter groups, per-parameter state, state dicts, flat path.

An optimizer sees only parameters: any :class:`gradstep.Tensor` with ``requires_grad``
(``gradstep.nn.Parameter`` is one), with ``._data`` (an ndarray) and ``._grad`` (an ndarray or
None). It never imports :mod:`gradstep.nn`.

Subclasses implement :meth:`Optimizer._update`, which applies the update of one parameter
(or of one contiguous flat segment of parameters, see :meth:`Optimizer.flatten`) by calling
the optimizer's pure array function, and :meth:`Optimizer._check_group`, which validates a
group's hyperparameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from gradstep.optim.flat import FlatBuffer, FlatSegment
from gradstep.tensor import Tensor, enable_grad

__all__ = ["Optimizer", "Alloc"]

#: ``alloc(name, fill)`` returns the state array ``name`` for the parameter (or segment)
#: being updated, filled with ``fill`` (left uninitialised when ``fill`` is None).
Alloc = Callable[[str, "float | None"], np.ndarray]


def _check_nonneg(opt: str, name: str, value: Any) -> None:
    try:
        ok = float(value) >= 0.0
    except (TypeError, ValueError):
        raise TypeError(f"{opt}: {name} must be a number, got {value!r}") from None
    if not ok:  # also rejects nan
        raise ValueError(f"{opt}: {name} must be >= 0, got {value!r}")


def _check_unit(opt: str, name: str, value: Any) -> None:
    """``0 <= value < 1``."""
    _check_nonneg(opt, name, value)
    if not float(value) < 1.0:
        raise ValueError(f"{opt}: {name} must be in [0, 1), got {value!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _uniform(states: list[dict[str, Any] | None]) -> bool:
    """Whether every parameter's state has the same array keys and the same other items
    (then one segment-wide update serves them all)."""
    s0 = states[0]
    if not s0:
        return all(not s for s in states)
    for s in states[1:]:
        if not s or s.keys() != s0.keys():
            return False
        for k, v in s0.items():
            w = s[k]
            if isinstance(v, np.ndarray):
                if not isinstance(w, np.ndarray):
                    return False
            elif isinstance(w, np.ndarray) or w != v:
                return False
    return True


class Optimizer:
    """Base class of the optimizers.

    Args:
        params: an iterable of parameters (tensors with ``requires_grad``), or of dicts
            (parameter groups) each with a ``"params"`` entry and optional per-group
            hyperparameters that override ``defaults``.
        defaults: the default hyperparameters of every group.

    Attributes:
        defaults: the default hyperparameters.
        param_groups: list of dicts, each with ``"params"`` (list of tensors) and every
            hyperparameter.
        state: parameter -> dict of its state (arrays such as momentum buffers and moments,
            and scalars such as the step count). Absent until the parameter's first step.

    Raises:
        TypeError: ``params`` is a single tensor, or an entry is not a gradstep.Tensor.
        ValueError: no parameters, a parameter given twice (in one or two groups), a
            parameter that does not require grad, or a bad hyperparameter.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, (Tensor, dict)):
            raise TypeError(
                f"{name}: params must be an iterable of tensors or of dicts (parameter groups), "
                f"got a single {type(params).__name__}; wrap it in a list"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered iterable, got a set")
        try:
            items = list(params)
        except TypeError:
            raise TypeError(
                f"{name}: params must be an iterable of tensors or dicts, "
                f"got {type(params).__name__}"
            ) from None
        self.defaults: dict[str, Any] = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        self._flat: FlatBuffer | None = None
        if not items:
            raise ValueError(f"{name}: no parameters given (params is empty)")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        for g in groups:
            self.add_param_group(g)
        if not any(g["params"] for g in self.param_groups):
            raise ValueError(f"{name}: no parameters given (every parameter group is empty)")

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones from defaults).

        Raises:
            TypeError: not a dict, or a parameter is not a gradstep.Tensor.
            ValueError: a parameter is already in a group, does not require grad, or a
                hyperparameter is out of range.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}: a parameter group must be a dict, got {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        gi = len(self.param_groups)
        ps = param_group["params"]
        if isinstance(ps, Tensor):
            ps = [ps]
        elif isinstance(ps, (set, frozenset)):
            raise TypeError(f"{name}: params of group {gi} must be an ordered iterable, got a set")
        else:
            ps = list(ps)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        mine: set[int] = set()
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: parameter {i} of group {gi} is a {type(p).__name__}, "
                    "expected a gradstep.Tensor"
                )
            if not p.requires_grad:
                raise ValueError(
                    f"{name}: parameter {i} of group {gi} (shape {p.shape}) does not require grad"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: parameter {i} of group {gi} is not a leaf tensor (it was computed "
                    "by an op); optimize the leaf it came from"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{name}: parameter {i} of group {gi} (shape {p.shape}) is already in "
                    "another parameter group"
                )
            if id(p) in mine:
                raise ValueError(
                    f"{name}: parameter {i} of group {gi} (shape {p.shape}) appears twice "
                    "in the group"
                )
            mine.add(id(p))
        group = dict(param_group)
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        self._check_group(group)
        self.param_groups.append(group)
        if self._flat is not None:
            self.flatten()

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyperparameters (ValueError naming argument and value)."""
        _check_nonneg(type(self).__name__, "lr", group.get("lr", 0.0))

    def _params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters.

        Args:
            set_to_none: set ``._grad`` to None (the next backward allocates it) instead of
                filling it with zeros. A flattened optimizer always fills its flat gradient
                buffer with zeros: the gradients must stay views into it.
        """
        if self._flat is not None:
            self._flat.zero_grad()
            return
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p._grad = None
                elif p._grad is not None:
                    p._grad.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update to every parameter that has a gradient.

        Args:
            closure: optional function that re-evaluates the model, calls backward and
                returns the loss; it runs with gradient recording enabled.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if self._flat is not None:
            self._flat.bind()
            for seg in self._flat.segments:
                if seg.size:
                    self._step_segment(seg)
            return loss
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {}
                data = p._data

                def alloc(key: str, fill: float | None, _d: np.ndarray = data) -> np.ndarray:
                    return np.empty_like(_d) if fill is None else np.full_like(_d, fill)

                self._update(group, data, p._grad, st, alloc)
        return loss

    def _steady_segment(self, seg: FlatSegment) -> bool:
        """An optimizer's shortcut for a segment whose state needs no bookkeeping this step:
        True when it applied the update (then :meth:`_step_segment` does nothing more);
        False, having done nothing, to take the general path."""
        return False

    def _step_segment(self, seg: FlatSegment) -> None:
        if self._steady_segment(seg):
            return
        group = self.param_groups[seg.group]
        states = [self.state.get(p) for p in seg.params]
        if _uniform(states):
            st0 = states[0] or {}
            seg_state: dict[str, Any] = {
                k: (seg.state[k] if isinstance(v, np.ndarray) else v) for k, v in st0.items()
            }

            def alloc_seg(key: str, fill: float | None) -> np.ndarray:
                arr = seg.state_array(key)
                if fill is not None:
                    arr.fill(fill)
                return arr

            self._update(group, seg._data, seg._grad, seg_state, alloc_seg)
            for i, p in enumerate(seg.params):
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {}
                for k, v in seg_state.items():
                    if isinstance(v, np.ndarray):
                        if k not in st:
                            st[k] = seg.view(v, i)
                    else:
                        st[k] = v
            return
        # parameters in different states (e.g. loaded from a per-parameter run): one by one
        for i, p in enumerate(seg.params):
            st = self.state.get(p)
            if st is None:
                st = self.state[p] = {}

            def alloc_one(key: str, fill: float | None, _i: int = i) -> np.ndarray:
                arr = seg.view(seg.state_array(key), _i)
                if fill is not None:
                    arr.fill(fill)
                return arr

            self._update(group, seg.view(seg._data, i), seg.view(seg._grad, i), st, alloc_one)

    def _update(
        self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
        alloc: Alloc,
    ) -> None:
        """Update ``param`` in place from ``grad`` and ``state`` (arrays of one parameter or
        of one flat segment); create state arrays only through ``alloc``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ flat path
    def flatten(self) -> FlatBuffer:
        """Move all parameters (and their state) into flat contiguous buffers.

        Afterwards ``param._data`` and ``param._grad`` are views into one data and one
        gradient buffer per dtype, gradients accumulate there during backward, and each
        step is a few vectorised in-place operations per (group, dtype) segment. The result
        is bit-identical to the per-parameter path, except that in flat mode every
        parameter always has a gradient (zeros when backward did not reach it), as with
        ``zero_grad(set_to_none=False)``.

        Returns:
            The :class:`~gradstep.optim.flat.FlatBuffer` (also :attr:`flat`).
        """
        if self._flat is not None:
            self._flat.unflatten()
        self._flat = FlatBuffer([g["params"] for g in self.param_groups])
        for seg in self._flat.segments:
            for i, p in enumerate(seg.params):
                st = self.state.get(p)
                if not st:
                    continue
                for k, v in st.items():
                    if isinstance(v, np.ndarray):
                        view = seg.view(seg.state_array(k), i)
                        view[...] = v
                        st[k] = view
        return self._flat

    def unflatten(self) -> None:
        """Give parameters, gradients and state their own arrays again (no-op if not flat)."""
        if self._flat is None:
            return
        for st in self.state.values():
            for k, v in st.items():
                if isinstance(v, np.ndarray):
                    st[k] = v.copy()
        self._flat.unflatten()
        self._flat = None

    @property
    def flat(self) -> FlatBuffer | None:
        """The flat buffers when :meth:`flatten` was called, else None."""
        return self._flat

    @property
    def flat_grad(self) -> np.ndarray:
        """The flat gradient buffer (single dtype), e.g. to all-reduce it in one call."""
        if self._flat is None:
            raise ValueError(
                f"{type(self).__name__}: not flattened; call .flatten() or pass flat=True"
            )
        return self._flat.grad

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's full state, with parameters referenced by index (as PyTorch).

        Structure::

            {
              "state": {0: {"step": 3, "exp_avg": ndarray, ...}, 2: {...}},
              "param_groups": [{"lr": 0.01, "momentum": 0.9, ..., "params": [0, 1]}, ...],
            }

        Parameters are numbered across the groups in order (group 0's first parameter is 0).
        ``state`` holds, for each parameter that has state, its arrays (copies; momentum
        buffers, moments, accumulators) and scalars (Python ints/floats such as ``step``).
        Every group lists all its hyperparameters (tuples become lists) including those a
        scheduler adds (``initial_lr``...). Everything except the arrays is JSON-able; the
        integer keys of ``state`` may come back from JSON as strings, which
        :meth:`load_state_dict` accepts.
        """
        groups_out = []
        idx = 0
        index: dict[int, int] = {}
        for g in self.param_groups:
            packed = {k: _jsonable(v) for k, v in g.items() if k != "params"}
            packed["params"] = list(range(idx, idx + len(g["params"])))
            for p in g["params"]:
                index[id(p)] = idx
                idx += 1
            groups_out.append(packed)
        state_out: dict[int, dict[str, Any]] = {}
        for g in self.param_groups:
            for p in g["params"]:
                st = self.state.get(p)
                if not st:
                    continue
                state_out[index[id(p)]] = {
                    k: (v.copy() if isinstance(v, np.ndarray) else _jsonable(v))
                    for k, v in st.items()
                }
        return {"state": state_out, "param_groups": groups_out}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (of an optimizer of the same kind and layout).

        Raises:
            ValueError: the structure, the number of groups or of parameters per group,
                or an array's shape does not fit this optimizer.
        """
        name = type(self).__name__
        if not (isinstance(state_dict, dict) and "state" in state_dict
                and "param_groups" in state_dict):
            raise ValueError(
                f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        id_map: dict[int, Tensor] = {}
        new_groups = []
        for gi, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {gi} has {len(sg['params'])} parameters in "
                    f"the state, {len(g['params'])} in this optimizer"
                )
            for k, p in zip(sg["params"], g["params"]):
                id_map[int(k)] = p
            ng = {k: v for k, v in sg.items() if k != "params"}
            if isinstance(ng.get("betas"), list):
                ng["betas"] = tuple(ng["betas"])
            ng["params"] = g["params"]
            self._check_group(ng)
            new_groups.append(ng)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, st in state_dict["state"].items():
            try:
                p = id_map[int(key)]
            except (KeyError, ValueError):
                raise ValueError(
                    f"{name}.load_state_dict: state for unknown parameter {key!r}"
                ) from None
            out: dict[str, Any] = {}
            for k, v in st.items():
                if isinstance(v, Tensor):  # e.g. a state read back by gradstep.load
                    v = v._data
                if isinstance(v, np.ndarray):
                    if v.shape != p._data.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: state '{k}' of parameter {key} has shape "
                            f"{v.shape}, the parameter has shape {p._data.shape}"
                        )
                    if self._flat is not None:
                        seg, i = self._flat.locate(p)
                        view = seg.view(seg.state_array(k), i)
                        view[...] = v
                        out[k] = view
                    else:
                        out[k] = np.array(v, dtype=p._data.dtype, copy=True)
                else:
                    out[k] = v
            new_state[p] = out
        self.param_groups[:] = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
