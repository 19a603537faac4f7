"""Shared settings and helpers of the fuzz tests (hypothesis).

Every fuzz test uses ``fuzz_settings(n)``: ``n`` examples (scaled by the environment
variable ``GRADSTEP_FUZZ_SCALE``, e.g. ``10`` for a long local campaign), no deadline,
derandomized so that CI is reproducible (``GRADSTEP_FUZZ_RANDOM=1`` explores new inputs).
docs/reliability.md lists each test's ``n``; their sum is the number of fuzz cases CI runs.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from gradstep.errors import GradstepError

SCALE = float(os.environ.get("GRADSTEP_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("GRADSTEP_FUZZ_RANDOM", "") not in ("", "0")


def fuzz_settings(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def typed_or_ok(fn: Callable[[], Any], error: type[GradstepError]) -> Any:
    """Call ``fn``: it may succeed or raise ``error`` with a non-empty message; anything
    else (another exception type, a crash) fails the test. Returns the result or the error."""
    try:
        return fn()
    except error as exc:
        msg = str(exc)
        assert msg and len(msg) < 20_000, f"unhelpful message: {msg[:200]!r}"
        return exc


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """``with peak_memory() as peak: ...`` then ``peak[0]`` is the traced peak in bytes."""
    out = [0]
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield out
    finally:
        out[0] = tracemalloc.get_traced_memory()[1] - base
        if not was:
            tracemalloc.stop()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime (to prove nothing was touched)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out
