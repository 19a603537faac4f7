"""Whether an array can be handed over without a copy (used by the backward engine).

A gradient that a backward closure returns may be adopted as a leaf's ``_grad`` only when
nothing else can reach it: the array owns its memory (it is no view) and the engine's one
local name is its only reference. This is the rule PyTorch's gradient accumulation applies
(steal the incoming gradient when its use count shows no other owner), checked here with
CPython's reference count. The count a sole owner shows is measured once at import, through
the same call shape the engine uses, so interpreters that count differently stay correct.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["sole_owner"]


def _count(a: Any) -> int:
    return sys.getrefcount(a)


def _calibrate() -> int:
    a = np.empty(1)  # held by this one local name, as the engine holds a gradient
    return _count(a)


_SOLE = _calibrate()


def sole_owner(a: np.ndarray) -> bool:
    """True when ``a`` owns its memory and the caller's one local name is its only reference.

    Call it as ``sole_owner(name)`` with ``name`` a local variable of the caller and no other
    reference alive in the caller's frame.
    """
    return a.base is None and sys.getrefcount(a) <= _SOLE
