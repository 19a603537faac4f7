"""The backward pass: reverse topological order, one call per closure, the central
un-broadcast, gradient accumulation into the leaves, and the in-place version check."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradstep._grad_mode import _CLOCK
from gradstep._refcount import sole_owner
from gradstep.errors import GradError, ShapeError

__all__ = ["GradFn", "run_backward", "bump_version"]


def bump_version(t: Any) -> None:
    """Record an in-place modification of ``t`` (called by the in-place ops only)."""
    _CLOCK[0] += 1
    t._version = _CLOCK[0]


# ------------------------------------------------------------------ helpers
def _released(grad: np.ndarray) -> Sequence[np.ndarray | None]:
    raise GradError(
        "backward through a graph that was already released: intermediate values are freed "
        "after .backward(); call the first .backward(retain_graph=True) to backpropagate twice"
    )


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reduce (or expand) ``grad`` to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    if grad.ndim == len(shape):
        axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        try:
            grad = np.broadcast_to(grad, shape)
        except ValueError:
            raise ShapeError(
                f"backward: gradient of shape {grad.shape} does not fit a tensor of shape {shape}"
            ) from None
    return grad


def _op_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", "") or getattr(fn, "__name__", "op")
    head = name.split(".")[0].strip("_<>") or "op"
    return "".join(p.capitalize() for p in head.split("_")) + "Backward0"


class GradFn:
    """What ``t.grad_fn`` returns: the op that produced ``t`` (``name()`` as in PyTorch)."""

    __slots__ = ("_fn", "_parents")

    def __init__(self, fn: Any, parents: tuple[Any, ...]) -> None:
        self._fn = fn
        self._parents = parents

    def name(self) -> str:
        return _op_name(self._fn)

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        return tuple(
            (GradFn(p._backward, p._parents) if p._backward is not None else None, 0)
            for p in self._parents
        )

    def __repr__(self) -> str:
        return f"<{self.name()} object>"


def _check_versions(node: Any) -> None:
    stamp = node._version
    for i, p in enumerate(node._parents):
        if getattr(p, "_version", 0) > stamp:
            raise GradError(
                f"backward: input {i} (shape {p._data.shape}) of the op "
                f"{_op_name(node._backward)} was modified by an in-place operation after the "
                "op used it, so the saved values are stale; modify a clone instead, or do the "
                "in-place update after backward"
            )


def run_backward(root: Any, g: np.ndarray, retain_graph: builtins.bool) -> None:
    # Iterative post-order DFS: topological order without recursion.
    order: list[Any] = []
    seen: set[builtins.int] = {id(root)}
    stack: list[tuple[Any, builtins.int]] = [(root, 0)]
    while stack:
        node, i = stack[-1]
        parents = node._parents
        if i < len(parents):
            stack[-1] = (node, i + 1)
            p = parents[i]
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                stack.append((p, 0))
        else:
            stack.pop()
            order.append(node)

    clock = _CLOCK[0]
    grads: dict[builtins.int, np.ndarray] = {id(root): g}
    owned: set[builtins.int] = set()  # gradients in `grads` that were freshly allocated by us
    for node in reversed(order):
        gn = grads.pop(id(node), None)
        if gn is None:
            continue
        fn = node._backward
        if fn is None:  # leaf
            if node._grad is None:
                # Adopt the gradient when nothing else can reach it: the engine's own sum,
                # or a fresh array a closure returned (PyTorch's rule, see _refcount); so
                # closures return gradients and never write .grad. Let go of the loop's
                # other names for this step's gradients first.
                pgrads = pg = prev = None
                mine = id(node) in owned or sole_owner(gn)
                node._grad = gn if mine and gn.flags.writeable else np.array(gn)
            else:
                node._grad += gn
            continue
        if getattr(node, "_version", clock) != clock:  # some in-place op ran since
            _check_versions(node)
        pgrads = fn(gn)
        parents = node._parents
        if not retain_graph:
            node._backward = _released
            node._parents = ()
        for p, pg in zip(parents, pgrads):
            if pg is None or not p.requires_grad:
                continue
            if pg.shape != p._data.shape:
                pg = _unbroadcast(pg, p._data.shape)
            if pg.dtype != p._data.dtype:
                pg = pg.astype(p._data.dtype)
            key = id(p)
            prev = grads.get(key)
            if prev is None:
                grads[key] = pg
            elif key in owned:
                prev += pg
            else:
                # asarray: for 0-d inputs NumPy returns a scalar, which `+=` cannot update
                grads[key] = np.asarray(prev + pg)
                owned.add(key)


