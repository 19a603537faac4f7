"""The ``gradstep`` command: train, evaluate and predict from the shell.

Parses arguments (and an optional TOML config), builds the data, model and optimizer,
and calls :func:`gradstep.fit`; no maths here. Bad input (unknown option or value, a
missing or unreadable file) prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from gradstep import distributed
from gradstep.callbacks import Callback
from gradstep.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    NonFiniteError,
    TrainingInterrupted,
)
from gradstep.viz import commands as _viz

__all__ = ["main"]

DATASETS = ("digits", "iris", "breast-cancer", "wine", "diabetes", "fashion-mnist", "mnist")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.05}

TRAIN_EXAMPLES = """\
examples:
  gradstep train                                   # MLP on digits, about 5 s
  gradstep train --dataset fashion-mnist --model mlp:512,256 --epochs 15 --batch-size 128
  gradstep train --dataset fashion-mnist --model cnn --epochs 3 --lr 2e-3
  gradstep train --dataset iris --model linear --optimizer sgd --lr 0.1 --momentum 0.9
  gradstep train --dataset csv:data.csv --batch-size full --epochs 200
  gradstep train --config run.toml --lr 0.01       # flags override the file
  gradstep train --resume runs/digits-mlp/last.safetensors --epochs 40
"""

MAIN_EXAMPLES = """\
examples:
  gradstep train                                   # MLP on digits, writes runs/<name>/
  gradstep evaluate runs/digits-mlp/last.safetensors
  gradstep predict runs/digits-mlp/last.safetensors inputs.npy
  gradstep export runs/digits-mlp/last.safetensors model.onnx
  gradstep compare                                 # batch 1 / 32 / full, with and without momentum
  gradstep paths --function rosenbrock             # optimizer paths on a 2-D function
  gradstep step --explain                          # one update of a tiny network, number by number
  gradstep train --help                            # every training option
"""


class _UsageError(Exception):
    """Bad command-line input: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message}")


# -------------------------------------------------------------------- value parsing


def _num(name: str, v: Any, kind: type = float) -> Any:
    if isinstance(v, bool):
        raise ConfigError(f"{name}: expected a number, got {v!r}")
    try:
        x = kind(v)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name}: expected {'an integer' if kind is int else 'a number'}, got {v!r}"
        ) from None
    if kind is int and isinstance(v, float) and v != x:
        raise ConfigError(f"{name}: expected an integer, got {v!r}")
    if kind is float and not math.isfinite(x):
        raise ConfigError(f"{name}: expected a finite number, got {v!r}")
    return x


def _positive(name: str) -> Callable[[Any], float]:
    def conv(v: Any) -> float:
        x = _num(name, v)
        if x <= 0:
            raise ConfigError(f"{name}: must be > 0, got {v}")
        return float(x)

    return conv


def _nonneg(name: str) -> Callable[[Any], float]:
    def conv(v: Any) -> float:
        x = _num(name, v)
        if x < 0:
            raise ConfigError(f"{name}: must be >= 0, got {v}")
        return float(x)

    return conv


def _int_at_least(name: str, lo: int) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        x = _num(name, v, int)
        if x < lo:
            raise ConfigError(f"{name}: must be an integer >= {lo}, got {v}")
        return int(x)

    return conv


def _momentum(v: Any) -> float:
    x = _num("--momentum", v)
    if not 0.0 <= x < 1.0:
        raise ConfigError(f"--momentum: must be in [0, 1), got {v}")
    return float(x)


def _fraction(name: str) -> Callable[[Any], float]:
    def conv(v: Any) -> float:
        x = _num(name, v)
        if not 0.0 < x < 1.0:
            raise ConfigError(f"{name}: must be between 0 and 1 (exclusive), got {v}")
        return float(x)

    return conv


def _val_fraction(v: Any) -> float:
    x = _num("--val-split", v)
    if not 0.0 <= x < 1.0:
        raise ConfigError(f"--val-split: must be in [0, 1), got {v}")
    return float(x)


def _batch_size(v: Any) -> int | str:
    if isinstance(v, str) and v.strip().lower() in ("full", "all", "n"):
        return "full"
    x = _num("--batch-size", v, int)
    if x < 1:
        raise ConfigError(f"--batch-size: must be 1, a positive integer N or 'full', got {v}")
    return int(x)


