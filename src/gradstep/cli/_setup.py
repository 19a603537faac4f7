"""From resolved ``gradstep train`` options to library objects: data, model, optimizer.

No arithmetic of its own: every step is a call into :mod:`gradstep.data`,
:mod:`gradstep.models`, :mod:`gradstep.optim`. The same options always give the same
objects (same seeds, same splits), which is what lets ``--resume`` rebuild a run exactly.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradstep.errors import ConfigError, DataError

__all__ = ["Prepared", "load_dataset", "prepare_data", "build_model", "build_optimizer",
           "build_scheduler", "loss_for"]


def _cli_hint(name: str, msg: str) -> str:
    """Rephrase a data set's "not found" message with the command's options."""
    msg = re.sub(r"`load_\w+\([^)]*\)` \(command line: (`[^`]+`)\)", r"\1", msg)
    msg = re.sub(r"`load_\w+\(download=True\)`", "--download", msg)
    msg = re.sub(r"`load_\w+\(root=\.\.\.\)`", "--data-root DIR (or $GRADSTEP_DATA)", msg)
    if "--download" not in msg:
        msg += f" Add --download to fetch {name}, or give --data-root DIR."
    return msg


def load_dataset(dataset: str, data_root: str | None = None, download: bool = False,
                 task: str = "auto") -> Any:
    """A :class:`gradstep.data.Dataset` by the command's name for it (``csv:PATH`` too)."""
    from gradstep import data

    if dataset.startswith("csv:"):
        path = dataset[4:]
        if not os.path.isfile(path):
            raise DataError(f"--dataset: file not found: {path}")
        if not os.access(path, os.R_OK):
            raise DataError(f"--dataset: file not readable: {path}")
        return _load_csv(path, task)
    if dataset in ("fashion-mnist", "mnist"):
        fn = data.load_fashion_mnist if dataset == "fashion-mnist" else data.load_mnist
        try:
            return fn(data_root, download=download)
        except DataError as exc:
            if "not found" not in str(exc):
                raise
            raise DataError(_cli_hint(dataset, str(exc))) from None
    if data_root is not None:
        raise ConfigError(f"--data-root: applies to mnist and fashion-mnist, not {dataset}")
    return getattr(data, "load_" + dataset.replace("-", "_"))()


def _load_csv(path: str, task: str) -> Any:
    from gradstep import data

    if task == "auto":
        return data.load_csv(path)
    return data.load_csv(path, task=task)  # type: ignore[arg-type]


@dataclass
class Prepared:
    """The arrays of a run and how they were made."""

    prep: Any
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    val: tuple[np.ndarray, np.ndarray] | None
    n_out: int
    classification: bool


def prepare_data(cfg: dict[str, Any], ds: Any) -> Prepared:
    """Split, scale and reshape ``ds`` as the options say (see :mod:`gradstep.data.prep`)."""
    from gradstep import models
    from gradstep.data.prep import (
        Preprocessor,
        holdout_split,
        model_input_shape,
        resolve_scale,
        validation_split,
    )

    x_tr, x_te, y_tr, y_te = holdout_split(ds, cfg["test_size"], cfg["seed"])
    classification = ds.task == "classification"
    kind = models.parse_spec(cfg["model"])[0]
    images = cfg["dataset"] in ("digits", "mnist", "fashion-mnist")
    shape = model_input_shape(x_tr.shape[1:], kind, images=images)
    scale = resolve_scale(cfg["scale"], cfg["dataset"])
    prep = Preprocessor.fit(x_tr, y_tr, task=ds.task, classes=[str(c) for c in ds.classes],
                            scale=scale, model_shape=shape)
    xtr, ytr = prep.x(x_tr, "training data"), prep.y(y_tr)
    xte = prep.x(x_te, "test data")
    val = None
    if cfg["val_split"]:
        xtr, xv, ytr, yv = validation_split(xtr, ytr, cfg["val_split"], cfg["seed"] + 1,
                                            classification)
        val = (xv, yv)
    n_out = len(ds.classes) if classification else 1
    return Prepared(prep, xtr, ytr, xte, y_te, val, n_out, classification)


def loss_for(cfg: dict[str, Any], classification: bool) -> tuple[Any, str | None]:
    """``(loss for fit, output activation)`` of the ``--loss`` option."""
    from gradstep.models import CLASSIFICATION_LOSSES

    name = cfg["loss"]
    if not classification:
        if name not in (None, "mse"):
            raise ConfigError(f"--loss: a regression data set trains with mse, got {name}")
        return "mse", None
    return CLASSIFICATION_LOSSES[name or "cross-entropy"]


def build_model(cfg: dict[str, Any], data: Prepared) -> Any:
    """The model of the options, its initial weights drawn from ``--seed``."""
    from gradstep import models

    _, out_act = loss_for(cfg, data.classification)
    return models.build(cfg["model"], data.prep.model_shape, data.n_out,
                        activation=cfg["activation"], init=cfg["init"],
                        output_activation=out_act,
                        generator=np.random.default_rng(cfg["seed"]))


def _param_groups(cfg: dict[str, Any], model: Any) -> Any:
    if cfg["weight_decay_on"] == "all" or not cfg["weight_decay"]:
        return model.parameters()
    weights: list[Any] = []
    others: list[Any] = []
    for name, p in model.named_parameters():
        (weights if name.endswith("weight") else others).append(p)
    return [{"params": weights}, {"params": others, "weight_decay": 0.0}]


def build_optimizer(cfg: dict[str, Any], model: Any) -> Any:
    """The optimizer of the options (flat parameter buffers)."""
    from gradstep import optim

    name, lr, wd, mom = cfg["optimizer"], cfg["lr"], cfg["weight_decay"], cfg["momentum"]
    params = _param_groups(cfg, model)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=mom, nesterov=cfg["nesterov"],
                         weight_decay=wd, flat=True)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd, flat=True)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd, flat=True)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=mom, weight_decay=wd, flat=True)
    return optim.Adagrad(params, lr=lr, weight_decay=wd, flat=True)


def build_scheduler(cfg: dict[str, Any], opt: Any, steps_per_epoch: int) -> tuple[Any, str]:
    """``(scheduler or None, interval)`` of ``--schedule``."""
    from gradstep.optim import lr_scheduler as S

    kind, *args = cfg["schedule"].split(":")
    if kind == "none":
        return None, "epoch"
    if kind == "cosine":
        return S.CosineAnnealingLR(opt, T_max=cfg["epochs"]), "epoch"
    if kind == "onecycle":
        return S.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=cfg["epochs"] * steps_per_epoch,
                            cycle_momentum=False), "step"
    if kind == "step":
        gamma = float(args[1]) if len(args) > 1 else 0.1
        return S.StepLR(opt, step_size=int(args[0]), gamma=gamma), "epoch"
    if kind == "exponential":
        return S.ExponentialLR(opt, gamma=float(args[0])), "epoch"
    patience = int(args[0]) if args else 3
    factor = float(args[1]) if len(args) > 1 else 0.1
    return S.ReduceLROnPlateau(opt, patience=patience, factor=factor), "epoch"
