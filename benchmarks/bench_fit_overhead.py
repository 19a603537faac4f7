"""What ``gradstep.fit`` costs per step on top of the compiled step it runs.

    python benchmarks/bench_fit_overhead.py [--steps 1000] [--rounds 40] [--json out.json]

The seed setting of ``bench_peers.py`` (784-30-10 sigmoid, MSE on one-hot targets, SGD
lr 15 in the MSE-mean form, batch 10, float32), in one process and on one thread (pinned to
one CPU): each round times a block of ``--steps`` steps of the compiled plain loop
(``compile_step`` on ``x[idx]``, as ``bench_peers.py`` runs it) and one epoch of the same
batches through ``fit`` (a second epoch of one call, read through a batch sampler, after a
first epoch of warm-up batches), in alternating order. Separate processes (as in
``bench_peers.py``) differ by more than the overhead being measured, so the figure here is
the median over many short interleaved rounds of the per-round ratio ``fit / compiled``,
with its quartiles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import peers  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="steps per timed block")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    import numpy as np

    fit = peers.make_fit("seed")
    comp = peers.make_gradstep("seed", True)
    n = peers.SETTINGS["seed"]["n"]
    perm = np.random.default_rng(2).permutation(n)
    idxs = [perm[np.arange(i * 10, (i + 1) * 10) % n] for i in range(args.steps + 3)]
    warm, timed = idxs[:3], idxs[3:]

    def run_comp() -> float:
        t0 = time.perf_counter()
        for idx in timed:
            comp(idx)
        return time.perf_counter() - t0

    def run_fit() -> float:
        return float(fit.block(warm, timed))  # type: ignore[attr-defined]

    for idx in warm:
        comp(idx)
    run_comp()
    run_fit()
    fits: list[float] = []
    comps: list[float] = []
    for r in range(args.rounds):
        if r % 2:
            fits.append(run_fit())
            comps.append(run_comp())
        else:
            comps.append(run_comp())
            fits.append(run_fit())
    ratios = sorted(f / c for f, c in zip(fits, comps))
    q1, med, q3 = statistics.quantiles(ratios, n=4)
    per_step = {k: statistics.median(v) / args.steps * 1e6
                for k, v in (("fit", fits), ("compiled", comps))}
    print(f"load average {common.load_average()}; {args.rounds} rounds x {args.steps} steps, "
          "one thread")
    print(f"  compiled step  {per_step['compiled']:7.1f} us/step")
    print(f"  fit            {per_step['fit']:7.1f} us/step")
    print(f"  fit / compiled: median {med:.3f} (quartiles {q1:.3f}-{q3:.3f}, "
          f"min {ratios[0]:.3f}, max {ratios[-1]:.3f})")
    if args.json:
        common.write_json(args.json, {
            "command": sys.argv, "machine": common.machine(), "steps": args.steps,
            "rounds": args.rounds, "seconds": {"fit": fits, "compiled": comps},
            "ratio": {"median": med, "q1": q1, "q3": q3, "min": ratios[0],
                      "max": ratios[-1]},
            "us_per_step": per_step, "load_end": common.load_average(),
        })


if __name__ == "__main__":
    main()
