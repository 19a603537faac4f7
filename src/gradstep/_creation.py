"""Tensor creation beyond the basics in :mod:`gradstep.tensor`: ``eye``, ``linspace``,
``from_numpy``, the ``*_like`` family and the random samplers (``randint``, ``randperm``,
``normal``, ``bernoulli``, ``multinomial``), each with ``generator=`` (None: the default
generator seeded by :func:`gradstep.manual_seed`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradstep import _dtypes, _random
from gradstep._device import check_device
from gradstep.tensor import Tensor, _shape, rand, randn

__all__ = ["from_numpy", "empty", "eye", "linspace", "logspace", "full_like", "empty_like",
           "rand_like", "randn_like", "randint", "randint_like", "randperm", "normal",
           "bernoulli", "multinomial", "is_tensor", "numel"]


def _leaf(arr: np.ndarray, requires_grad: bool, device: Any, op: str) -> Tensor:
    check_device(device, op)
    return Tensor(arr, dtype=arr.dtype, requires_grad=requires_grad)


def _float_or(dtype: Any, op: str) -> np.dtype:
    return _dtypes.DEFAULT[0] if dtype is None else _dtypes.as_dtype(dtype, op)


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a :class:`Tensor`."""
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    """Number of elements of ``t``."""
    return int(t._data.size)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: dtype must be bool, integer or float, got {array.dtype}")
    return Tensor(array, dtype=array.dtype)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """An uninitialized tensor (its values are arbitrary)."""
    return _leaf(np.empty(_shape(size), _float_or(dtype, "empty")), requires_grad, device, "empty")


def eye(n: int, m: int | None = None, *, dtype: Any = None, requires_grad: bool = False,
        device: Any = None) -> Tensor:
    """The ``n x m`` identity matrix (``m`` defaults to ``n``)."""
    return _leaf(np.eye(n, m, dtype=_float_or(dtype, "eye")), requires_grad, device, "eye")


