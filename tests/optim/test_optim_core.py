"""Optimizer base, SGD momentum conventions, state dicts, the flat path, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradstep as gs
from gradstep import optim
from gradstep.optim import _kernels
from gradstep.optim import lr_scheduler as sched

SHAPES = [(5, 3), (5,), (7,), (4, 2, 3), ()]


def make_params(seed=0, dtype=np.float64, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [gs.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def fake_grad(p: np.ndarray, t: int) -> np.ndarray:
    """A bounded deterministic gradient from + * / only (correctly rounded, so independent of
    memory layout: flat and per-parameter runs see the same gradient for the same values)."""
    return (p - 0.3) / (1.0 + 0.1 * p * p) + 0.01 * t


def set_grads(params, t):
    for p in params:
        g = fake_grad(p._data, t)
        if p._grad is None:
            p._grad = g
        else:
            p._grad += g  # accumulate, as the backward engine does


CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, momentum_form="sutskever")),
    ("SGD", dict(lr=0.05, momentum=0.9, momentum_form="sutskever", nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
CONFIG_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]


def groups_of(params, grouped):
    if not grouped:
        return params
    return [dict(params=params[:2]), dict(params=params[2:], lr=0.003)]


def run(name, kw, *, flat=False, steps=20, dtype=np.float64, grouped=False, params=None):
    params = params if params is not None else make_params(dtype=dtype)
    opt = getattr(optim, name)(groups_of(params, grouped), **kw)
    if flat:
        opt.flatten()
    for t in range(steps):
        opt.zero_grad()
        set_grads(params, t)
        opt.step()
    return opt, params


# ----------------------------------------------------------------- momentum conventions
def test_worked_example_two_momentum_conventions():
    """g = 1 every step, momentum 0.9, lr 0.1 then 0.01, from 0 (docs/DESIGN.md)."""
    out = {}
    for form in ("pytorch", "sutskever"):
        p = gs.tensor(np.zeros(1), requires_grad=True)
        opt = optim.SGD([p], lr=0.1, momentum=0.9, momentum_form=form)
        for lr in (0.1, 0.01):
            opt.param_groups[0]["lr"] = lr
            p._grad = np.ones(1)
            opt.step()
        out[form] = p._data[0]
    assert out["pytorch"] == pytest.approx(-0.119, abs=1e-12)
    assert out["sutskever"] == pytest.approx(-0.200, abs=1e-12)


def test_conventions_agree_while_lr_constant():
    a, _ = run("SGD", dict(lr=0.05, momentum=0.9))
    b, _ = run("SGD", dict(lr=0.05, momentum=0.9, momentum_form="sutskever"))
    for pa, pb in zip(a._params(), b._params()):
        np.testing.assert_allclose(pa._data, pb._data, rtol=1e-12, atol=1e-14)


def test_pure_function_matches_class():
    rng = np.random.default_rng(0)
    p0, g = rng.standard_normal(10), rng.standard_normal(10)
    p, buf = p0.copy(), np.zeros(10)
    optim.sgd_update(p, g, buf, lr=0.1, momentum=0.9, first=True)
    optim.sgd_update(p, g, buf, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(p, p0 - 0.1 * g - 0.1 * (1.9 * g), rtol=1e-14)


# ----------------------------------------------------------------- flat path
@pytest.mark.parametrize("grouped", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("case", CONFIGS, ids=CONFIG_IDS)
def test_flat_bit_identical_to_per_parameter(case, grouped):
    name, kw = case
    opt_per, per = run(name, kw, grouped=grouped)
    opt, flat = run(name, kw, flat=True, grouped=grouped)
    for a, b in zip(per, flat):
        assert a._data.tobytes() == b._data.tobytes()
    # the state too (in flat mode: views into the flat state arrays)
    for pa, pb in zip(per, flat):
        sa, sb = opt_per.state[pa], opt.state[pb]
        assert sorted(sa) == sorted(sb)
        for k in sa:
            if isinstance(sa[k], np.ndarray):
                assert sa[k].tobytes() == sb[k].tobytes()
                seg, _ = opt.flat.locate(pb)
                assert np.shares_memory(sb[k], seg.state[k])
            else:
                assert sa[k] == sb[k]


@pytest.mark.parametrize("case", [CONFIGS[2], CONFIGS[7], CONFIGS[10]],
                         ids=["SGD-damp-wd-max", "Adam-ams-wd-max", "RMSprop-centered"])
def test_chunked_threaded_bit_identical(case):
    """Large arrays go through L2-sized chunks on the thread pool; the result is the same as
    one thread, per parameter or flat."""
    name, kw = case
    shapes = [(_kernels.PARALLEL_MIN + 12345,), (3, 70001), (7,)]
    results = []
    for flat, threads in [(False, 1), (True, 1), (False, 2), (True, 3)]:
        prev = _kernels.set_num_threads(threads)
        try:
            _, ps = run(name, kw, flat=flat, steps=3, dtype=np.float32,
                        params=make_params(dtype=np.float32, shapes=shapes))
        finally:
            _kernels.set_num_threads(prev)
        results.append([p._data.tobytes() for p in ps])
    assert all(r == results[0] for r in results[1:])


def test_flat_buffers_are_views_and_backward_lands_in_them():
    ps = make_params(dtype=np.float32, shapes=[(3, 4), (3,)])
    opt = optim.SGD(ps, lr=0.1, momentum=0.9, flat=True)
    fb = opt.flat
    assert fb is not None and fb.param_data.size == 15
    for p in ps:
        assert np.shares_memory(p._data, fb.param_data)
        assert np.shares_memory(p._grad, opt.flat_grad)
    assert not opt.flat_grad.any()
    w, b = ps
    x = gs.tensor(np.ones((2, 4), dtype=np.float32))
    (x @ w.T + b).sum().backward()
    assert np.shares_memory(w._grad, opt.flat_grad)
    np.testing.assert_array_equal(opt.flat_grad[:12], np.full(12, 2.0, np.float32))
    np.testing.assert_array_equal(opt.flat_grad[12:], [2.0, 2.0, 2.0])
    opt.step()
    opt.zero_grad()
    assert w._grad is not None and not opt.flat_grad.any()  # zeros, not None
    assert np.shares_memory(w._grad, opt.flat_grad)


def test_flat_rebinds_replaced_data_and_grad():
    ps = make_params(shapes=[(3,), (2,)])
    opt = optim.SGD(ps, lr=1.0, flat=True)
    ps[0]._data = np.array([1.0, 2.0, 3.0])  # e.g. weights loaded by assignment
    ps[0]._grad = np.array([1.0, 1.0, 1.0])
    ps[1]._grad = None
    opt.step()
    np.testing.assert_array_equal(ps[0]._data, [0.0, 1.0, 2.0])
    assert np.shares_memory(ps[0]._data, opt.flat.param_data)
    assert np.shares_memory(ps[1]._grad, opt.flat_grad)


def test_flat_mixed_dtypes_and_add_param_group():
    p32 = gs.tensor(np.ones(3, np.float32), requires_grad=True)
    p64 = gs.tensor(np.ones(2, np.float64), requires_grad=True)
    opt = optim.Adam([p32, p64], lr=0.1, flat=True)
    assert set(opt.flat.grads) == {np.dtype(np.float32), np.dtype(np.float64)}
    with pytest.raises(ValueError, match="dtypes"):
        _ = opt.flat_grad
    p32._grad[...] = 1.0
    p64._grad[...] = 1.0
    opt.step()
    extra = gs.tensor(np.zeros(4), requires_grad=True)
    opt.add_param_group(dict(params=[extra], lr=0.5))
    assert len(opt.flat.segments) == 3
    assert opt.state[p64]["exp_avg"].base is not None  # still a view after re-flattening
    opt.zero_grad()
    extra._grad[...] = 1.0
    opt.step()
    np.testing.assert_allclose(extra._data, -0.5, rtol=1e-6)
    assert (p64._data < 0.9 - 0.01).all()  # a second Adam step moved it on (momentum)


def test_flatten_after_steps_and_unflatten_keep_state():
    name, kw = CONFIGS[6]
    _, ref = run(name, kw, steps=20)
    params = make_params()
    opt = optim.Adam(params, **kw)
    for t in range(20):
        if t == 7:
            opt.flatten()
        if t == 14:
            opt.unflatten()
            assert opt.flat is None
        opt.zero_grad()
        set_grads(params, t)
        opt.step()
    for a, b in zip(ref, params):
        assert a._data.tobytes() == b._data.tobytes()


def test_flatten_parameters_function():
    ps = make_params(shapes=[(2, 2), (3,)])
    vals = [p._data.copy() for p in ps]
    fb = optim.flatten_parameters(ps)
    assert fb.numel == 7
    np.testing.assert_array_equal(fb.param_data, np.concatenate([v.ravel() for v in vals]))
    fb.grad[:] = 1.0
    assert (ps[0]._grad == 1.0).all()
    with pytest.raises(TypeError, match="list"):
        optim.flatten_parameters([ps[0], [1.0]])
    with pytest.raises(ValueError, match="twice"):
        optim.flatten_parameters([ps[0], ps[0]])
    with pytest.raises(ValueError, match="no parameters"):
        optim.flatten_parameters([])


# ----------------------------------------------------------------- state dicts
def to_json_and_arrays(sd):
    """Split a state dict as a checkpoint would: arrays aside, the rest through strict JSON."""
    arrays = {}

    def strip(obj, path):
        if isinstance(obj, np.ndarray):
            arrays[path] = obj.copy()
            return {"__array__": path}
        if isinstance(obj, dict):
            return {str(k): strip(v, f"{path}.{k}") for k, v in obj.items()}
        if isinstance(obj, list):
            return [strip(v, f"{path}.{i}") for i, v in enumerate(obj)]
        return obj

    text = json.dumps(strip(sd, ""), allow_nan=False)

    def restore(obj):
        if isinstance(obj, dict):
            if set(obj) == {"__array__"}:
                return arrays[obj["__array__"]]
            return {k: restore(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [restore(v) for v in obj]
        return obj

    return restore(json.loads(text))


@pytest.mark.parametrize(
    "flat_before,flat_after", [(False, False), (True, True), (False, True), (True, False)],
    ids=["per-param", "flat", "per-param->flat", "flat->per-param"],
)
@pytest.mark.parametrize("case", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_resume_bit_identical(case, flat_before, flat_after):
    name, kw = case
    params = make_params()
    opt = getattr(optim, name)(groups_of(params, True), **kw)
    if flat_before:
        opt.flatten()
    s = sched.StepLR(opt, step_size=3, gamma=0.9)
    for t in range(10):
        opt.zero_grad()
        set_grads(params, t)
        opt.step()
    sd = to_json_and_arrays(opt.state_dict())
    ssd = json.loads(json.dumps(s.state_dict(), allow_nan=False))
    # a fresh optimizer on fresh parameters holding the same values
    params2 = [gs.tensor(p._data.copy(), requires_grad=True) for p in params]
    opt2 = getattr(optim, name)(groups_of(params2, True), **kw)
    if flat_after:
        opt2.flatten()
    opt2.load_state_dict(sd)
    s2 = sched.StepLR(opt2, step_size=3, gamma=0.9)
    s2.load_state_dict(ssd)
    assert s2.get_last_lr() == s.get_last_lr()
    for t in range(10, 20):
        for o, ps, sc in ((opt, params, s), (opt2, params2, s2)):
            o.zero_grad()
            set_grads(ps, t)
            o.step()
            sc.step()
    for a, b in zip(params, params2):
        assert a._data.tobytes() == b._data.tobytes()
    assert opt.param_groups[1]["lr"] == opt2.param_groups[1]["lr"]


def test_state_dict_structure():
    params = make_params(shapes=[(2,), (3,)])
    opt = optim.Adam([dict(params=[params[0]]), dict(params=[params[1]], lr=0.5)],
                     betas=(0.8, 0.9), amsgrad=True)
    params[1]._grad = np.ones(3)
    opt.step()
    sd = opt.state_dict()
    assert list(sd["state"]) == [1]
    assert sd["state"][1]["step"] == 1
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["param_groups"][0]["params"] == [0]
    assert sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sd["param_groups"][0]["betas"] == [0.8, 0.9]
    # copies: later steps do not change a saved state dict
    before = sd["state"][1]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][1]["exp_avg"], before)


def test_load_state_dict_errors():
    params = make_params(shapes=[(2,), (3,)])
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p._grad = np.ones_like(p._data)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameters in the state, 1 in this"):
        optim.SGD(params[:1], lr=0.1).load_state_dict(sd)
    other = optim.SGD([dict(params=[params[0]]), dict(params=[params[1]])], lr=0.1)
    with pytest.raises(ValueError, match="1 parameter groups, this optimizer has 2"):
        other.load_state_dict(sd)
    bad = opt.state_dict()
    bad["state"][0]["momentum_buffer"] = np.zeros(5)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="'state'"):
        opt.load_state_dict({"param_groups": []})


# ----------------------------------------------------------------- behaviour
def test_zero_grad_and_skipping_parameters_without_grad():
    a, b = make_params(shapes=[(2,), (2,)])
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a._grad = np.ones(2)
    before = b._data.copy()
    opt.step()
    np.testing.assert_array_equal(b._data, before)
    assert b not in opt.state and "momentum_buffer" in opt.state[a]
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a._grad, [0.0, 0.0])
    opt.zero_grad()
    assert a._grad is None


def test_closure_runs_with_grad_enabled_and_returns_loss():
    x = gs.tensor(np.array([2.0]), requires_grad=True)
    opt = optim.SGD([x], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    with gs.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(x._data, [1.0])


def test_repr_and_adamw_is_decoupled():
    p = gs.tensor(np.ones(2), requires_grad=True)
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    assert "weight_decay: 0.5" in repr(opt)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    p._grad = np.zeros(2)
    opt.step()  # zero gradient: only the decay acts
    np.testing.assert_allclose(p._data, [0.95, 0.95])


# ----------------------------------------------------------------- bad input
def P():
    return gs.tensor(np.zeros(2), requires_grad=True)


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: optim.SGD([P()], lr=-0.1), ValueError, "lr must be >= 0, got -0.1"),
        (lambda: optim.SGD([P()], lr=0.1, momentum=-0.5), ValueError, "momentum.*-0.5"),
        (lambda: optim.SGD([P()], lr=0.1, weight_decay=-1), ValueError, "weight_decay.*-1"),
        (lambda: optim.SGD([P()], lr=0.1, dampening=-1), ValueError, "dampening"),
        (lambda: optim.SGD([P()], lr=float("nan")), ValueError, "lr.*nan"),
        (lambda: optim.SGD([P()], lr="fast"), TypeError, "lr must be a number"),
        (lambda: optim.SGD([P()], lr=0.1, nesterov=True), ValueError, "nesterov.*momentum=0"),
        (lambda: optim.SGD([P()], lr=0.1, momentum=0.9, nesterov=True, dampening=0.1),
         ValueError, "nesterov.*dampening=0.1"),
        (lambda: optim.SGD([P()], lr=0.1, momentum_form="keras"), ValueError, "momentum_form"),
        (lambda: optim.SGD([P()], lr=0.1, momentum=0.9, dampening=0.1,
                           momentum_form="sutskever"), ValueError, "dampening"),
        (lambda: optim.Adam([P()], betas=(1.0, 0.999)), ValueError, r"betas\[0\].*1.0"),
        (lambda: optim.Adam([P()], betas=(0.9, -0.1)), ValueError, r"betas\[1\].*-0.1"),
        (lambda: optim.Adam([P()], betas=(0.9,)), ValueError, "pair"),
        (lambda: optim.Adam([P()], eps=-1e-8), ValueError, "eps"),
        (lambda: optim.AdamW([P()], weight_decay=-0.1), ValueError, "weight_decay"),
        (lambda: optim.RMSprop([P()], alpha=-0.1), ValueError, "alpha"),
        (lambda: optim.RMSprop([P()], momentum=-0.1), ValueError, "momentum"),
        (lambda: optim.Adagrad([P()], lr_decay=-0.1), ValueError, "lr_decay"),
        (lambda: optim.Adagrad([P()], initial_accumulator_value=-1), ValueError,
         "initial_accumulator_value"),
        (lambda: optim.SGD([], lr=0.1), ValueError, "no parameters"),
        (lambda: optim.SGD([dict(params=[])], lr=0.1), ValueError, "no parameters"),
        (lambda: optim.SGD(P(), lr=0.1), TypeError, "single Tensor"),
        (lambda: optim.SGD([P(), np.zeros(2)], lr=0.1), TypeError, "parameter 1.*ndarray"),
        (lambda: optim.SGD([P(), "w"], lr=0.1), TypeError, "str"),
        (lambda: optim.SGD([gs.tensor(np.zeros(2))], lr=0.1), ValueError, "require grad"),
        (lambda: optim.SGD({P()}, lr=0.1), TypeError, "set"),
        (lambda: optim.SGD([dict(params=[P()], lr=-1.0)], lr=0.1), ValueError, "lr.*-1.0"),
    ],
)
def test_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_parameter_in_two_groups_or_twice():
    p = P()
    with pytest.raises(ValueError, match="already in another parameter group"):
        optim.SGD([dict(params=[p]), dict(params=[p])], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        optim.Adam([p, p])
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="already"):
        opt.add_param_group(dict(params=[p]))
    with pytest.raises(ValueError, match="momentum"):
        opt.add_param_group(dict(params=[P()], momentum=-1))


def test_non_leaf_is_rejected():
    p = P()
    with pytest.raises(ValueError, match="leaf"):
        optim.SGD([p * 2.0], lr=0.1)


def test_flat_grad_requires_flatten():
    opt = optim.SGD([P()], lr=0.1)
    with pytest.raises(ValueError, match="flatten"):
        _ = opt.flat_grad
