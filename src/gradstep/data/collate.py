"""PyTorch's default collation: a list of examples becomes one batch of tensors.

``default_collate`` keeps the structure of an example and stacks its leaves along a new
first axis: tensors and NumPy arrays are stacked (dtype kept), Python ints become int64,
floats float64 and bools bool tensors, NumPy scalars keep their dtype, strings stay a
list; dicts collate per key, named tuples per field, and tuples and lists become a
*list* of collated fields (as in PyTorch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradstep.tensor import Tensor, _plain

__all__ = ["default_collate", "default_convert", "as_batch_tensors"]

_ERR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
    "found {}"
)


def _wrap(arr: np.ndarray) -> Tensor:
    if arr.dtype.kind in "biuf":  # as Tensor(arr, dtype=arr.dtype), without its checks
        return _plain(arr)
    return Tensor(arr, dtype=arr.dtype)


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def _numeric(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "biufc"


def default_collate(batch: Sequence[Any]) -> Any:
    """Collate a list of examples into a batch, exactly as ``torch.utils.data.default_collate``.

    Args:
        batch: the examples (a non-empty sequence of same-structured samples).

    Returns:
        The batch: same structure as one example, with stacked gradstep tensors as leaves.

    Raises:
        TypeError: an example holds something that cannot be batched (object or string
            arrays, arbitrary objects).
        RuntimeError: the sequences inside the examples differ in length.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _wrap(np.stack([b._data for b in batch]))
    if isinstance(elem, np.ndarray):
        if not _numeric(elem):
            raise TypeError(_ERR.format(elem.dtype))
        return _wrap(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        arr = np.asarray(batch)
        if not _numeric(arr):
            raise TypeError(_ERR.format(arr.dtype))
        return _wrap(arr)
    if isinstance(elem, bool):
        return _wrap(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return _wrap(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, float):
        return _wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)  # type: ignore[call-arg]
        except TypeError:
            return fields
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """NumPy arrays (numeric) inside ``data`` become tensors; everything else is kept.

    What the loader applies to each example when automatic batching is off
    (``batch_size=None``), as ``torch.utils.data.default_convert``.
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return _wrap(data) if _numeric(data) else data
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return _wrap(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if _is_namedtuple(data):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, tuple):
        return [default_convert(v) for v in data]
    if isinstance(data, Sequence):
        try:
            return type(data)([default_convert(v) for v in data])  # type: ignore[call-arg]
        except TypeError:
            return [default_convert(v) for v in data]
    return data


def as_batch_tensors(batch: Any) -> Any:
    """A batch gathered as arrays (by a dataset's ``gather``) with its arrays as tensors.

    Lists, tuples (which become lists, as collation makes them), named tuples and dicts
    are walked; arrays become tensors without a copy.
    """
    if type(batch) is list:  # the common case: [x, y] from a dataset's gather
        return [_wrap(v) if type(v) is np.ndarray else as_batch_tensors(v) for v in batch]
    if isinstance(batch, np.ndarray):
        return _wrap(batch)
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, Mapping):
        return {k: as_batch_tensors(v) for k, v in batch.items()}
    if _is_namedtuple(batch):
        return type(batch)(*(as_batch_tensors(v) for v in batch))
    if isinstance(batch, (list, tuple)):
        return [as_batch_tensors(v) for v in batch]
    return batch
