"""gradstep (eager and compiled) against PyTorch eager, JAX ``jit`` and the textbook loop.

Every contender runs in its own process (a fresh interpreter per block, so no library's
thread pools or caches leak into another's), blocks are interleaved over rounds with the
order rotated, and the figures are medians with their min-max spread; ratios are medians of
per-round ratios. Threads: one per contender by default (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, ``torch.set_num_threads`` and XLA's intra-op setting in the child's
environment, and the child pinned to as many CPUs, since XLA's flag alone does not keep
JAX on one core); ``--threads 0`` leaves every library at its default.

Settings:

* ``mlp``: 784-256-128-10 ReLU, softmax cross-entropy, SGD lr 0.05 momentum 0.9, float32,
  batches 1 / 32 / 128 / 1024 drawn from a permutation of 60,000 synthetic samples;
  samples/s, and the GEMM-bound limit from a measured SGEMM rate (60.4 GFLOP per epoch).
* ``seed``: 784-30-10 sigmoid, MSE on one-hot targets, batch 10, SGD (the textbook's
  quadratic cost with lr 3.0; the same update is MSELoss's mean with lr 15); seconds per
  50,000-image epoch. Contenders add the per-example textbook loop (``benchmarks/textbook.py``).
* ``tiny``: 2-8-1 tanh, MSE, batch 4, SGD lr 0.05 momentum 0.9; microseconds per step.

All contenders start from the same weights and must agree on the loss after their first
steps (rtol 1e-3) before their times count.

    python benchmarks/bench_peers.py [--quick] [--settings mlp,seed,tiny] [--rounds 3]
                                     [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import peers  # noqa: E402

CONTENDERS = {
    "mlp": ["gradstep", "gradstep compiled", "torch", "jax jit"],
    "seed": ["textbook", "gradstep", "gradstep fit", "gradstep compiled", "torch", "jax jit"],
    "tiny": ["gradstep", "gradstep compiled", "torch", "jax jit"],
}


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    if threads:
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[k] = str(threads)
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
            f" intra_op_parallelism_threads={threads}"
        ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PEERS_THREADS"] = str(threads)
    return env


def pin(threads: int) -> Any:
    """A ``preexec_fn`` keeping a child on ``threads`` CPUs (None: no limit). Thread settings
    alone do not hold every library to one core (JAX 0.10's CPU runtime ran its products on
    both cores with XLA's one-thread flags, at 1.8x the CPU time of the wall time), so a
    one-thread table also pins the process to one CPU."""
    if not threads or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    return lambda: os.sched_setaffinity(0, cpus)


def run_block(name: str, setting: str, batch: int, samples: int, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, os.path.join(HERE, "peers.py"), name, setting, str(batch),
           str(samples)]
    out = subprocess.run(cmd, env=child_env(threads), capture_output=True, text=True,
                         timeout=900, preexec_fn=pin(threads))
    if out.returncode != 0:
        raise RuntimeError(f"{name} {setting} batch {batch} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(setting: str, batch: int, samples: int, rounds: int, threads: int,
            names: list[str]) -> dict[str, Any]:
    per: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            per[n].append(run_block(n, setting, batch, samples, threads))
    losses = {n: per[n][0]["losses"] for n in names}
    ref = losses[names[0]]
    for n, lo in losses.items():
        if not np.allclose(lo, ref, rtol=1e-3, atol=1e-6):
            raise RuntimeError(f"{setting}: {n} computes something else: losses {losses}")
    secs = {n: [b["seconds"] for b in per[n]] for n in names}
    return {"batch": batch, "samples": samples, "seconds": secs, "first_losses": losses,
            "traces": {n: per[n][0].get("note", "") for n in names}}


def sgemm_rate(threads: int) -> float:
    """GFLOP/s of a float32 (1024 x 784) @ (784 x 256) product in a child process."""
    code = (
        "import numpy as np, time\n"
        "a=np.random.rand(1024,784).astype(np.float32);b=np.random.rand(784,256).astype"
        "(np.float32)\n"
        "o=np.empty((1024,256),np.float32)\n"
        "for _ in range(5): np.matmul(a,b,out=o)\n"
        "ts=[]\n"
        "for _ in range(30):\n t=time.perf_counter();np.matmul(a,b,out=o);"
        "ts.append(time.perf_counter()-t)\n"
        "print(2*1024*784*256/sorted(ts)[len(ts)//2]/1e9)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=child_env(threads),
                         capture_output=True, text=True, timeout=300, preexec_fn=pin(threads))
    return float(out.stdout.strip())


FLOP_PER_SAMPLE = 2 * (784 * 256 + 256 * 128 + 128 * 10) * 2 + 2 * (256 * 128 + 128 * 10)


def report(setting: str, res: dict[str, Any], names: list[str]) -> list[str]:
    lines = []
    secs = res["seconds"]
    base = "torch" if "torch" in names else names[0]
    for n in names:
        s = secs[n]
        if setting == "mlp":
            fig = common.rate_summary(s, res["samples"])
            txt = f"{fig['median']:>10,.0f} samples/s [{fig['min']:,.0f}-{fig['max']:,.0f}]"
        elif setting == "seed":
            per_epoch = [t * 50_000 / res["samples"] for t in s]
            fig = common.summary(per_epoch)
            txt = f"{fig['median']:>8.2f} s/epoch [{fig['min']:.2f}-{fig['max']:.2f}]"
        else:
            per_step = [t / (res["samples"] / res["batch"]) * 1e6 for t in s]
            fig = common.summary(per_step)
            txt = f"{fig['median']:>8.1f} us/step [{fig['min']:.1f}-{fig['max']:.1f}]"
        ratios = [f"x{common.paired_ratio(s, secs[o]):.2f} vs {o}" for o in (base, "jax jit",
                  "textbook") if o in secs and o != n]
        lines.append(f"  {n:18s} {txt}  " + ", ".join(ratios))
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", default="mlp,seed,tiny")
    ap.add_argument("--batches", default="1,32,128,1024")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="per contender; 0: defaults")
    ap.add_argument("--quick", action="store_true", help="small blocks (a smoke run)")
    ap.add_argument("--contenders", default="", help="comma list (default: all)")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    want = [c for c in args.contenders.split(",") if c]
    out: dict[str, Any] = {"command": sys.argv, "machine": common.machine(),
                           "load_start": common.load_average(), "threads": args.threads}
    print(f"load average {out['load_start']}, threads per contender: {args.threads or 'default'}")
    for setting in args.settings.split(","):
        names = [n for n in CONTENDERS[setting] if not want or n in want]
        if setting == "mlp":
            rate = sgemm_rate(args.threads)
            limit = rate * 1e9 / FLOP_PER_SAMPLE
            print(f"mlp: SGEMM {rate:.1f} GFLOP/s -> GEMM-bound limit {limit:,.0f} samples/s "
                  f"({FLOP_PER_SAMPLE * 60_000 / 1e9:.1f} GFLOP per 60,000-sample epoch)")
            out["sgemm_gflops"] = rate
            for b in [int(v) for v in args.batches.split(",")]:
                samples = peers.mlp_block(b, args.quick)
                t0 = time.time()
                res = measure(setting, b, samples, args.rounds, args.threads, names)
                print(f"mlp batch {b} ({time.time() - t0:.0f} s)")
                print("\n".join(report(setting, res, names)))
                out[f"mlp_{b}"] = res
        else:
            b = 10 if setting == "seed" else 4
            samples = peers.block(setting, args.quick)
            res = measure(setting, b, samples, args.rounds, args.threads, names)
            print(f"{setting} batch {b}")
            print("\n".join(report(setting, res, names)))
            out[setting] = res
    out["load_end"] = common.load_average()
    print(f"load average at the end {out['load_end']}")
    if args.json:
        common.write_json(args.json, out)


if __name__ == "__main__":
    main()
