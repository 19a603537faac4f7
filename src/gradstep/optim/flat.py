"""Flat parameter buffers: every parameter's data and gradient as views into one array.

:func:`flatten_parameters` allocates one contiguous buffer for the data of all parameters
of a dtype and one for their gradients, copies the values in, and rebinds each
``param._data`` to a view into the data buffer and each ``param._grad`` to a view into the
(zero-filled) gradient buffer. The backward engine adds into an existing ``._grad`` in place
(``grad += g``), so gradients land in the flat buffer without any copy, and an optimizer
step over a parameter group becomes a few in-place vector operations over one slice of the
buffer (see ``Optimizer.flatten``).

Layout: parameters are laid out group after group, in the order they were given, so that
the parameters of one group and one dtype form one contiguous *segment* of that dtype's
buffer. A distributed trainer can all-reduce :attr:`FlatBuffer._grad` (or ``grads[dtype]``)
in one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from gradstep.tensor import Tensor

__all__ = ["FlatBuffer", "FlatSegment", "flatten_parameters"]


class FlatSegment:
    """The parameters of one group and one dtype: a contiguous slice of a flat buffer.

    Attributes:
        group: index of the parameter group.
        dtype: the dtype of the parameters.
        params: the parameters, in buffer order.
        slices: ``(start, stop)`` of each parameter within this segment.
        data: view of the data buffer covering the segment.
        grad: view of the gradient buffer covering the segment.
        state: flat optimizer-state arrays of the segment (allocated by the optimizer).
    """

    __slots__ = ("group", "dtype", "params", "slices", "_data", "_grad", "state", "offset")

    def __init__(
        self,
        group: int,
        dtype: np.dtype,
        params: list[Tensor],
        slices: list[tuple[int, int]],
        data: np.ndarray,
        grad: np.ndarray,
        offset: int,
    ) -> None:
        self.group = group
        self.dtype = dtype
        self.params = params
        self.slices = slices
        self._data = data
        self._grad = grad
        self.offset = offset
        self.state: dict[str, np.ndarray] = {}

    @property
    def size(self) -> int:
        return int(self._data.size)

    def state_array(self, name: str) -> np.ndarray:
        """The segment's flat state array ``name`` (allocated uninitialised on first use)."""
        arr = self.state.get(name)
        if arr is None:
            arr = np.empty(self._data.size, dtype=self.dtype)
            self.state[name] = arr
        return arr

    def view(self, flat: np.ndarray, i: int) -> np.ndarray:
        """Parameter ``i``'s part of the segment-sized array ``flat``, in its shape."""
        s, e = self.slices[i]
        return flat[s:e].reshape(self.params[i]._data.shape)


