"""Finite-difference checks (float64) of nn's fused primitives and composite layers."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn, ops
from gradstep.nn import functional as F

from .gradcheck_cases import GRADCHECK_CASES, T, reseed


@pytest.fixture(autouse=True)
def _own_inputs(request: pytest.FixtureRequest) -> None:
    reseed(zlib.crc32(request.node.nodeid.encode()))


PARAMS = [(name, i) for name, cases in GRADCHECK_CASES.items() for i in range(len(cases))]


def test_every_nn_primitive_has_cases() -> None:
    # every primitive that gradstep.nn registers, found in the registry itself
    nn_prims = {
        name
        for name, fn in ops.PRIMITIVES.items()
        if fn.__module__.startswith("gradstep.nn.")
    }
    assert {"linear", "conv2d", "max_pool2d", "cross_entropy"} <= nn_prims  # the lookup works
    missing = nn_prims - set(GRADCHECK_CASES)
    assert not missing, f"nn primitives without gradcheck cases: {sorted(missing)}"


@pytest.mark.parametrize("name,i", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_primitive_gradcheck(name: str, i: int) -> None:
    fn, inputs, *kw = GRADCHECK_CASES[name][i]()
    assert gs.gradcheck(fn, inputs, **(kw[0] if kw else {}))


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: nn.BatchNorm1d(3, dtype=np.float64), (5, 3)),
        (lambda: nn.BatchNorm1d(2, dtype=np.float64), (4, 2, 3)),
        (lambda: nn.BatchNorm2d(2, dtype=np.float64), (3, 2, 2, 2)),
        (lambda: nn.LayerNorm((3, 2), dtype=np.float64), (2, 3, 2)),
        (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 2, 5, 7)),
        (lambda: nn.SiLU(), (3, 4)),
        (lambda: nn.ELU(0.7), (3, 4)),
        (lambda: nn.Softplus(2.0), (3, 4)),
    ],
)
def test_composite_layer_gradcheck(make, shape) -> None:  # type: ignore[no-untyped-def]
    m = make()
    x = T(*shape)
    assert gs.gradcheck(lambda xx: m(xx), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_gradcheck(reduction: str) -> None:
    y = np.random.default_rng(0).standard_normal((3, 4))
    for f in (F.mse_loss, F.l1_loss, lambda a, b, r: F.huber_loss(a, b, r, 0.7)):
        x = T(3, 4)
        assert gs.gradcheck(lambda a, f=f: f(a, y, reduction), [x])


def test_batch_norm_parameters_gradcheck() -> None:
    x = T(6, 3)
    w, b = T(3), T(3)
    assert gs.gradcheck(lambda a, ww, bb: F.batch_norm(a, None, None, ww, bb, True), [x, w, b])
    x4 = T(3, 2, 2, 3)
    w2, b2 = T(2), T(2)
    assert gs.gradcheck(lambda a, ww, bb: F.batch_norm(a, None, None, ww, bb, True), [x4, w2, b2])
    assert gs.gradcheck(lambda a, ww, bb: F.layer_norm(a, 3, ww, bb), [T(4, 3), T(3), T(3)])
