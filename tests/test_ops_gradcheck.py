"""Every primitive passes gradcheck over a matrix of shapes (float64, central differences)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import ops

R = np.random.default_rng(7)


def T(*shape: int, positive: bool = False, low: float = -2.0, high: float = 2.0) -> gs.Tensor:
    if positive:
        data = R.uniform(0.5, 2.0, shape)
    else:
        data = R.uniform(low, high, shape)
        # keep away from kinks (relu/abs/max ties) so finite differences are valid
        data = np.where(np.abs(data) < 0.05, 0.3, data)
    return gs.Tensor(data.astype(np.float64), requires_grad=True)


Case = Callable[[], tuple[Any, ...]]

# broadcast pairs: scalar, vector, matrix, (1, n) with (m, n), (m, 1) with (1, n), 3-D batched
PAIRS = [((), ()), ((5,), (5,)), ((3, 4), (3, 4)), ((1, 4), (3, 4)), ((3, 1), (1, 4)),
         ((2, 3, 4), (3, 4)), ((2, 1, 4), (1, 3, 1)), ((3, 4), ())]
UNARY_SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


def binary(fn: Callable[..., Any], positive_b: bool = False) -> list[Case]:
    return [
        (lambda sa=sa, sb=sb: (fn, [T(*sa), T(*sb, positive=positive_b)])) for sa, sb in PAIRS
    ]


def unary(fn: Callable[..., Any], positive: bool = False) -> list[Case]:
    return [(lambda s=s: (fn, [T(*s, positive=positive)])) for s in UNARY_SHAPES]


def reductions(fn: Callable[..., Any]) -> list[Case]:
    cases: list[Case] = []
    for shape, axis in [((5,), None), ((3, 4), None), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), (0, 2)),
                        ((2, 3, 4), -1)]:
        for keep in (False, True):
            cases.append(lambda s=shape, a=axis, k=keep: (lambda x: fn(x, a, keepdim=k), [T(*s)]))
    return cases


CASES: dict[str, list[Case]] = {
    "add": binary(ops.add) + [lambda: (lambda x: x + 3.0, [T(3, 4)])],
    "sub": binary(ops.sub) + [lambda: (lambda x: 2.0 - x, [T(3, 4)])],
    "mul": binary(ops.mul) + [lambda: (lambda x: x * 3.0, [T(3)]), lambda: (lambda x: x * x, [T(4)])],
    "div": binary(ops.div, positive_b=True) + [lambda: (lambda x: 1.5 / x, [T(3, positive=True)])],
    "neg": unary(ops.neg),
    "pow": [
        lambda: (lambda x: x**3, [T(3, 4)]),
        lambda: (lambda x: x**2, [T(5)]),
        lambda: (lambda x: x**0.5, [T(5, positive=True)]),
        lambda: (lambda x: x**-1.5, [T(2, 3, positive=True)]),
        lambda: (lambda x, y: x**y, [T(3, 4, positive=True), T(3, 4)]),
        lambda: (lambda x, y: x**y, [T(3, 1, positive=True), T(1, 4)]),
        lambda: (lambda y: 2.0**y, [T(3, 4)]),
    ],
    "matmul": [
        lambda: (ops.matmul, [T(4), T(4)]),
        lambda: (ops.matmul, [T(3, 4), T(4, 2)]),
        lambda: (ops.matmul, [T(4), T(4, 2)]),
        lambda: (ops.matmul, [T(3, 4), T(4)]),
        lambda: (ops.matmul, [T(2, 3, 4), T(2, 4, 5)]),
        lambda: (ops.matmul, [T(2, 3, 4), T(4, 5)]),
        lambda: (ops.matmul, [T(3, 4), T(2, 4, 5)]),
        lambda: (ops.matmul, [T(2, 1, 3, 4), T(3, 4, 2)]),
        lambda: (ops.matmul, [T(4), T(2, 4, 3)]),
        lambda: (ops.matmul, [T(2, 3, 4), T(4)]),
    ],
    "sum": reductions(ops.sum),
    "mean": reductions(ops.mean),
    "amax": reductions(ops.amax) + [lambda: (lambda x: x.max(dim=1).values, [T(3, 4)])],
    "amin": reductions(ops.amin) + [lambda: (lambda x: x.min(0, keepdim=True)[0], [T(3, 4)])],
    "var": reductions(ops.var) + [lambda: (lambda x: ops.var(x, 0, correction=0), [T(5, 3)]),
                                  lambda: (lambda x: x.std(dim=1, unbiased=False), [T(3, 4)])],
    "reshape": [lambda: (lambda x: x.reshape(4, 3), [T(3, 4)]), lambda: (lambda x: x.reshape(-1), [T(2, 3, 4)]),
                lambda: (lambda x: x.flatten(1), [T(2, 3, 4)]), lambda: (lambda x: x.unsqueeze(1).squeeze(), [T(3, 4)])],
    "permute": [lambda: (lambda x: x.T, [T(3, 4)]), lambda: (lambda x: x.permute(2, 0, 1), [T(2, 3, 4)]),
                lambda: (lambda x: x.transpose(0, 2), [T(2, 3, 4)]), lambda: (lambda x: x.mT, [T(2, 3, 4)])],
    "broadcast_to": [lambda: (lambda x: x.broadcast_to((3, 4)), [T(1, 4)]),
                     lambda: (lambda x: x.broadcast_to((2, 3, 4)), [T(3, 1)]),
                     lambda: (lambda x: x.broadcast_to((2, 3)), [T()])],
    # a float32 round trip rounds the function itself, so the step and tolerance are float32's
    "astype": [lambda: (lambda x: x.astype(np.float32).astype(np.float64) * 2, [T(3)],
                        {"eps": 1e-2, "atol": 1e-4, "rtol": 1e-4}),
               lambda: (lambda x: x.astype(np.float64), [T(2, 3)])],
    "getitem": [
        lambda: (lambda x: x[1], [T(3, 4)]),
        lambda: (lambda x: x[1:3, ::2], [T(4, 5)]),
        lambda: (lambda x: x[None, ..., 1], [T(2, 3, 4)]),
        lambda: (lambda x: x[np.array([0, 2, 2, 1, 0])], [T(3, 4)]),
        lambda: (lambda x: x[np.array([0, 1, 1]), np.array([2, 2, 0])], [T(3, 4)]),
        lambda: (lambda x: x[np.array([[True, False, True, True], [False, True, False, True],
                                       [True, True, False, False]])], [T(3, 4)]),
        lambda: (lambda x: x[:, np.array([3, 3, 0])], [T(2, 4)]),
    ],
    "concatenate": [lambda: (lambda a, b: ops.concatenate([a, b], 0), [T(2, 3), T(4, 3)]),
                    lambda: (lambda a, b, c: ops.concatenate([a, b, c], -1), [T(2, 1), T(2, 3), T(2, 2)])],
    "stack": [lambda: (lambda a, b: ops.stack([a, b], 0), [T(2, 3), T(2, 3)]),
              lambda: (lambda a, b: ops.stack([a, b], -1), [T(3), T(3)])],
    "where": [lambda: (lambda a, b: ops.where(np.array([[True, False, True, False]] * 3), a, b), [T(3, 4), T(1, 4)]),
              lambda: (lambda a, b: ops.where(np.array([True, False, True]), a, b), [T(3), T()])],
    "maximum": binary(ops.maximum),
    "minimum": binary(ops.minimum),
    "clip": [lambda: (lambda x: ops.clip(x, -1.0, 1.0), [T(3, 4)]), lambda: (lambda x: ops.clip(x, min=0.0), [T(5)]),
             lambda: (lambda x: ops.clip(x, max=0.5), [T(2, 3, 4)])],
    "exp": unary(ops.exp),
    "log": unary(ops.log, positive=True),
    "sqrt": unary(ops.sqrt, positive=True),
    "abs": unary(ops.abs),
    "tanh": unary(ops.tanh),
    "sigmoid": unary(ops.sigmoid) + [lambda: (ops.sigmoid, [gs.Tensor(np.array([-30.0, -5.0, 0.3, 5.0, 30.0]), requires_grad=True)])],
    "relu": unary(ops.relu),
    "leaky_relu": unary(ops.leaky_relu) + [lambda: (lambda x: ops.leaky_relu(x, 0.2), [T(3, 4)])],
    "gelu": unary(ops.gelu) + [lambda: (lambda x: ops.gelu(x, "tanh"), [T(3, 4)])],
    "softmax": [lambda: (lambda x: ops.softmax(x, -1), [T(3, 4)]), lambda: (lambda x: ops.softmax(x, 0), [T(3, 4)]),
                lambda: (lambda x: ops.softmax(x, 1), [T(2, 3, 4)]), lambda: (ops.softmax, [T(5)])],
    "log_softmax": [lambda: (lambda x: ops.log_softmax(x, -1), [T(3, 4)]), lambda: (lambda x: ops.log_softmax(x, 0), [T(3, 4)]),
                    lambda: (lambda x: ops.log_softmax(x, 1), [T(2, 3, 4)])],
    "sin": unary(ops.sin),
    "cos": unary(ops.cos),
    "tan": [lambda: (ops.tan, [T(3, 4, low=-1.0, high=1.0)])],
    "log1p": unary(ops.log1p, positive=True),
    "expm1": unary(ops.expm1),
    "log2": unary(ops.log2, positive=True),
    "log10": unary(ops.log10, positive=True),
    "rsqrt": unary(ops.rsqrt, positive=True),
    "reciprocal": unary(ops.reciprocal, positive=True),
    "square": unary(ops.square),
    "clone": unary(lambda x: ops.clone(x) * 2),
    # piecewise constant: zero gradient away from the jumps (inputs avoid them)
    "sign": unary(ops.sign),
    "floor": [lambda: (ops.floor, [gs.Tensor(np.array([0.3, 1.5, -2.4]), requires_grad=True)])],
    "ceil": [lambda: (ops.ceil, [gs.Tensor(np.array([0.3, 1.5, -2.4]), requires_grad=True)])],
    "trunc": [lambda: (ops.trunc, [gs.Tensor(np.array([0.3, 1.5, -2.4]), requires_grad=True)])],
    "round": [lambda: (ops.round, [gs.Tensor(np.array([0.3, 1.2, -2.4]), requires_grad=True)])],
    "prod": [lambda: (lambda x: x.prod(), [T(2, 3)]), lambda: (lambda x: x.prod(dim=1), [T(3, 4)]),
             lambda: (lambda x: x.prod(0, keepdim=True), [gs.Tensor(np.array([[0.0, 2.0], [3.0, 0.0], [0.0, 5.0]]), requires_grad=True)])],
    "cumsum": [lambda: (lambda x: x.cumsum(dim=1), [T(3, 4)]), lambda: (lambda x: x.cumsum(0), [T(5)])],
    "repeat": [lambda: (lambda x: x.repeat(2, 3), [T(3, 4)]), lambda: (lambda x: x.repeat(2, 1, 2), [T(3, 4)])],
    "flip": [lambda: (lambda x: x.flip(0, 2), [T(2, 3, 4)])],
    "roll": [lambda: (lambda x: x.roll(1, 1), [T(3, 4)]), lambda: (lambda x: x.roll(-2), [T(3, 4)])],
    "gather": [lambda: (lambda x: x.gather(1, gs.tensor([[0, 0], [2, 1], [3, 3]])), [T(3, 4)])],
    "scatter": [lambda: (lambda a, b: a.scatter(1, gs.tensor([[0], [2], [3]]), b), [T(3, 4), T(3, 2)]),
                lambda: (lambda a: a.scatter(0, gs.tensor([[1, 0, 2, 0]]), 0.5), [T(3, 4)])],
    "tril": [lambda: (lambda x: x.tril(), [T(4, 4)]), lambda: (lambda x: x.tril(1), [T(2, 3, 4)])],
    "triu": [lambda: (lambda x: x.triu(-1), [T(3, 4)])],
    "index_put": [lambda: (lambda a, b: ops.index_put(a, (gs.tensor([0, 2]),), b), [T(3, 4), T(4)]),
                  lambda: (lambda a, b: ops.index_put(a, (slice(None), 1), b), [T(3, 4), T()])],
    "einsum": [lambda: (lambda a, b: gs.einsum("ij,jk->ik", a, b), [T(3, 4), T(4, 2)]),
               lambda: (lambda a, b: gs.einsum("ij,ij->i", a, b), [T(3, 4), T(3, 4)]),
               lambda: (lambda a: gs.einsum("ij->j", a), [T(3, 4)])],
    "remainder": [lambda: (lambda a, b: a % b, [T(3, 4), T(4, positive=True)])],
    "logsumexp": [lambda: (lambda x: ops.logsumexp(x, -1), [T(3, 4)]), lambda: (lambda x: ops.logsumexp(x, None), [T(3, 4)]),
                  lambda: (lambda x: ops.logsumexp(x, (0, 2), True), [T(2, 3, 4)])],
}


def _external_cases() -> dict[str, list[Case]]:
    """Gradcheck cases contributed by other packages' tests (e.g. nn's fused primitives)."""
    # the module's name depends on how pytest put tests/ on the path; one of them must import
    errors = []
    for mod in ("tests.nn.gradcheck_cases", "nn.gradcheck_cases"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            errors.append(str(exc))
            continue
        return dict(m.GRADCHECK_CASES)
    raise ImportError(f"nn's gradcheck cases could not be imported: {errors}")


ALL_CASES = {**CASES, **_external_cases()}


def test_every_primitive_has_a_gradcheck_entry() -> None:
    import gradstep.nn  # noqa: F401  (registers nn's fused primitives)

    missing = sorted(set(ops.PRIMITIVES) - set(ALL_CASES) - set(_external_cases()))
    assert not missing, f"primitives without gradcheck cases: {missing}"


PARAMS = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]


@pytest.mark.parametrize("name,i", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_gradcheck(name: str, i: int) -> None:
    fn, inputs, *kw = CASES[name][i]()
    assert gs.gradcheck(fn, inputs, **(kw[0] if kw else {}))


def test_gradcheck_detects_a_wrong_gradient() -> None:
    def bad_square(a: Any) -> gs.Tensor:
        a = ops._t(a)
        return gs.Tensor._make(a._data**2, (a,), lambda g: (g * 3 * a._data,))

    with pytest.raises(gs.GradcheckError, match=r"input 0 .* element .* analytic .* numeric"):
        gs.gradcheck(bad_square, [T(3)])


def test_gradcheck_random_projections_for_large_inputs() -> None:
    x = gs.Tensor(R.standard_normal((40, 30)), requires_grad=True)
    assert gs.gradcheck(lambda a: (a * a).tanh().sum(0), [x])

    def bad(a: Any) -> gs.Tensor:
        a = ops._t(a)
        return gs.Tensor._make(np.sin(a._data), (a,), lambda g: (g * np.sin(a._data),))

    with pytest.raises(gs.GradcheckError, match="random direction"):
        gs.gradcheck(bad, [x])
