"""A small float64 regression workload shared by the in-process and the MPI tests.

Two-layer tanh network on plain tensors, summed squared error, SGD with momentum; the data
set size and the batch sizes used by the tests do not divide evenly, so the last global batch
is short and some ranks get an empty shard.
"""

from __future__ import annotations

import numpy as np

import gradstep as gs
from gradstep.data import ArrayDataset, DataLoader
from gradstep.optim import SGD

D, H, O = 5, 7, 2
DATA_SEED, LOADER_SEED, INIT_SEED = 3, 7, 100


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(DATA_SEED)
    return rng.standard_normal((n, D)), rng.standard_normal((n, O))


def init_params(seed: int) -> list[gs.Tensor]:
    rng = np.random.default_rng(seed)
    shapes = [(D, H), (H,), (H, O), (O,)]
    return [gs.Tensor(0.5 * rng.standard_normal(s), requires_grad=True) for s in shapes]


def loss_sum(params: list[gs.Tensor], x: np.ndarray, y: np.ndarray) -> gs.Tensor:
    w1, b1, w2, b2 = params
    h = (gs.tensor(x) @ w1 + b1).tanh()
    d = h @ w2 + b2 - gs.tensor(y)
    return (d * d).sum()


def make_optimizer(params: list[gs.Tensor], flat: bool) -> SGD:
    return SGD(params, lr=0.02, momentum=0.9, flat=flat)


def make_loader(n: int, batch_size: int, shard: tuple[int, int] = (0, 1)) -> DataLoader:
    x, y = make_data(n)
    return DataLoader(
        ArrayDataset(x, y),
        batch_size=batch_size,
        shuffle=True,
        generator=np.random.default_rng(LOADER_SEED),
        shard=shard,
    )


def train_reference(n: int, batch_size: int, epochs: int, flat: bool = False) -> list[np.ndarray]:
    """One process, loss averaged over each batch: the result data parallelism must match."""
    params = init_params(INIT_SEED)
    opt = make_optimizer(params, flat)
    loader = make_loader(n, batch_size)
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            (loss_sum(params, x, y) / len(x)).backward()
            opt.step()
    return [p._data.copy() for p in params]


def fit_model(seed: int):
    """The same network as a module, for :func:`gradstep.train.fit`."""
    from gradstep import nn

    gen = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(D, H, generator=gen, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(H, O, generator=gen, dtype=np.float64),
    )


def run_fit(model, n: int, batch_size: int, epochs: int, ckpt_dir=None, resume=None,
            verbose: int = 0, nan_index: int | None = None):
    """``fit`` on the workload (MSE, SGD momentum on a flat buffer); returns the History.

    With ``nan_index``, that example's input is NaN and ``on_nonfinite="skip"``.
    """
    from gradstep.callbacks import ModelCheckpoint
    from gradstep.train import fit

    x, y = make_data(n)
    if nan_index is not None:
        x[nan_index] = np.nan
    opt = SGD(model.parameters(), lr=0.02, momentum=0.9, flat=True)
    callbacks = [] if ckpt_dir is None else [ModelCheckpoint(ckpt_dir, monitor="loss")]
    return fit(model, (x, y), loss="mse", optimizer=opt, epochs=epochs, batch_size=batch_size,
               seed=LOADER_SEED, callbacks=callbacks, resume=resume, verbose=verbose,
               on_nonfinite="raise" if nan_index is None else "skip")