def linspace(start: float, end: float, steps: int, *, dtype: Any = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    dt = _float_or(dtype, "linspace")
    return _leaf(np.linspace(start, end, int(steps)).astype(dt), requires_grad, device, "linspace")


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    dt = _float_or(dtype, "logspace")
    arr = np.logspace(start, end, int(steps), base=base).astype(dt)
    return _leaf(arr, requires_grad, device, "logspace")


def _like_dtype(t: Any, dtype: Any, op: str) -> np.dtype:
    if dtype is not None:
        return _dtypes.as_dtype(dtype, op)
    return t._data.dtype if isinstance(t, Tensor) else np.asarray(t).dtype


def full_like(t: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:
    """A tensor of ``t``'s shape (and dtype) filled with ``fill_value``."""
    arr = np.full(np.shape(t._data if isinstance(t, Tensor) else t), fill_value,
                  dtype=_like_dtype(t, dtype, "full_like"))
    return _leaf(arr, requires_grad, device, "full_like")


def empty_like(t: Any, *, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    """An uninitialized tensor of ``t``'s shape and dtype."""
    arr = np.empty(np.shape(t._data if isinstance(t, Tensor) else t),
                   dtype=_like_dtype(t, dtype, "empty_like"))
    return _leaf(arr, requires_grad, device, "empty_like")


def rand_like(t: Tensor, *, dtype: Any = None, generator: Any = None,
              requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) of ``t``'s shape and (floating) dtype."""
    return rand(*t.shape, dtype=_like_dtype(t, dtype, "rand_like"), generator=generator,
                requires_grad=requires_grad)


def randn_like(t: Tensor, *, dtype: Any = None, generator: Any = None,
               requires_grad: bool = False) -> Tensor:
    """Standard-normal samples of ``t``'s shape and (floating) dtype."""
    return randn(*t.shape, dtype=_like_dtype(t, dtype, "randn_like"), generator=generator,
                 requires_grad=requires_grad)


def randint(*args: Any, size: Any = None, generator: Any = None, dtype: Any = None,
            device: Any = None) -> Tensor:
    """Integers uniform in ``[low, high)``: ``randint(high, size)`` or
    ``randint(low, high, size)`` (int64 unless ``dtype`` says otherwise)."""
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size, args = args[-1], args[:-1]
    if size is None:
        raise TypeError("randint: missing the size argument (a tuple such as (3,))")
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {args!r}")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    gen = _random.numpy_generator(generator, "randint")
    dt = _dtypes.int64 if dtype is None else _dtypes.as_dtype(dtype, "randint")
    arr = gen.integers(int(low), int(high), _shape(tuple(size))).astype(dt)
    return _leaf(arr, False, device, "randint")


def randint_like(t: Tensor, low: int = 0, high: int | None = None, *,
                 generator: Any = None, dtype: Any = None) -> Tensor:
    """:func:`randint` with ``t``'s shape and dtype (``randint_like(t, high)`` also works)."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(t.shape), generator=generator,
                   dtype=_like_dtype(t, dtype, "randint_like"))


def randperm(n: int, *, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    """A random permutation of ``0..n-1`` (int64)."""
    gen = _random.numpy_generator(generator, "randperm")
    dt = _dtypes.int64 if dtype is None else _dtypes.as_dtype(dtype, "randperm")
    return _leaf(gen.permutation(int(n)).astype(dt), False, device, "randperm")


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None,
           dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples: ``normal(mean_tensor, std_tensor)`` (elementwise parameters) or
    ``normal(mean, std, size)`` with numbers."""
    gen = _random.numpy_generator(generator, "normal")
    m = mean._data if isinstance(mean, Tensor) else np.asarray(mean)
    s = std._data if isinstance(std, Tensor) else np.asarray(std)
    if size is None and m.ndim == 0 and s.ndim == 0:
        raise TypeError("normal: give size= when mean and std are numbers")
    if np.any(s < 0):
        raise ValueError("normal: std must be non-negative")
    shape = np.broadcast_shapes(m.shape, s.shape) if size is None else _shape(tuple(size))
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    dt = _random.float_dtype(dtype if dtype is not None else
                             (tensors[0].dtype if tensors else None), "normal")
    arr = (m + s * gen.standard_normal(shape)).astype(dt)
    return Tensor(arr, dtype=dt, requires_grad=requires_grad)


def bernoulli(input: Any, p: float | None = None, *, generator: Any = None) -> Tensor:
    """Samples that are 1 with probability ``input`` (elementwise), in ``input``'s dtype."""
    probs = input._data if isinstance(input, Tensor) else np.asarray(input)
    if p is not None:
        probs = np.full(probs.shape, p, dtype=probs.dtype)
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError("bernoulli: probabilities must lie in [0, 1]")
    gen = _random.numpy_generator(generator, "bernoulli")
    arr = (gen.random(probs.shape) < probs).astype(probs.dtype)
    return Tensor(arr, dtype=arr.dtype)


def multinomial(input: Any, num_samples: int, replacement: bool = False, *,
                generator: Any = None) -> Tensor:
    """Draw category indices with probabilities proportional to the rows of ``input``."""
    w = np.asarray(input._data if isinstance(input, Tensor) else input, dtype=np.float64)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {w.shape}")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("multinomial: weights must be finite and non-negative")
    rows = w.reshape(-1, w.shape[-1])
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(
            f"multinomial: cannot draw {num_samples} samples without replacement from "
            f"{rows.shape[1]} categories"
        )
    gen = _random.numpy_generator(generator, "multinomial")
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, r in enumerate(rows):
        total = r.sum()
        if total <= 0:
            raise ValueError("multinomial: every row needs a positive total weight")
        out[i] = gen.choice(r.size, size=num_samples, replace=replacement, p=r / total)
    res = out.reshape(w.shape[:-1] + (num_samples,))
    return Tensor(res, dtype=res.dtype)