def _dataset(v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"--dataset: expected a name, got {v!r}")
    name = v.strip()
    if name.lower().startswith("csv:"):
        path = name[4:]
        if not path:
            raise ConfigError("--dataset: csv: needs a path, e.g. csv:data.csv")
        return "csv:" + path
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise ConfigError(
            f"--dataset: unknown dataset {v!r}; expected one of {', '.join(DATASETS)} or csv:PATH"
        )
    return key


def _model(v: Any) -> str:
    from gradstep.models import parse_spec

    if not isinstance(v, str):
        raise ConfigError(f"--model: expected e.g. mlp:256,128, got {v!r}")
    parse_spec(v)
    return v.strip().lower()


def _optimizer(v: Any) -> str:
    if not isinstance(v, str) or v.strip().lower() not in OPTIMIZERS:
        raise ConfigError(
            f"--optimizer: unknown optimizer {v!r}; expected one of {', '.join(OPTIMIZERS)}"
        )
    return v.strip().lower()


def _schedule(v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"--schedule: expected a schedule name, got {v!r}")
    s = v.strip().lower()
    kind, *args = s.split(":")
    expected = {"none": 0, "cosine": 0, "onecycle": 0, "step": 2, "exponential": 1, "plateau": 2}
    if kind not in expected:
        raise ConfigError(
            f"--schedule: unknown schedule {v!r}; expected none, cosine, onecycle, "
            "step:EPOCHS[:GAMMA], exponential:GAMMA or plateau[:PATIENCE[:FACTOR]]"
        )
    if (
        len(args) > expected[kind]
        or (kind == "exponential" and not args)
        or (kind == "step" and not args)
    ):
        raise ConfigError(f"--schedule: bad arguments in {v!r}")
    for i, a in enumerate(args):
        if kind == "step" and i == 0 or kind == "plateau" and i == 0:
            _int_at_least("--schedule", 1)(a)
        else:
            x = _num("--schedule", a)
            if not 0 < x <= 1:
                raise ConfigError(f"--schedule: factor must be in (0, 1], got {a}")
    return s


def _bool(name: str) -> Callable[[Any], bool]:
    def conv(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in (
            "true",
            "yes",
            "1",
            "on",
            "false",
            "no",
            "0",
            "off",
        ):
            return v.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{name}: expected true or false, got {v!r}")

    return conv


def _path(name: str) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{name}: expected a path, got {v!r}")
        return v

    return conv


def _verbosity(v: Any) -> int:
    x = _num("--verbose", v, int)
    if x not in (0, 1, 2):
        raise ConfigError(f"--verbose: must be 0, 1 or 2, got {v}")
    return int(x)


# name: (converter, default, help)
TRAIN_OPTIONS: dict[str, tuple[Callable[[Any], Any], Any, str]] = {
    "dataset": (
        _dataset,
        "digits",
        "digits, iris, breast-cancer, wine, diabetes, fashion-mnist, mnist or csv:PATH "
        "(default: digits)",
    ),
    "model": (
        _model,
        "mlp:256,128",
        "mlp[:W1,W2,...][:dropout=P], cnn[:C1,C2,...] or linear (default: mlp:256,128)",
    ),
    "optimizer": (_optimizer, "adam", "sgd, adam, adamw, rmsprop or adagrad (default: adam)"),
    "lr": (
        _positive("--lr"),
        None,
        "learning rate (default: 0.001 for adam/adamw/rmsprop, 0.05 for sgd/adagrad)",
    ),
    "momentum": (_momentum, 0.0, "SGD/RMSprop momentum in [0, 1) (default: 0)"),
    "nesterov": (_bool("--nesterov"), False, "Nesterov momentum (SGD)"),
    "weight_decay": (
        _nonneg("--weight-decay"),
        0.0,
        "L2 penalty (decoupled for adamw; default: 0; adamw: 0.01)",
    ),
    "batch_size": (_batch_size, 32, "1 (per-example SGD), N (mini-batch) or full (default: 32)"),
    "epochs": (_int_at_least("--epochs", 1), 20, "number of epochs (default: 20)"),
    "schedule": (
        _schedule,
        "none",
        "none, cosine, onecycle, step:EPOCHS[:GAMMA], exponential:GAMMA, "
        "plateau[:PATIENCE[:FACTOR]] (default: none)",
    ),
    "seed": (_int_at_least("--seed", 0), 0, "seed of the split, initial weights and shuffling"),
    "test_size": (
        _fraction("--test-size"),
        0.2,
        "test fraction for sets without an official split (default: 0.2)",
    ),
    "val_split": (
        _val_fraction,
        0.0,
        "fraction of the training data held out for per-epoch validation (default: 0)",
    ),
    "accumulate": (_int_at_least("--accumulate", 1), 1, "batches per optimizer step"),
    "grad_clip": (_positive("--grad-clip"), None, "clip the gradient norm to this value"),
    "threads": (
        _int_at_least("--threads", 0),
        1,
        "BLAS threads (default: 1, best for small models on shared CPUs; 0: library default)",
    ),
    "data_root": (_path("--data-root"), None, "folder with the IDX files of (fashion-)mnist"),
    "resume": (_path("--resume"), None, "continue from a checkpoint (epochs is the total)"),
    "out": (_path("--out"), None, "run folder (default: runs/<dataset>-<model>-<time>)"),
    "verbose": (_verbosity, 1, "0 quiet, 1 progress bar (default), 2 one line per epoch"),
}


def _add_train_options(p: argparse.ArgumentParser) -> None:
    for name, (_conv, _default, help_) in TRAIN_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if name == "nesterov":
            p.add_argument(
                flag, dest=name, action="store_const", const=True, default=None, help=help_
            )
        elif name == "verbose":
            p.add_argument(
                "-v",
                "--verbose",
                dest=name,
                nargs="?",
                const="2",
                default=None,
                metavar="LEVEL",
                help=help_ + "; -v alone means 2",
            )
            p.add_argument(
                "-q",
                "--quiet",
                dest=name,
                action="store_const",
                const="0",
                help="no progress output (same as --verbose 0)",
            )
        else:
            p.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=help_)
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="read any of these options from a TOML file (flags override it)",
    )


