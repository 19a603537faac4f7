"""Import time of gradstep vs torch (and numpy, which gradstep needs) and installed sizes.

Each import is timed in a fresh interpreter (``python -c "import time; t0 = ...; import X"``,
so interpreter start-up is excluded but everything the import pulls in is included), the
contenders interleaved, median of several. Also lists heavy modules that ``import gradstep``
must not load eagerly. Sizes: the gradstep package's files (the "core" without
``gradstep/viz``, and all of it) and the installed torch, numpy and scikit-learn packages.

    python benchmarks/bench_import.py [--repeats 9] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

HEAVY = ("scipy", "matplotlib", "tqdm", "sklearn", "torch", "pandas", "onnx", "safetensors",
         "urllib.request", "http.client")


def _time_import(module: str) -> float:
    code = (
        f"import sys; sys.path.insert(0, {common.SRC!r})\n"
        "import time; t0 = time.perf_counter()\n"
        f"import {module}\n"
        "print(time.perf_counter() - t0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=common.ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def _loaded_heavy() -> list[str]:
    code = (
        f"import sys; sys.path.insert(0, {common.SRC!r})\n"
        "import json, gradstep\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=common.ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _dir_size(path: str, skip: tuple[str, ...] = ()) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != "__pycache__" and os.path.join(root, d) not in skip]
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def _pkg_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def run(repeats: int) -> dict[str, Any]:
    mods = ["numpy", "gradstep", "torch"]
    times: dict[str, list[float]] = {m: [] for m in mods}
    for r in range(repeats):
        for m in mods[r % 3:] + mods[: r % 3]:
            times[m].append(_time_import(m))
    gs_dir = os.path.join(common.SRC, "gradstep")
    sizes = {"gradstep core (without viz)": _dir_size(gs_dir, (os.path.join(gs_dir, "viz"),)),
             "gradstep (all)": _dir_size(gs_dir)}
    for name in ("numpy", "torch", "sklearn"):
        d = _pkg_dir(name)
        if d:
            sizes[name] = _dir_size(d)
    return {
        "import_s": {m: common.summary(v) for m, v in times.items()},
        "import_samples": times,
        "heavy_modules_loaded_by_import_gradstep": _loaded_heavy(),
        "installed_bytes": sizes,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    res = run(args.repeats)
    for m, s in res["import_s"].items():
        print(f"import {m:9s} {s['median']:.3f} s [{s['min']:.3f}-{s['max']:.3f}]")
    print("heavy modules loaded by import gradstep:",
          res["heavy_modules_loaded_by_import_gradstep"] or "none")
    for k, v in res["installed_bytes"].items():
        print(f"size {k:30s} {v / 2**20:8.2f} MiB")
    if args.json:
        common.write_json(args.json, res)


if __name__ == "__main__":
    main()
