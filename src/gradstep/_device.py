"""Devices: gradstep computes on the CPU only; the PyTorch spellings answer accordingly.

``gradstep.device("cpu")``, ``t.device``, ``t.to("cpu")`` and ``t.cpu()`` work as in PyTorch.
Asking for any other device (``"cuda"``, ``"mps"``...) raises :class:`DeviceError`, which
names the device and says that only the CPU exists.
"""

from __future__ import annotations

from typing import Any

from gradstep.errors import DeviceError

__all__ = ["device", "check_device"]

_KNOWN = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "mtia", "privateuseone")


class device:
    """A device description; only ``device("cpu")`` can hold tensors.

    Args:
        type: ``"cpu"`` (or ``"cpu:0"``), or a :class:`device`.
        index: accepted for PyTorch compatibility; must be None or 0.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            self.type: str = type.type
            self.index: int | None = type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, idx = type.partition(":")
        if name not in _KNOWN:
            raise ValueError(f"device: unknown device type {name!r}; expected one of {_KNOWN}")
        if idx:
            if not idx.isdigit():
                raise ValueError(f"device: invalid device index in {type!r}")
            index = int(idx)
        self.type = name
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}')" if self.index is None else (
            f"device(type='{self.type}', index={self.index})"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


def check_device(dev: Any, op: str) -> device:
    """``dev`` as a :class:`device`, raising :class:`DeviceError` unless it is the CPU."""
    if dev is None:
        return CPU
    d = dev if isinstance(dev, device) else device(dev)
    if d.type != "cpu" or d.index not in (None, 0):
        raise DeviceError(
            f"{op}: device {str(d)!r} is not available: gradstep computes on the CPU only "
            f"(use 'cpu'; gradstep.cuda.is_available() is False)"
        )
    return CPU