def _read_toml(path: str) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ConfigError(
                "--config: reading TOML needs Python 3.11+ or the 'tomli' "
                "package (pip install tomli)"
            ) from None
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--config: {path} is not UTF-8 text (TOML): {exc.reason} at byte "
                          f"{exc.start}") from None
    if "train" in data and isinstance(data["train"], dict):
        data = {**{k: v for k, v in data.items() if k != "train"}, **data["train"]}
    out = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in TRAIN_OPTIONS or name == "config":
            raise ConfigError(f"--config: unknown option {key!r} in {path}")
        out[name] = value
    return out


def resolve_train_config(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults < TOML file < command-line flags, every value validated."""
    merged: dict[str, Any] = {}
    if args.config is not None:
        merged.update(_read_toml(args.config))
    for name in TRAIN_OPTIONS:
        v = getattr(args, name, None)
        if v is not None:
            merged[name] = v
    cfg: dict[str, Any] = {}
    for name, (conv, default, _) in TRAIN_OPTIONS.items():
        cfg[name] = conv(merged[name]) if name in merged and merged[name] is not None else default
    if cfg["lr"] is None:
        cfg["lr"] = DEFAULT_LR[cfg["optimizer"]]
    if cfg["optimizer"] == "adamw" and "weight_decay" not in merged:
        cfg["weight_decay"] = 0.01
    if cfg["nesterov"] and cfg["optimizer"] != "sgd":
        raise ConfigError(f"--nesterov: applies to --optimizer sgd only, got {cfg['optimizer']}")
    if cfg["nesterov"] and cfg["momentum"] == 0:
        raise ConfigError("--nesterov: needs --momentum > 0")
    if cfg["momentum"] and cfg["optimizer"] not in ("sgd", "rmsprop"):
        raise ConfigError(f"--momentum: applies to sgd and rmsprop only, got {cfg['optimizer']}")
    return cfg


# ------------------------------------------------------------------------- data


def _load_dataset(cfg: dict[str, Any]) -> Any:
    from gradstep import data

    name = cfg["dataset"]
    if name.startswith("csv:"):
        path = name[4:]
        if not os.path.isfile(path):
            raise DataError(f"--dataset: file not found: {path}")
        if not os.access(path, os.R_OK):
            raise DataError(f"--dataset: file not readable: {path}")
        return data.load_csv(path)
    if name in ("fashion-mnist", "mnist"):
        from gradstep import datasets

        fn = datasets.load_fashion_mnist if name == "fashion-mnist" else datasets.load_mnist
        return fn(cfg.get("data_root"))
    fn = getattr(data, "load_" + name.replace("-", "_"))
    return fn()


def _split(cfg: dict[str, Any], ds: Any) -> tuple[np.ndarray, ...]:
    from gradstep import data

    x, y = ds.x, ds.y
    if ds.x_test is not None:
        return x, ds.x_test, y, ds.y_test
    gen = np.random.default_rng(cfg["seed"])
    if ds.task == "classification":
        return tuple(data.stratified_split(x, y, cfg["test_size"], generator=gen))
    return tuple(data.train_test_split(x, y, test_size=cfg["test_size"], generator=gen))


class _Prep:
    """Input preprocessing saved with the model: standardization and reshaping."""

    def __init__(
        self,
        mean: np.ndarray,
        std: np.ndarray,
        raw_shape: Sequence[int],
        model_shape: Sequence[int],
        task: str,
        classes: Sequence[str],
        y_mean: float = 0.0,
        y_std: float = 1.0,
    ) -> None:
        self.mean, self.std = mean, std
        self.raw_shape = tuple(int(s) for s in raw_shape)
        self.model_shape = tuple(int(s) for s in model_shape)
        self.task = task
        self.classes = list(classes)
        self.y_mean, self.y_std = float(y_mean), float(y_std)

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, task: str, classes: Sequence[str], kind: str
    ) -> _Prep:
        x64 = x.astype(np.float64)
        mean, std = x64.mean(axis=0), x64.std(axis=0)
        std = np.where(std < 1e-8, 1.0, std)
        raw = x.shape[1:]
        if kind == "cnn":
            if len(raw) == 2:
                model_shape: tuple[int, ...] = (1, *raw)
            elif len(raw) == 1 and math.isqrt(raw[0]) ** 2 == raw[0]:
                s = math.isqrt(raw[0])
                model_shape = (1, s, s)
            elif len(raw) == 3:
                model_shape = tuple(raw)
            else:
                raise ConfigError(f"--model cnn: needs image input; examples have shape {raw}")
        else:
            model_shape = tuple(raw)
        y_mean, y_std = 0.0, 1.0
        if task == "regression":
            y_mean, y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        return cls(
            mean.astype(np.float32),
            std.astype(np.float32),
            raw,
            model_shape,
            task,
            classes,
            y_mean,
            y_std,
        )

    def x(self, x: np.ndarray, what: str = "input") -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise DataError(f"{what}: expected numbers, got dtype {x.dtype}")
        n = int(math.prod(self.raw_shape))
        if x.shape[1:] != self.raw_shape:
            if x.ndim >= 1 and x.size == len(x) * n and len(x) > 0:
                x = x.reshape((len(x), *self.raw_shape))
            elif x.ndim == len(self.raw_shape) and x.size == n:
                x = x.reshape((1, *self.raw_shape))
            else:
                raise DataError(
                    f"{what}: examples must have shape {self.raw_shape} "
                    f"({n} values), got array of shape {x.shape}"
                )
        if not np.all(np.isfinite(x)):
            raise DataError(f"{what}: contains NaN or infinite values")
        z = ((x.astype(np.float32) - self.mean) / self.std).astype(np.float32)
        return z.reshape((len(z), *self.model_shape))

    def y(self, y: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return ((y - self.y_mean) / self.y_std).astype(np.float32)
        return y

    def state(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "raw_shape": list(self.raw_shape),
            "model_shape": list(self.model_shape),
            "task": self.task,
            "classes": self.classes,
            "y_mean": self.y_mean,
            "y_std": self.y_std,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> _Prep:
        try:
            return cls(
                np.asarray(s["mean"], np.float32),
                np.asarray(s["std"], np.float32),
                s["raw_shape"],
                s["model_shape"],
                s["task"],
                s.get("classes", []),
                s.get("y_mean", 0.0),
                s.get("y_std", 1.0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint: malformed preprocessing record: {exc}") from None


# ----------------------------------------------------------------------- training


def _optimizer_for(cfg: dict[str, Any], params: Any) -> Any:
    from gradstep import optim

    name, lr, wd, mom = cfg["optimizer"], cfg["lr"], cfg["weight_decay"], cfg["momentum"]
    if name == "sgd":
        return optim.SGD(
            params, lr=lr, momentum=mom, nesterov=cfg["nesterov"], weight_decay=wd, flat=True
        )
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd, flat=True)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd, flat=True)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=mom, weight_decay=wd, flat=True)
    return optim.Adagrad(params, lr=lr, weight_decay=wd, flat=True)


def _scheduler_for(cfg: dict[str, Any], opt: Any, steps_per_epoch: int) -> tuple[Any, str]:
    from gradstep.optim import lr_scheduler as S

    kind, *args = cfg["schedule"].split(":")
    if kind == "none":
        return None, "epoch"
    if kind == "cosine":
        return S.CosineAnnealingLR(opt, T_max=cfg["epochs"]), "epoch"
    if kind == "onecycle":
        return S.OneCycleLR(
            opt, max_lr=cfg["lr"], total_steps=cfg["epochs"] * steps_per_epoch, cycle_momentum=False
        ), "step"
    if kind == "step":
        gamma = float(args[1]) if len(args) > 1 else 0.1
        return S.StepLR(opt, step_size=int(args[0]), gamma=gamma), "epoch"
    if kind == "exponential":
        return S.ExponentialLR(opt, gamma=float(args[0])), "epoch"
    patience = int(args[0]) if args else 3
    factor = float(args[1]) if len(args) > 1 else 0.1
    return S.ReduceLROnPlateau(opt, patience=patience, factor=factor), "epoch"


@contextlib.contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    if n <= 0:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n):
        yield


def _run_dir(cfg: dict[str, Any]) -> Path:
    if cfg["out"]:
        return Path(cfg["out"])
    ds = cfg["dataset"].split(":", 1)[0] if cfg["dataset"].startswith("csv:") else cfg["dataset"]
    if cfg["dataset"].startswith("csv:"):
        ds = Path(cfg["dataset"][4:]).stem or "csv"
    kind = cfg["model"].split(":", 1)[0]
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{ds}-{kind}-{stamp}"
    p, i = base, 1
    while p.exists():
        i += 1
        p = base.with_name(f"{base.name}-{i}")
    return p


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def _write_plots(run: Path, history: Any) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: skipped the loss and accuracy plots"
    epochs = history.epoch
    for metric, fname in (("loss", "loss.png"), ("accuracy", "accuracy.png"), ("mae", "mae.png")):
        if metric not in history:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
        ax.plot(epochs, history[metric], label="train", marker="o", ms=3)
        if "val_" + metric in history:
            ax.plot(epochs, history["val_" + metric], label="validation", marker="o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(run / fname)
        plt.close(fig)
    return None


def cmd_train(args: argparse.Namespace) -> int:
    from gradstep import callbacks as cb
    from gradstep import models
    from gradstep.data import DataLoader, stratified_split, train_test_split
    from gradstep.train import evaluate, fit, predict

    cfg = resolve_train_config(args)
    if cfg["resume"] is not None and not os.path.isfile(cfg["resume"]):
        raise CheckpointError(f"--resume: file not found: {cfg['resume']}")
    verbose = cfg["verbose"]
    t_start = time.perf_counter()
    ds = _load_dataset(cfg)
    x_tr, x_te, y_tr, y_te = _split(cfg, ds)
    kind = models.parse_spec(cfg["model"])[0]
    classification = ds.task == "classification"
    n_out = len(ds.classes) if classification else 1
    prep = _Prep.fit(x_tr, y_tr, ds.task, [str(c) for c in ds.classes], kind)
    xtr, ytr = prep.x(x_tr, "training data"), prep.y(y_tr)
    xte = prep.x(x_te, "test data")
    val = None
    if cfg["val_split"] > 0:
        gen = np.random.default_rng(cfg["seed"] + 1)
        if classification:
            xtr, xv, ytr, yv = stratified_split(xtr, ytr, cfg["val_split"], generator=gen)
        else:
            xtr, xv, ytr, yv = train_test_split(xtr, ytr, test_size=cfg["val_split"], generator=gen)
        val = (xv, yv)

    main = not distributed.init_if_launched() or distributed.is_main()  # rank 0 writes
    run = Path(distributed.broadcast_json(str(_run_dir(cfg))))  # one folder for all ranks
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {run}: {exc.strerror or exc}") from None
    if not os.access(run, os.W_OK):
        raise ConfigError(f"--out: {run} is not writable")

    model = models.build(
        cfg["model"], prep.model_shape, n_out, generator=np.random.default_rng(cfg["seed"])
    )
    opt = _optimizer_for(cfg, model.parameters())
    loader = DataLoader(
        (xtr, ytr),
        batch_size=cfg["batch_size"],
        shuffle=True,
        generator=np.random.default_rng(cfg["seed"]),
    )
    steps = -(-len(loader) // cfg["accumulate"])
    sched, interval = _scheduler_for(cfg, opt, steps)
    loss = "cross_entropy" if classification else "mse"
    meta = {
        "cli_config": {k: v for k, v in cfg.items() if v is not None},
        "preprocess": prep.state(),
        "dataset": ds.name,
    }
    callbacks: list[Any] = [cb.ModelCheckpoint(run, monitor="val_loss", save_best=val is not None)]
    callbacks.append(_MetaSaver(meta))
    if verbose and main:
        print(
            f"gradstep: training {cfg['model']} on {ds.name} "
            f"({len(xtr):,} training, {len(xte):,} test examples, {cfg['optimizer']} "
            f"lr={cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['epochs']} epochs) -> {run}",
            flush=True,
        )
    with _blas_threads(cfg["threads"]), _resume_hint(run, cfg):
        t0, c0 = time.perf_counter(), time.process_time()
        history = fit(
            model,
            loader,
            loss=loss,
            optimizer=opt,
            epochs=cfg["epochs"],
            val=val,
            scheduler=sched,
            scheduler_interval=interval,
            callbacks=callbacks,
            grad_clip=cfg["grad_clip"],
            accumulate=cfg["accumulate"],
            resume=cfg["resume"],
            verbose=verbose,
            track=_viz.track_option(args),
        )
        train_time = time.perf_counter() - t0
        train_cpu = time.process_time() - c0
        if classification:
            res = evaluate(model, (xte, y_te), loss=loss)
        else:
            pred = predict(model, xte)[:, 0] * prep.y_std + prep.y_mean
            res = {
                "mse": float(np.mean((pred - y_te) ** 2)),
                "mae": float(np.mean(np.abs(pred - y_te))),
            }
    if not main:
        return 0
    history.to_csv(run / "history.csv")
    history.to_json(run / "history.json")
    _viz.after_train(args, history, run)
    _write_config(run, cfg)
    results = {
        "test": res,
        "train_seconds": train_time,
        "train_cpu_seconds": train_cpu,
        "total_seconds": time.perf_counter() - t_start,
        "epochs": len(history.epoch),
    }
    (run / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    note = _write_plots(run, history)
    if note and verbose:
        print(f"gradstep: note: {note}", file=sys.stderr)
    if classification:
        print(
            f"test accuracy: {res['accuracy']:.4f}  (test loss {res['loss']:.4f}, "
            f"{len(xte):,} examples, {train_time:.1f}s training)"
        )
    else:
        print(
            f"test MSE: {res['mse']:.4g}  MAE: {res['mae']:.4g}  ({len(xte):,} examples, "
            f"{train_time:.1f}s training)"
        )
    if verbose:
        print(f"run folder: {run}")
    return 0


def _write_config(run: Path, cfg: dict[str, Any]) -> None:
    skip = ("resume", "out", "config")
    resolved = {k: v for k, v in cfg.items() if v is not None and k not in skip}
    (run / "config.toml").write_text(
        "# gradstep train --config config.toml reproduces this run\n"
        + "".join(f"{k.replace('_', '-')} = {_toml_value(v)}\n" for k, v in resolved.items())
    )


@contextlib.contextmanager
def _resume_hint(run: Path, cfg: dict[str, Any]) -> Iterator[None]:
    """On Ctrl-C (fit wrote ``last.safetensors``): write config.toml and say how to resume."""
    try:
        yield
    except TrainingInterrupted as exc:
        if exc.checkpoint is None:
            raise
        import shlex

        _write_config(run, cfg)
        cmd = (f"gradstep train --config {shlex.quote(str(run / 'config.toml'))} "
               f"--resume {shlex.quote(str(exc.checkpoint))} --out {shlex.quote(str(run))}")
        raise TrainingInterrupted(
            f"interrupted after step {exc.step} (epoch {exc.epoch + 1}); saved a resumable "
            f"checkpoint to {exc.checkpoint}; resume with: {cmd}",
            exc.checkpoint, exc.epoch, exc.step,
        ) from None


class _MetaSaver(Callback):
    """Adds the CLI's preprocessing record to every checkpoint the trainer writes."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def on_train_begin(self, trainer: Any) -> None:
        trainer.meta.update(self.meta)


# --------------------------------------------------------------- evaluate / predict


def _load_checkpoint(path: str) -> tuple[Any, _Prep, dict[str, Any]]:
    import gradstep

    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    ck = gradstep.load(path)
    if ck.model is None:
        raise CheckpointError(
            f"checkpoint {path!r}: records no model config; it was not written by gradstep train"
        )
    pre = ck.meta.get("preprocess")
    if not isinstance(pre, dict):
        raise CheckpointError(
            f"checkpoint {path!r}: records no preprocessing (not written by gradstep train)"
        )
    cfg = ck.meta.get("cli_config", {})
    return ck.model, _Prep.from_state(pre), cfg if isinstance(cfg, dict) else {}


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gradstep.train import evaluate, predict

    model, prep, cfg = _load_checkpoint(args.checkpoint)
    cfg = {**{k: d for k, (_, d, _) in TRAIN_OPTIONS.items()}, **cfg}
    if args.dataset is not None:
        cfg["dataset"] = _dataset(args.dataset)
    if args.data_root is not None:
        cfg["data_root"] = args.data_root
    ds = _load_dataset(cfg)
    _, x_te, _, y_te = _split(cfg, ds)
    with _blas_threads(int(cfg.get("threads", 1) or 0)):
        x = prep.x(x_te, "test data")
        if prep.task == "classification":
            res = evaluate(model, (x, y_te), loss="cross_entropy")
            print(
                f"test accuracy: {res['accuracy']:.4f}  (test loss {res['loss']:.4f}, "
                f"{len(x):,} examples)"
            )
        else:
            pred = predict(model, x)[:, 0] * prep.y_std + prep.y_mean
            print(
                f"test MSE: {np.mean((pred - y_te) ** 2):.4g}  "
                f"MAE: {np.mean(np.abs(pred - y_te)):.4g}  ({len(x):,} examples)"
            )
    return 0


def _read_input(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise DataError(f"input file not found: {path}")
    if os.path.isdir(path):
        raise DataError(f"input is a directory: {path}")
    try:
        if path.lower().endswith(".npy"):
            try:
                return np.load(path, allow_pickle=False)  # type: ignore[no-any-return]
            except ValueError as exc:
                raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        if path.lower().endswith(".csv"):
            rows = Path(path).read_text(encoding="utf-8-sig").strip().splitlines()
            if not rows:
                raise DataError(f"{path}: empty CSV file")
            try:
                [float(v) for v in rows[0].split(",")]
            except ValueError:
                rows = rows[1:]  # a header row
            try:
                data = np.array(
                    [[float(v) for v in r.split(",")] for r in rows if r.strip()], dtype=np.float64
                )
            except ValueError as exc:
                raise DataError(f"{path}: non-numeric value ({exc})") from None
            if data.ndim != 2 or data.size == 0:
                raise DataError(f"{path}: expected rows of equal length")
            return data
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV file") from None
    raise DataError(f"input must be a .npy or .csv file, got {path}")


def cmd_predict(args: argparse.Namespace) -> int:
    from gradstep.train import predict

    model, prep, cfg = _load_checkpoint(args.checkpoint)
    x = prep.x(_read_input(args.input), args.input)
    with _blas_threads(int(cfg.get("threads", 1) or 0)):
        out = predict(model, x)
    if prep.task == "classification":
        labels = out.argmax(axis=1)
        names = prep.classes
        lines = [names[i] if args.names and i < len(names) else str(int(i)) for i in labels]
        result: np.ndarray = labels
    else:
        result = out[:, 0] * prep.y_std + prep.y_mean
        lines = [repr(float(v)) for v in result]
    if args.output:
        try:
            if args.output.endswith(".npy"):
                np.save(args.output, result)
            else:
                Path(args.output).write_text("\n".join(lines) + "\n")
        except OSError as exc:
            raise DataError(
                f"--output: cannot write {args.output}: {exc.strerror or exc}"
            ) from None
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


# ---------------------------------------------------------------------------- main


def cmd_export(args: argparse.Namespace) -> int:
    from gradstep import onnx_export

    shape = None if args.input_shape is None else onnx_export.parse_input_shape(args.input_shape)
    try:
        out = onnx_export.export_checkpoint(
            args.checkpoint, args.output, input_shape=shape, preprocess=not args.no_preprocess
        )
    except ImportError as exc:
        raise ConfigError(str(exc)) from None
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(
        prog="gradstep",
        description="Train neural networks by gradient descent on NumPy.",
        epilog=MAIN_EXAMPLES,
        formatter_class=fmt,
    )
    sub = p.add_subparsers(
        dest="command",
        metavar="{train,evaluate,predict,export,compare,paths,step}",
        parser_class=_Parser,
    )
    t = sub.add_parser(
        "train",
        help="train a model and write a run folder",
        description="Train a model on a data set, print the test accuracy and "
        "write a run folder (checkpoint, history CSV/JSON, curves, config).",
        epilog=TRAIN_EXAMPLES,
        formatter_class=fmt,
    )
    _add_train_options(t)
    _viz.add_track_layers_flag(t)  # gradstep.viz: --track-layers
    e = sub.add_parser(
        "evaluate",
        help="test accuracy of a checkpoint",
        description="Evaluate a checkpoint written by 'gradstep train' on the "
        "test split of its data set.",
        epilog="example:\n  gradstep evaluate runs/digits-mlp/last.safetensors",
        formatter_class=fmt,
    )
    e.add_argument("checkpoint", help="a .safetensors checkpoint from gradstep train")
    e.add_argument("--dataset", default=None, help="evaluate on another data set (same features)")
    e.add_argument("--data-root", default=None, help="folder with the IDX files of (fashion-)mnist")
    pr = sub.add_parser(
        "predict",
        help="predict classes or values for new inputs",
        description="Predict with a checkpoint written by 'gradstep train'. "
        "INPUT is a .npy array (loaded without pickle) or a numeric .csv file "
        "(optional header), one example per row, raw features as in the data set.",
        epilog="examples:\n  gradstep predict runs/digits-mlp/last.safetensors "
        "x.npy\n  gradstep predict ck.safetensors rows.csv --output labels.txt",
        formatter_class=fmt,
    )
    pr.add_argument("checkpoint", help="a .safetensors checkpoint from gradstep train")
    pr.add_argument("input", help=".npy or .csv file of examples")
    pr.add_argument(
        "--output", "-o", default=None, help="write predictions to a .txt/.csv or .npy file"
    )
    pr.add_argument("--names", action="store_true", help="print class names instead of indices")
    ex = sub.add_parser(
        "export",
        help="export a checkpoint's model to ONNX",
        description="Export the model of a checkpoint to ONNX (needs gradstep[onnx]); "
        "see docs/interop.md.",
        epilog="examples:\n  gradstep export runs/digits-mlp/last.safetensors model.onnx\n"
        "  gradstep export cnn.safetensors cnn.onnx --input-shape 1,28,28",
        formatter_class=fmt,
    )
    ex.add_argument("checkpoint", help="a .safetensors checkpoint")
    ex.add_argument("output", help="the .onnx file to write")
    ex.add_argument("--input-shape", default=None, help="shape of one network input, e.g. 1,28,28")
    ex.add_argument(
        "--no-preprocess",
        action="store_true",
        help="export the bare network, without gradstep train's input scaling",
    )
    _viz.add_subcommands(sub)  # gradstep.viz: compare, paths, step
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gradstep`` command; returns the exit status."""
    return distributed.abort_if_failed(_main(argv))  # under mpiexec a failure ends all ranks


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        cmd = {
            "train": cmd_train,
            "evaluate": cmd_evaluate,
            "predict": cmd_predict,
            "export": cmd_export,
        }
        return (cmd.get(args.command) or args.handler)(args)  # viz commands set handler
    except _UsageError as exc:
        print(f"{exc}".replace("\n", " "), file=sys.stderr)
        return 2
    except (ConfigError, DataError, CheckpointError) as exc:
        print(f"gradstep: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except NonFiniteError as exc:
        print(f"gradstep: training stopped: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (OSError, ValueError, TypeError) as exc:
        print(f"gradstep: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"gradstep: {_one_line(exc)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("gradstep: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
