"""Training checkpoints: model, optimizer, scheduler and training position in one file.

:func:`save_checkpoint` writes everything a training run needs to continue exactly, and
:func:`load_checkpoint` reads it back (and restores it into live objects). For saving a
``state_dict`` or any other nested data, as ``torch.save`` does, see :func:`gradstep.save`.

A checkpoint is a safetensors file (:mod:`gradstep._safetensors`). gradstep stores every
array (model weights, optimizer buffers, ...) as a tensor and everything else (model
config, optimizer hyperparameters, scheduler state, epoch/step, the data loader's Generator
state and position in the epoch, user metadata) as JSON strings in ``__metadata__``
(:mod:`gradstep._codec`). Tensor names are namespaced: ``model/<state_dict key>``,
``optimizer/...``, ``scheduler/...``, ``extra/...``. The files are read and written by the
``safetensors`` package too (``safetensors.numpy.load_file``/``save_file``).

Reading validates the whole file before any large allocation and checks restored states
against the live objects' layouts; any problem raises :class:`gradstep.CheckpointError`
naming the file and the problem. Nothing is ever pickled or unpickled. Writing is atomic
(:mod:`gradstep._atomic`): a crash or a failing write leaves the previous file intact.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradstep._codec import Namer, decode, encode
from gradstep._safetensors import describe, read_safetensors, write_safetensors
from gradstep._safetensors import err as _err
from gradstep.errors import CheckpointError
from gradstep.nn.module import module_from_config

__all__ = [
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_parts",
    "FORMAT_VERSION",
]

FORMAT_VERSION = "1"
"""Version of gradstep's metadata layout inside the safetensors file."""

PathLike = str | os.PathLike[str]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# ------------------------------------------------------------------------------ save


def _jsonable(obj: Any, where: str) -> Any:
    try:
        json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"save_checkpoint: {where} is not JSON-serialisable: {exc}") from None
    return obj


def _model_config(model: Any) -> Any:
    """The model's reconstruction config, if it offers one (``model.config()``)."""
    cfg = getattr(model, "gradstep_config", None)
    for meth in ("to_config", "config"):
        if cfg is not None:
            break
        fn = getattr(model, meth, None)
        if callable(fn):
            try:
                cfg = fn()
            except (NotImplementedError, TypeError, AttributeError, ValueError):
                cfg = None
    if cfg is None:
        return None
    try:
        json.dumps(cfg, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return cfg


def _state_dict(obj: Any, what: str) -> Any:
    fn = getattr(obj, "state_dict", None)
    if not callable(fn):
        raise TypeError(
            f"save_checkpoint: {what} has no state_dict() method (got {type(obj).__name__})"
        )
    return fn()


def _encode_part(obj: Any, key: str, tensors: dict[str, np.ndarray], used: set[str]) -> str:
    """JSON text of ``obj`` whose arrays go to ``tensors`` as ``<key>/...``."""
    try:
        enc = encode(obj, tensors, Namer(f"{key}/", used=used), root=key)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"save_checkpoint: {exc}") from None
    return json.dumps(enc, allow_nan=False)


def save_checkpoint(
    path: PathLike,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    *,
    config: Any = None,
    **meta: Any,
) -> Path:
    """Save a training checkpoint atomically to ``path`` (a ``.safetensors`` file).

    Args:
        path: destination; its directory must exist. An existing file is replaced
            atomically (a failed save leaves it intact).
        model: a module with ``state_dict()``; its tensors are stored as ``model/<key>``,
            and its config (``model.gradstep_config`` or ``model.config()``) when known.
        optimizer: an optimizer with ``state_dict()`` (arrays become tensors, the rest JSON).
        scheduler: a learning-rate scheduler with ``state_dict()``.
        config: model config to record instead of the one the model reports.
        **meta: anything else to record (epoch, step, loader state, history...): nested
            dicts/lists of numbers, strings and arrays.

    Returns:
        The path written.

    Raises:
        CheckpointError: a value cannot be stored, or the write failed (previous file kept).
    """
    tensors: dict[str, np.ndarray] = {}
    used: set[str] = set()
    metadata: dict[str, str] = {"format": "gradstep", "gradstep_format": FORMAT_VERSION}
    if model is not None:
        for k, v in _state_dict(model, "model").items():
            arr = v._data if isinstance(getattr(v, "_data", None), np.ndarray) else v
            tensors[f"model/{k}"] = np.asarray(arr)
            used.add(f"model/{k}")
        cfg = config if config is not None else _model_config(model)
        if cfg is not None:
            metadata["model_config"] = json.dumps(_jsonable(cfg, "model config"))
    elif config is not None:
        metadata["model_config"] = json.dumps(_jsonable(config, "model config"))
    for key, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            metadata[key] = _encode_part(_state_dict(obj, key), key, tensors, used)
            metadata[f"{key}_class"] = type(obj).__name__
    if meta:
        metadata["meta"] = _encode_part(dict(meta), "extra", tensors, used)
    write_safetensors(path, tensors, metadata)
    return Path(os.fspath(path))


