"""Optimizer specifications written as short strings, shared by ``compare`` and ``paths``.

A spec is ``NAME[:KEY=VALUE,KEY=VALUE,...]``, for example ``sgd:lr=0.1``,
``momentum:lr=0.05,momentum=0.9``, ``adam:lr=0.01,betas=(0.9,0.99)``. ``NAME`` is the
name of any optimizer class in :mod:`gradstep.optim` (case-insensitive: ``sgd``,
``adam``, ``rmsprop``, ``adagrad``...) or one of two shorthands:

* ``momentum``: ``SGD`` with ``momentum=0.9`` unless given;
* ``nesterov``: ``SGD`` with ``momentum=0.9, nesterov=True`` unless given.

Values are Python literals (numbers, booleans, tuples, strings); anything else is kept as
a string. A label for legends can be appended after ``@``: ``sgd:lr=0.1@plain SGD``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gradstep.errors import ConfigError

__all__ = ["OptimizerSpec", "parse_optimizer_spec", "optimizer_classes"]

_SHORTHANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "gd": ("SGD", {}),
}


def optimizer_classes() -> dict[str, type]:
    """Lower-case name -> optimizer class, for every optimizer exported by gradstep.optim."""
    import gradstep.optim as optim_mod
    from gradstep.optim.optimizer import Optimizer

    out: dict[str, type] = {}
    for name in dir(optim_mod):
        obj = getattr(optim_mod, name)
        if isinstance(obj, type) and issubclass(obj, Optimizer) and obj is not Optimizer:
            out[name.lower()] = obj
    return out


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer class name, its keyword arguments and a label for legends."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    shorthand: str = ""

    @property
    def display(self) -> str:
        """The label, or ``name(k=v, ...)`` built from the arguments."""
        if self.label:
            return self.label
        base = self.shorthand or self.name.lower()
        shown = {k: v for k, v in self.kwargs.items()}
        if self.shorthand:
            for k, v in _SHORTHANDS[self.shorthand][1].items():
                if shown.get(k) == v and k != "momentum":
                    shown.pop(k)
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items())
        return f"{base} ({args})" if args else base

    def build(self, params: Iterable[Any]) -> Any:
        """Instantiate the optimizer on ``params``.

        Raises:
            ConfigError: unknown optimizer name or arguments it does not accept.
        """
        classes = optimizer_classes()
        cls = classes.get(self.name.lower())
        if cls is None:
            raise ConfigError(
                f"optimizer: unknown optimizer {self.name!r}; available: "
                f"{sorted(set(classes) | set(_SHORTHANDS))}"
            )
        try:
            return cls(list(params), **self.kwargs)
        except TypeError as exc:
            raise ConfigError(f"optimizer {self.display!r}: bad arguments: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"optimizer {self.display!r}: {exc}") from None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_optimizer_spec(text: str) -> OptimizerSpec:
    """Parse ``NAME[:KEY=VALUE,...][@LABEL]`` (see the module docstring).

    Raises:
        ConfigError: empty name or an argument without ``=``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"optimizer spec: expected 'name[:key=value,...]', got {text!r}")
    body, _, label = text.partition("@")
    name, _, args = body.partition(":")
    name = name.strip()
    if not name:
        raise ConfigError(f"optimizer spec {text!r}: the optimizer name is missing")
    kwargs: dict[str, Any] = {}
    for part in _split_top(args):
        key, eq, val = part.partition("=")
        if not eq or not key.strip():
            raise ConfigError(
                f"optimizer spec {text!r}: expected key=value, got {part!r}"
            )
        kwargs[key.strip()] = _value(val.strip())
    shorthand = ""
    low = name.lower()
    if low in _SHORTHANDS:
        shorthand = low
        cls_name, extra = _SHORTHANDS[low]
        merged = dict(extra)
        merged.update(kwargs)
        # keep the user's order first, then the shorthand's defaults
        kwargs = {**kwargs, **{k: v for k, v in merged.items() if k not in kwargs}}
        name = cls_name
    return OptimizerSpec(name, kwargs, label.strip(), shorthand)
