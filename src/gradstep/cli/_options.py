"""Option values of ``gradstep train``: converters, defaults, help, the TOML config.

Every option is checked here and turned into its Python value; a bad value raises
:class:`~gradstep.errors.ConfigError` naming the option, what it expects and what it got.
Precedence: defaults < ``--config FILE.toml`` < flags.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from gradstep.errors import ConfigError

__all__ = [
    "DATASETS",
    "DEFAULT_LR",
    "OPTIMIZERS",
    "RESUMABLE",
    "TRAIN_OPTIONS",
    "add_train_options",
    "dataset_name",
    "read_toml",
    "resolve_train_config",
]

DATASETS = ("digits", "iris", "breast-cancer", "wine", "diabetes", "fashion-mnist", "mnist")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.05}
SCALES = ("auto", "feature", "global", "unit", "none")
ACTIVATIONS = ("relu", "sigmoid", "tanh")
LOSSES = ("cross-entropy", "mse", "bce")
INITS = ("default", "normal", "normal-scaled", "xavier", "he")

#: Options that may differ from the run's when resuming (they do not change the arithmetic
#: of the steps already taken or to come, or only extend the run).
RESUMABLE = ("epochs", "verbose", "threads", "data_root", "download", "resume", "out",
             "overwrite", "config", "eval_every", "max_loss_ratio", "no_compile")


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


def _val_split(v: Any) -> float | int:
    """A fraction in [0, 1) (0: none) or a count of examples (an integer >= 1)."""
    if isinstance(v, bool):
        raise ConfigError(f"--val-split: expected a fraction or a count, got {v!r}")
    if isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit()):
        n = int(v)
        return 0.0 if n == 0 else n
    x = _num("--val-split", v)
    if not 0.0 <= x < 1.0:
        raise ConfigError(
            f"--val-split: expected a fraction in [0, 1) or a whole count of examples, got {v}"
        )
    return float(x)


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        s = v.strip().lower().replace("_", "-") if isinstance(v, str) else v
        if s not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {v!r}")
        return str(s)

    return conv


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


def _folder(name: str) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        p = _path(name)(v)
        if not os.path.isdir(p):
            raise ConfigError(f"{name}: no such folder: {p}")
        return p

    return conv


def _verbosity(v: Any) -> int:
    x = _num("--verbose", v, int)
    if x not in (0, 1, 2):
        raise ConfigError(f"--verbose: must be 0, 1 or 2, got {v}")
    return int(x)



def dataset_name(v: Any) -> str:
    """The one spelling of a data set name (``fashion_mnist`` -> ``fashion-mnist``)."""
    return _dataset(v)


def _flag(v: Any) -> bool:
    return _bool("flag")(v)


# name: (converter, default, help). The help says the default.
TRAIN_OPTIONS: dict[str, tuple[Callable[[Any], Any], Any, str]] = {
    "dataset": (_dataset, "digits",
                "digits, iris, breast-cancer, wine, diabetes, fashion-mnist, mnist "
                "(_ or -) or csv:PATH (default: digits)"),
    "task": (_choice("--task", ("auto", "classification", "regression")), "auto",
             "for csv: classification or regression (default: auto, inferred from the "
             "target column and printed)"),
    "model": (_model, "mlp:256,128",
              "mlp[:W1,W2,...][:dropout=P], cnn[:C1,C2,...] (images only) or linear "
              "(default: mlp:256,128)"),
    "activation": (_choice("--activation", ACTIVATIONS), "relu",
                   "hidden activation of an mlp: relu, sigmoid or tanh (default: relu)"),
    "init": (_choice("--init", INITS), "default",
             "initial weights: default (PyTorch's), normal (N(0,1) weights and biases), "
             "normal-scaled (N(0,1/n_in) weights, N(0,1) biases), xavier or he "
             "(default: default)"),
    "loss": (_choice("--loss", LOSSES), None,
             "classification cost: cross-entropy (softmax), mse (quadratic cost "
             "1/(2n) sum ||sigmoid(z)-onehot||^2, the textbook's scale) or bce (sigmoid "
             "cross-entropy summed over classes); regression always uses MSE "
             "(default: cross-entropy)"),
    "scale": (_choice("--scale", SCALES), "auto",
              "input scaling: feature (per-feature standardisation, std floored at "
              "range/20), global (one mean and std), unit (pixels to [0, 1]), none; "
              "auto is unit for mnist/fashion-mnist, feature otherwise (default: auto)"),
    "optimizer": (_optimizer, "adam", "sgd, adam, adamw, rmsprop or adagrad (default: adam)"),
    "lr": (_positive("--lr"), None,
           "learning rate (default: 0.001 for adam/adamw/rmsprop, 0.05 for sgd/adagrad)"),
    "momentum": (_momentum, 0.0, "SGD/RMSprop momentum in [0, 1) (default: 0)"),
    "nesterov": (_bool("--nesterov"), False, "Nesterov momentum, SGD only (default: off)"),
    "weight_decay": (_nonneg("--weight-decay"), 0.0,
                     "L2 penalty, coupled (decoupled for adamw); Nielsen's lambda/n "
                     "(default: 0; adamw: 0.01)"),
    "weight_decay_on": (_choice("--weight-decay-on", ("all", "weights")), "all",
                        "parameters the weight decay applies to: all, or weights only "
                        "(not biases) (default: all)"),
    "batch_size": (_batch_size, 32, "1 (per-example SGD), N (mini-batch) or full (default: 32)"),
    "epochs": (_int_at_least("--epochs", 1), 20,
               "total number of epochs, also when resuming (default: 20)"),
    "schedule": (_schedule, "none",
                 "none, cosine, onecycle, step:EPOCHS[:GAMMA], exponential:GAMMA, "
                 "plateau[:PATIENCE[:FACTOR]] (default: none)"),
    "seed": (_int_at_least("--seed", 0), 0,
             "seed of the splits, initial weights and shuffling (default: 0)"),
    "test_size": (_fraction("--test-size"), 0.2,
                  "test fraction for sets without an official split (default: 0.2)"),
    "val_split": (_val_split, 0.0,
                  "validation data held out of the training split: a fraction (random, "
                  "seeded) or a count N (the LAST N training examples, a fixed split; "
                  "10000 on mnist is the textbook's) (default: 0, none)"),
    "eval_every": (_int_at_least("--eval-every", 1), 1,
                   "evaluate validation and test data every K epochs and report the best "
                   "epoch (default: 1)"),
    "accumulate": (_int_at_least("--accumulate", 1), 1, "batches per optimizer step (default: 1)"),
    "grad_clip": (_positive("--grad-clip"), None,
                  "clip the global gradient norm to this value (default: no clipping)"),
    "max_loss_ratio": (_positive("--max-loss-ratio"), None,
                       "stop as diverged when a step's loss exceeds this multiple of the "
                       "first one (default: the library's, 1e4)"),
    "threads": (_int_at_least("--threads", 0), 1,
                "BLAS threads (default: 1, best for small models on shared CPUs; "
                "0: library default)"),
    "data_root": (_folder("--data-root"), None,
                  "folder holding mnist/ or fashion-mnist/ IDX files (default: "
                  "$GRADSTEP_DATA, then ~/.cache/gradstep)"),
    "download": (_flag, False, "download mnist/fashion-mnist if missing (default: off)"),
    "resume": (_path("--resume"), None,
               "continue the run of this checkpoint in its folder, with all its options "
               "(default: start a new run)"),
    "out": (_path("--out"), None, "run folder (default: runs/<dataset>-<model>-<time>)"),
    "overwrite": (_flag, False,
                  "let --out replace a folder that already holds a run (default: refuse)"),
    "verbose": (_verbosity, 1, "0 quiet, 1 progress bar, 2 one line per epoch (default: 1)"),
    "no_compile": (_flag, False,
                   "run every step eagerly instead of through fit's compiled plan (same "
                   "results, slower; default: compiled)"),
}

_FLAGS = ("nesterov", "download", "overwrite", "no_compile")


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Add every option of :data:`TRAIN_OPTIONS` (and ``--config``) to ``p``."""
    for name, (_conv, _default, help_) in TRAIN_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if name in _FLAGS:
            p.add_argument(flag, dest=name, action="store_const", const=True, default=None,
                           help=help_)
        elif name == "verbose":
            p.add_argument("-v", "--verbose", dest=name, nargs="?", const="2", default=None,
                           metavar="LEVEL", help=help_ + "; -v alone means 2")
            p.add_argument("-q", "--quiet", dest=name, action="store_const", const="0",
                           help="no progress output, same as --verbose 0 (default: off)")
        else:
            p.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=help_)
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="read any of these options from a TOML file; flags override it "
                        "(default: none)")


