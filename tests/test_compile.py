"""gradstep.compile: replayed steps equal eager ones bit for bit (same machine, same
arithmetic by construction), and every guard re-traces or falls back to eager."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn, optim
from gradstep.jit import CompiledStep, compile_step
from gradstep.jit import compile as jit_compile


def _model(dt: Any, act: Callable[[], nn.Module] = nn.ReLU, dropout: float = 0.0,
           flatten: bool = False) -> nn.Module:
    g = np.random.default_rng(0)
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    layers += [nn.Linear(6, 5, generator=g, dtype=dt), act()]
    if dropout:
        layers.append(nn.Dropout(dropout, generator=np.random.default_rng(3)))
    layers += [nn.Linear(5, 4, generator=g, dtype=dt), act(), nn.Linear(4, 3, generator=g,
                                                                         dtype=dt)]
    return nn.Sequential(*layers)


def _data(dt: Any, loss: str, n: int, seed: int, flatten: bool = False) -> tuple[Any, Any]:
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, 2, 3) if flatten else (n, 6)).astype(dt)
    y = r.integers(0, 3, n) if loss == "ce" else r.standard_normal((n, 3)).astype(dt)
    return x, y


def _run(compiled: bool, dt: Any, loss: str, opt_kind: str, steps: int = 12, n: int = 8,
         **kw: Any) -> tuple[list[np.ndarray], list[float], Any]:
    model = _model(dt, **{k: v for k, v in kw.items() if k in ("act", "dropout", "flatten")})
    params = list(model.parameters())
    opt: Any = {
        "sgd": lambda: optim.SGD(params, lr=0.1, momentum=0.9),
        "sgd_flat": lambda: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, flat=True),
        "adam": lambda: optim.Adam(params, lr=0.01, weight_decay=0.01),
    }[opt_kind]()
    loss_fn = nn.CrossEntropyLoss() if loss == "ce" else nn.MSELoss(reduction=kw.get("red", "mean"))

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        out = loss_fn(model(x), y)
        out.backward()
        opt.step()
        return out

    fn = jit_compile(step) if compiled else step
    losses = []
    for i in range(steps):
        x, y = _data(dt, loss, n, i, kw.get("flatten", False))
        losses.append(float(fn(x, y)._data))
    return [p._data.copy() for p in params], losses, fn


CASES = [
    (dt, loss, opt_kind)
    for dt in (np.float32, np.float64)
    for loss in ("ce", "mse")
    for opt_kind in ("sgd", "sgd_flat", "adam")
]


@pytest.mark.parametrize("dt,loss,opt_kind", CASES)
def test_replay_is_bit_identical_to_eager(dt: Any, loss: str, opt_kind: str) -> None:
    # same machine, same NumPy calls on the same operands: exact equality is the contract
    p_eager, l_eager, _ = _run(False, dt, loss, opt_kind)
    p_comp, l_comp, fn = _run(True, dt, loss, opt_kind)
    assert isinstance(fn, CompiledStep) and fn.traces == 1 and not fn.reasons
    assert l_eager == l_comp
    for a, b in zip(p_eager, p_comp):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "kw",
    [
        dict(act=nn.Sigmoid),
        dict(act=nn.Tanh),
        dict(dropout=0.4),
        dict(flatten=True),
        dict(red="sum"),
        dict(n=1),
    ],
    ids=["sigmoid", "tanh", "dropout", "flatten", "mse-sum", "batch1"],
)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_replay_of_each_kernel_is_bit_identical(kw: dict[str, Any], dt: Any) -> None:
    loss = "mse" if kw.get("red") else "ce"
    n = kw.pop("n", 8)
    p_eager, l_eager, _ = _run(False, dt, loss, "sgd", n=n, **kw)
    p_comp, l_comp, fn = _run(True, dt, loss, "sgd", n=n, **kw)
    assert not fn.reasons, fn.explain()
    assert l_eager == l_comp
    for a, b in zip(p_eager, p_comp):
        assert np.array_equal(a, b)


def _pair() -> tuple[nn.Module, nn.Module, Any, Any]:
    a, b = _model(np.float64, dropout=0.5), _model(np.float64, dropout=0.5)
    return a, b, optim.SGD(a.parameters(), lr=0.1), optim.SGD(b.parameters(), lr=0.1)


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(np.array_equal(p._data, q._data) for p, q in zip(a.parameters(), b.parameters()))


def test_guard_shape_change_retraces() -> None:
    a, b, oa, ob = _pair()
    fa = compile_step(a, nn.CrossEntropyLoss(), oa)
    lf = nn.CrossEntropyLoss()
    for n in (8, 8, 5, 5, 8):
        x, y = _data(np.float64, "ce", n, n)
        la = fa(x, y)
        ob.zero_grad()
        lb = lf(b(x), y)
        lb.backward()
        ob.step()
        assert float(la._data) == float(lb._data)
    assert fa.traces == 2  # one per batch size, each reused
    assert _same(a, b)


def test_guard_dtype_change_retraces() -> None:
    model = _model(np.float64)
    fn = compile_step(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
    x, y = _data(np.float64, "mse", 4, 0)
    fn(x, y)
    fn(x, y)
    fn(x, y.astype(np.float32))  # another target dtype: another signature
    assert fn.traces == 2


def test_guard_train_eval_retraces_and_matches_eager() -> None:
    a, b, oa, ob = _pair()
    fa = compile_step(a, nn.CrossEntropyLoss(), oa)
    lf = nn.CrossEntropyLoss()
    for i, mode in enumerate([True, True, False, False, True]):
        a.train(mode)
        b.train(mode)
        x, y = _data(np.float64, "ce", 6, i)
        la = fa(x, y)
        ob.zero_grad()
        lb = lf(b(x), y)
        lb.backward()
        ob.step()
        assert float(la._data) == float(lb._data)
    assert fa.traces == 2  # train and eval: one plan each (dropout on, dropout off)
    assert _same(a, b)


def test_guard_value_dependent_control_flow_runs_eagerly() -> None:
    model = _model(np.float64)
    opt = optim.SGD(model.parameters(), lr=0.1)
    lf = nn.MSELoss()
    branch = []

    @jit_compile
    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = lf(model(x), y)
        if loss.item() > 0.0:  # depends on the values: cannot be frozen into a plan
            branch.append(1)
            loss = loss * 2.0
        loss.backward()
        opt.step()
        return loss

    x, y = _data(np.float64, "mse", 4, 0)
    for _ in range(3):
        step(x, y)
    assert len(branch) == 3  # the Python branch ran every call
    assert any("reads tensor values" in r for r in step.reasons.values())


def test_guard_extra_op_in_the_graph_runs_eagerly() -> None:
    model = _model(np.float64)
    opt = optim.SGD(model.parameters(), lr=0.1)
    lf = nn.MSELoss()

    @jit_compile
    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        w = next(iter(model.parameters()))
        loss = lf(model(x), y) + 0.01 * (w * w).sum()  # a penalty the layers do not explain
        loss.backward()
        opt.step()
        return loss

    x, y = _data(np.float64, "mse", 4, 0)
    step(x, y)
    step(x, y)
    assert step.traces == 1
    assert any("backward() is not called on the output" in r for r in step.reasons.values())


def test_guard_replaced_parameters_retrace() -> None:
    model = _model(np.float64)
    opt = optim.SGD(model.parameters(), lr=0.1)
    fn = compile_step(model, nn.MSELoss(), opt)
    x, y = _data(np.float64, "mse", 4, 0)
    fn(x, y)
    w = next(iter(model.parameters()))
    w._data = w._data.copy()  # the plan's array is no longer the parameter's
    fn(x, y)
    assert fn.traces == 2


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_functional_losses_are_compiled_too(loss: str) -> None:
    from gradstep.nn import functional as F

    results = []
    for compiled in (False, True):
        model = _model(np.float32)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            out = model(x)
            lv = F.cross_entropy(out, y) if loss == "ce" else F.mse_loss(out, y, "sum")
            lv.backward()
            opt.step()
            return lv

        fn = jit_compile(step) if compiled else step
        for i in range(6):
            fn(*_data(np.float32, loss, 7, i))
        results.append([p._data.copy() for p in model.parameters()])
        if compiled:
            assert fn.traces == 1 and not fn.reasons, fn.explain()
    assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_tensor_arguments_and_returned_output() -> None:
    results = []
    for compiled in (False, True):
        model = _model(np.float64)
        opt = optim.SGD(model.parameters(), lr=0.1)
        lf = nn.CrossEntropyLoss()

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            out = model(x)
            lv = lf(out, y)
            lv.backward()
            opt.step()
            return lv, out

        fn = jit_compile(step) if compiled else step
        outs = []
        for i in range(4):
            x, y = _data(np.float64, "ce", 6, i)
            lv, out = fn(gs.as_tensor(x), gs.as_tensor(y))
            outs.append((float(lv._data), out._data.copy()))
        results.append((outs, [p._data.copy() for p in model.parameters()]))
        if compiled:
            assert fn.traces == 1 and not fn.reasons, fn.explain()
    (oa, pa), (ob, pb) = results
    assert all(la == lb and np.array_equal(a, b) for (la, a), (lb, b) in zip(oa, ob))
    assert all(np.array_equal(a, b) for a, b in zip(pa, pb))


def test_guard_changed_module_settings_retrace() -> None:
    a, b, oa, ob = _pair()
    la_fn, lb_fn = nn.MSELoss(), nn.MSELoss()
    fa = compile_step(a, la_fn, oa)
    drop_a = [m for m in a.modules() if isinstance(m, nn.Dropout)][0]
    drop_b = [m for m in b.modules() if isinstance(m, nn.Dropout)][0]
    for i in range(6):
        if i == 2:  # another reduction: the traced loss kernel no longer applies
            la_fn.reduction = lb_fn.reduction = "sum"
        if i == 4:  # no dropout: eager draws no mask, so the plan must not either
            drop_a.p = drop_b.p = 0.0
        x, y = _data(np.float64, "mse", 5, i)
        la = fa(x, y)
        ob.zero_grad()
        lb = lb_fn(b(x), y)
        lb.backward()
        ob.step()
        assert float(la._data) == float(lb._data)
    assert fa.traces == 3
    assert _same(a, b)


def test_guard_accumulating_gradients_run_eagerly() -> None:
    model = _model(np.float64)
    opt = optim.SGD(model.parameters(), lr=0.1)
    lf = nn.MSELoss()

    @jit_compile
    def step(x: Any, y: Any) -> Any:  # no zero_grad: gradients accumulate across calls
        loss = lf(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = _data(np.float64, "mse", 4, 0)
    step(x, y)  # the first call's gradients start at None, yet nothing zeroes them later
    step(x, y)
    assert step.traces == 1
    assert any("accumulate" in r for r in step.reasons.values())
    eager = _model(np.float64)
    eo = optim.SGD(eager.parameters(), lr=0.1)
    for _ in range(2):
        lf(eager(x), y).backward()
        eo.step()
    assert _same(model, eager)


def test_conv_and_pool_run_eagerly_with_a_reason() -> None:
    # Conv2d and MaxPool2d replay (tests/jit/test_compile_conv.py); a layer type without a
    # kernel (LayerNorm) still runs eagerly, with the reason
    g = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, generator=g, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2),
        nn.LayerNorm([2, 2, 2]), nn.Flatten(), nn.Linear(8, 3, generator=g, dtype=np.float64),
    )
    fn = compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 6))
    y = np.array([0, 2])
    fn(x, y)
    fn(x, y)
    assert any("LayerNorm has no compiled kernel" in r for r in fn.reasons.values())
    model = nn.Sequential(*(m for i, m in enumerate(model.children()) if i != 3))
    fn = compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    fn(x, y)
    fn(x, y)
    assert not fn.reasons


def test_compile_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        jit_compile(3)  # type: ignore[arg-type]


def test_gradstep_compile_is_the_jit_entry_point() -> None:
    from gradstep import jit

    assert gs.compile is jit.compile
    assert "compile" in gs.__all__
