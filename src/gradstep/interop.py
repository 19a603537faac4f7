"""PyTorch-compatible weights files: plain safetensors, ``state_dict`` names and layouts.

:func:`save_weights` writes a model's :meth:`~gradstep.nn.Module.state_dict` as a plain
`safetensors <https://github.com/huggingface/safetensors>`_ file whose tensor names,
shapes and dtypes are exactly those of the equivalent ``torch.nn`` model's
``state_dict()``:

* ``Linear``: ``weight`` ``(out_features, in_features)``, ``bias`` ``(out_features,)``;
* ``Conv2d``: ``weight`` ``(out_channels, in_channels // groups, kH, kW)``, ``bias``;
* ``BatchNorm1d/2d``: ``weight``, ``bias``, ``running_mean``, ``running_var`` and
  ``num_batches_tracked`` (a 0-d ``int64``, as PyTorch stores it);
* ``Embedding``: ``weight`` ``(num_embeddings, embedding_dim)``;
* ``LayerNorm``: ``weight`` and ``bias`` of ``normalized_shape``.

So ``torch_model.load_state_dict(safetensors.torch.load_file(path), strict=True)``
accepts a file written by gradstep, and :func:`load_weights` accepts a file written by
``safetensors.torch.save_file(torch_model.state_dict(), path)``.

The file is read and written with gradstep's own validating safetensors reader and
atomic writer (:mod:`gradstep._safetensors`); nothing is pickled. A full gradstep
training checkpoint (:func:`gradstep.save_checkpoint`) can be given to :func:`load_weights`
too: its ``model/`` tensors are used. :func:`gradstep.save` of a ``state_dict`` writes the
same kind of file as :func:`save_weights`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gradstep._safetensors import read_safetensors, write_safetensors
from gradstep.errors import CheckpointError
from gradstep.nn.module import IncompatibleKeys

__all__ = ["save_weights", "load_weights", "state_dict_arrays", "INT64_KEYS"]

PathLike = str | os.PathLike[str]

INT64_KEYS = ("num_batches_tracked",)
"""State-dict leaf names PyTorch stores as ``int64`` scalars."""


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _as_array(value: Any) -> np.ndarray:
    """ndarray of a state-dict value (ndarray, gradstep Tensor, CPU torch tensor, number)."""
    data = getattr(value, "_data", None)
    if isinstance(data, np.ndarray):  # gradstep Tensor / Parameter
        return data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        return np.asarray(value.detach().cpu().numpy())
    return np.asarray(value)


def state_dict_arrays(model: Any) -> dict[str, np.ndarray]:
    """The model's state dict as PyTorch lays it out: ``{name: C-contiguous ndarray}``.

    Floating-point tensors keep their dtype (float32 by default); ``num_batches_tracked``
    becomes a 0-d ``int64`` array whatever the model stores.

    Raises:
        TypeError: ``model`` has no ``state_dict()`` method.
        CheckpointError: a value is not numeric.
    """
    fn = getattr(model, "state_dict", None)
    if not callable(fn):
        raise TypeError(
            f"save_weights: model must have a state_dict() method, got {type(model).__name__}"
        )
    out: dict[str, np.ndarray] = {}
    for key, value in fn().items():
        arr = _as_array(value)
        if arr.dtype.kind not in "biuf":
            raise CheckpointError(
                f"save_weights: state entry {key!r} has non-numeric dtype {arr.dtype}"
            )
        if _leaf(key) in INT64_KEYS:
            arr = np.asarray(arr, dtype=np.int64).reshape(())
        out[key] = np.require(arr, requirements="C")
    return out


def save_weights(path: PathLike, model: Any) -> Path:
    """Write ``model``'s weights to ``path`` as a PyTorch-compatible safetensors file.

    Tensor names are the model's :meth:`~gradstep.nn.Module.state_dict` keys (PyTorch's
    dotted names, e.g. ``0.weight``, ``features.1.running_mean``), shapes and layouts
    are PyTorch's, and ``num_batches_tracked`` is stored as ``int64``. The header
    metadata is ``{"format": "pt"}``, as ``safetensors.torch.save_file`` writes it, so
    tools that check it accept the file. The write is atomic: a temporary file in the
    same directory renamed over ``path``; a failed save leaves any previous file intact.

    Args:
        path: destination file (conventionally ``*.safetensors``); its directory must exist.
        model: a :class:`gradstep.nn.Module` (anything with ``state_dict()``).

    Returns:
        The path written.

    Raises:
        CheckpointError: a value cannot be stored or the write failed.

    Example:
        >>> gradstep.save_weights("mlp.safetensors", model)  # doctest: +SKIP
        >>> torch_mlp.load_state_dict(safetensors.torch.load_file("mlp.safetensors"))
    """
    tensors = state_dict_arrays(model)
    write_safetensors(path, tensors, {"format": "pt"})
    return Path(os.fspath(path))


def _read_weights(path: PathLike) -> dict[str, np.ndarray]:
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") == "gradstep":  # a full training checkpoint: its model part
        return {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    return tensors


def load_weights(path: PathLike, model: Any, *, strict: bool = True) -> IncompatibleKeys:
    """Load a safetensors weights file (gradstep's or PyTorch's) into ``model`` in place.

    Every tensor is checked before anything is written: with ``strict`` the file must
    hold exactly the model's state-dict names; shapes must match always. A mismatch
    raises :class:`~gradstep.CheckpointError` naming the file and listing the missing,
    unexpected and mis-shaped tensors by name (with both shapes). Values are cast to the
    dtype of the model's arrays (e.g. a float64 file into a float32 model).

    Args:
        path: a ``.safetensors`` file, e.g. written by :func:`save_weights` or by
            ``safetensors.torch.save_file(torch_model.state_dict(), path)``; a gradstep
            training checkpoint is accepted too (its model weights are used).
        model: the :class:`gradstep.nn.Module` to fill.
        strict: require exactly the model's names (missing and unexpected both fail).

    Returns:
        ``IncompatibleKeys(missing_keys, unexpected_keys)``, as
        :meth:`Module.load_state_dict` returns it (both empty when ``strict``).

    Raises:
        CheckpointError: the file is missing, malformed, or does not fit the model.
    """
    fn = getattr(model, "load_state_dict", None)
    if not callable(fn):
        raise TypeError(
            f"load_weights: model must have a load_state_dict() method, got {type(model).__name__}"
        )
    tensors = _read_weights(path)
    where = f"load_weights: weights file {os.fspath(path)!r}"
    expected = state_dict_arrays(model)
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    misshaped = [
        f"{k}: file shape {tuple(tensors[k].shape)}, model shape {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)
    ]
    nonnumeric = [
        f"{k}: dtype {tensors[k].dtype}"
        for k in expected
        if k in tensors and tensors[k].dtype.kind not in "biuf"
    ]
    problems = []
    if strict and missing:
        problems.append(f"missing tensors {missing}")
    if strict and unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if misshaped:
        problems.append("mis-shaped tensors [" + "; ".join(misshaped) + "]")
    if nonnumeric:
        problems.append("non-numeric tensors [" + "; ".join(nonnumeric) + "]")
    if problems:
        raise CheckpointError(
            f"{where} does not fit {type(model).__name__}: " + ", ".join(problems)
        )
    state = {k: v for k, v in tensors.items() if k in expected}
    try:
        fn(state, strict=False)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    return IncompatibleKeys(missing if not strict else [], unexpected if not strict else [])
