"""Optimizer step throughput: gradstep SGD-momentum per-parameter and flat vs PyTorch.

Layouts: 1 x 10M and 100 x 100k float32 parameters. Contenders: gradstep per-parameter and
flat with the default kernels (the fused C kernel ``gradstep._fused``, one pass over memory,
when it is built) and, when it is built, also with the NumPy kernels ("NumPy": chunked NumPy
passes on the thread pool, as with ``GRADSTEP_FUSED=0``), PyTorch for-loop, foreach and
fused. Each contender is timed in turn, interleaved, over several
repeats (the host drifts); the table shows medians, effective bandwidth (an SGD-momentum
step moves 20 bytes per parameter: read p, g, buf; write buf, p) and the speed ratio to
PyTorch fused in the same run (>= 1 means faster than fused).

    python benchmarks/bench_step.py [--repeats 15] [--steps 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

import gradstep as gs
from gradstep import optim
from gradstep.optim import _kernels

LR, MOMENTUM = 1e-4, 0.9
BYTES_PER_PARAM = 20


def make_gradstep(shapes, flat, fused=False):
    rng = np.random.default_rng(0)
    ps = [gs.tensor(rng.standard_normal(s, dtype=np.float32), requires_grad=True) for s in shapes]
    opt = optim.SGD(ps, lr=LR, momentum=MOMENTUM, flat=flat)
    rng = np.random.default_rng(1)
    for p in ps:
        g = rng.standard_normal(p.shape, dtype=np.float32)
        if p._grad is None:
            p._grad = g
        else:
            p._grad[...] = g

    def step() -> None:
        prev_fused = _kernels.set_fused_enabled(fused)
        try:
            opt.step()
        finally:
            _kernels.set_fused_enabled(prev_fused)

    return step, (lambda: ps[0]._data.reshape(-1)[:1000].copy())


def make_torch(shapes, mode):
    import torch

    rng = np.random.default_rng(0)
    ps = [torch.from_numpy(rng.standard_normal(s, dtype=np.float32)).requires_grad_()
          for s in shapes]
    rng = np.random.default_rng(1)
    for p in ps:
        p.grad = torch.from_numpy(rng.standard_normal(tuple(p.shape), dtype=np.float32))
    kw = {"loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}
    opt = torch.optim.SGD(ps, lr=LR, momentum=MOMENTUM, **kw[mode])
    return opt.step, (lambda: ps[0].detach().numpy().reshape(-1)[:1000].copy())


def bench_layout(name, shapes, repeats, steps, have_torch):
    n = sum(int(np.prod(s)) for s in shapes)
    # "gradstep per-param" / "gradstep flat": the default (fused C kernel when built, as
    # run_all.py reports); "... NumPy": the NumPy kernels (GRADSTEP_FUSED=0)
    fused = _kernels.fused_available()
    contenders: dict[str, tuple[Callable[[], object], Callable[[], np.ndarray]]] = {
        "gradstep per-param": make_gradstep(shapes, flat=False, fused=fused),
        "gradstep flat": make_gradstep(shapes, flat=True, fused=fused),
    }
    if fused:
        contenders["gradstep per-param NumPy"] = make_gradstep(shapes, flat=False)
        contenders["gradstep flat NumPy"] = make_gradstep(shapes, flat=True)
    if have_torch:
        for mode in ("loop", "foreach", "fused"):
            contenders[f"torch {mode}"] = make_torch(shapes, mode)
    # same computation: after 3 identical steps every contender holds (nearly) the same values
    ref = None
    for label, (step, probe) in contenders.items():
        for _ in range(3):
            step()
        v = probe()
        if ref is None:
            ref = v
        elif not np.allclose(v, ref, rtol=1e-5, atol=1e-6):
            raise RuntimeError(f"{name}: {label} computes something else")
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for label, (step, _probe) in contenders.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            times[label].append((time.perf_counter() - t0) / steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    fused = med.get("torch fused")
    rows = []
    for label, t in med.items():
        rows.append(dict(
            layout=name, contender=label, params=n, ms=t * 1e3,
            gb_per_s=BYTES_PER_PARAM * n / t / 1e9,
            speed_vs_torch_fused=(fused / t) if fused else None,
        ))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="interleaved repeats (median)")
    ap.add_argument("--steps", type=int, default=5, help="steps per timed block")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    ap.add_argument("--small", action="store_true", help="1 x 1M and 100 x 10k (quick check)")
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(torch.get_num_threads())  # set last (see PERFORMANCE.md)
        have_torch = True
        torch_version = torch.__version__
    except ImportError:
        have_torch, torch_version = False, None
    scale = 10 if args.small else 1
    layouts = [
        (f"1 x {10_000_000 // scale:,}", [(10_000_000 // scale,)]),
        (f"100 x {100_000 // scale:,}", [(100_000 // scale,)] * 100),
    ]
    rows = []
    for name, shapes in layouts:
        rows += bench_layout(name, shapes, args.repeats, args.steps, have_torch)
    print(f"SGD momentum step, float32; threads: {_kernels.get_num_threads()}; "
          f"fused C kernel: {'built' if _kernels.fused_available() else 'not built'}; "
          f"torch {torch_version}; numpy {np.__version__}; {platform.processor() or platform.machine()}")
    print(f"{'layout':<14} {'contender':<28} {'ms/step':>9} {'GB/s':>7} {'vs torch fused':>15}")
    for r in rows:
        ratio = f"{r['speed_vs_torch_fused']:.2f}x" if r["speed_vs_torch_fused"] else "-"
        print(f"{r['layout']:<14} {r['contender']:<28} {r['ms']:>9.2f} {r['gb_per_s']:>7.1f} "
              f"{ratio:>15}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(rows=rows, repeats=args.repeats, steps=args.steps,
                           threads=_kernels.get_num_threads(), torch=torch_version,
                           fused_built=_kernels.fused_available(),
                           numpy=np.__version__), f, indent=1)


if __name__ == "__main__":
    main()
