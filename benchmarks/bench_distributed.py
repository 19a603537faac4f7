"""Data-parallel training on MPI: Allreduce time per step and 1-vs-2-rank scaling efficiency.

Run: python benchmarks/bench_distributed.py [--repeats 3] [--steps 40] [--json out.json]

The driver launches ``mpiexec -n 1`` and ``mpiexec -n 2`` workers in turn (interleaved
blocks, because the host drifts by tens of percent over seconds), each with one BLAS/OpenMP
thread per rank, and prints medians over the blocks:

1. Allreduce alone: in-place ``MPI.SUM`` Allreduce of a float32 buffer of 1k to 4M values
   (after a barrier, so no waiting for a slower rank is counted), median time per call.
2. Training steps of a 784-256-128-10 ReLU MLP (235,146 float32 parameters, one flat
   gradient buffer of 0.94 MB), softmax cross-entropy, SGD momentum 0.9, synthetic data:
   - strong scaling: global batch 256 (one rank: 256; two ranks: 128 each);
   - weak scaling: 128 examples per rank.
   For each: time per step, the part spent in the gradient Allreduce (including waiting
   for the other rank), throughput, and the scaling efficiency
   ``(samples/s with K ranks) / (K * samples/s with 1 rank)``.

With ``--threads2``, also one process with two BLAS threads (the other way to use both
cores), for context; OpenBLAS threads collapse when other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
SIZES = [1_000, 10_000, 100_000, 235_146, 1_000_000, 4_000_000]


# ------------------------------------------------------------------------ worker
def worker(steps: int) -> None:
    sys.path.insert(0, SRC)
    from mpi4py import MPI

    import gradstep as gs
    import gradstep.distributed as dist
    from gradstep import nn
    from gradstep.nn import functional as F
    from gradstep.optim import SGD

    comm = dist.init()
    r, k = dist.rank(), dist.world_size()
    result: dict[str, object] = {"world": k}

    # 1. Allreduce alone
    ar: dict[str, float] = {}
    for n in SIZES:
        buf = np.ones(n, dtype=np.float32)
        reps = max(5, min(200, 20_000_000 // n))
        times = []
        for _ in range(reps):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            times.append(time.perf_counter() - t0)
        ar[str(n)] = statistics.median(times)
    result["allreduce"] = ar

    # 2. training steps
    rng = np.random.default_rng(0)
    x_all = rng.standard_normal((4096, 784)).astype(np.float32)
    y_all = rng.integers(0, 10, 4096)
    gen = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(784, 256, generator=gen), nn.ReLU(),
                          nn.Linear(256, 128, generator=gen), nn.ReLU(),
                          nn.Linear(128, 10, generator=gen))
    dist.broadcast_parameters(model)
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9, flat=True)
    averager = dist.GradientAverager(opt)
    result["numel"] = averager.numel

    def run(local_batch: int) -> dict[str, float]:
        step_t, ar_t, fb_t = [], [], []
        pos = 0
        for i in range(steps + 3):
            lo = (pos + r * local_batch) % (4096 - local_batch)
            xb, yb = x_all[lo:lo + local_batch], y_all[lo:lo + local_batch]
            pos += k * local_batch
            comm.Barrier()
            t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(gs.Tensor(xb)), yb, reduction="sum").backward()
            t1 = time.perf_counter()
            averager.reduce(len(xb), global_count=k * local_batch)
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            if i >= 3:  # warm-up
                step_t.append(t3 - t0)
                ar_t.append(t2 - t1)
                fb_t.append(t1 - t0)
        # a step ends when the slowest rank is done
        step = comm.allreduce(statistics.median(step_t), op=MPI.MAX)
        return {"step": step, "allreduce": comm.allreduce(statistics.median(ar_t), op=MPI.MAX),
                "compute": comm.allreduce(statistics.median(fb_t), op=MPI.MAX),
                "samples_per_s": k * local_batch / step}

    result["strong"] = run(256 // k)
    result["weak"] = run(128)
    dist.assert_synchronized(model)
    if r == 0:
        print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------ driver
def mpiexec() -> str:
    for d in (os.path.dirname(sys.executable), os.path.join(sys.prefix, "bin")):
        found = shutil.which("mpiexec", path=d)
        if found:
            return found
    found = shutil.which("mpiexec")
    if not found:
        sys.exit("mpiexec not found: pip install 'gradstep[mpi]'")
    return found


def launch(k: int, steps: int, threads: int = 1) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [mpiexec(), "-n", str(k), sys.executable, "-m", "mpi4py", os.path.abspath(__file__),
           "--worker", "--steps", str(steps)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            out: dict = json.loads(line[7:])
            if out["world"] != k:
                sys.exit(f"mpiexec -n {k} gave a world of {out['world']}: mismatched MPI")
            return out
    sys.exit(f"no result from {' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}")


def med(runs: list[dict], *path: str) -> float:
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v[p]
        vals.append(float(v))  # type: ignore[arg-type]
    return statistics.median(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved blocks per contender")
    ap.add_argument("--steps", type=int, default=40, help="timed training steps per block")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads2", action="store_true",
                    help="also time one rank with two BLAS threads")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.steps)
        return

    runs: dict[str, list[dict]] = {"1 rank": [], "2 ranks": []}
    if args.threads2:
        runs["1 rank, 2 threads"] = []
    load0 = os.getloadavg()[0]
    for _ in range(args.repeats):
        runs["1 rank"].append(launch(1, args.steps))
        runs["2 ranks"].append(launch(2, args.steps))
        if args.threads2:
            runs["1 rank, 2 threads"].append(launch(1, args.steps, threads=2))

    print(f"{os.cpu_count()} CPUs; load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after "
          "(other processes on the cores distort everything below)\n")
    print(f"MPI Allreduce (in place, float32, after a barrier), median of {args.repeats} blocks:")
    print(f"{'values':>10} {'MB':>7} {'2 ranks':>12} {'GB/s (algbw)':>13}")
    for n in SIZES:
        t = med(runs["2 ranks"], "allreduce", str(n))
        print(f"{n:>10,} {n * 4 / 1e6:7.3f} {t * 1e6:9.1f} us {n * 4 / t / 1e9:13.2f}")

    numel = runs["1 rank"][0]["numel"]
    print(f"\nMLP 784-256-128-10 ({numel:,} parameters), SGD momentum, one flat gradient buffer:")
    print(f"{'':18} {'setup':20} {'step ms':>8} {'fwd+bwd ms':>10} {'allreduce ms':>13} "
          f"{'samples/s':>10} {'efficiency':>10}")
    for mode, label in (("strong", "global batch 256"), ("weak", "batch 128 per rank")):
        base = med(runs["1 rank"], mode, "samples_per_s")
        for name, k in (("1 rank", 1), ("2 ranks", 2), ("1 rank, 2 threads", 1)):
            if name not in runs:
                continue
            step = med(runs[name], mode, "step")
            arr = med(runs[name], mode, "allreduce")
            fb = med(runs[name], mode, "compute")
            sps = med(runs[name], mode, "samples_per_s")
            eff = sps / (2 * base) if name != "1 rank" else 1.0
            eff_s = f"{eff:10.2f}" if name == "2 ranks" else (
                f"{'1.00':>10}" if k == 1 and name == "1 rank" else f"{sps / base:9.2f}x")
            print(f"{name:18} {label:20} {step * 1e3:8.2f} {fb * 1e3:10.2f} {arr * 1e3:13.3f} "
                  f"{sps:10,.0f} {eff_s}")
    print("\nfwd+bwd: the slowest rank's median forward+backward; allreduce: the median time in "
          "GradientAverager.reduce\n(pack, count, Allreduce, divide), waiting for the slower "
          "rank included.\nefficiency = samples/s with 2 ranks / (2 x samples/s with 1 rank)"
          + ("; '1 rank, 2 threads' shows its speed-up over 1 rank instead." if args.threads2
             else "."))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
