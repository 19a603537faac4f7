"""Per-op overhead and MLP forward+backward: gradstep vs raw NumPy vs PyTorch, in one run.

Run: python benchmarks/bench_ops.py [--repeats 7] [--json out.json]

1. Recording one op: ``a * b`` on (4, 4) float32 tensors that require grad, against the
   same NumPy expression and against PyTorch (which also records its graph).
2. Forward + backward of a 784-256-128-10 ReLU MLP with softmax cross-entropy at batch 128,
   float32: gradstep vs a hand-written NumPy forward/backward vs PyTorch CPU.

Timings are interleaved (one block of each contender in turn) and reported as medians with
the min-max spread; ratios compare contenders measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import gradstep as gs  # noqa: E402


def timeit(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def interleaved(contenders: dict[str, Callable[[], object]], number: int, repeats: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in contenders}
    for fn in contenders.values():
        fn()  # warm up
    for _ in range(repeats):
        for k, fn in contenders.items():
            out[k].append(timeit(fn, number))
    return out


def fmt(samples: list[float], scale: float, unit: str) -> str:
    med = statistics.median(samples) * scale
    return f"{med:9.2f} {unit} [{min(samples) * scale:.2f}-{max(samples) * scale:.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args()

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)

    results: dict[str, object] = {}
    rng = np.random.default_rng(0)

    # -- 1. per-op overhead
    an = rng.standard_normal((4, 4)).astype(np.float32)
    bn = rng.standard_normal((4, 4)).astype(np.float32)
    ga, gb = gs.tensor(an, requires_grad=True), gs.tensor(bn, requires_grad=True)
    c1: dict[str, Callable[[], object]] = {"numpy": lambda: an * bn, "gradstep": lambda: ga * gb}
    if torch is not None:
        ta, tb = torch.tensor(an, requires_grad=True), torch.tensor(bn, requires_grad=True)
        c1["torch"] = lambda: ta * tb
    r1 = interleaved(c1, 20000, args.repeats)
    print("== Recording one op (a * b, (4, 4) float32, requires_grad) ==")
    for k, v in r1.items():
        print(f"  {k:9s} {fmt(v, 1e6, 'us')}")
    over = statistics.median(r1["gradstep"]) - statistics.median(r1["numpy"])
    print(f"  gradstep overhead over NumPy: {over * 1e6:.2f} us per op (goal < 3 us)")
    if "torch" in r1:
        tover = statistics.median(r1["torch"]) - statistics.median(r1["numpy"])
        print(f"  torch overhead over NumPy:    {tover * 1e6:.2f} us per op")
    results["op"] = {k: statistics.median(v) for k, v in r1.items()}

    # -- 2. MLP forward + backward at batch 128
    B, sizes = 128, [784, 256, 128, 10]
    x = rng.standard_normal((B, 784)).astype(np.float32)
    y = rng.integers(0, 10, B)
    Ws = [(rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(np.float32) for i, o in zip(sizes, sizes[1:])]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]

    gW = [gs.tensor(w, requires_grad=True) for w in Ws]
    gB = [gs.tensor(b, requires_grad=True) for b in bs]
    gx = gs.tensor(x)
    rows = np.arange(B)

    def gradstep_step() -> float:
        h = gx
        for i, (w, b) in enumerate(zip(gW, gB)):
            h = h @ w.T + b
            if i < len(gW) - 1:
                h = h.relu()
        loss = -gs.log_softmax(h, -1)[rows, y].mean()
        for p in gW + gB:
            p.grad = None
        loss.backward()
        return loss.item()

    def numpy_step() -> float:
        acts = [x]
        h = x
        for i, (w, b) in enumerate(zip(Ws, bs)):
            h = h @ w.T + b
            if i < len(Ws) - 1:
                h = np.maximum(h, 0)
            acts.append(h)
        z = h - h.max(1, keepdims=True)
        ez = np.exp(z)
        s = ez.sum(1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, y]))
        g = ez / s
        g[rows, y] -= 1
        g /= B
        grads = []
        for i in range(len(Ws) - 1, -1, -1):
            grads.append((g.T @ acts[i], g.sum(0)))
            if i:
                g = (g @ Ws[i]) * (acts[i] > 0)
        return loss

    c2: dict[str, Callable[[], object]] = {"numpy": numpy_step, "gradstep": gradstep_step}
    if torch is not None:
        tW = [torch.tensor(w, requires_grad=True) for w in Ws]
        tB = [torch.tensor(b, requires_grad=True) for b in bs]
        tx, ty = torch.tensor(x), torch.tensor(y)

        def torch_step() -> float:
            h = tx
            for i, (w, b) in enumerate(zip(tW, tB)):
                h = torch.nn.functional.linear(h, w, b)
                if i < len(tW) - 1:
                    h = h.relu()
            loss = torch.nn.functional.cross_entropy(h, ty)
            for p in tW + tB:
                p.grad = None
            loss.backward()
            return loss.item()

        c2["torch"] = torch_step
    losses = {k: float(fn()) for k, fn in c2.items()}  # type: ignore[arg-type]
    print("\n== Same work check: first-step losses ==")
    print("  " + ", ".join(f"{k}={v:.6f}" for k, v in losses.items()))
    ref = losses["numpy"]
    if any(abs(v - ref) > 1e-4 * max(1, abs(ref)) for v in losses.values()):
        raise SystemExit("contenders disagree on the loss: not the same work")
    r2 = interleaved(c2, 20, args.repeats)
    print(f"\n== MLP 784-256-128-10 forward+backward, batch {B}, float32 ==")
    for k, v in r2.items():
        print(f"  {k:9s} {fmt(v, 1e3, 'ms')}")
    med = {k: statistics.median(v) for k, v in r2.items()}
    print(f"  gradstep / numpy time: {med['gradstep'] / med['numpy']:.3f} (goal <= 1.15)")
    if "torch" in med:
        print(f"  gradstep / torch time: {med['gradstep'] / med['torch']:.3f} (goal < 1)")
        print(f"  torch threads: {torch.get_num_threads()}")
    results["mlp"] = med
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
