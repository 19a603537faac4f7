"""Random numbers: a default generator seeded by :func:`manual_seed`, as in PyTorch.

Every sampling function takes ``generator=``: a :class:`Generator`, a
``numpy.random.Generator``, or None for the default generator. Same seed, same machine,
same sequence of calls: the same numbers. The streams are NumPy's PCG64, so the values
differ from PyTorch's for the same seed (only the seeding behaviour is PyTorch's).
"""

from __future__ import annotations

import builtins
import secrets
from typing import Any

import numpy as np

from gradstep import _dtypes

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "numpy_generator"]

_DEFAULT_SEED = 67280421310721  # PyTorch's default seed


class Generator:
    """A seedable source of random numbers (``gradstep.Generator().manual_seed(0)``).

    Args:
        device: accepted for PyTorch compatibility; only ``"cpu"`` exists.
    """

    def __init__(self, device: Any = "cpu") -> None:
        from gradstep._device import device as _device

        self.device = _device(device)
        self._seed = _DEFAULT_SEED
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        """Reset the stream to ``seed`` and return this generator."""
        if isinstance(seed, builtins.bool) or not isinstance(seed, (builtins.int, np.integer)):
            raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
        self._seed = builtins.int(seed) % (1 << 64)
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy and return the seed used."""
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """The generator's state (a dict that :meth:`set_state` accepts)."""
        return {"seed": self._seed, "bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> Generator:
        """Restore a state returned by :meth:`get_state`."""
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise TypeError("set_state: state must be a dict returned by get_state()")
        self._seed = builtins.int(state.get("seed", self._seed))
        self._rng.bit_generator.state = state["bit_generator"]
        return self

    def __repr__(self) -> str:
        return f"<gradstep.Generator seed={self._seed}>"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (and return it), as ``torch.manual_seed``."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator non-deterministically and return the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state() -> dict[str, Any]:
    """The default generator's state."""
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the default generator's state."""
    default_generator.set_state(state)


def numpy_generator(generator: Any, op: str) -> np.random.Generator:
    """The ``numpy.random.Generator`` behind ``generator`` (None: the default generator)."""
    if generator is None:
        return default_generator._rng
    if isinstance(generator, Generator):
        return generator._rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(
        f"{op}: generator must be a gradstep.Generator, a numpy.random.Generator or None, "
        f"got {type(generator).__name__}"
    )


def float_dtype(dtype: Any, op: str) -> np.dtype:
    """``dtype`` (default: the default dtype), which must be floating point."""
    dt = _dtypes.DEFAULT[0] if dtype is None else _dtypes.as_dtype(dtype, op)
    if dt.kind != "f":
        raise TypeError(f"{op}: dtype must be floating point, got {dt.name}")
    return dt
