"""Every primitive's forward and backward equal PyTorch's (float64, rel 1e-7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradstep as gs

torch = pytest.importorskip("torch")

R = np.random.default_rng(11)


def arr(*shape: int, positive: bool = False) -> np.ndarray:
    if positive:
        return R.uniform(0.5, 2.0, shape)
    a = R.standard_normal(shape)
    return np.where(np.abs(a) < 0.05, 0.3, a)


# name -> (gradstep fn, torch fn, input arrays)
Spec = tuple[Callable[..., Any], Callable[..., Any], list[np.ndarray]]
SPECS: dict[str, list[Spec]] = {
    "add": [(lambda a, b: a + b, lambda a, b: a + b, [arr(3, 1), arr(1, 4)]),
            (lambda a, b: a + b, lambda a, b: a + b, [arr(2, 3, 4), arr(4)])],
    "sub": [(lambda a, b: a - b, lambda a, b: a - b, [arr(3, 4), arr(1, 4)])],
    "mul": [(lambda a, b: a * b, lambda a, b: a * b, [arr(3, 1), arr(3, 4)])],
    "div": [(lambda a, b: a / b, lambda a, b: a / b, [arr(3, 4), arr(4, positive=True)])],
    "neg": [(lambda a: -a, lambda a: -a, [arr(3, 4)])],
    "pow": [(lambda a: a**3, lambda a: a**3, [arr(3, 4)]),
            (lambda a, b: a**b, lambda a, b: a**b, [arr(3, 4, positive=True), arr(3, 4)]),
            (lambda a: 1.7**a, lambda a: 1.7**a, [arr(5)])],
    "matmul": [(lambda a, b: a @ b, lambda a, b: a @ b, [arr(5, 4), arr(4, 3)]),
               (lambda a, b: a @ b, lambda a, b: a @ b, [arr(2, 5, 4), arr(4, 3)]),
               (lambda a, b: a @ b, lambda a, b: a @ b, [arr(4), arr(2, 4, 3)]),
               (lambda a, b: a @ b, lambda a, b: a @ b, [arr(2, 5, 4), arr(4)]),
               (lambda a, b: a @ b, lambda a, b: a @ b, [arr(4), arr(4)])],
    "sum": [(lambda a: a.sum(), lambda a: a.sum(), [arr(3, 4)]),
            (lambda a: a.sum(axis=(0, 2), keepdims=True), lambda a: a.sum(dim=(0, 2), keepdim=True), [arr(2, 3, 4)])],
    "mean": [(lambda a: a.mean(axis=1), lambda a: a.mean(dim=1), [arr(3, 4)])],
    "max": [(lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [arr(3, 4)]),
            (lambda a: a.max(), lambda a: a.amax(), [arr(3, 4)])],
    "min": [(lambda a: a.min(axis=0, keepdims=True), lambda a: a.amin(dim=0, keepdim=True), [arr(3, 4)])],
    "var": [(lambda a: a.var(axis=1), lambda a: a.var(dim=1, correction=0), [arr(3, 4)]),
            (lambda a: a.var(ddof=1), lambda a: a.var(), [arr(3, 4)])],
    "reshape": [(lambda a: a.reshape(2, 6), lambda a: a.reshape(2, 6), [arr(3, 4)])],
    "transpose": [(lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [arr(2, 3, 4)]),
                  (lambda a: a.T, lambda a: a.T, [arr(3, 4)])],
    "broadcast_to": [(lambda a: a.broadcast_to((2, 3, 4)), lambda a: a.expand(2, 3, 4), [arr(3, 1)])],
    "astype": [(lambda a: a.astype(np.float64), lambda a: a.double(), [arr(3)])],
    "getitem": [(lambda a: a[np.array([0, 2, 2])], lambda a: a[torch.tensor([0, 2, 2])], [arr(3, 4)]),
                (lambda a: a[1:, None, ::2], lambda a: a[1:, None, ::2], [arr(3, 4)]),
                (lambda a: a[np.array([[True, False], [True, True]])], lambda a: a[torch.tensor([[True, False], [True, True]])], [arr(2, 2)])],
    "concatenate": [(lambda a, b: gs.concatenate([a, b], 1), lambda a, b: torch.cat([a, b], 1), [arr(2, 3), arr(2, 2)])],
    "stack": [(lambda a, b: gs.stack([a, b], 1), lambda a, b: torch.stack([a, b], 1), [arr(2, 3), arr(2, 3)])],
    "where": [(lambda a, b: gs.where(np.arange(12).reshape(3, 4) % 3 == 0, a, b),
               lambda a, b: torch.where(torch.tensor(np.arange(12).reshape(3, 4) % 3 == 0), a, b), [arr(3, 4), arr(4)])],
    "maximum": [(gs.maximum, torch.maximum, [arr(3, 4), arr(3, 4)])],
    "minimum": [(gs.minimum, torch.minimum, [arr(3, 4), arr(1, 4)])],
    "clip": [(lambda a: gs.clip(a, -0.5, 0.7), lambda a: torch.clamp(a, -0.5, 0.7), [arr(4, 5)])],
    "exp": [(gs.exp, torch.exp, [arr(3, 4)])],
    "log": [(gs.log, torch.log, [arr(3, 4, positive=True)])],
    "sqrt": [(gs.sqrt, torch.sqrt, [arr(3, 4, positive=True)])],
    "abs": [(gs.abs, torch.abs, [arr(3, 4)])],
    "tanh": [(gs.tanh, torch.tanh, [arr(3, 4)])],
    "sigmoid": [(gs.sigmoid, torch.sigmoid, [arr(3, 4) * 10])],
    "relu": [(gs.relu, torch.relu, [arr(3, 4)])],
    "leaky_relu": [(lambda a: gs.leaky_relu(a, 0.1), lambda a: torch.nn.functional.leaky_relu(a, 0.1), [arr(3, 4)])],
    "gelu": [(gs.gelu, torch.nn.functional.gelu, [arr(3, 4) * 3]),
             (lambda a: gs.gelu(a, "tanh"), lambda a: torch.nn.functional.gelu(a, approximate="tanh"), [arr(3, 4) * 3])],
    "softmax": [(lambda a: gs.softmax(a, 0), lambda a: torch.softmax(a, 0), [arr(3, 4)])],
    "log_softmax": [(lambda a: gs.log_softmax(a, -1), lambda a: torch.log_softmax(a, -1), [arr(3, 4) * 100])],
    "logsumexp": [(lambda a: gs.logsumexp(a, -1), lambda a: torch.logsumexp(a, -1), [arr(3, 4) * 100]),
                  (lambda a: gs.logsumexp(a, (0, 1), True), lambda a: torch.logsumexp(a, (0, 1), keepdim=True), [arr(3, 4)])],
}

PARAMS = [(n, i) for n, specs in SPECS.items() for i in range(len(specs))]


@pytest.mark.parametrize("name,i", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_forward_and_backward_match_torch(name: str, i: int) -> None:
    gfn, tfn, arrays = SPECS[name][i]
    gx = [gs.Tensor(a.copy(), requires_grad=True) for a in arrays]
    tx = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    gout = gfn(*gx)
    tout = tfn(*tx)
    np.testing.assert_allclose(gout.data, tout.detach().numpy(), rtol=1e-7, atol=1e-12)
    w = R.standard_normal(gout.shape)
    gout.backward(w)
    tout.backward(torch.tensor(w))
    for g, t in zip(gx, tx):
        np.testing.assert_allclose(g.grad, t.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_every_core_primitive_has_a_torch_reference() -> None:
    core = {n for n, f in gs.ops.PRIMITIVES.items() if f.__module__ == "gradstep.ops"}
    assert not sorted(core - set(SPECS)), f"primitives without a PyTorch reference: {sorted(core - set(SPECS))}"


def test_float32_mlp_forward_backward_matches_torch() -> None:
    x = R.standard_normal((16, 20)).astype(np.float32)
    w1 = (R.standard_normal((20, 32)) * 0.2).astype(np.float32)
    w2 = (R.standard_normal((32, 5)) * 0.2).astype(np.float32)
    y = R.integers(0, 5, 16)
    gw1, gw2 = gs.tensor(w1, requires_grad=True), gs.tensor(w2, requires_grad=True)
    logp = gs.log_softmax((gs.tensor(x) @ gw1).relu() @ gw2, -1)
    gl = -logp[np.arange(16), y].mean()
    gl.backward()
    tw1, tw2 = torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)
    tl = torch.nn.functional.cross_entropy((torch.tensor(x) @ tw1).relu() @ tw2, torch.tensor(y))
    tl.backward()
    assert gl.dtype == np.float32
    np.testing.assert_allclose(gl.item(), tl.item(), rtol=1e-5)
    np.testing.assert_allclose(gw1.grad, tw1.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gw2.grad, tw2.grad.numpy(), rtol=1e-4, atol=1e-6)