def read_toml(path: str) -> dict[str, Any]:
    """The options of a TOML file (top level or a ``[train]`` table), not yet converted."""
    import tomllib

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
        if name not in TRAIN_OPTIONS:
            raise ConfigError(f"--config: unknown option {key!r} in {path}")
        out[name] = value
    return out


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options set by ``--config`` or by flags (raw values, flags winning)."""
    merged: dict[str, Any] = {}
    if getattr(args, "config", None) is not None:
        merged.update(read_toml(args.config))
    for name in TRAIN_OPTIONS:
        v = getattr(args, name, None)
        if v is not None:
            merged[name] = v
    return merged


def convert(merged: dict[str, Any]) -> dict[str, Any]:
    """Defaults completed and every value converted and cross-checked."""
    cfg: dict[str, Any] = {}
    for name, (conv, default, _) in TRAIN_OPTIONS.items():
        cfg[name] = conv(merged[name]) if merged.get(name) is not None else default
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
    if cfg["task"] != "auto" and not cfg["dataset"].startswith("csv:"):
        raise ConfigError(f"--task: applies to csv:PATH data sets only, got --dataset "
                          f"{cfg['dataset']}")
    return cfg


def resolve_train_config(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults < TOML file < command-line flags, every value validated."""
    return convert(given_options(args))
