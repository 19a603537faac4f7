"""``gradstep train``: train a model on a data set and write a run folder.

A new run refuses a folder that already holds one (``--overwrite`` replaces it); ``--resume
CKPT`` takes every option from the checkpoint and continues in the checkpoint's folder.
Ctrl-C and SIGTERM finish the current step, write ``last.safetensors``, print the command
that resumes, and exit with 130 and 143.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from gradstep import distributed, runs
from gradstep.callbacks import Callback
from gradstep.cli import _options, _setup
from gradstep.cli._common import blas_threads
from gradstep.errors import CheckpointError, ConfigError, TrainingInterrupted
from gradstep.viz.commands import track_option

__all__ = ["EXAMPLES", "Terminated", "cmd_train", "register", "resume_config"]

EXAMPLES = """\
examples:
  gradstep train                                   # MLP on digits, about 5 s
  gradstep train --dataset fashion-mnist --model mlp:512,256 --epochs 15 --batch-size 128
  gradstep train --dataset fashion-mnist --model cnn --epochs 3 --lr 2e-3
  gradstep train --dataset iris --model linear --optimizer sgd --lr 0.1 --momentum 0.9
  gradstep train --dataset csv:data.csv --task regression --batch-size full --epochs 200
  gradstep train --config run.toml --lr 0.01       # flags override the file
  gradstep train --resume runs/digits-mlp/last.safetensors --epochs 40
Nielsen's networks (ch. 1 and ch. 3) on MNIST:
  gradstep train --dataset mnist --model mlp:30 --activation sigmoid --loss mse \\
      --init normal --optimizer sgd --lr 3.0 --batch-size 10 --epochs 30 --val-split 10000
  gradstep train --dataset mnist --model mlp:30 --activation sigmoid --loss cross-entropy \\
      --init normal-scaled --optimizer sgd --lr 0.5 --weight-decay 1e-4 \\
      --weight-decay-on weights --batch-size 10 --epochs 30 --val-split 10000
