"""Dense layers: ``linear``, ``embedding`` and ``flatten``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep import ops
from gradstep.errors import ShapeError
from gradstep.ops import primitive
from gradstep.tensor import Tensor

from ._common import _input, _int_array, _make, _param, _weight


def _matmul_tn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` for ``a`` (k, m) and ``b`` (k, n): a fresh (m, n) array."""
    # one example (k == 1): an outer product as one broadcast multiply; a K=1 GEMM costs
    # several times more
    return np.multiply(a.T, b) if a.shape[0] == 1 else a.T @ b  # type: ignore[no-any-return]


@primitive
def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """``input @ weight.T + bias``.

    Shape: input ``(*, in_features)``, weight ``(out_features, in_features)``,
    bias ``(out_features,)`` -> ``(*, out_features)``.
    """
    w = _weight(weight, "linear")
    x = _input(input, w._data.dtype, "linear")
    b = _param(bias, w._data.dtype)
    xd, wd = x._data, w._data
    if wd.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got {wd.shape}")
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(
            f"linear: expected input of shape (*, {wd.shape[1]}) (in_features={wd.shape[1]}), "
            f"got input of shape {xd.shape}"
        )
    nout, nin = wd.shape
    out = (xd.reshape(-1, nin) @ wd.T).reshape(xd.shape[:-1] + (nout,))
    if b is not None:
        if b._data.shape != (nout,):
            raise ShapeError(f"linear: bias must have shape ({nout},), got {b._data.shape}")
        out += b._data

    def backward(g: np.ndarray) -> tuple[Any, ...]:
        g2 = np.ascontiguousarray(g.reshape(-1, nout))
        gx = (g2 @ wd).reshape(xd.shape) if x.requires_grad else None
        # a fresh product: the engine adds it into (or adopts it as) the weight's gradient
        gw = _matmul_tn(g2, xd.reshape(-1, nin)) if w.requires_grad else None
        if b is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if b.requires_grad else None)

    parents = (x, w) if b is None else (x, w, b)
    return _make(out, parents, backward)


@primitive
def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``input``; ``padding_idx``'s row gets no gradient.

    Shape: input ``(*)`` integers, weight ``(num_embeddings, dim)`` -> ``(*, dim)``.
    """
    w = _weight(weight, "embedding")
    wd = w._data
    if wd.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, dim), got {wd.shape}")
    idx = _int_array(input, "embedding", "indices")
    nemb = wd.shape[0]
    bad = idx[(idx < 0) | (idx >= nemb)]
    if bad.size:
        raise ValueError(
            f"embedding: indices must be in [0, {nemb}), "
            f"got out-of-range values {np.unique(bad)[:8].tolist()}"
        )
    if padding_idx is not None and padding_idx < 0:
        padding_idx += nemb
    out = wd[idx]

    def backward(g: np.ndarray) -> tuple[Any]:
        gw = np.zeros(wd.shape, dtype=g.dtype)
        np.add.at(gw, idx.reshape(-1), g.reshape(-1, wd.shape[1]))
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)

    return _make(out, (w,), backward)


def flatten(input: Any, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim..end_dim`` (default: all but the batch dimension)."""
    return ops.flatten(input, start_dim, end_dim)
