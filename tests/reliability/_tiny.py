"""A tiny, fast, deterministic training set-up shared by the reliability tests and the
subprocess worker (``train_worker.py``): dropout (a Generator inside the model), Adam
with momentum buffers, a per-step LR schedule, shuffling, a short last batch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gradstep import models, optim
from gradstep._safetensors import read_safetensors, write_safetensors
from gradstep.callbacks import Callback
from gradstep.train import Trainer, fit

N_EXAMPLES = 100
BATCH = 16  # 7 steps per epoch, the last one short (4 examples)
STEPS_PER_EPOCH = -(-N_EXAMPLES // BATCH)


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_EXAMPLES, 6)).astype(np.float32)
    y = ((x[:, 0] + x[:, 1] * x[:, 2]) > 0).astype(np.int64) + (x[:, 3] > 1).astype(np.int64)
    return x, y


def build(lr: float = 0.01) -> tuple[Any, Any, Any]:
    model = models.mlp(6, [12], 3, dropout=0.1, generator=np.random.default_rng(7))
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.9)
    return model, opt, sched


class StepCheckpoint(Callback):
    """Write a resumable checkpoint after every optimizer step (``path``), atomically."""

    def __init__(self, path: str | os.PathLike[str], stop_after: int | None = None) -> None:
        self.path = Path(path)
        self.stop_after = stop_after

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        trainer.save(self.path)
        if self.stop_after is not None and step >= self.stop_after:
            raise _Stop(step)


class _Stop(Exception):
    """Simulated crash right after the checkpoint of a given step."""


def train(
    epochs: int,
    *,
    resume: str | os.PathLike[str] | None = None,
    callbacks: tuple[Callback, ...] = (),
    lr: float = 0.01,
    **kwargs: Any,
) -> Any:
    model, opt, sched = build(lr)
    fit(model, data(), optimizer=opt, epochs=epochs, batch_size=BATCH, scheduler=sched,
        scheduler_interval="step", seed=3, resume=resume, callbacks=callbacks, verbose=0,
        **kwargs)
    return model


def weights(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(getattr(v, "_data", v)) for k, v in
            model.state_dict().items()}


def save_weights(path: str | os.PathLike[str], model: Any) -> None:
    write_safetensors(path, weights(model))


def read_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    return read_safetensors(path)[0]


def assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].tobytes() == b[k].tobytes(), f"{k} differs"


def make_trainer(epochs: int) -> Trainer:
    """A Trainer over fresh objects, configured as :func:`train` configures fit."""
    import gradstep

    model, opt, sched = build()
    loader = gradstep.data.DataLoader(gradstep.data.ArrayDataset(*data()), batch_size=BATCH,
                                      shuffle=True, generator=np.random.default_rng(3))
    t = Trainer(model, loader, loss="cross_entropy", optimizer=opt, epochs=epochs,
                scheduler=sched, scheduler_interval="step", verbose=0)
    return t