"""


class Terminated(TrainingInterrupted):
    """SIGTERM stopped training (after the step, with a checkpoint): exit status 143."""


def register(sub: Any) -> None:
    """Add the ``train`` subcommand to an argparse subparsers object."""
    from gradstep.viz.commands import add_track_layers_flag

    t = sub.add_parser(
        "train", help="train a model and write a run folder",
        description="Train a model on a data set, print the test accuracy and write a run "
                    "folder (config.toml, checkpoints, history CSV/JSON, results, curves).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _options.add_train_options(t)
    add_track_layers_flag(t)
    t.set_defaults(handler=cmd_train)


# ----------------------------------------------------------------------- resume
def resume_config(given: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The options of the run a ``--resume`` checkpoint belongs to, with allowed overrides.

    Returns:
        ``(cfg, checkpoint)``.

    Raises:
        CheckpointError: the checkpoint is missing, unreadable or not from gradstep train.
        ConfigError: an option given now differs from the run's and may not change.
    """
    import gradstep

    path = _options.TRAIN_OPTIONS["resume"][0](given["resume"])
    if not os.path.isfile(path):
        raise CheckpointError(f"--resume: file not found: {path}")
    ck = gradstep.load_checkpoint(path, build=False)
    saved = ck.meta.get("cli_config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"--resume: {path} records no gradstep train options (it was "
                              "not written by gradstep train)")
    run_cfg = _options.convert({k: v for k, v in saved.items()
                                if k in _options.TRAIN_OPTIONS and k not in _options.RESUMABLE})
    now = _options.convert({**saved, **given})
    for name in _options.TRAIN_OPTIONS:
        if name in _options.RESUMABLE or name not in given:
            continue
        if now[name] != run_cfg[name]:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(
                f"--resume: {flag} cannot change when resuming (the run has "
                f"{run_cfg[name]!r}, given {now[name]!r}); start a new run with --out to change it"
            )
    kind = run_cfg["schedule"].split(":", 1)[0]
    planned = _options.TRAIN_OPTIONS["epochs"][0](saved.get("epochs", now["epochs"]))
    if kind in ("cosine", "onecycle") and now["epochs"] != planned:
        raise ConfigError(
            f"--epochs: the run's {kind} schedule was laid out for {planned} epochs "
            f"and cannot stretch to {now['epochs']}; resume with --epochs {planned}"
        )
    run_dir = str(Path(path).parent)
    if "out" in given and Path(now["out"]).resolve() != Path(run_dir).resolve():
        raise ConfigError(f"--resume: the run continues in its own folder {run_dir}, not in "
                          f"--out {now['out']}")
    trainer = ck.meta.get("trainer")
    done = int(trainer.get("epoch", 0)) if isinstance(trainer, dict) else 0
    if now["epochs"] <= done:
        raise ConfigError(f"--epochs: the run has trained {done} epochs; give a larger total "
                          f"to continue (--epochs is the total, got {now['epochs']})")
    now["resume"], now["out"] = path, run_dir
    return now, ck


# --------------------------------------------------------------------- callbacks
class _MetaSaver(Callback):
    """Adds the command's options and preprocessing record to every checkpoint."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def on_train_begin(self, trainer: Any) -> None:
        trainer.meta.update(self.meta)


class _TestEval(Callback):
    """Evaluates the test data every ``every`` epochs (and the last); kept in checkpoints."""

    def __init__(self, test: tuple[np.ndarray, np.ndarray], loss: Any, metrics: Any,
                 every: int) -> None:
        self.test, self.loss, self.metrics, self.every = test, loss, metrics, every
        self.values: dict[str, dict[str, float]] = {}
        self.examples = 0

    def on_batch_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
        self.examples += int(logs.get("size", 0))

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        from gradstep.train import evaluate

        if (epoch + 1) % self.every and epoch + 1 < trainer.epochs:
            return
        res = evaluate(trainer.model, self.test, loss=self.loss, metrics=self.metrics)
        self.values[str(epoch + 1)] = {f"test_{k}": float(v) for k, v in res.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"values": self.values}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        vals = state.get("values", {})
        self.values = dict(vals) if isinstance(vals, dict) else {}

    def add_to(self, history: Any) -> None:
        """Put the recorded test metrics into ``history`` as ``test_*`` columns."""
        keys = sorted({k for v in self.values.values() for k in v})
        for k in keys:
            history.history[k] = [self.values.get(str(e), {}).get(k, float("nan"))
                                  for e in history.epoch]


class _TermWatch(Callback):
    """After SIGTERM: stop after the current step as Ctrl-C does."""

    def __init__(self) -> None:
        self.terminated = False

    def on_batch_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
        if self.terminated:
            request = getattr(trainer, "request_interrupt", None)
            if callable(request):
                request()
            else:
                trainer._interrupted = True


@contextmanager
def _sigterm(watch: _TermWatch) -> Iterator[None]:
    """Route SIGTERM to ``watch`` while training (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if watch.terminated:  # a second SIGTERM: stop now
            raise Terminated("terminated", None, 0, 0)
        watch.terminated = True

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ------------------------------------------------------------------------ the run
def _fit_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """Options of fit that the installed gradstep supports."""
    from gradstep.train import fit

    params = inspect.signature(fit).parameters
    extra: dict[str, Any] = {}
    if "eval_every" in params:
        extra["eval_every"] = cfg["eval_every"]
    if cfg["max_loss_ratio"] is not None:
        if "max_loss_ratio" not in params:
            raise ConfigError("--max-loss-ratio: this gradstep's fit has no max_loss_ratio")
        extra["max_loss_ratio"] = cfg["max_loss_ratio"]
    if cfg.get("no_compile") and "compile" in params:
        extra["compile"] = False
    return extra


def _announce(cfg: dict[str, Any], ds: Any, data: _setup.Prepared, run: Path) -> None:
    val = f", {len(data.val[0]):,} validation" if data.val is not None else ""
    print(f"gradstep: training {cfg['model']} on {ds.name} ({len(data.x_train):,} training"
          f"{val}, {len(data.x_test):,} test examples, {cfg['optimizer']} lr={cfg['lr']:g}, "
          f"batch {cfg['batch_size']}, {cfg['epochs']} epochs, inputs scaled "
          f"'{data.prep.scale}') -> {run}", flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``gradstep train``; returns the exit status."""
    from gradstep.train import evaluate, predict

    given = _options.given_options(args)
    ck = None
    if given.get("resume") is not None:
        cfg, ck = resume_config(given)
    else:
        cfg = _options.convert(given)
    t_start = time.perf_counter()
    ds = _setup.load_dataset(cfg["dataset"], cfg["data_root"], cfg["download"], cfg["task"])
    if cfg["dataset"].startswith("csv:") and cfg["task"] == "auto" and cfg["verbose"]:
        what = f"{len(ds.classes)} classes" if ds.task == "classification" else "numbers"
        print(f"gradstep: {cfg['dataset'][4:]}: target column read as {ds.task} ({what}); "
              "--task classification|regression changes it", file=sys.stderr)
    data = _setup.prepare_data(cfg, ds)
    loss, _ = _setup.loss_for(cfg, data.classification)
    model = _setup.build_model(cfg, data)
    opt = _setup.build_optimizer(cfg, model)
    from gradstep.data import DataLoader

    loader = DataLoader((data.x_train, data.y_train), batch_size=cfg["batch_size"],
                        shuffle=True, generator=np.random.default_rng(cfg["seed"]))
    sched, interval = _setup.build_scheduler(cfg, opt, -(-len(loader) // cfg["accumulate"]))
    extra = _fit_kwargs(cfg)

    main = not distributed.init_if_launched() or distributed.is_main()  # rank 0 writes
    if ck is not None:
        run = Path(cfg["out"])
    else:
        target = cfg["out"] or str(runs.default_run_dir(cfg["dataset"], cfg["model"]))
        run = Path(distributed.broadcast_json(target))  # one folder for all ranks
        if main:
            runs.prepare_run_dir(run, overwrite=cfg["overwrite"])
            runs.write_config(run, cfg)
    metrics = ["accuracy"] if data.classification else None
    test_eval = _TestEval((data.x_test, data.prep.y(data.y_test)), loss, metrics,
                          cfg["eval_every"])
    watch = _TermWatch()
    meta = {"cli_config": {**{k: v for k, v in cfg.items() if v is not None},
                           "out": str(run), "resume": None},
            "preprocess": data.prep.state(), "dataset": ds.name}
    callbacks: list[Any] = [
        test_eval,
        _cb_checkpoint(run, data.val is not None),
        _MetaSaver(meta),
        watch,
    ]
    # the tracker's slot is always there, so a run resumed with or without --track-layers
    # has the same callbacks and gets back the states of the others (matched by position)
    if track_option(args) is not None:
        from gradstep.viz.layers import LayerTracker

        callbacks.append(LayerTracker())
    else:
        callbacks.append(Callback())
    if cfg["verbose"] and main:
        _announce(cfg, ds, data, run)

    with blas_threads(cfg["threads"]), _resume_hint(run, cfg, watch), _sigterm(watch):
        t0, c0 = time.perf_counter(), time.process_time()
        history = _fit(model, loader, loss, opt, cfg, data, sched, interval, callbacks,
                       extra, metrics)
        train_time, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        if data.classification:
            res = evaluate(model, (data.x_test, data.y_test), loss=loss, metrics=metrics)
        else:
            pred = data.prep.y_inverse(predict(model, data.x_test)[:, 0])
            res = {"mse": float(np.mean((pred - data.y_test) ** 2)),
                   "mae": float(np.mean(np.abs(pred - data.y_test)))}
    if not main:
        return 0
    test_eval.add_to(history)
    return _finish(args, cfg, ds, data, run, history, res, test_eval,
                   (train_time, train_cpu, time.perf_counter() - t_start))


def _cb_checkpoint(run: Path, has_val: bool) -> Any:
    from gradstep import callbacks as cb

    return cb.ModelCheckpoint(run, monitor="val_loss", save_best=has_val)


def _fit(model: Any, loader: Any, loss: Any, opt: Any, cfg: dict[str, Any],
         data: _setup.Prepared, sched: Any, interval: str, callbacks: list[Any],
         extra: dict[str, Any], metrics: Any) -> Any:
    from gradstep.train import fit

    return fit(model, loader, loss=loss, optimizer=opt, epochs=cfg["epochs"], val=data.val,
               scheduler=sched, scheduler_interval=interval, callbacks=callbacks,
               metrics=metrics, grad_clip=cfg["grad_clip"], accumulate=cfg["accumulate"],
               resume=cfg["resume"], verbose=cfg["verbose"], **extra)


def best_epoch(history: Any, classification: bool) -> tuple[int, str, float] | None:
    """``(epoch, key, value)`` of the best evaluated epoch: validation accuracy (or loss),
    else test accuracy (or loss); None when nothing was evaluated."""
    for split in ("val", "test"):
        key = f"{split}_accuracy" if classification else f"{split}_loss"
        if key not in history:
            continue
        vals = np.asarray(history[key], dtype=np.float64)
        ok = np.isfinite(vals)
        if not ok.any():
            continue
        masked = np.where(ok, vals, -np.inf if classification else np.inf)
        i = int(np.argmax(masked) if classification else np.argmin(masked))
        return history.epoch[i], key, float(vals[i])
    return None


def _finish(args: argparse.Namespace, cfg: dict[str, Any], ds: Any, data: _setup.Prepared,
            run: Path, history: Any, res: dict[str, float], test_eval: _TestEval,
            times: tuple[float, float, float]) -> int:
    from gradstep.viz.commands import after_train
    from gradstep.viz.curves import write_training_curves

    train_time, train_cpu, total = times
    runs.write_history(run, history)
    after_train(args, history, run)
    runs.write_config(run, cfg)
    best = best_epoch(history, data.classification)
    results: dict[str, Any] = {
        "test": res,
        "train_seconds": train_time,
        "train_cpu_seconds": train_cpu,
        "total_seconds": total,
        "epochs": len(history.epoch),
        "examples_per_s": test_eval.examples / max(train_time, 1e-9),
        "scale": data.prep.scale,
    }
    if best is not None:
        results["best_epoch"] = {"epoch": best[0], best[1]: best[2],
                                 **{k: history[k][history.epoch.index(best[0])]
                                    for k in history.keys() if k.startswith("test_")}}
    runs.write_json(run / "results.json", results)
    title = f"{ds.name}, {cfg['model']}, {cfg['optimizer']} lr={cfg['lr']:g}"
    note = write_training_curves(run, history, title=title, regression=not data.classification,
                                 y_std=data.prep.y_std)
    if note and cfg["verbose"]:
        print(f"gradstep: note: {note}", file=sys.stderr)
    if data.classification:
        print(f"test accuracy: {res['accuracy']:.4f}  (test loss {res['loss']:.4f}, "
              f"{len(data.x_test):,} examples, {train_time:.1f}s training)")
    else:
        print(f"test MSE: {res['mse']:.4g}  MAE: {res['mae']:.4g}  ({len(data.x_test):,} "
              f"examples, {train_time:.1f}s training)")
    if best is not None and len(history.epoch) > 1:
        label = best[1].replace("_", " ").replace("val ", "validation ")
        print(f"best epoch: {best[0]} ({label} {best[2]:.4f})")
    if cfg["verbose"]:
        print(f"run folder: {run}")
    return 0


@contextmanager
def _resume_hint(run: Path, cfg: dict[str, Any], watch: _TermWatch) -> Iterator[None]:
    """On Ctrl-C or SIGTERM (fit wrote ``last.safetensors``): say how to resume."""
    try:
        yield
    except TrainingInterrupted as exc:
        kind = Terminated if watch.terminated else TrainingInterrupted
        if exc.checkpoint is None:
            raise kind(str(exc), None, exc.epoch, exc.step) from None
        runs.write_config(run, cfg)
        cmd = f"gradstep train --resume {shlex.quote(str(exc.checkpoint))}"
        raise kind(
            f"interrupted after step {exc.step} (epoch {exc.epoch + 1}); saved a resumable "
            f"checkpoint to {exc.checkpoint}; resume with: {cmd}",
            exc.checkpoint, exc.epoch, exc.step,
        ) from None
