"""``gradstep.save(obj, f)`` and ``gradstep.load(f)``: PyTorch's calls, without pickle.

:func:`save` stores any nesting of dicts, lists and tuples of tensors, NumPy arrays,
numbers, strings, booleans and None (a module's ``state_dict()``, an optimizer's
``state_dict()``, a dict of both plus an epoch...) in one
`safetensors <https://github.com/huggingface/safetensors>`_ file: every tensor and array is
a tensor of the file, and the structure around them is JSON in the header's
``__metadata__`` (key ``gradstep.structure``; see :mod:`gradstep._codec` for its markers).
:func:`load` rebuilds the same structure with gradstep tensors: tuples stay tuples, integer
dict keys (an optimizer's ``state``) stay integers, dtypes (int64, bool, float16...) are
kept.

A flat ``{name: tensor}`` dict (a ``state_dict``) is stored under its own names, so the
file is also an ordinary safetensors weights file: ``safetensors.torch.load_file(path)``
returns the state dict for the equivalent ``torch.nn`` model.

Nothing is pickled or unpickled: a pickle (for example a ``.pth`` written by
``torch.save``) is refused with a :class:`~gradstep.CheckpointError` that says so.

:func:`load` also reads the two other safetensors files gradstep meets:

* a training checkpoint (:func:`gradstep.save_checkpoint`, ``gradstep train``): returned as
  ``{"model": state_dict, "optimizer": ..., "scheduler": ..., "model_config": ...,
  "meta": {...}}`` (the parts the file holds), so
  ``model.load_state_dict(gradstep.load(path)["model"])`` works; use
  :func:`gradstep.load_checkpoint` to restore a whole training run;
* any other safetensors file (``save_weights``, ``safetensors.torch.save_file``): returned as
  ``{name: tensor}``.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import numpy as np

from gradstep import checkpoint as _checkpoint
from gradstep._codec import Namer, decode, encode
from gradstep._safetensors import describe, err, read_safetensors, write_safetensors
from gradstep.tensor import Tensor

__all__ = ["save", "load", "SAVE_FORMAT"]

SAVE_FORMAT = "1"
"""Version of the layout :func:`save` writes (metadata key ``gradstep.save``)."""

_STRUCTURE = "gradstep.structure"


def _is_path(f: Any) -> bool:
    return isinstance(f, (str, os.PathLike))


def _check_call(obj: Any, f: Any, extra: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse the retired ``save(path, model, optimizer=...)`` form and unknown arguments."""
    old_form = _is_path(obj) and (
        f is None or callable(getattr(f, "state_dict", None)) or extra
        or {"optimizer", "scheduler", "config"} & set(kwargs)
    )
    if old_form:
        raise TypeError(
            "gradstep.save(obj, f) saves obj to f, as torch.save does. To write a training "
            "checkpoint (model, optimizer, scheduler and metadata), call "
            "gradstep.save_checkpoint(path, model, optimizer=..., scheduler=..., **meta); "
            "to save weights, gradstep.save(model.state_dict(), path)"
        )
    if f is None:
        raise TypeError("gradstep.save(obj, f): missing the file f (a path or a binary file)")
    if extra or kwargs:
        names = [repr(a) for a in extra] + sorted(kwargs)
        raise TypeError(
            f"gradstep.save(obj, f): unexpected arguments {', '.join(names)} (gradstep does "
            "not pickle, so the pickle options of torch.save do not apply)"
        )


def save(obj: Any, f: Any = None, *args: Any, **kwargs: Any) -> None:
    """Save ``obj`` to ``f`` as a safetensors file, as ``torch.save(obj, f)`` does (no pickle).

    Args:
        obj: any nesting of dicts, lists and tuples of tensors, NumPy arrays and scalars,
            Python numbers, strings, booleans and None. Dict keys are strings, numbers,
            booleans or None.
        f: a path (``str`` or ``os.PathLike``), written atomically (temporary file, fsync,
            rename; mode ``0o666`` minus the umask, a failed save keeps the previous file),
            or a binary file object open for writing.

    Raises:
        TypeError: ``obj`` holds something that cannot be stored (the message names where,
            e.g. ``obj['optimizer']['state'][0]['foo']: cannot save a set``); ``obj`` is a
            module or optimizer (save its ``state_dict()``); or the call uses the retired
            ``save(path, model, ...)`` form (now :func:`gradstep.save_checkpoint`).
        ValueError: ``obj`` contains itself.
        CheckpointError: the file could not be written (the message says why).

    Example:
        >>> gradstep.save(model.state_dict(), "model.safetensors")  # doctest: +SKIP
        >>> model.load_state_dict(gradstep.load("model.safetensors"))  # doctest: +SKIP
    """
    _check_call(obj, f, args, kwargs)
    if not _is_path(f) and not callable(getattr(f, "write", None)):
        raise TypeError(
            f"gradstep.save(obj, f): f must be a path or a binary file object, "
            f"got {type(f).__name__}"
        )
    tensors: dict[str, np.ndarray] = {}
    structure = encode(obj, tensors, Namer(), root="obj")
    metadata = {
        "format": "pt",
        "gradstep.save": SAVE_FORMAT,
        _STRUCTURE: json.dumps(structure, allow_nan=False, separators=(",", ":")),
    }
    write_safetensors(f, tensors, metadata)


