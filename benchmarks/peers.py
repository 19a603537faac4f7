"""One timed block of one contender, run in its own process by ``bench_peers.py``.

    python benchmarks/peers.py NAME SETTING BATCH SAMPLES

Prints one JSON line: the seconds of the timed block and the losses of the first two steps
(taken on the first batch from the shared initial weights, before anything is timed).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SRC = os.path.join(os.path.dirname(HERE), "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

SETTINGS: dict[str, dict[str, Any]] = {
    "mlp": dict(sizes=(784, 256, 128, 10), act="relu", loss="ce", lr=0.05, momentum=0.9,
                n=60_000),
    # the textbook's quadratic cost 0.5 ||a - y||^2 with lr 3.0 is MSELoss (mean over the
    # 10 outputs) with lr 15: the same update
    "seed": dict(sizes=(784, 30, 10), act="sigmoid", loss="mse", lr=15.0, momentum=0.0,
                 n=10_000, textbook_lr=3.0),
    "tiny": dict(sizes=(2, 8, 1), act="tanh", loss="mse", lr=0.05, momentum=0.9, n=4),
}
MLP_BLOCK = {1: 300, 32: 4096, 128: 8192, 1024: 16384}
MLP_BLOCK_QUICK = {1: 100, 32: 1024, 128: 2048, 1024: 4096}


def mlp_block(batch: int, quick: bool) -> int:
    return (MLP_BLOCK_QUICK if quick else MLP_BLOCK).get(batch, 4 * batch)


def block(setting: str, quick: bool) -> int:
    return {"seed": 1000 if quick else 5000, "tiny": 2000 if quick else 8000}[setting]


def data(setting: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, integer labels and one-hot float targets (float32)."""
    cfg = SETTINGS[setting]
    if setting == "tiny":
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        y = np.array([0, 1, 1, 0])
        return x, y, y.astype(np.float32).reshape(-1, 1)
    rng = np.random.default_rng(0)
    x = rng.random((cfg["n"], cfg["sizes"][0]), dtype=np.float32)
    y = rng.integers(0, cfg["sizes"][-1], cfg["n"])
    return x, y, np.eye(cfg["sizes"][-1], dtype=np.float32)[y]


def weights(setting: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """PyTorch's default initialisation ranges, from one seed, shared by every contender."""
    sizes = SETTINGS[setting]["sizes"]
    rng = np.random.default_rng(1)
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        k = 1 / np.sqrt(a)
        out.append((rng.uniform(-k, k, (b, a)).astype(np.float32),
                    rng.uniform(-k, k, b).astype(np.float32)))
    return out


Step = Callable[[np.ndarray], float]  # one step on the rows idx; returns the loss


def make_gradstep(setting: str, compiled: bool) -> Step:
    from gradstep import nn, optim
    from gradstep.jit import compile_step

    cfg = SETTINGS[setting]
    x, y, onehot = data(setting)
    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[cfg["act"]]
    layers: list[Any] = []
    for w, b in weights(setting):
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.detach().numpy()[...] = w
        lin.bias.detach().numpy()[...] = b  # type: ignore[union-attr]
        layers += [lin, act()]
    if cfg["loss"] == "ce":
        layers.pop()
    model = nn.Sequential(*layers)
    opt = optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], flat=True)
    loss_fn = nn.CrossEntropyLoss() if cfg["loss"] == "ce" else nn.MSELoss()
    target = y if cfg["loss"] == "ce" else onehot

    def eager(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    fn = compile_step(model, loss_fn, opt) if compiled else eager
    return lambda idx: fn(x[idx], target[idx])._data


def make_fit(setting: str) -> Step:
    """``gradstep.fit`` with the block as one epoch: a single call whose first epoch is the
    warm-up batches (the first step, the trace) and whose second epoch is the timed block,
    read from the dataset through a batch sampler (no copy of the block beforehand)."""
    import gradstep as gs
    from gradstep import nn, optim
    from gradstep.callbacks import Callback
    from gradstep.data import ArrayDataset, DataLoader

    cfg = SETTINGS[setting]
    x, y, onehot = data(setting)
    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[cfg["act"]]
    layers: list[Any] = []
    for w, b in weights(setting):
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.detach().numpy()[...] = w
        lin.bias.detach().numpy()[...] = b  # type: ignore[union-attr]
        layers += [lin, act()]
    if cfg["loss"] == "ce":
        layers.pop()
    model = nn.Sequential(*layers)
    opt = optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], flat=True)
    loss = "cross_entropy" if cfg["loss"] == "ce" else "mse"
    data_set = ArrayDataset(x, y if cfg["loss"] == "ce" else onehot)

    class Epochs:
        """The batches of each epoch in turn (a batch sampler)."""

        def __init__(self, epochs: list[list[np.ndarray]]) -> None:
            self.epochs, self.i = epochs, 0
            self.batch_size = len(epochs[-1][0])

        def __iter__(self) -> Any:
            batches = self.epochs[min(self.i, len(self.epochs) - 1)]
            self.i += 1
            return iter(batches)

        def __len__(self) -> int:
            return len(self.epochs[min(self.i, len(self.epochs) - 1)])

    class Clock(Callback):
        def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any) -> None:
            self.seconds = time.perf_counter() - self.t0

    def run(epochs: list[list[np.ndarray]]) -> Any:
        clock = Clock()
        loader = DataLoader(data_set, batch_sampler=Epochs(epochs))
        hist = gs.fit(model, loader, loss=loss, optimizer=opt, epochs=len(epochs),
                      verbose=0, callbacks=[clock])
        return hist, clock.seconds

    def step(idx: np.ndarray) -> float:
        return float(run([[idx]])[0].steps["loss"][0])

    def block(warm: list[np.ndarray], timed: list[np.ndarray]) -> float:
        """Seconds of the timed epoch (the warm-up batches are the first epoch)."""
        return float(run([warm, timed])[1])

    step.block = block  # type: ignore[attr-defined]
    return step


