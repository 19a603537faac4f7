"""Tiny network training step (2-8-1, batch 4), where per-op overhead is everything.

Model Linear(2, 8) -> Tanh -> Linear(8, 1), MSE loss, SGD lr 0.05 momentum 0.9, float32, on
the four XOR points. One step: zero_grad, forward, loss, backward, update. Contenders:
gradstep (per-parameter and flat SGD, and the step compiled by ``gradstep.jit.compile_step``
with flat SGD), a hand-written NumPy step, PyTorch (default threads
and 1 thread). Same initial weights; the first two losses must agree before timing.

    python benchmarks/bench_tiny.py [--repeats 7] [--steps 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

LR, MOMENTUM = 0.05, 0.9
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)
CONTENDERS = ("gradstep", "gradstep flat", "gradstep compiled", "numpy", "torch", "torch 1thr")


def init_weights() -> list[np.ndarray]:
    from gradstep import nn

    g = np.random.default_rng(0)
    a, b = nn.Linear(2, 8, generator=g), nn.Linear(8, 1, generator=g)
    assert a.bias is not None and b.bias is not None
    return [a.weight.detach().numpy().copy(), a.bias.detach().numpy().copy(),
            b.weight.detach().numpy().copy(), b.bias.detach().numpy().copy()]


def make_gradstep(w: list[np.ndarray], flat: bool, compiled: bool = False):
    from gradstep import nn, optim
    from gradstep.jit import compile_step

    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    for p, v in zip(model.parameters(), w):
        p.detach().numpy()[...] = v
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, flat=flat)
    loss_fn = nn.MSELoss()

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        fn = compile_step(model, loss_fn, opt)
        return (lambda: fn(X, Y)), lambda: float(fn(X, Y).item())
    return step, lambda: float(step().item())


def make_numpy(w: list[np.ndarray]):
    W1, b1, W2, b2 = (a.copy() for a in w)
    params = [W1, b1, W2, b2]
    vel = [np.zeros_like(p) for p in params]
    n = np.float32(2.0 / X.shape[0])

    def step() -> float:
        h = np.tanh(X @ W1.T + b1)
        out = h @ W2.T + b2
        d = out - Y
        loss = float(np.vdot(d, d)) / X.shape[0]
        d *= n
        gW2 = d.T @ h
        gb2 = np.add.reduce(d, axis=0)
        dh = (d @ W2) * (1 - h * h)
        gW1 = dh.T @ X
        gb1 = np.add.reduce(dh, axis=0)
        for p, g, v in zip(params, (gW1, gb1, gW2, gb2), vel):
            v *= MOMENTUM
            v += g
            p -= LR * v
        return loss

    return step, step


def make_torch(w: list[np.ndarray]):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p, v in zip(model.parameters(), w):
            p.copy_(torch.from_numpy(v))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.MSELoss()
    xt, yt = torch.from_numpy(X), torch.from_numpy(Y)

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step, lambda: float(step().item())


def make(name: str, w: list[np.ndarray]):
    if name == "gradstep compiled":
        return make_gradstep(w, flat=True, compiled=True)
    if name.startswith("gradstep"):
        return make_gradstep(w, flat=name.endswith("flat"))
    if name == "numpy":
        return make_numpy(w)
    return make_torch(w)


def run(repeats: int, steps: int, names: tuple[str, ...] = CONTENDERS) -> dict[str, Any]:
    default_threads = 1
    if any(n.startswith("torch") for n in names):
        import torch

        default_threads = torch.get_num_threads()

    def threads(name: str) -> None:
        if name.startswith("torch"):
            import torch

            n = 1 if name.endswith("1thr") else default_threads
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)

    w = init_weights()
    fns, losses = {}, {}
    for name in names:
        threads(name)
        step, check = make(name, w)
        losses[name] = [check(), check()]
        fns[name] = step
    ref = losses.get("numpy", next(iter(losses.values())))
    if any(not np.allclose(v, ref, rtol=1e-4, atol=1e-6) for v in losses.values()):
        raise RuntimeError(f"tiny: first-step losses disagree (not the same work): {losses}")

    def block(fn):
        def run_block() -> None:
            for _ in range(steps):
                fn()
        return run_block

    times = common.interleave({k: block(f) for k, f in fns.items()}, repeats, warmup=1,
                              before=threads)
    return {
        "steps_per_block": steps, "first_losses": losses, "torch_default_threads": default_threads,
        "contenders": {k: {"us_per_step": common.summary([t / steps * 1e6 for t in v]),
                           "seconds": v} for k, v in times.items()},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    res = run(args.repeats, args.steps)
    c = res["contenders"]
    for k, v in c.items():
        s = v["us_per_step"]
        r = common.paired_ratio(v["seconds"], c["torch"]["seconds"]) if "torch" in c else None
        print(f"{k:14s} {s['median']:8.1f} us/step [{s['min']:.1f}-{s['max']:.1f}]"
              + (f"  x{r:.2f} torch" if r else ""))
    if args.json:
        common.write_json(args.json, res)


if __name__ == "__main__":
    main()