def _cpu_name(value: Any) -> bool:
    """Whether ``value`` names the CPU: ``"cpu"``, ``"cpu:0"`` or a device of type cpu."""
    if isinstance(value, str):
        name, _, index = value.partition(":")
        return name == "cpu" and index in ("", "0")
    kind = getattr(value, "type", None)
    return kind == "cpu" and getattr(value, "index", None) in (None, 0)


def _check_map_location(map_location: Any) -> None:
    if map_location is None or _cpu_name(map_location):
        return
    if isinstance(map_location, dict):
        bad = [v for v in map_location.values() if not _cpu_name(v)]
        if not bad:
            return
        raise ValueError(
            f"load: map_location maps to {bad[0]!r}; gradstep computes on the CPU only, so "
            "every target must be 'cpu'"
        )
    if isinstance(map_location, str) or hasattr(map_location, "type"):
        raise ValueError(
            f"load: map_location={str(map_location)!r} is not available: gradstep computes on "
            "the CPU only (pass 'cpu' or leave it out)"
        )
    raise TypeError(
        f"load: map_location must be None, 'cpu', a cpu device or a dict mapping to 'cpu', got "
        f"{type(map_location).__name__} (gradstep loads every tensor onto the CPU)"
    )


def _as_tensor(arr: np.ndarray) -> Tensor:
    return Tensor(arr, dtype=arr.dtype)


def _load_saved(source: Any, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> Any:
    version = metadata.get("gradstep.save")
    if version != SAVE_FORMAT:
        raise err(source, f"unsupported gradstep.save format {version!r} (this gradstep "
                          f"reads {SAVE_FORMAT!r})")
    try:
        structure = json.loads(metadata.get(_STRUCTURE, "null"))
    except (ValueError, RecursionError) as exc:
        raise err(source, f"metadata {_STRUCTURE!r} is not valid JSON: {exc}") from None
    try:
        return decode(structure, tensors, f"checkpoint {describe(source)!r}", _as_tensor)
    except RecursionError:
        raise err(source, "structure nested too deeply") from None


def load(
    f: str | os.PathLike[str] | IO[bytes],
    map_location: Any = None,
    *,
    weights_only: bool | None = None,
) -> Any:
    """Load what :func:`save` wrote, as PyTorch's ``torch.load`` does (nothing is ever unpickled).

    Args:
        f: a path or a binary file object open for reading (read from its position).
        map_location: None, ``"cpu"``, a cpu device, or a dict whose values are ``"cpu"``
            (``{"cuda:0": "cpu"}``): gradstep keeps every tensor on the CPU.
        weights_only: accepted for PyTorch compatibility; gradstep only ever loads data
            (tensors, numbers, strings and containers), so True and False behave the same.

    Returns:
        The saved structure with gradstep tensors. A training checkpoint gives
        ``{"model": ..., "optimizer": ..., "scheduler": ..., "model_config": ..., "meta": ...}``
        (the parts present); any other safetensors file gives ``{name: tensor}``.

    Raises:
        CheckpointError: the file is missing, truncated, malformed, not a safetensors file,
            or a pickle (``torch.save`` output), which gradstep refuses to load.
        ValueError: ``map_location`` names a device other than the CPU.
        TypeError: ``map_location`` or ``weights_only`` has an unsupported type.
    """
    _check_map_location(map_location)
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"load: weights_only must be a bool or None, got {weights_only!r}")
    tensors, metadata = read_safetensors(f)
    if "gradstep.save" in metadata:
        return _load_saved(f, tensors, metadata)
    if metadata.get("format") == "gradstep":
        return _checkpoint.checkpoint_parts(f, tensors, metadata, _as_tensor)
    return {k: _as_tensor(v) for k, v in tensors.items()}
