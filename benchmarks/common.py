"""Shared helpers of the benchmark suite: interleaved timing, summaries, per-contender peak RSS.

* :func:`interleave` times contenders in turn, one block each per round, rotating the order
  every round, so that a slow spell of the shared host hits every contender alike; the
  figures are medians with the min-max spread, and ratios are taken between contenders of
  the same run only.
* :func:`peak_rss_mb` runs one contender in a fresh child process and returns that child's
  peak resident set size (``VmHWM``), so every contender's peak is its own: imports, data and
  working memory, nothing of the other contenders.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(ROOT, "src")
if SRC not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, SRC)


def interleave(
    contenders: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    before: Callable[[str], object] | None = None,
) -> dict[str, list[float]]:
    """Seconds of each call of each contender: ``repeats`` rounds, one call per contender each.

    Args:
        contenders: name -> a callable doing one block of work.
        repeats: timed rounds.
        warmup: untimed rounds first.
        before: called with the name (untimed) before each block, e.g. to set thread counts.
    """
    names = list(contenders)
    out: dict[str, list[float]] = {k: [] for k in names}
    for r in range(warmup + repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if before is not None:
                before(name)
            t0 = time.perf_counter()
            contenders[name]()
            dt = time.perf_counter() - t0
            if r >= warmup:
                out[name].append(dt)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    """Median, min, max of a list of samples."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def rate_summary(seconds: list[float], work: float) -> dict[str, float]:
    """Throughput (``work`` per second) median / min / max from per-block seconds."""
    rates = [work / s for s in seconds]
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of ``b[i] / a[i]``: how many times faster ``a`` is than ``b``."""
    return statistics.median(y / x for x, y in zip(a, b))


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def machine() -> dict[str, Any]:
    """A description of the host and the library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem_gib = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for mod in ("numpy", "torch", "sklearn"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def peak_rss_mb(module: str, func: str, kwargs: dict[str, Any], timeout: float = 600) -> dict:
    """Run ``benchmarks/<module>.py:<func>(**kwargs)`` in a fresh interpreter.

    Returns the function's JSON-able result (a dict) with ``peak_rss_mb`` added: the child's
    peak RSS in MiB, from ``VmHWM`` in ``/proc/self/status``. ``ru_maxrss_mb``
    (``getrusage(RUSAGE_SELF).ru_maxrss``) is recorded too but is not used: Linux carries the
    peak of the pre-``exec`` image over ``exec``, so a child forked from a large benchmark
    process reports the parent's size (every contender measured 1629 MiB that way).
    """
    code = (
        "import json, resource, sys\n"
        f"sys.path.insert(0, {HERE!r}); sys.path.insert(0, {SRC!r})\n"
        f"import {module} as m\n"
        f"res = m.{func}(**json.loads(sys.argv[1])) or {{}}\n"
        "res['ru_maxrss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
        "res['peak_rss_mb'] = int(hwm[0].split()[1]) / 1024 if hwm else res['ru_maxrss_mb']\n"
        "print('RESULT ' + json.dumps(res))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kwargs)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    raise RuntimeError(
        f"{module}.{func}({kwargs}) failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    )


def fmt_rate(s: dict[str, float]) -> str:
    return f"{s['median']:>10,.0f} [{s['min']:,.0f}-{s['max']:,.0f}]"


def write_json(path: str, payload: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=False)
        f.write("\n")
