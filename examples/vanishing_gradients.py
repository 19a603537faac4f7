"""Vanishing gradients, seen layer by layer.

Trains two deep MLPs (8 hidden layers of 32 units) on the handwritten digits for a few
epochs with ``fit(..., callbacks=[LayerTracker()])`` and compares the gradient norm of
every layer:

* sigmoid activations with PyTorch's default initialisation: the gradient shrinks by a
  factor of roughly 4 or more per layer on its way back (sigmoid' <= 1/4), so the first
  layer gets gradients orders of magnitude smaller than the last and barely learns;
* ReLU activations with He (Kaiming) initialisation: the gradient norm stays of the same
  order through all the layers.

Run:  python examples/vanishing_gradients.py [--out docs/img] [--epochs 3]
Writes gradient_profile.png, layers_sigmoid.png and layers_relu.png (needs matplotlib:
pip install "gradstep[plot]").
"""

from __future__ import annotations

import argparse

import numpy as np

from gradstep import nn
from gradstep.data import load_digits
from gradstep.optim import SGD
from gradstep.train import fit
from gradstep.viz.layers import (
    LayerTracker,
    gradient_ratio,
    plot_gradient_profile,
    plot_layer_stats,
)


def deep_mlp(activation: str, depth: int = 8, width: int = 32, seed: int = 0) -> nn.Sequential:
    """64 -> depth x width -> 10; ReLU nets get He initialisation, sigmoid nets the default."""
    gen = np.random.default_rng(seed)
    sizes = [64] + [width] * depth + [10]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1], generator=gen)
        if activation == "relu":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu", generator=gen)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.Sigmoid() if activation == "sigmoid" else nn.ReLU())
    return nn.Sequential(*layers)


def run(activation: str, epochs: int = 3, n: int = 1024, depth: int = 8):
    """Train one network and return its History (with ``history.layers``)."""
    data = load_digits()
    x = data.x[:n] / 16.0
    y = data.y[:n]
    model = deep_mlp(activation, depth=depth)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    return fit(model, (x, y), optimizer=opt, epochs=epochs, batch_size=64, verbose=0,
               callbacks=[LayerTracker()])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="folder for the PNG figures")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args(argv)
    histories = {f"{a} ({'He init' if a == 'relu' else 'default init'})": run(a, args.epochs)
                 for a in ("sigmoid", "relu")}
    for label, h in histories.items():
        print(f"{label:28s} first/last layer gradient norm = {gradient_ratio(h.layers):.2e}"
              f"   final loss {h['loss'][-1]:.3f}")
    plot_gradient_profile({k: h.layers for k, h in histories.items()},
                          f"{args.out}/gradient_profile.png")
    for (label, h), short in zip(histories.items(), ("sigmoid", "relu")):
        plot_layer_stats(h.layers, f"{args.out}/layers_{short}.png",
                         title=f"Deep MLP, {label}: per-layer statistics")
    print(f"figures written to {args.out}/")


if __name__ == "__main__":
    main()
