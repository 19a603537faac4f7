"""Dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep import ops
from gradstep.tensor import Tensor

from ._common import _const, _in_place, _input


def dropout(
    input: Any,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Identity when ``training`` is False or ``p == 0``. In training the mask is drawn from
    ``generator`` (required, keyword). ``inplace=True`` writes the result into the input
    tensor under PyTorch's rules (see :mod:`gradstep.nn.functional.activations`).

    Shape: any -> same.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(
            f"dropout: inplace must be a bool (the generator is the keyword generator=), "
            f"got {type(inplace).__name__}"
        )
    x = _input(input, None, "dropout")
    if not training or p == 0.0:
        return x
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            "dropout: in training mode a numpy.random.Generator is required as generator=, "
            f"got {type(generator).__name__}"
        )
    mask = dropout_mask(generator, x._data.shape, x._data.dtype, p)
    if inplace:
        return _in_place(x, lambda t: ops.mul(t, _const(mask)), "dropout")
    return ops.mul(x, _const(mask))


def dropout_mask(
    generator: np.random.Generator, shape: tuple[int, ...], dtype: Any, p: float
) -> np.ndarray:
    """The scaled keep-mask of :func:`dropout`: ``(u >= p) / (1 - p)`` with ``u`` uniform in
    [0, 1) drawn in ``dtype`` (float32 draws for anything but float64); zeros for ``p == 1``."""
    dt = np.dtype(dtype)
    if p == 1.0:
        return np.zeros(shape, dtype=dt)
    u = generator.random(shape, dtype=np.float64 if dt == np.float64 else np.float32)
    mask = (u >= p).astype(dt)
    mask *= dt.type(1.0 / (1.0 - p))
    return mask
