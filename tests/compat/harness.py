"""Run one PyTorch idiom through gradstep and through PyTorch and compare the outcomes.

An idiom is a function of the library module (``gradstep`` or ``torch``) written the way a
PyTorch user writes it. Both runs must agree on the outcome: the same exception type (the
first built-in exception class in the MRO of PyTorch's error), or equal results, compared
recursively. Tensors agree when shape, dtype name, ``requires_grad`` and values agree;
float values are compared with a tolerance because NumPy and PyTorch may use different
elementwise kernels (a few float32 ulps; the tolerance below is 8 float32 ulps relative).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

import gradstep as gs

RTOL = 1e-6  # about 8 float32 ulps: different libm/SIMD kernels, never different formulas
ATOL = 1e-7

Idiom = Callable[[Any], Any]


def _builtin_base(exc: BaseException) -> type[BaseException]:
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls
    return Exception  # pragma: no cover


def _dtype_name(dt: Any) -> str:
    s = str(dt)
    for prefix in ("torch.", "gradstep."):
        s = s.removeprefix(prefix)
    return np.dtype(s).name if s not in ("bool",) else "bool"


def run(idiom: Idiom, lib: Any) -> tuple[str, Any]:
    """Outcome of ``idiom(lib)``: ("ok", value) or ("raise", builtin exception class)."""
    try:
        return "ok", idiom(lib)
    except Exception as exc:
        return "raise", exc


def assert_same(g: Any, t: Any, path: str = "result") -> None:
    """Assert that a gradstep value ``g`` matches the PyTorch value ``t``."""
    import torch

    if isinstance(t, torch.Tensor):
        assert isinstance(g, gs.Tensor), f"{path}: expected a Tensor, got {type(g).__name__}"
        assert tuple(g.shape) == tuple(t.shape), f"{path}: shape {g.shape} != {tuple(t.shape)}"
        assert _dtype_name(g.dtype) == _dtype_name(t.dtype), (
            f"{path}: dtype {g.dtype} != {t.dtype}"
        )
        assert g.requires_grad == t.requires_grad, f"{path}: requires_grad differs"
        ga = np.array(g.detach().numpy())
        ta = t.detach().numpy()
        if ta.dtype.kind == "f":
            np.testing.assert_allclose(ga, ta, rtol=RTOL, atol=ATOL, err_msg=path)
        else:
            np.testing.assert_array_equal(ga, ta, err_msg=path)
        return
    if isinstance(t, torch.dtype):
        assert _dtype_name(g) == _dtype_name(t), f"{path}: dtype {g} != {t}"
        return
    if isinstance(t, torch.device):
        assert str(g) == str(t) and g.type == t.type, f"{path}: device {g} != {t}"
        return
    if isinstance(t, tuple) and hasattr(t, "_fields") or type(t).__module__ == "torch.return_types":
        fields = [f for f in ("values", "indices") if hasattr(t, f)]
        for f in fields:
            assert_same(getattr(g, f), getattr(t, f), f"{path}.{f}")
        assert len(g) == len(t), f"{path}: length {len(g)} != {len(t)}"
        for i, (x, y) in enumerate(zip(g, t)):
            assert_same(x, y, f"{path}[{i}]")
        return
    if isinstance(t, (tuple, list)):
        assert isinstance(g, (tuple, list)), f"{path}: expected a sequence, got {type(g).__name__}"
        assert len(g) == len(t), f"{path}: length {len(g)} != {len(t)}"
        for i, (x, y) in enumerate(zip(g, t)):
            assert_same(x, y, f"{path}[{i}]")
        return
    if isinstance(t, str):
        assert g == t.replace("torch.", "gradstep."), f"{path}: {g!r} != {t!r}"
        return
    if isinstance(t, builtins.bool) or t is None:
        assert g is t, f"{path}: {g!r} is not {t!r}"
        return
    if isinstance(t, (builtins.int, builtins.float)):
        assert type(g) is type(t), f"{path}: {type(g).__name__} != {type(t).__name__}"
        if isinstance(t, builtins.float):
            np.testing.assert_allclose(g, t, rtol=RTOL, atol=ATOL, err_msg=path)
        else:
            assert g == t, f"{path}: {g} != {t}"
        return
    if isinstance(t, np.ndarray):
        assert isinstance(g, np.ndarray), f"{path}: expected an ndarray, got {type(g).__name__}"
        assert g.dtype == t.dtype and g.shape == t.shape, f"{path}: {g.dtype}{g.shape}"
        np.testing.assert_allclose(g, t, rtol=RTOL, atol=ATOL, err_msg=path)
        return
    raise TypeError(f"{path}: cannot compare {type(t).__name__}")  # pragma: no cover


def check(idiom: Idiom) -> None:
    """Run ``idiom`` through both libraries and assert the outcomes agree."""
    import torch

    tk, tv = run(idiom, torch)
    gk, gv = run(idiom, gs)
    if tk == "raise":
        base = _builtin_base(tv)
        assert gk == "raise", f"PyTorch raises {type(tv).__name__}: {tv}; gradstep returned {gv!r}"
        assert isinstance(gv, base), (
            f"PyTorch raises {base.__name__} ({tv}); gradstep raised {type(gv).__name__}: {gv}"
        )
        return
    if gk == "raise":
        raise AssertionError(f"gradstep raised {type(gv).__name__}: {gv}") from gv
    assert_same(gv, tv)
