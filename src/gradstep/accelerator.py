"""``gradstep.accelerator``: PyTorch's device-agnostic queries, answered for a CPU-only library.

gradstep computes on the CPU only: no accelerator is available, none is current, and the
count is 0, as ``torch.accelerator`` answers on a machine without one.
"""

from __future__ import annotations

__all__ = ["is_available", "device_count", "current_accelerator"]


def is_available() -> bool:
    """Always False: gradstep has no accelerator backend."""
    return False


def device_count() -> int:
    """Always 0."""
    return 0


def current_accelerator(check_available: bool = False) -> None:
    """Always None (no accelerator)."""
    del check_available
