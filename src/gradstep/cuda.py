"""``gradstep.cuda``: the answers PyTorch gives on a machine without a GPU.

gradstep computes on the CPU only, so :func:`is_available` is False and
:func:`device_count` is 0. Functions that would act on a GPU raise
:class:`~gradstep.errors.DeviceError`; :func:`manual_seed` and :func:`manual_seed_all` do
nothing (as in PyTorch without CUDA), so seeding code written for GPUs runs unchanged.
"""

from __future__ import annotations

from gradstep.errors import DeviceError

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all",
           "current_device", "synchronize", "empty_cache"]


def is_available() -> bool:
    """Always False: gradstep has no GPU backend."""
    return False


def device_count() -> int:
    """Always 0."""
    return 0


def manual_seed(seed: int) -> None:
    """No effect (no GPU generator exists), as PyTorch without CUDA."""
    del seed


def manual_seed_all(seed: int) -> None:
    """No effect (no GPU generator exists), as PyTorch without CUDA."""
    del seed


def empty_cache() -> None:
    """No effect (there is no GPU memory to release)."""


def current_device() -> int:
    """Raises :class:`DeviceError`: there is no CUDA device."""
    raise DeviceError("cuda.current_device: no CUDA device is available (CPU only)")


def synchronize() -> None:
    """Raises :class:`DeviceError`: there is no CUDA device."""
    raise DeviceError("cuda.synchronize: no CUDA device is available (CPU only)")
