"""Gradient mode: whether ops record the graph, per thread (``no_grad``, ``enable_grad``,
``set_grad_enabled``, ``inference_mode``), and the counter of in-place ops.

``_GRAD_ENABLED[0]`` is True while no thread has switched recording off, so the hot path
(``Tensor._make``) reads one list element; only while some thread is inside ``no_grad`` does
it also read this thread's own flag.
"""

from __future__ import annotations

import builtins
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["is_grad_enabled", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled"]

# The mode is per thread. ``_GRAD_ENABLED[0]`` is True while no thread has switched
# recording off, so the hot path (``_make``) reads one list element; only while some thread
# is inside no_grad does it also read this thread's own flag.
_GRAD_ENABLED = [True]
_LOCAL = threading.local()
_OFF_THREADS = [0]
_LOCK = threading.Lock()

# Counter of in-place ops (see the module docstring).
_CLOCK = [0]



def is_grad_enabled() -> bool:
    """Whether ops record the graph for backward in this thread."""
    return _GRAD_ENABLED[0] or getattr(_LOCAL, "enabled", True)


def _set_mode(enabled: bool) -> bool:
    """Set this thread's mode; returns the previous one."""
    prev: bool = getattr(_LOCAL, "enabled", True)
    if prev != enabled:
        with _LOCK:
            _OFF_THREADS[0] += -1 if enabled else 1
            _GRAD_ENABLED[0] = _OFF_THREADS[0] == 0
        _LOCAL.enabled = enabled
    return prev


F = TypeVar("F", bound=Callable[..., Any])


class _GradMode:
    """Context manager and decorator that sets this thread's gradient mode.

    Usable as ``with no_grad():``, ``@no_grad()`` and the bare ``@no_grad``.
    """

    _enabled = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs and cls._bare_ok():
            return cls()(args[0])
        return super().__new__(cls)

    @classmethod
    def _bare_ok(cls) -> bool:
        return True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> _GradMode:
        self._prev.append(_set_mode(self._enabled))
        return self

    def __exit__(self, *exc: object) -> None:
        _set_mode(self._prev.pop())

    def __call__(self, func: F) -> F:
        enabled = self._enabled

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            prev = _set_mode(enabled)
            try:
                return func(*args, **kwargs)
            finally:
                _set_mode(prev)

        return inner  # type: ignore[return-value]


class no_grad(_GradMode):
    """Switch graph recording off: ``with gradstep.no_grad():``, ``@gradstep.no_grad`` or
    ``@gradstep.no_grad()``. Parameters updated in place inside it change in place."""

    _enabled = False


class enable_grad(_GradMode):
    """Switch graph recording back on (e.g. inside a :class:`no_grad` region)."""

    _enabled = True


class inference_mode(_GradMode):
    """As :class:`no_grad` (``inference_mode(False)`` records as usual)."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode) and not isinstance(mode, builtins.bool):
            return cls(True)(mode)
        return object.__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        super().__init__()
        self._enabled = not builtins.bool(mode)


class set_grad_enabled(_GradMode):
    """Set recording on or off now (``set_grad_enabled(False)``), or for a ``with`` block."""

    def __new__(cls, mode: Any) -> Any:
        return object.__new__(cls)

    def __init__(self, mode: Any) -> None:
        super().__init__()
        self._enabled = builtins.bool(mode)
        self._entry = _set_mode(self._enabled)

    def __enter__(self) -> _GradMode:
        self._prev.append(self._entry)
        return self


