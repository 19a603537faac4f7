"""Fit plug-ins: how packages above the loop add behaviour to every :func:`fit` call.

The loop imports nothing above it (no pictures, no MPI). A package that must change every
run, such as :mod:`gradstep.distributed` (data parallelism when the process was started by
``mpiexec``), registers a *plug-in*: a function called with the new
:class:`~gradstep.train.Trainer` before training (and before a resume is restored) that
may configure it and returns a :class:`~gradstep.callbacks.Callback` to add, or None.
Plug-ins work only through the callback hooks and public trainer attributes that users
have too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register_fit_plugin", "unregister_fit_plugin", "fit_plugins"]

FitPlugin = Callable[[Any], Any]

_PLUGINS: dict[str, FitPlugin] = {}


def register_fit_plugin(name: str, plugin: FitPlugin) -> None:
    """Call ``plugin(trainer)`` in every :func:`fit`; a returned Callback is added to the run.

    Registering a name again replaces the earlier plug-in.

    Raises:
        TypeError: ``plugin`` is not callable.
    """
    if not callable(plugin):
        raise TypeError(
            f"register_fit_plugin: plugin must be callable, got {type(plugin).__name__}"
        )
    _PLUGINS[str(name)] = plugin


def unregister_fit_plugin(name: str) -> None:
    """Remove a plug-in (no error if it is not registered)."""
    _PLUGINS.pop(str(name), None)


def fit_plugins() -> dict[str, FitPlugin]:
    """The registered plug-ins, by name, in registration order."""
    return dict(_PLUGINS)
