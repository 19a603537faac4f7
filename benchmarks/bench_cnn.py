"""Small CNN, one training step: gradstep (eager and compiled) against PyTorch CPU.

Model: Conv2d(1, 8, 3) -> ReLU -> MaxPool2d(2) -> Conv2d(8, 16, 3) -> ReLU -> MaxPool2d(2)
-> Flatten -> Linear(400, 10), cross-entropy loss, 28x28 inputs, float32. One step is
zero_grad + forward + loss + backward + SGD (lr 0.01, momentum 0.9). All models start from
the same weights; the first-step losses and gradients are checked to agree before timing,
and the eager and compiled gradstep steps must give identical parameters. Timing alternates
blocks of steps between the contenders (same process) and reports medians of the per-block
means.

    python benchmarks/bench_cnn.py [--batch 64] [--blocks 15] [--steps 10] [--torch-threads 1,2]

Prints ms/step for ``gradstep`` (the eager step), ``gradstep compiled`` (the step under
``gradstep.compile``, what ``fit`` runs) and PyTorch for each torch thread count given, with
the throughput ratios against each PyTorch setting (NumPy's BLAS keeps its own default
thread count).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def build_gradstep(seed: int):  # type: ignore[no-untyped-def]
    from gradstep import nn

    g = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, generator=g),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, generator=g),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 10, generator=g),
    )


def build_torch():  # type: ignore[no-untyped-def]
    import torch.nn as tnn

    return tnn.Sequential(
        tnn.Conv2d(1, 8, 3),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(8, 16, 3),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(16 * 5 * 5, 10),
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=15, help="timing rounds")
    ap.add_argument("--steps", type=int, default=10, help="steps per block")
    ap.add_argument(
        "--torch-threads",
        default="2",
        help="comma-separated torch thread counts, each timed as its own contender (e.g. 1,2)",
    )
    args = ap.parse_args()
    thread_counts = [int(t) for t in str(args.torch_threads).split(",")]

    import torch

    import gradstep as gs
    from gradstep import nn, optim

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    models = {"gradstep": build_gradstep(1), "gradstep compiled": build_gradstep(1)}
    tm = build_torch()
    tm.load_state_dict({k: torch.from_numpy(np.array(v))
                        for k, v in models["gradstep"].state_dict().items()}, strict=True)
    gloss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()

    def gs_step_fn(m):  # type: ignore[no-untyped-def]
        opt = optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

        def step(xb, yb):  # type: ignore[no-untyped-def]
            opt.zero_grad()
            loss = gloss_fn(m(xb), yb)
            loss.backward()
            opt.step()
            return loss

        return step

    eager = gs_step_fn(models["gradstep"])
    compiled = gs.compile(gs_step_fn(models["gradstep compiled"]))
    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)

    def torch_step() -> float:
        topt.zero_grad(set_to_none=True)
        loss = tloss_fn(tm(xt), yt)
        loss.backward()
        topt.step()
        return float(loss.detach())

    torch.set_num_threads(thread_counts[0])  # nothing after this resets torch's pool
    l_gs = float(eager(x, y)._data)
    l_c = float(compiled(x, y)._data)
    l_t = torch_step()
    if not (np.isclose(l_gs, l_t, rtol=1e-4) and l_c == l_gs):
        raise SystemExit(f"contenders disagree: gradstep loss {l_gs}, compiled {l_c}, torch {l_t}")
    for p, (name, tp) in zip(models["gradstep"].parameters(), tm.named_parameters()):
        np.testing.assert_allclose(np.array(p.grad), tp.grad.numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=name)

    contenders = [("gradstep", 0, lambda: eager(x, y)),
                  ("gradstep compiled", 0, lambda: compiled(x, y))] + [
        (f"torch({n} threads)", n, torch_step) for n in thread_counts
    ]
    for _ in range(5):  # warm up (the compiled step's trace happened above)
        for _, n, fn in contenders:
            if n:
                torch.set_num_threads(n)
            fn()
    if compiled.reasons:
        raise SystemExit(f"the compiled step runs eagerly: {compiled.explain()}")
    for a, b in zip(models["gradstep"].parameters(), models["gradstep compiled"].parameters()):
        if not np.array_equal(a._data, b._data):
            raise SystemExit("the compiled step's parameters differ from the eager step's")
    times: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    for _ in range(args.blocks):  # interleaved rounds: every contender once per round
        for name, n, fn in contenders:
            if n:
                torch.set_num_threads(n)
                fn()  # one untimed step after a thread-count change
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            times[name].append((time.perf_counter() - t0) / args.steps)
    print(
        f"CNN 28x28 batch {args.batch}, zero_grad+forward+loss+backward+SGD step, float32; "
        f"{args.blocks} interleaved rounds x {args.steps} steps; "
        f"first-step loss {l_gs:.6f} (torch {l_t:.6f})"
    )
    mine = ("gradstep", "gradstep compiled")
    for name in mine:
        g_ms = statistics.median(times[name]) * 1e3
        print(f"{name:22s} {g_ms:8.3f} ms/step ({args.batch / g_ms * 1e3:8,.0f} samples/s)")
    for name, _, _ in contenders[2:]:
        t_ms = statistics.median(times[name]) * 1e3
        parts = []
        for g in mine:
            g_ms = statistics.median(times[g]) * 1e3
            per_round = statistics.median(t / v for t, v in zip(times[name], times[g]))
            label = "gradstep/torch" if g == "gradstep" else "compiled/torch"
            parts.append(f"{label}: {t_ms / g_ms:.2f}x (median of per-round ratios "
                         f"{per_round:.2f}x)")
        print(f"{name:22s} {t_ms:8.3f} ms/step ({args.batch / t_ms * 1e3:8,.0f} samples/s)  "
              f"throughput ratio " + "; ".join(parts))


if __name__ == "__main__":
    main()
