"""Reliability tests: a hang guard for every test (a hang fails loudly instead of stalling CI)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import pytest

HANG_GUARD_S = 180  # far above any test's normal duration; only catches hangs


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    if sys.platform == "win32" or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"reliability test still running after {HANG_GUARD_S} s (hang?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_GUARD_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
