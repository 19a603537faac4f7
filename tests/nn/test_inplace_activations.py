"""``inplace=True`` of the activations and dropout, under PyTorch's autograd rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn
from gradstep.errors import GradError
from gradstep.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CASES: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("relu", lambda t, ip: F.relu(t, inplace=ip), lambda t, ip: TF.relu(t, inplace=ip)),
    (
        "leaky_relu",
        lambda t, ip: F.leaky_relu(t, 0.2, inplace=ip),
        lambda t, ip: TF.leaky_relu(t, 0.2, inplace=ip),
    ),
    ("elu", lambda t, ip: F.elu(t, 0.7, inplace=ip), lambda t, ip: TF.elu(t, 0.7, inplace=ip)),
    ("silu", lambda t, ip: F.silu(t, inplace=ip), lambda t, ip: TF.silu(t, inplace=ip)),
]


def _x() -> np.ndarray:
    return np.random.default_rng(3).standard_normal((4, 5))


@pytest.mark.parametrize("name,gf,tf", CASES, ids=[c[0] for c in CASES])
def test_inplace_on_a_plain_tensor_overwrites_it(name: str, gf: Any, tf: Any) -> None:
    x = gs.tensor(_x())
    arr = x._data
    out = gf(x, True)
    xt = torch.tensor(_x())
    outt = tf(xt, True)
    assert out is x and x._data is arr  # the tensor and its array are updated in place
    assert outt is xt
    np.testing.assert_allclose(x._data, xt.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,gf,tf", CASES, ids=[c[0] for c in CASES])
def test_inplace_on_a_leaf_that_requires_grad_raises(name: str, gf: Any, tf: Any) -> None:
    with pytest.raises(RuntimeError):
        tf(torch.tensor(_x(), requires_grad=True), True)
    x = gs.tensor(_x(), requires_grad=True)
    with pytest.raises(GradError, match="in place"):
        gf(x, True)
    with gs.no_grad():  # without recording, the leaf is written as PyTorch does
        assert gf(x, True) is x


@pytest.mark.parametrize("name,gf,tf", CASES, ids=[c[0] for c in CASES])
def test_inplace_on_a_computed_tensor_is_recorded(name: str, gf: Any, tf: Any) -> None:
    g = np.random.default_rng(4).standard_normal((4, 5))
    x = gs.tensor(_x(), requires_grad=True)
    y = x * 3.0
    z = gf(y, True)
    assert z is y
    (z * gs.tensor(g)).sum().backward()
    xt = torch.tensor(_x(), requires_grad=True)
    yt = xt * 3.0
    zt = tf(yt, True)
    (zt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(z._data, zt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(x._grad, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_inplace_modules_match_out_of_place() -> None:
    for make in (
        lambda ip: nn.ReLU(inplace=ip),
        lambda ip: nn.LeakyReLU(0.1, inplace=ip),
        lambda ip: nn.ELU(inplace=ip),
        lambda ip: nn.SiLU(inplace=ip),
    ):
        grads = []
        for ip in (False, True):
            lin = nn.Linear(5, 3, dtype=np.float64, generator=np.random.default_rng(0))
            model = nn.Sequential(lin, make(ip))
            model(gs.tensor(_x())).sum().backward()
            assert lin.weight._grad is not None
            grads.append(lin.weight._grad.copy())
        assert np.array_equal(grads[0], grads[1])  # the same ops, only the output's owner differs


def test_dropout_inplace_uses_the_same_mask() -> None:
    x = gs.tensor(np.ones((50, 40)))
    ref = F.dropout(x, 0.3, True, generator=np.random.default_rng(9))._data
    x2 = gs.tensor(np.ones((50, 40)))
    out = F.dropout(x2, 0.3, True, True, generator=np.random.default_rng(9))
    assert out is x2 and np.array_equal(x2._data, ref)
    m = nn.Dropout(0.3, inplace=True, generator=np.random.default_rng(9))
    x3 = gs.tensor(np.ones((50, 40)))
    assert m(x3) is x3 and np.array_equal(x3._data, ref)


def test_dropout_generator_is_not_the_fourth_positional_argument() -> None:
    # PyTorch's fourth argument is inplace; a generator there is a mistake, named as such
    with pytest.raises(TypeError, match="inplace"):
        F.dropout(gs.tensor(np.ones(3)), 0.5, True, np.random.default_rng(0))  # type: ignore[arg-type]