def make_torch(setting: str) -> Step:
    import torch

    threads = int(os.environ.get("PEERS_THREADS", "1"))
    if threads:
        torch.set_num_threads(threads)
    cfg = SETTINGS[setting]
    x, y, onehot = data(setting)
    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[cfg["act"]]
    layers: list[Any] = []
    for w, b in weights(setting):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, act()]
    if cfg["loss"] == "ce":
        layers.pop()
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
    loss_fn = torch.nn.CrossEntropyLoss() if cfg["loss"] == "ce" else torch.nn.MSELoss()
    xt = torch.from_numpy(x)
    tt = torch.from_numpy(y) if cfg["loss"] == "ce" else torch.from_numpy(onehot)

    def step(idx: np.ndarray) -> Any:
        i = torch.from_numpy(idx)
        opt.zero_grad()
        loss = loss_fn(model(xt[i]), tt[i])
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def make_jax(setting: str) -> Step:
    import jax
    import jax.numpy as jnp

    cfg = SETTINGS[setting]
    x, y, onehot = data(setting)
    act = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[cfg["act"]]
    lr, mu, ce = cfg["lr"], cfg["momentum"], cfg["loss"] == "ce"
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights(setting)]
    vel = [(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in params]
    xd = jnp.asarray(x)
    td = jnp.asarray(y) if ce else jnp.asarray(onehot)

    def loss_fn(ps: Any, xb: Any, tb: Any) -> Any:
        h = xb
        for i, (w, b) in enumerate(ps):
            h = h @ w.T + b
            if i < len(ps) - 1 or not ce:
                h = act(h)
        if ce:
            return jnp.mean(jax.nn.logsumexp(h, axis=1) - jnp.take_along_axis(
                h, tb[:, None], axis=1)[:, 0])
        return jnp.mean((h - tb) ** 2)

    @jax.jit
    def step(ps: Any, vs: Any, idx: Any) -> Any:
        loss, gs = jax.value_and_grad(loss_fn)(ps, xd[idx], td[idx])
        vs = jax.tree_util.tree_map(lambda v, g: mu * v + g, vs, gs)
        ps = jax.tree_util.tree_map(lambda p, v: p - lr * v, ps, vs)
        return ps, vs, loss

    state = [params, vel]

    def run(idx: np.ndarray) -> Any:
        state[0], state[1], loss = step(state[0], state[1], idx.astype(np.int32))
        return loss

    def sync() -> None:
        jax.block_until_ready(state[0])

    run.sync = sync  # type: ignore[attr-defined]
    return run


def make_textbook(setting: str) -> Step:
    from textbook import TextbookNet

    cfg = SETTINGS[setting]
    x, _, onehot = data(setting)
    ws = weights(setting)
    net = TextbookNet([w for w, _ in ws], [b for _, b in ws])

    def step(idx: np.ndarray) -> float:
        xb, yb = x[idx], onehot[idx]
        loss = net.mse(xb, yb)
        net.update(xb, yb, cfg["textbook_lr"])
        return loss

    return step


def make(name: str, setting: str) -> Step:
    if name == "gradstep":
        return make_gradstep(setting, False)
    if name == "gradstep compiled":
        return make_gradstep(setting, True)
    if name == "gradstep fit":
        return make_fit(setting)
    if name == "torch":
        return make_torch(setting)
    if name == "jax jit":
        return make_jax(setting)
    if name == "textbook":
        return make_textbook(setting)
    raise SystemExit(f"unknown contender {name!r}")


def main() -> None:
    name, setting, batch, samples = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    step = make(name, setting)
    n = SETTINGS[setting]["n"]
    first = np.arange(batch) % n
    losses = [float(step(first)), float(step(first))]
    perm = np.random.default_rng(2).permutation(n)
    nsteps = max(1, samples // batch)
    idxs = [perm[(np.arange(i * batch, (i + 1) * batch)) % n] for i in range(nsteps + 3)]
    whole = getattr(step, "block", None)
    if whole is not None:  # gradstep.fit: one call, the warm-up batches its first epoch
        seconds = whole(idxs[:3], idxs[3:])
    else:
        for idx in idxs[:3]:  # warm-up (and the compiled step's trace)
            step(idx)
        sync = getattr(step, "sync", lambda: None)
        sync()
        t0 = time.perf_counter()
        for idx in idxs[3:]:
            step(idx)
        sync()
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "losses": losses}))


if __name__ == "__main__":
    main()
