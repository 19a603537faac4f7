"""Run the whole benchmark suite and print one table of results and targets (and write JSON).

    python benchmarks/run_all.py            # everything, about 10 minutes on 2 cores
    python benchmarks/run_all.py --quick    # smaller blocks and fewer repeats, about 2-3 minutes
    python benchmarks/run_all.py --only mlp,tiny --json benchmarks/results/mine.json

Parts: ``mlp`` (bench_mlp: gradstep / PyTorch / scikit-learn / hand-written NumPy, batch 1 to
full, samples/s and per-contender peak RSS), ``tiny`` (bench_tiny: 2-8-1 network, batch 4),
``cnn`` (bench_cnn.py: the small CNN's training step, eager and compiled, vs PyTorch), ``step`` (bench_step.py:
the SGD-momentum step vs PyTorch fused), ``ops`` (bench_ops.py: per-op overhead), ``import``
(bench_import: import time and installed size). Every figure is a median over interleaved
repeats with its min-max; every ratio compares contenders measured in the same run
(per-round paired ratios for the MLP and the tiny network). Before timing, every contender's
first-step losses must agree (same work). NumPy's BLAS runs with ``--blas-threads`` threads
(default 1, as ``gradstep train``); PyTorch runs with its default thread count and with 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PARTS = ("mlp", "tiny", "cnn", "step", "ops", "import")


def _script(name: str, args: list[str], timeout: float = 900) -> str:
    proc = subprocess.run([sys.executable, os.path.join(common.HERE, name), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=common.ROOT)
    if proc.returncode:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def run_cnn(quick: bool) -> dict[str, Any]:
    out = _script("bench_cnn.py", ["--blocks", "5" if quick else "11", "--steps", "5",
                                   "--torch-threads", "2,1"])
    res: dict[str, Any] = {"stdout": out, "torch": {}}
    m = re.search(r"^gradstep\s+([\d.]+) ms/step", out, re.M)
    if m:
        res["gradstep_ms"] = float(m.group(1))
    m = re.search(r"^gradstep compiled\s+([\d.]+) ms/step", out, re.M)
    if m:
        res["compiled_ms"] = float(m.group(1))
    for m in re.finditer(r"^torch\((\d+) threads?\)\s+([\d.]+) ms/step.*?gradstep/torch: "
                         r"([\d.]+)x \(median of per-round ratios ([\d.]+)x\); compiled/torch: "
                         r"([\d.]+)x \(median of per-round ratios ([\d.]+)x\)", out, re.M):
        res["torch"][int(m.group(1))] = {
            "ms": float(m.group(2)), "ratio": float(m.group(3)),
            "paired_ratio": float(m.group(4)), "compiled_ratio": float(m.group(5)),
            "compiled_paired_ratio": float(m.group(6))}
    return res


def run_json_script(name: str, args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out.json")
        stdout = _script(name, [*args, "--json", path])
        with open(path) as f:
            res = json.load(f)
    if isinstance(res, dict):
        res["stdout"] = stdout
    return res  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ report
def _best_torch(res: dict[str, Any], contender: str) -> tuple[float | None, str]:
    """Paired ratio of ``contender`` against the faster of the torch contenders."""
    import bench_mlp

    best, which = None, ""
    for t in ("torch", "torch 1thr"):
        r = bench_mlp.ratios(res, contender, t)
        if r is not None and (best is None or r < best):
            best, which = r, t
    return best, which


def report(results: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    lines: list[str] = []
    targets: list[dict[str, Any]] = []

    def target(name: str, value: float | None, goal: float, kind: str = ">=") -> None:
        ok = None if value is None else (value >= goal if kind == ">=" else value <= goal)
        targets.append({"target": name, "value": value, "goal": f"{kind} {goal}", "met": ok})

    mlp = results.get("mlp")
    if mlp:
        import bench_mlp

        lines.append("MLP 784-256-128-10, SGD lr 0.05 mom 0.9, float32, samples/s median "
                     "[min-max]; xT = paired ratio vs the faster torch, xN = vs hand-written NumPy")
        for r in mlp["batches"]:
            b = "full" if r["batch"] == bench_mlp.N else str(r["batch"])
            lines.append(f"  batch {b} ({r['samples_per_block']} samples/block, first losses "
                         + ", ".join(f"{x:.5f}" for x in r["first_losses"].get("numpy", []))
                         + ")")
            for k, v in r["contenders"].items():
                t, _ = _best_torch(r, k)
                n = bench_mlp.ratios(r, k, "numpy")
                lines.append(f"    {k:14s} {common.fmt_rate(v['samples_per_s'])}"
                             + (f"  x{t:.2f}T" if t else "") + (f"  x{n:.2f}N" if n else ""))
            for k in ("gradstep flat", "gradstep", "gradstep fit"):
                t, which = _best_torch(r, k)
                goal = 2.0 if r["batch"] == 1 else (1.3 if r["batch"] in (32, 128) else 1.0)
                target(f"MLP batch {b}: {k} / {which or 'torch'} samples/s", t, goal)
            n = bench_mlp.ratios(r, "gradstep flat", "numpy")
            target(f"MLP batch {b}: gradstep flat / numpy samples/s", n, 0.9)
        rss = mlp.get("rss") or []
        if rss:
            lines.append("  peak RSS (MiB, one child process per contender)")
            for b in sorted({x["batch"] for x in rss}):
                row = {x["contender"]: x["peak_rss_mb"] for x in rss if x["batch"] == b}
                lab = "full" if b == bench_mlp.N else str(b)
                lines.append(f"    batch {lab}: " + ", ".join(f"{k} {v:.0f}" for k, v in row.items()))
                tr = min((row[k] for k in ("torch", "torch 1thr") if k in row), default=None)
                for k in ("gradstep flat", "gradstep fit"):
                    if tr and k in row:
                        target(f"MLP peak RSS batch {lab}: {k} / torch", row[k] / tr, 0.5, "<=")
    tiny = results.get("tiny")
    if tiny:
        c = tiny["contenders"]
        lines.append("Tiny 2-8-1 (tanh, MSE), batch 4, one training step, us median [min-max]")
        for k, v in c.items():
            us = v["us_per_step"]
            ts = [common.paired_ratio(v["seconds"], c[t]["seconds"])
                  for t in ("torch", "torch 1thr") if t in c]
            lines.append(f"    {k:14s} {us['median']:8.1f} [{us['min']:.1f}-{us['max']:.1f}]"
                         + (f"  x{min(ts):.2f}T" if ts else ""))
        for k in ("gradstep flat", "gradstep"):
            ts = [common.paired_ratio(c[k]["seconds"], c[t]["seconds"])
                  for t in ("torch", "torch 1thr") if t in c and k in c]
            target(f"tiny: {k} / faster torch steps/s", min(ts) if ts else None, 2.0)
    cnn = results.get("cnn")
    if cnn:
        lines.append(f"CNN (bench_cnn.py) batch 64, one SGD step: gradstep "
                     f"{cnn.get('gradstep_ms', 0):.2f} ms, compiled "
                     f"{cnn.get('compiled_ms', 0):.2f} ms; "
                     + ", ".join(f"torch {n} thr {v['ms']:.2f} ms (throughput vs torch: eager "
                                 f"{v['paired_ratio']:.2f}x, compiled "
                                 f"{v['compiled_paired_ratio']:.2f}x, paired)"
                                 for n, v in cnn["torch"].items()))
        if cnn["torch"]:
            target("CNN: compiled step / faster torch throughput",
                   min(v["compiled_paired_ratio"] for v in cnn["torch"].values()), 0.8)
    step = results.get("step")
    if step:
        lines.append("SGD-momentum step (bench_step.py), ms median; x = speed vs torch fused")
        for r in step["rows"]:
            sp = r["speed_vs_torch_fused"]
            lines.append(f"    {r['layout']:<14} {r['contender']:<28} {r['ms']:8.2f} ms"
                         + (f"  x{sp:.2f}" if sp else ""))
            if r["contender"] == "gradstep flat":
                target(f"step {r['layout']}: gradstep flat / torch fused", sp, 0.8)
    ops = results.get("ops")
    if ops:
        op = ops.get("op", {})
        lines.append("Per-op (bench_ops.py): a*b (4,4) requires_grad: "
                     + ", ".join(f"{k} {v * 1e6:.2f} us" for k, v in op.items()))
    imp = results.get("import")
    if imp:
        lines.append("Import (fresh interpreters, median [min-max] s): " + ", ".join(
            f"{k} {v['median']:.3f} [{v['min']:.3f}-{v['max']:.3f}]"
            for k, v in imp["import_s"].items()))
        lines.append("  heavy modules loaded by import gradstep: "
                     + (", ".join(imp["heavy_modules_loaded_by_import_gradstep"]) or "none"))
        lines.append("  installed size: " + ", ".join(
            f"{k} {v / 2**20:.2f} MiB" for k, v in imp["installed_bytes"].items()))
        target("import gradstep (s)", imp["import_s"]["gradstep"]["median"], 0.2, "<=")
    lines.append("Targets")
    for tg in targets:
        val = "n/a" if tg["value"] is None else f"{tg['value']:.3f}"
        mark = {True: "met", False: "MISSED", None: "n/a"}[tg["met"]]
        lines.append(f"    {mark:6s} {tg['target']}: {val} (goal {tg['goal']})")
    return lines, targets


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a ~2-3 minute version")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    ap.add_argument("--repeats", type=int, default=None, help="MLP/tiny rounds (5 / quick 3)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="NumPy BLAS threads (0: OpenBLAS default)")
    ap.add_argument("--json", default=None,
                    help="write the results here (default: benchmarks/results/latest.json, "
                         "only for a full run without --quick or --only, so that a partial "
                         "run never replaces the recorded one)")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    for p in parts:
        if p not in PARTS:
            ap.error(f"unknown part {p!r}; choose from {PARTS}")
    repeats = args.repeats or (3 if args.quick else 5)
    results: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/run_all.py", *(argv or sys.argv[1:])]),
        "machine": common.machine(), "load_average_start": common.load_average(),
        "quick": args.quick, "blas_threads": args.blas_threads,
    }
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s, load {common.load_average()}] {msg}",
              flush=True)

    if "import" in parts:  # first: nothing else warm yet
        import bench_import

        log("import time and installed size")
        results["import"] = bench_import.run(5 if args.quick else 9)
    if "ops" in parts:
        log("bench_ops.py")
        results["ops"] = run_json_script("bench_ops.py", ["--repeats", "3" if args.quick else "7"])
    if "step" in parts:
        log("bench_step.py")
        results["step"] = run_json_script(
            "bench_step.py", ["--repeats", "5" if args.quick else "11", "--steps", "3",
                              *(["--small"] if args.quick else [])])
    if "cnn" in parts:
        log("bench_cnn.py")
        results["cnn"] = run_cnn(args.quick)
    if "tiny" in parts:
        import bench_mlp
        import bench_tiny

        bench_mlp.set_blas_threads(args.blas_threads)
        log("tiny network")
        results["tiny"] = bench_tiny.run(repeats + 2, 1000 if args.quick else 2000)
    if "mlp" in parts:
        import bench_mlp

        log("MLP")
        batches = [1, 32, 128, 1024, bench_mlp.N]
        results["mlp"] = bench_mlp.run(batches, list(bench_mlp.CONTENDERS), repeats, args.quick,
                                       True, args.blas_threads, log=log)
    results["load_average_end"] = common.load_average()
    results["seconds"] = round(time.perf_counter() - t0, 1)
    lines, targets = report(results)
    results["targets"] = targets
    m = results["machine"]
    print(f"\n== gradstep benchmark suite: {results['command']} ==")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; python {m['python']}, "
          f"numpy {m['numpy']}, torch {m['torch']}, sklearn {m['sklearn']}; numpy BLAS threads "
          f"{args.blas_threads or 'default'}; load avg {results['load_average_start']} -> "
          f"{results['load_average_end']}; {results['seconds']} s")
    print("\n".join(lines))
    path = args.json
    if path is None and not args.quick and set(parts) == set(PARTS):
        path = os.path.join(common.HERE, "results", "latest.json")
    if path:
        common.write_json(path, results)
        print(f"JSON: {os.path.relpath(path, common.ROOT)}")


if __name__ == "__main__":
    main()
