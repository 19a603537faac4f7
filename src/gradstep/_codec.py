"""Nested Python state <-> JSON structure plus named arrays, without pickle.

:func:`encode` turns any nesting of dicts, lists and tuples of arrays, tensors, numbers,
strings, booleans and None into a JSON-able structure, putting every array into a
``{name: ndarray}`` dict; :func:`decode` rebuilds the original structure. What JSON cannot
say directly is written as a one-key marker object:

* ``{"__array__": name}``: an array (or tensor), stored as tensor ``name``;
* ``{"__scalar__": name}``: a NumPy scalar (keeps its dtype), a 0-d tensor ``name``;
* ``{"__float__": "nan" | "inf" | "-inf"}``: a non-finite float;
* ``{"__tuple__": [...]}``: a tuple;
* ``{"__dict__": [[key, value], ...]}``: a dict whose keys are not all plain strings (int
  keys, as in an optimizer's ``state``, or strings starting with ``__``).

A dict whose keys are all strings not starting with ``__`` is a plain JSON object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradstep._safetensors import DTYPES, MAX_NAME_LENGTH
from gradstep.errors import CheckpointError

__all__ = ["encode", "decode", "Namer", "describe_path"]

_STORABLE_KINDS = {dt.kind for dt in DTYPES.values()}
_STORABLE = {(dt.kind, dt.itemsize) for dt in DTYPES.values()}


def describe_path(root: str, keys: tuple[Any, ...]) -> str:
    """``root['a'][0]``-style text for the location ``keys`` inside ``root``."""
    return root + "".join(f"[{k!r}]" for k in keys)


class Namer:
    """Tensor names for arrays found at ``keys``: ``prefix`` then the keys joined by
    ``sep``, or ``<prefix>#<n>`` when that is not a valid, unused name. Namers that share
    ``used`` never hand out the same name."""

    def __init__(self, prefix: str = "", sep: str = "/", used: set[str] | None = None) -> None:
        self.prefix, self.sep = prefix, sep
        self.used: set[str] = set() if used is None else used

    def __call__(self, keys: tuple[Any, ...]) -> str:
        name = self.prefix + self.sep.join(str(k) for k in keys)
        n = 0
        while not self._valid(name):
            name = f"{self.prefix}#{n}"
            n += 1
        self.used.add(name)
        return name

    def _valid(self, name: str) -> bool:
        return (bool(name) and name not in self.used and name != "__metadata__"
                and len(name) <= MAX_NAME_LENGTH and name.isprintable()
                and not any(c.isspace() for c in name))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _unsupported(where: str, obj: Any) -> TypeError:
    if callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    ):
        return TypeError(
            f"{where}: cannot save a {type(obj).__name__} object; gradstep saves data, not "
            f"objects: save its .state_dict() and restore it with .load_state_dict()"
        )
    return TypeError(
        f"{where}: cannot save a {type(obj).__name__} (supported: dicts, lists and tuples of "
        "tensors, arrays, numbers, strings, booleans and None)"
    )


class _Encoder:
    def __init__(self, tensors: dict[str, np.ndarray], namer: Namer, root: str) -> None:
        self.tensors, self.namer, self.root = tensors, namer, root
        self.active: set[int] = set()  # containers on the current path (cycle check)

    def where(self, keys: tuple[Any, ...]) -> str:
        return describe_path(self.root, keys)

    def array(self, obj: Any, keys: tuple[Any, ...]) -> Any:
        is_scalar = isinstance(obj, np.generic)
        arr = np.asarray(getattr(obj, "_data", obj))
        if (arr.dtype.kind, arr.dtype.itemsize) not in _STORABLE:
            raise TypeError(
                f"{self.where(keys)}: cannot save an array of dtype {arr.dtype} (supported: "
                "bool, int8-64, uint8-64, float16/32/64)"
            )
        name = self.namer(keys)
        self.tensors[name] = arr
        return {"__scalar__" if is_scalar else "__array__": name}

    def __call__(self, obj: Any, keys: tuple[Any, ...]) -> Any:
        if obj is None or isinstance(obj, (bool, str)) or _is_int(obj):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, (np.ndarray, np.generic)) or isinstance(
            getattr(obj, "_data", None), np.ndarray
        ):
            return self.array(obj, keys)
        if not isinstance(obj, (list, tuple, Mapping)):
            raise _unsupported(self.where(keys), obj)
        if id(obj) in self.active:
            raise ValueError(f"{self.where(keys)}: cannot save a container that contains itself")
        self.active.add(id(obj))
        try:
            return self.container(obj, keys)
        finally:
            self.active.discard(id(obj))

    def container(self, obj: Any, keys: tuple[Any, ...]) -> Any:
        if isinstance(obj, (list, tuple)):
            items = [self(v, (*keys, i)) for i, v in enumerate(obj)]
            return {"__tuple__": items} if isinstance(obj, tuple) else items
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: self(v, (*keys, k)) for k, v in obj.items()}
        pairs = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (str, bool, float)) or _is_int(k)):
                raise TypeError(
                    f"{self.where(keys)}: cannot save a dict key of type {type(k).__name__} "
                    f"({k!r}); keys must be strings, numbers, booleans or None"
                )
            pairs.append([self(k, (*keys, "<key>")), self(v, (*keys, k))])
        return {"__dict__": pairs}


def encode(obj: Any, tensors: dict[str, np.ndarray], namer: Namer, root: str = "obj") -> Any:
    """The JSON-able structure of ``obj``; its arrays are added to ``tensors``.

    Args:
        obj: the nested value.
        tensors: receives ``{name: ndarray}`` for every array, tensor and NumPy scalar.
        namer: picks each array's tensor name from its location.
        root: how error messages name ``obj`` (``obj['state'][0]['foo']: ...``).

    Raises:
        TypeError: a value (or dict key) of a type that cannot be stored, or an array of an
            unsupported dtype; the message names its location.
        ValueError: a container holds itself, or the nesting is too deep.
    """
    try:
        return _Encoder(tensors, namer, root)(obj, ())
    except RecursionError:
        raise ValueError(f"{root}: nested too deeply to save") from None


def _decode_marker(key: str, val: Any, tensors: Mapping[str, np.ndarray], where: str,
                   wrap: Callable[[np.ndarray], Any]) -> Any:
    if key in ("__array__", "__scalar__"):
        if not isinstance(val, str) or val not in tensors:
            raise CheckpointError(f"{where}: refers to a missing tensor {val!r}")
        arr = tensors[val]
        if key == "__array__":
            return wrap(arr)
        if arr.ndim != 0:
            raise CheckpointError(f"{where}: scalar {val!r} has shape {arr.shape}")
        return arr[()]
    if key == "__float__":
        if val not in ("nan", "inf", "-inf"):
            raise CheckpointError(f"{where}: bad float literal {val!r}")
        return float(val)
    if key == "__tuple__":
        if not isinstance(val, list):
            raise CheckpointError(f"{where}: malformed tuple")
        return tuple(decode(v, tensors, where, wrap) for v in val)
    if not isinstance(val, list) or not all(isinstance(p, list) and len(p) == 2 for p in val):
        raise CheckpointError(f"{where}: malformed dict")
    out = {}
    for k, v in val:
        dk = decode(k, tensors, where, wrap)
        if not (dk is None or isinstance(dk, (str, bool, float)) or _is_int(dk)):
            raise CheckpointError(f"{where}: dict key of type {type(dk).__name__}")
        out[dk] = decode(v, tensors, where, wrap)
    return out


_MARKERS = ("__array__", "__scalar__", "__float__", "__tuple__", "__dict__")


def decode(obj: Any, tensors: Mapping[str, np.ndarray], where: str = "state",
           wrap: Callable[[np.ndarray], Any] = lambda a: a) -> Any:
    """Inverse of :func:`encode`; ``wrap`` turns each stored array into what is returned.

    Raises:
        CheckpointError: the structure refers to a tensor that is missing, or is malformed.
        RecursionError: nested too deeply (callers turn it into their own error).
    """
    if isinstance(obj, list):
        return [decode(v, tensors, where, wrap) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((key, val),) = obj.items()
        if key in _MARKERS:
            return _decode_marker(key, val, tensors, where, wrap)
    return {k: decode(v, tensors, where, wrap) for k, v in obj.items()}