# ------------------------------------------------------------------------------ load


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` read.

    Attributes:
        path: the file.
        model_state: state dict of the model (key -> ndarray).
        model_config: the model's reconstruction config, or None.
        optimizer_state: the optimizer's state dict, or None.
        scheduler_state: the scheduler's state dict, or None.
        meta: the extra values passed to :func:`save_checkpoint` (epoch, step, loader state, ...).
        model: the model the weights were loaded into (given, or rebuilt from the config).
    """

    path: Path
    model_state: dict[str, np.ndarray] = field(default_factory=dict)
    model_config: Any = None
    optimizer_state: Any = None
    scheduler_state: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    optimizer_class: str | None = None
    scheduler_class: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.meta[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.meta.get(key, default)

    @property
    def epoch(self) -> int | None:
        return self.meta.get("epoch")

    @property
    def step(self) -> int | None:
        return self.meta.get("step")




def _json_meta(source: Any, metadata: Mapping[str, str], key: str) -> Any:
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _err(source, f"metadata {key!r} is not valid JSON: {exc}") from None


def _decoded(source: Any, metadata: Mapping[str, str], key: str, tensors: Mapping[str, Any],
             wrap: Callable[[np.ndarray], Any]) -> Any:
    where = f"checkpoint {describe(source)!r}: {key}"
    try:
        return decode(_json_meta(source, metadata, key), tensors, where, wrap)
    except RecursionError:
        raise _err(source, "metadata nested too deeply") from None


def _check_version(source: Any, metadata: Mapping[str, str]) -> None:
    fmt = metadata.get("gradstep_format")
    if fmt != FORMAT_VERSION:
        raise _err(
            source, f"unsupported gradstep checkpoint format {fmt!r} (expected {FORMAT_VERSION})"
        )


def checkpoint_parts(
    source: Any,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str],
    wrap: Callable[[np.ndarray], Any] = lambda a: a,
) -> dict[str, Any]:
    """The parts of a read training checkpoint as a dict of plain states.

    Keys (only those the file holds): ``"model"`` (``{state_dict key: array}``),
    ``"model_config"``, ``"optimizer"``, ``"scheduler"``, ``"meta"`` (the extra values:
    epoch, step, trainer and loader state...). Arrays are passed through ``wrap``. This is
    what :func:`gradstep.load` returns for a checkpoint file.

    Raises:
        CheckpointError: the metadata is malformed.
    """
    _check_version(source, metadata)
    parts: dict[str, Any] = {
        "model": {k[6:]: wrap(v) for k, v in tensors.items() if k.startswith("model/")}
    }
    config = _json_meta(source, metadata, "model_config")
    if config is not None:
        parts["model_config"] = config
    for key in ("optimizer", "scheduler", "meta"):
        if key in metadata:
            parts[key] = _decoded(source, metadata, key, tensors, wrap)
    if "meta" in parts and not isinstance(parts["meta"], dict):
        raise _err(source, "metadata 'meta' is not an object")
    return parts


def _read_checkpoint(path: PathLike) -> Checkpoint:
    tensors, metadata = read_safetensors(path)
    where = Path(os.fspath(path))
    if metadata.get("format") != "gradstep":
        # A plain safetensors file (e.g. from safetensors.numpy.save_file): weights only.
        return Checkpoint(path=where, model_state=dict(tensors))
    parts = checkpoint_parts(path, tensors, metadata)
    return Checkpoint(
        path=where,
        model_state=parts["model"],
        model_config=parts.get("model_config"),
        optimizer_state=parts.get("optimizer"),
        scheduler_state=parts.get("scheduler"),
        meta=parts.get("meta") or {},
        optimizer_class=metadata.get("optimizer_class"),
        scheduler_class=metadata.get("scheduler_class"),
    )


def _rebuild(path: PathLike, ck: Checkpoint, builder: Callable[[Any], Any]) -> Any:
    """A fresh model from the checkpoint's config, refusing configs far larger than the file."""
    stored = sum(int(a.size) for a in ck.model_state.values())
    claimed = _config_elements(ck.model_config)
    if claimed > 4 * stored + 2**20:  # a hostile config must not allocate gigabytes
        raise _err(
            path,
            f"model config asks for about {claimed:,} parameter values but the file "
            f"stores {stored:,}: refusing to build it (corrupt or hostile file)",
        )
    try:
        return builder(ck.model_config)
    except RecursionError:
        raise _err(path, "cannot rebuild the model: its config is nested too deeply") from None
    except CheckpointError as exc:
        raise _err(path, f"cannot rebuild the model from its config: {exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError,
            MemoryError) as exc:
        raise _err(path, f"cannot rebuild the model from its config: {exc}") from None


def load_checkpoint(
    path: PathLike,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    *,
    build: bool = True,
    builder: Callable[[Any], Any] | None = None,
    strict: bool = True,
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`, optionally restoring objects.

    Args:
        path: the ``.safetensors`` file.
        model: restore the weights into this module (``load_state_dict``). When None and
            the file records a model config, the model is rebuilt with ``builder``
            (``build=False`` turns this off).
        optimizer: restore this optimizer's state (``load_state_dict``).
        scheduler: restore this scheduler's state (``load_state_dict``).
        build: rebuild the model from its recorded config when ``model`` is None.
        builder: turns the recorded config into a fresh model; by default
            :func:`gradstep.nn.module_from_config`, which knows every registered layer.
        strict: passed to ``model.load_state_dict``.

    Returns:
        A :class:`Checkpoint` with the states, config, metadata and the model.

    Raises:
        CheckpointError: the file is missing, corrupt or hostile, or its contents do not
            fit the given objects.
    """
    ck = _read_checkpoint(path)
    if model is None and build and ck.model_config is not None:
        model = _rebuild(path, ck, builder or module_from_config)
    if model is not None:
        _restore(path, "model", model, ck.model_state, strict=strict)
        ck.model = model
    if optimizer is not None:
        if ck.optimizer_state is None:
            raise _err(path, "holds no optimizer state")
        _restore(path, "optimizer", optimizer, ck.optimizer_state)
    if scheduler is not None:
        if ck.scheduler_state is None:
            raise _err(path, "holds no scheduler state")
        _restore(path, "scheduler", scheduler, ck.scheduler_state)
    return ck


_SIZE_KEYS = ("in_features", "out_features", "in_channels", "out_channels", "num_embeddings",
              "embedding_dim", "num_features", "normalized_shape")


def _config_elements(cfg: Any) -> int:
    """About how many parameter values the layers of a model config allocate (an upper
    bound for gradstep's layers: the product of their size arguments), without building it."""
    total = 0
    stack = [cfg]
    while stack:  # iterative: a deeply nested config cannot exhaust the stack here
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        c = node.get("config")
        if not isinstance(c, dict):
            continue
        n, sized = 1, False
        for key in (*_SIZE_KEYS, "kernel_size"):
            raw = c.get(key)
            for v in raw if isinstance(raw, list) else [raw]:
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    n *= v * v if key == "kernel_size" and not isinstance(raw, list) else v
                    sized = sized or key != "kernel_size"
        groups = c.get("groups")
        if isinstance(groups, int) and not isinstance(groups, bool) and groups > 1:
            n //= groups
        if sized:
            total += n
    return total


def _is_number(x: Any) -> bool:
    return (_is_int(x) or isinstance(x, float) or isinstance(x, np.number)) and not isinstance(
        x, (bool, np.bool_)
    )


def _check_like(path: PathLike, what: str, ref: Any, got: Any, where: str) -> None:
    """``got`` (a state read from a file) has the layout and value kinds of ``ref`` (the
    live object's own state), so that a hostile state fails here, typed, rather than as a
    TypeError deep inside a later optimizer step."""
    bad = None
    if ref is None or isinstance(ref, str) and isinstance(got, str):
        return
    if isinstance(ref, (bool, np.bool_)):
        bad = None if isinstance(got, (bool, np.bool_)) else "a bool"
    elif _is_number(ref):
        bad = None if _is_number(got) else "a number"
    elif isinstance(ref, np.ndarray):
        ok = isinstance(got, np.ndarray) and got.shape == ref.shape
        bad = None if ok else f"an array of shape {ref.shape}"
    elif isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(ref):
            bad = f"a list of {len(ref)}"
        else:
            for i, (r, g) in enumerate(zip(ref, got)):
                _check_like(path, what, r, g, f"{where}[{i}]")
    elif isinstance(ref, Mapping):
        if not isinstance(got, Mapping):
            bad = "a dict"
        elif not ref:  # e.g. per-parameter optimizer state of a fresh optimizer
            kinds: set[frozenset[tuple[str, bool]]] = set()
            for k, entry in got.items():
                if not isinstance(entry, Mapping) or not all(
                    isinstance(v, np.ndarray) or _is_number(v) and 0 <= v < math.inf
                    for v in entry.values()
                ):
                    bad = "a dict of arrays and counts >= 0 per entry"
                    where = f"{where}[{k!r}]"
                    break
                kinds.add(frozenset((str(n), isinstance(v, np.ndarray)) for n, v in entry.items()))
            if bad is None and len(kinds) > 1:
                bad = "the same keys and kinds of values for every entry"
        elif set(got) != set(ref):
            bad = f"the keys {sorted(map(str, ref))}"
        else:
            for k in ref:
                _check_like(path, what, ref[k], got[k], f"{where}[{k!r}]")
    if bad is not None:
        raise _err(path, f"{what} state {where or '(top level)'} should be {bad}, "
                         f"got {type(got).__name__} {str(got)[:60]}")


def _restore(path: PathLike, what: str, obj: Any, state: Any, **kwargs: Any) -> None:
    fn = getattr(obj, "load_state_dict", None)
    if not callable(fn):
        raise TypeError(f"load: {what} has no load_state_dict() method (got {type(obj).__name__})")
    if what != "model" and callable(getattr(obj, "state_dict", None)):
        _check_like(path, what, obj.state_dict(), state, "")
    try:
        fn(state, **kwargs)
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise _err(path, f"does not fit the {what}: {exc}") from None
