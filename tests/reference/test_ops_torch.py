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
    "amax": [(lambda a: a.amax(dim=1), lambda a: a.amax(dim=1), [arr(3, 4)]),
             (lambda a: a.max(), lambda a: a.max(), [arr(3, 4)]),
             (lambda a: a.max(axis=1).values, lambda a: a.max(dim=1).values, [arr(3, 4)])],
    "amin": [(lambda a: a.amin(axis=0, keepdims=True), lambda a: a.amin(dim=0, keepdim=True), [arr(3, 4)]),
             (lambda a: a.min(0, keepdim=True)[0], lambda a: a.min(0, keepdim=True)[0], [arr(3, 4)])],
    "var": [(lambda a: a.var(axis=1, unbiased=False), lambda a: a.var(dim=1, correction=0), [arr(3, 4)]),
            (lambda a: a.var(), lambda a: a.var(), [arr(3, 4)]),
            (lambda a: a.std(dim=0, correction=2), lambda a: a.std(dim=0, correction=2), [arr(5, 4)])],
    "reshape": [(lambda a: a.reshape(2, 6), lambda a: a.reshape(2, 6), [arr(3, 4)])],
    "permute": [(lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [arr(2, 3, 4)]),
                (lambda a: a.T, lambda a: a.T, [arr(3, 4)]),
                (lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), [arr(2, 3, 4)]),
                (lambda a: a.transpose(-1, -2), lambda a: a.transpose(-1, -2), [arr(3, 4)])],
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
    "sin": [(gs.sin, torch.sin, [arr(3, 4)])],
    "cos": [(gs.cos, torch.cos, [arr(3, 4)])],
    "tan": [(gs.tan, torch.tan, [arr(3, 4) * 0.5])],
    "log1p": [(gs.log1p, torch.log1p, [arr(3, 4, positive=True)])],
    "expm1": [(lambda a: a.expm1(), torch.expm1, [arr(3, 4)])],
    "log2": [(lambda a: a.log2(), torch.log2, [arr(3, 4, positive=True)])],
    "log10": [(lambda a: a.log10(), torch.log10, [arr(3, 4, positive=True)])],
    "rsqrt": [(gs.rsqrt, torch.rsqrt, [arr(3, 4, positive=True)])],
    "reciprocal": [(lambda a: a.reciprocal(), torch.reciprocal, [arr(3, 4, positive=True)])],
    "sign": [(gs.sign, torch.sign, [arr(3, 4)])],
    "floor": [(gs.floor, torch.floor, [arr(3, 4) * 3])],
    "ceil": [(gs.ceil, torch.ceil, [arr(3, 4) * 3])],
    "trunc": [(lambda a: a.trunc(), torch.trunc, [arr(3, 4) * 3])],
    "round": [(gs.round, torch.round, [arr(3, 4) * 3]),
              (lambda a: gs.round(a, decimals=2), lambda a: torch.round(a, decimals=2), [arr(3, 4)])],
    "square": [(gs.square, torch.square, [arr(3, 4)])],
    "clone": [(lambda a: a.clone() * 2, lambda a: a.clone() * 2, [arr(3, 4)])],
    "prod": [(lambda a: a.prod(dim=1), lambda a: a.prod(dim=1), [arr(3, 4)]),
             (lambda a: a.prod(), lambda a: a.prod(), [arr(2, 3)]),
             (lambda a: a.prod(0, keepdim=True), lambda a: a.prod(0, keepdim=True),
              [np.array([[0.0, 2.0], [3.0, 0.0], [0.0, 5.0]])])],
    "cumsum": [(lambda a: a.cumsum(dim=1), lambda a: a.cumsum(dim=1), [arr(3, 4)]),
               (lambda a: gs.cumsum(a, 0), lambda a: torch.cumsum(a, 0), [arr(2, 3, 4)])],
    "repeat": [(lambda a: a.repeat(2, 3), lambda a: a.repeat(2, 3), [arr(3, 4)]),
               (lambda a: a.repeat(2, 1, 2), lambda a: a.repeat(2, 1, 2), [arr(3, 4)])],
    "flip": [(lambda a: a.flip(0, 2), lambda a: a.flip(0, 2), [arr(2, 3, 4)])],
    "roll": [(lambda a: a.roll(1, 1), lambda a: a.roll(1, 1), [arr(3, 4)]),
             (lambda a: a.roll(-2), lambda a: a.roll(-2), [arr(3, 4)]),
             (lambda a: a.roll((1, 2), (0, 1)), lambda a: a.roll((1, 2), (0, 1)), [arr(3, 4)])],
    "gather": [(lambda a: a.gather(1, gs.tensor([[0, 0], [2, 1], [3, 3]])),
                lambda a: a.gather(1, torch.tensor([[0, 0], [2, 1], [3, 3]])), [arr(3, 4)]),
               (lambda a: a.gather(0, gs.tensor([[2, 0, 1, 1]])),
                lambda a: a.gather(0, torch.tensor([[2, 0, 1, 1]])), [arr(3, 4)])],
    "scatter": [(lambda a, b: a.scatter(1, gs.tensor([[0], [2], [3]]), b),
                 lambda a, b: a.scatter(1, torch.tensor([[0], [2], [3]]), b), [arr(3, 4), arr(3, 1)]),
                (lambda a: a.scatter(0, gs.tensor([[1, 0, 2, 0]]), 0.5),
                 lambda a: a.scatter(0, torch.tensor([[1, 0, 2, 0]]), 0.5), [arr(3, 4)])],
    "tril": [(lambda a: a.tril(), lambda a: a.tril(), [arr(4, 4)]),
             (lambda a: a.tril(1), lambda a: a.tril(1), [arr(2, 3, 4)])],
    "triu": [(lambda a: a.triu(-1), lambda a: a.triu(-1), [arr(3, 4)])],
    "index_put": [(lambda a, b: gs.ops.index_put(a, (gs.tensor([0, 2]),), b),
                   lambda a, b: a.index_put((torch.tensor([0, 2]),), b), [arr(3, 4), arr(4)]),
                  (lambda a: gs.ops.index_put(a, (slice(None), 1), gs.tensor(2.0, dtype=gs.float64)),
                   lambda a: a.index_put((torch.arange(3), torch.tensor(1)), torch.tensor(2.0, dtype=torch.float64)), [arr(3, 4)])],
    "einsum": [(lambda a, b: gs.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum("ij,jk->ik", a, b), [arr(3, 4), arr(4, 2)]),
               (lambda a, b: gs.einsum("bij,bj->bi", a, b), lambda a, b: torch.einsum("bij,bj->bi", a, b), [arr(2, 3, 4), arr(2, 4)]),
               (lambda a: gs.einsum("ij->j", a), lambda a: torch.einsum("ij->j", a), [arr(3, 4)])],
    "remainder": [(lambda a, b: a % b, lambda a, b: a % b, [arr(3, 4) * 3, arr(4, positive=True)])],
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
    core = {n for n, f in gs.ops.PRIMITIVES.items() if not f.__module__.startswith("gradstep.nn")}
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
