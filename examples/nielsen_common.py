"""Shared parts of the two textbook experiments (Nielsen, "Neural Networks and Deep
Learning", chapters 1 and 3): the MNIST split, the network, the run and its report.

The textbook trains on the first 50,000 MNIST training images, keeps the last 10,000 for
validation and reports accuracy on the 10,000 test images; pixels are in [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradstep import nn, optim
from gradstep.callbacks import Callback
from gradstep.data import load_mnist
from gradstep.train import evaluate, fit

N_TRAIN = 50_000


def mnist_split(root: str | None) -> dict[str, np.ndarray]:
    """Flattened [0, 1] pixels and int64 labels: train (50k), val (10k), test (10k)."""
    ds = load_mnist(root)
    x = ds.x.reshape(len(ds.x), -1).astype(np.float32)
    if ds.x_test is None or ds.y_test is None:
        raise ValueError("load_mnist returned no test split")
    xt = ds.x_test.reshape(len(ds.x_test), -1).astype(np.float32)
    return {"x": x[:N_TRAIN], "y": ds.y[:N_TRAIN], "xv": x[N_TRAIN:], "yv": ds.y[N_TRAIN:],
            "xt": xt, "yt": ds.y_test}


def one_hot(y: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    out = np.zeros((len(y), 10), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def sigmoid_net(sizes: list[int], weight_std: Callable[[int], float], rng: np.random.Generator,
                output_sigmoid: bool, dtype: Any = np.float32) -> nn.Sequential:
    """Fully connected sigmoid layers; weights N(0, weight_std(n_in)^2), biases N(0, 1)."""
    layers: list[Any] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(n_in, n_out, dtype=dtype)
        nn.init.normal_(lin.weight, 0.0, weight_std(n_in), generator=rng)
        nn.init.normal_(lin.bias, 0.0, 1.0, generator=rng)
        layers.append(lin)
        if i < len(sizes) - 2 or output_sigmoid:
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class TestAccuracy(Callback):
    """Test-set accuracy after every epoch (the figure the textbook reports)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        self.values: list[float] = []

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        res = evaluate(trainer.model, (self.x, self.y), loss=None, metrics=["accuracy"])
        self.values.append(res["accuracy"])
        print(f"epoch {epoch + 1}: test accuracy {res['accuracy']:.4f}", flush=True)


def arguments(doc: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--root", default=os.environ.get("MNIST_ROOT"),
                   help="folder with the four MNIST files (default $MNIST_ROOT, then the "
                        "usual search: $GRADSTEP_DATA/mnist, ~/.cache/gradstep/mnist)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    return p.parse_args()


def run(name: str, args: argparse.Namespace, model: nn.Sequential, loss: Any,
        opt: optim.Optimizer, data: dict[str, np.ndarray], targets: Callable[[np.ndarray],
                                                                              np.ndarray]) -> None:
    """Train with mini-batches of 10, report per-epoch and best-epoch accuracies."""
    test = TestAccuracy(data["xt"], data["yt"])
    t0 = time.perf_counter()
    h = fit(model, (data["x"], targets(data["y"])), loss=loss, optimizer=opt,
            epochs=args.epochs, batch_size=10, seed=args.seed, metrics=["accuracy"],
            val=(data["xv"], targets(data["yv"])), callbacks=[test], verbose=2)
    wall = time.perf_counter() - t0
    best_epoch, best_val = h.best("val_accuracy", mode="max")
    res = {
        "experiment": name, "seed": args.seed, "epochs": args.epochs,
        "test_accuracy": test.values,
        "best_test_accuracy": max(test.values),
        "best_test_epoch": int(np.argmax(test.values)) + 1,
        "best_val_epoch": best_epoch, "best_val_accuracy": best_val,
        "test_accuracy_at_best_val_epoch": test.values[best_epoch - 1],
        "seconds_per_epoch": float(np.mean(h["time"])),
        "wall_seconds": wall,
    }
    print(json.dumps({k: v for k, v in res.items() if k != "test_accuracy"}))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