class FlatBuffer:
    """Contiguous data and gradient buffers (one pair per dtype) backing a set of parameters.

    Attributes:
        data: dtype -> 1-D data buffer.
        grads: dtype -> 1-D gradient buffer.
        segments: one :class:`FlatSegment` per (group, dtype), in buffer order.
        params: every parameter, in buffer order.
    """

    def __init__(self, groups: Sequence[Sequence[Tensor]]) -> None:
        sizes: dict[np.dtype, int] = {}
        plan: list[tuple[int, np.dtype, list[Tensor]]] = []
        for gi, params in enumerate(groups):
            by_dtype: dict[np.dtype, list[Tensor]] = {}
            for p in params:
                by_dtype.setdefault(p._data.dtype, []).append(p)
            for dt, ps in by_dtype.items():
                plan.append((gi, dt, ps))
                sizes[dt] = sizes.get(dt, 0) + sum(int(p._data.size) for p in ps)
        self.data: dict[np.dtype, np.ndarray] = {
            dt: np.empty(n, dtype=dt) for dt, n in sizes.items()
        }
        self.grads: dict[np.dtype, np.ndarray] = {
            dt: np.zeros(n, dtype=dt) for dt, n in sizes.items()
        }
        self.segments: list[FlatSegment] = []
        self.params: list[Tensor] = []
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._loc: dict[int, tuple[FlatSegment, int]] = {}
        offsets = dict.fromkeys(sizes, 0)
        for gi, dt, ps in plan:
            start = offsets[dt]
            slices = []
            pos = 0
            for p in ps:
                n = int(p._data.size)
                slices.append((pos, pos + n))
                pos += n
            stop = start + pos
            seg = FlatSegment(
                gi, dt, ps, slices, self.data[dt][start:stop], self.grads[dt][start:stop], start
            )
            for i, p in enumerate(ps):
                dview = seg.view(seg._data, i)
                gview = seg.view(seg._grad, i)
                dview[...] = p._data
                if p._grad is not None:
                    gview[...] = p._grad
                self._views[id(p)] = (dview, gview)
                self._loc[id(p)] = (seg, i)
                self.params.append(p)
            offsets[dt] = stop
            self.segments.append(seg)
        self.bind()

    # ------------------------------------------------------------------ binding
    def bind(self) -> None:
        """Make every ``param._data`` / ``param._grad`` the buffer view again.

        A parameter whose ``._data`` was replaced by another array (e.g. weights loaded by
        assignment) has the new values copied into the buffer first; one whose ``._grad`` was
        replaced has its gradient copied in (or zeros when it was set to None).
        """
        for p in self.params:
            dview, gview = self._views[id(p)]
            if p._data is not dview:
                if p._data.shape != dview.shape:
                    raise ValueError(
                        f"flat buffer: a parameter's data was replaced by shape {p._data.shape}, "
                        f"expected {dview.shape}"
                    )
                dview[...] = p._data
                p._data = dview
            if p._grad is not gview:
                if p._grad is None:
                    gview.fill(0)
                else:
                    gview[...] = p._grad
                p._grad = gview

    def zero_grad(self) -> None:
        """Fill the gradient buffers with zeros (and rebind any replaced ``._grad``)."""
        for buf in self.grads.values():
            buf.fill(0)
        for p in self.params:
            gview = self._views[id(p)][1]
            if p._grad is not gview:
                p._grad = gview

    def unflatten(self) -> None:
        """Give every parameter its own arrays again (copies); the buffers are released."""
        for p in self.params:
            dview, gview = self._views[id(p)]
            if p._data is dview:
                p._data = dview.copy()
            if p._grad is gview:
                p._grad = gview.copy()
        self._views.clear()
        self._loc.clear()

    # ------------------------------------------------------------------ access
    @property
    def grad(self) -> np.ndarray:
        """The gradient buffer when all parameters share one dtype (else ValueError)."""
        if len(self.grads) != 1:
            raise ValueError(
                f"flat buffer: parameters have {len(self.grads)} dtypes "
                f"({', '.join(str(d) for d in self.grads)}); use .grads[dtype]"
            )
        return next(iter(self.grads.values()))

    @property
    def param_data(self) -> np.ndarray:
        """The data buffer when all parameters share one dtype (else ValueError)."""
        if len(self.data) != 1:
            raise ValueError(
                f"flat buffer: parameters have {len(self.data)} dtypes; use .data[dtype]"
            )
        return next(iter(self.data.values()))

    def locate(self, p: Tensor) -> tuple[FlatSegment, int]:
        """``(segment, index within the segment)`` of parameter ``p``."""
        return self._loc[id(p)]

    def __contains__(self, p: object) -> bool:
        return id(p) in self._views

    @property
    def numel(self) -> int:
        return sum(int(b.size) for b in self.data.values())


def flatten_parameters(params: Iterable[Any]) -> FlatBuffer:
    """Move ``params`` (tensors, or param-group dicts with a ``"params"`` list) into flat buffers.

    Returns:
        The :class:`FlatBuffer`; each ``param._data`` / ``param._grad`` is now a view into it.

    Raises:
        TypeError: an entry is not a :class:`gradstep.Tensor`.
        ValueError: no parameters, or a parameter is given twice.
    """
    items = list(params)
    groups: list[list[Tensor]] = []
    if items and all(isinstance(g, dict) for g in items):
        groups = [list(g["params"]) for g in items]
    else:
        groups = [items]
    seen: set[int] = set()
    for gi, ps in enumerate(groups):
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"flatten_parameters: parameter {i} of group {gi} is a {type(p).__name__}, "
                    "expected a gradstep.Tensor"
                )
            if id(p) in seen:
                raise ValueError(f"flatten_parameters: parameter {i} of group {gi} is given twice")
            seen.add(id(p))
    if not seen:
        raise ValueError("flatten_parameters: no parameters given")
    return FlatBuffer(groups)
