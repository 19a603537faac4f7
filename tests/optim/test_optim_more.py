"""Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD, LBFGS without PyTorch: the flat path, state
dicts (resume bit-identical), compatibility flags, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradstep as gs
from gradstep import optim
from gradstep.optim import lr_scheduler as sched
from gradstep.optim.adadelta import Adadelta
from gradstep.optim.adamax import Adamax
from gradstep.optim.asgd import ASGD
from gradstep.optim.lbfgs import LBFGS
from gradstep.optim.nadam import NAdam
from gradstep.optim.radam import RAdam
from gradstep.optim.rprop import Rprop

SHAPES = [(5, 3), (5,), (7,), (4, 2, 3), ()]


def make_params(seed=0, dtype=np.float64, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [gs.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def fake_grad(p: np.ndarray, t: int) -> np.ndarray:
    """A bounded deterministic gradient from + * / only (correctly rounded, so the flat and
    per-parameter runs see the same gradient for the same values)."""
    return (p - 0.3) / (1.0 + 0.1 * p * p) + 0.01 * t


def set_grads(params, t):
    for p in params:
        g = fake_grad(p._data, t)
        if p._grad is None:
            p._grad = g
        else:
            p._grad += g  # accumulate, as the backward engine does


CONFIGS = [
    (Adadelta, dict()),
    (Adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.01, maximize=True)),
    (Adamax, dict(lr=0.01, weight_decay=0.02)),
    (NAdam, dict(lr=0.01, momentum_decay=0.01)),
    (NAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    (RAdam, dict(lr=0.01, betas=(0.8, 0.9))),  # rectified from step 6 on
    (RAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (Rprop, dict(lr=0.02, etas=(0.4, 1.3), step_sizes=(1e-4, 0.1))),
    (ASGD, dict(lr=0.02, t0=5.0, lambd=0.01, weight_decay=0.01)),
]
CONFIG_IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(CONFIGS)]


def groups_of(params, grouped):
    if not grouped:
        return params
    return [dict(params=params[:2]), dict(params=params[2:], lr=0.003)]


def run(cls, kw, *, flat=False, steps=20, grouped=False, params=None, dtype=np.float64):
    params = params if params is not None else make_params(dtype=dtype)
    opt = cls(groups_of(params, grouped), flat=flat, **kw)
    for t in range(steps):
        opt.zero_grad()
        set_grads(params, t)
        opt.step()
    return opt, params


def test_exported_from_optim():
    for cls in (Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD, LBFGS):
        assert getattr(optim, cls.__name__) is cls


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("grouped", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("case", CONFIGS, ids=CONFIG_IDS)
def test_flat_bit_identical_to_per_parameter(case, grouped, dtype):
    """Element-wise updates of correctly rounded operations: the same arithmetic per element
    whether the arrays are one flat buffer or one per parameter."""
    cls, kw = case
    opt_per, per = run(cls, kw, grouped=grouped, dtype=dtype)
    opt, flat = run(cls, kw, flat=True, grouped=grouped, dtype=dtype)
    for a, b in zip(per, flat):
        assert a._data.dtype == dtype
        assert a._data.tobytes() == b._data.tobytes()
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


def to_json_and_arrays(sd):
    """Split a state dict as a checkpoint would: arrays aside, the rest through strict JSON."""
    arrays = {}

    def strip(obj, path):
        if isinstance(obj, np.ndarray):
            arrays[path] = obj.copy()
            return {"__array__": path}
        if isinstance(obj, dict):
            return {str(k): strip(v, f"{path}.{k}") for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
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
    """Save after 10 steps, load into a fresh optimizer on fresh parameters, continue: the
    parameters equal those of the uninterrupted run bit for bit."""
    cls, kw = case
    params = make_params()
    opt = cls(groups_of(params, True), flat=flat_before, **kw)
    s = sched.StepLR(opt, step_size=3, gamma=0.9)
    for t in range(10):
        opt.zero_grad()
        set_grads(params, t)
        opt.step()
        s.step()
    sd = to_json_and_arrays(opt.state_dict())
    ssd = json.loads(json.dumps(s.state_dict(), allow_nan=False))
    params2 = [gs.tensor(p._data.copy(), requires_grad=True) for p in params]
    opt2 = cls(groups_of(params2, True), flat=flat_after, **kw)
    opt2.load_state_dict(sd)
    s2 = sched.StepLR(opt2, step_size=3, gamma=0.9)
    s2.load_state_dict(ssd)
    for t in range(10, 25):
        for o, ps, sc in ((opt, params, s), (opt2, params2, s2)):
            o.zero_grad()
            set_grads(ps, t)
            o.step()
            sc.step()
    for a, b in zip(params, params2):
        assert a._data.tobytes() == b._data.tobytes()
    assert opt.state_dict()["state"][0].keys() == opt2.state_dict()["state"][0].keys()


@pytest.mark.parametrize(
    "cls,keys",
    [(Adadelta, {"step", "square_avg", "acc_delta"}), (Adamax, {"step", "exp_avg", "exp_inf"}),
     (NAdam, {"step", "mu_product", "exp_avg", "exp_avg_sq"}),
     (RAdam, {"step", "exp_avg", "exp_avg_sq"}), (Rprop, {"step", "prev", "step_size"}),
     (ASGD, {"step", "eta", "mu", "ax"})],
)
def test_state_layout_is_pytorchs(cls, keys):
    (p,) = make_params(shapes=[(3,)])
    opt = cls([p])
    p._grad = np.ones(3)
    opt.step()
    opt.step()
    st = opt.state_dict()["state"][0]
    assert set(st) == keys
    assert st["step"] == 2
    for k in keys - {"step", "mu_product", "eta", "mu"}:
        assert isinstance(st[k], np.ndarray) and st[k].shape == (3,)


def test_nadam_mu_product_and_asgd_schedule():
    (p,) = make_params(shapes=[(2,)])
    opt = NAdam([p], momentum_decay=0.004)
    p._grad = np.ones(2)
    for _ in range(3):
        opt.step()
    mus = [0.9 * (1 - 0.5 * 0.96 ** (t * 0.004)) for t in (1, 2, 3)]
    assert opt.state[p]["mu_product"] == pytest.approx(mus[0] * mus[1] * mus[2], rel=1e-15)
    (q,) = make_params(shapes=[(2,)])
    a = ASGD([q], lr=0.1, lambd=0.5, alpha=0.75, t0=1.0)
    q._grad = np.ones(2)
    a.step()
    a.step()
    a.step()
    assert a.state[q]["eta"] == pytest.approx(0.1 / (1 + 0.5 * 0.1 * 3) ** 0.75, rel=1e-15)
    assert a.state[q]["mu"] == pytest.approx(1 / 2, rel=1e-15)


def test_rprop_sign_change_backtracks_nothing_and_zeros_prev():
    p = gs.tensor(np.array([0.0, 0.0, 0.0]), requires_grad=True)
    opt = Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3))
    p._grad = np.array([1.0, -1.0, 0.0])
    opt.step()
    np.testing.assert_allclose(p._data, [-0.1, 0.1, 0.0])
    p._grad = np.array([1.0, 1.0, 1.0])  # same sign / sign change / no information
    opt.step()
    np.testing.assert_allclose(opt.state[p]["step_size"], [0.2, 0.05, 0.1])
    np.testing.assert_allclose(p._data, [-0.3, 0.1, -0.1])  # the changed one stays put
    np.testing.assert_array_equal(opt.state[p]["prev"], [1.0, 0.0, 1.0])
    p._grad = np.array([1.0, 1.0, 1.0])
    opt.step()  # growth is clipped at step_sizes[1]; after a zeroed prev: factor 1
    np.testing.assert_allclose(opt.state[p]["step_size"], [0.3, 0.05, 0.2])


# ----------------------------------------------------------------- compatibility flags
@pytest.mark.parametrize("cls", [Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD])
def test_foreach_is_accepted_and_changes_nothing(cls):
    _, a = run(cls, {}, steps=5)
    _, b = run(cls, dict(foreach=True), steps=5)
    for x, y in zip(a, b):
        assert x._data.tobytes() == y._data.tobytes()
    with pytest.raises(ValueError, match="capturable=True is not supported"):
        cls(make_params(), capturable=True)
    with pytest.raises(ValueError, match="differentiable=True"):
        cls(make_params(), differentiable=True)
    with pytest.raises(TypeError, match="foreach must be None or a bool"):
        cls(make_params(), foreach="yes")


def P():
    return gs.tensor(np.zeros(2), requires_grad=True)


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: Adadelta([P()], lr=-1.0), ValueError, "lr must be >= 0, got -1.0"),
        (lambda: Adadelta([P()], rho=1.5), ValueError, r"rho must be in \[0, 1\], got 1.5"),
        (lambda: Adadelta([P()], eps=-1e-6), ValueError, "eps"),
        (lambda: Adadelta([P()], weight_decay="x"), TypeError, "weight_decay must be a number"),
        (lambda: Adamax([P()], betas=(1.0, 0.9)), ValueError, r"betas\[0\].*1.0"),
        (lambda: Adamax([P()], betas=(0.9,)), ValueError, "pair"),
        (lambda: NAdam([P()], momentum_decay=-0.1), ValueError, "momentum_decay.*-0.1"),
        (lambda: NAdam([P()], betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
        (lambda: RAdam([P()], weight_decay=-1), ValueError, "weight_decay"),
        (lambda: RAdam([dict(params=[P()], eps=-1.0)]), ValueError, "eps"),
        (lambda: Rprop([P()], etas=(1.5, 1.2)), ValueError, "0 < etaminus < 1 < etaplus"),
        (lambda: Rprop([P()], etas=(0.5, 0.9)), ValueError, "etaplus"),
        (lambda: Rprop([P()], etas=0.5), ValueError, "etas must be a pair"),
        (lambda: Rprop([P()], step_sizes=(1.0, 0.1)), ValueError, "min <= max"),
        (lambda: Rprop([P()], step_sizes=(-1.0, 0.1)), ValueError, r"step_sizes\[0\]"),
        (lambda: ASGD([P()], lambd=-1.0), ValueError, "lambd"),
        (lambda: ASGD([P()], t0=float("nan")), ValueError, "t0"),
        (lambda: LBFGS([P()], lr=-1.0), ValueError, "lr"),
        (lambda: LBFGS([P()], max_iter=0), ValueError, "max_iter must be a positive int"),
        (lambda: LBFGS([P()], max_iter=2.5), ValueError, "max_iter"),
        (lambda: LBFGS([P()], max_eval=0), ValueError, "max_eval"),
        (lambda: LBFGS([P()], history_size=0), ValueError, "history_size"),
        (lambda: LBFGS([P()], tolerance_grad=-1.0), ValueError, "tolerance_grad"),
        (lambda: LBFGS([P()], line_search_fn="backtracking"), ValueError, "strong_wolfe"),
        (lambda: LBFGS([dict(params=[P()]), dict(params=[P()])]), ValueError,
         "single parameter group"),
    ],
)
def test_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# ----------------------------------------------------------------- LBFGS
def _quadratic(n=6, seed=3):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.linspace(1.0, 20.0, n)) @ q.T  # SPD, condition number 20
    b = rng.standard_normal(n)
    return a, b, np.linalg.solve(a, b)


def _lbfgs_problem(flat=False, rosenbrock=False, dtype=np.float64, **kw):
    """A quadratic (minimum ``xstar``) or the extended Rosenbrock function, over two
    parameters of 4 and 2 entries."""
    a, b, xstar = _quadratic()
    start = np.array([-1.2, 1.0, -1.2, 1.0, -1.2, 1.0]) if rosenbrock else np.zeros(6)
    w = gs.tensor(start[:4].astype(dtype), requires_grad=True)
    v = gs.tensor(start[4:].astype(dtype), requires_grad=True)
    opt = LBFGS([w, v], flat=flat, **kw)
    at, bt = gs.tensor(a.astype(dtype)), gs.tensor(b.astype(dtype))

    def closure():
        opt.zero_grad()
        x = gs.cat([w, v])
        if rosenbrock:
            loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        else:
            loss = 0.5 * (x @ (at @ x)) - bt @ x
        loss.backward()
        return loss

    return opt, closure, (w, v), xstar


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_solves_quadratic(line_search):
    opt, closure, (w, v), xstar = _lbfgs_problem(
        line_search_fn=line_search, max_iter=60, tolerance_grad=1e-11, tolerance_change=0.0
    )
    opt.step(closure)
    np.testing.assert_allclose(np.concatenate([w._data, v._data]), xstar, rtol=1e-9)
    st = opt.state[w]
    assert 0 < st["n_iter"] < 60 and st["func_evals"] >= st["n_iter"]  # stopped: converged


def test_lbfgs_stops_at_once_when_gradient_is_small():
    opt, closure, (w, v), _ = _lbfgs_problem(tolerance_grad=1e6)
    before = w._data.copy()
    loss = opt.step(closure)
    assert float(loss) == 0.0
    np.testing.assert_array_equal(w._data, before)
    assert opt.state[w] == {"func_evals": 1, "n_iter": 0}


def test_lbfgs_needs_closure():
    opt, _, _, _ = _lbfgs_problem()
    with pytest.raises(TypeError, match="needs a closure"):
        opt.step()
    with pytest.raises(ValueError, match="single parameter group"):
        opt.add_param_group(dict(params=[P()]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("flat_before,flat_after", [(False, False), (True, False),
                                                    (False, True)])
@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_state_dict_resume_bit_identical(line_search, flat_before, flat_after, dtype):
    kw = dict(line_search_fn=line_search, max_iter=3, max_eval=10, history_size=4,
              lr=1.0 if line_search else 0.5, rosenbrock=True, dtype=dtype)
    opt, closure, ps, _ = _lbfgs_problem(flat=flat_before, **kw)
    for _ in range(3):
        opt.step(closure)
    sd = to_json_and_arrays(opt.state_dict())
    st = sd["state"]["0"]
    assert st["old_dirs"].shape == st["old_stps"].shape == (4, 6)  # history full
    assert st["ro"].shape == (4,) and st["d"].shape == (6,)
    opt2, closure2, ps2, _ = _lbfgs_problem(flat=flat_after, **kw)
    for p, q in zip(ps, ps2):
        q._data[...] = p._data
    opt2.load_state_dict(sd)
    for _ in range(2):
        opt.step(closure)
        opt2.step(closure2)
    for p, q in zip(ps, ps2):
        assert p._data.tobytes() == q._data.tobytes()
    assert opt.state[ps[0]]["n_iter"] == opt2.state[ps2[0]]["n_iter"] == 15


def test_lbfgs_load_state_dict_errors():
    opt, closure, ps, _ = _lbfgs_problem(max_iter=2)
    opt.step(closure)
    sd = opt.state_dict()
    bad = {**sd, "state": {0: {**sd["state"][0], "d": np.zeros(5)}}}
    with pytest.raises(ValueError, match="'d' must be an array of shape"):
        opt.load_state_dict(bad)
    bad = {**sd, "state": {1: sd["state"][0]}}
    with pytest.raises(ValueError, match="under parameter 0 only"):
        opt.load_state_dict(bad)
    bad = {**sd, "state": {0: {**sd["state"][0], "ro": np.zeros(3)}}}
    with pytest.raises(ValueError, match="differ in length"):
        opt.load_state_dict(bad)


# ----------------------------------------------------------------- SGD subnormal flush
def _tiny_run(flush, steps, opt=None, p=None):
    if p is None:
        p = gs.tensor(np.zeros(3, np.float32), requires_grad=True)
        opt = optim.SGD([p], lr=1.0, momentum=0.9, flush_subnormals=flush)
    for _ in range(steps):
        p._grad = np.array([1e-33, 1e-20, 0.0], np.float32) if opt.state.get(p) is None \
            else np.zeros(3, np.float32)
        opt.step()
    return opt, p


def test_sgd_flush_is_off_by_default_and_its_step_is_saved():
    opt, p = _tiny_run(False, 5)
    assert opt.param_groups[0]["flush_subnormals"] is False
    assert set(opt.state_dict()["state"][0]) == {"momentum_buffer"}  # PyTorch's layout
    opt, p = _tiny_run(True, 5)
    assert opt.state_dict()["state"][0]["step"] == 5
    assert opt.state_dict()["param_groups"][0]["flush_subnormals"] is True


@pytest.mark.parametrize("save_at", [3, 64, 100])
def test_sgd_flush_resume_bit_identical(save_at):
    """The flush happens every K steps of a parameter (K = 64 for momentum 0.9): a resumed
    run must flush on the same steps as the uninterrupted one."""
    ref_opt, ref = _tiny_run(True, 130)
    opt, p = _tiny_run(True, save_at)
    sd = to_json_and_arrays(opt.state_dict())
    p2 = gs.tensor(p._data.copy(), requires_grad=True)
    opt2 = optim.SGD([p2], lr=1.0, momentum=0.9, flush_subnormals=True)
    opt2.load_state_dict(sd)
    _tiny_run(True, 130 - save_at, opt2, p2)
    assert p2._data.tobytes() == ref._data.tobytes()
    buf = ref_opt.state[ref]["momentum_buffer"]
    assert buf[0] == 0.0 and buf[1] != 0.0  # the tiny entry was flushed, the other kept


def test_sgd_loads_a_state_saved_before_the_flush_option():
    (p,) = make_params(shapes=[(3,)])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p._grad = np.ones(3)
    opt.step()
    sd = opt.state_dict()
    del sd["param_groups"][0]["flush_subnormals"]
    opt2 = optim.SGD([gs.tensor(p._data.copy(), requires_grad=True)], lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["flush_subnormals"] is False


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop,
                                 optim.Adagrad])
def test_existing_optimizers_check_pytorch_flags(cls):
    with pytest.raises(ValueError, match="differentiable=True"):
        cls(make_params(), lr=0.1, differentiable=True)
    with pytest.raises(TypeError, match="foreach must be None or a bool"):
        cls(make_params(), lr=0.1, foreach=1)


@pytest.mark.parametrize("cls,kw", [
    (LBFGS, dict(line_search_fn="strong_wolfe", max_iter=3)), (NAdam, {}), (ASGD, dict(t0=1.0)),
    (Rprop, {}), (Adadelta, {}), (optim.SGD, dict(momentum=0.9, flush_subnormals=True)),
], ids=lambda c: getattr(c, "__name__", ""))
def test_state_dict_through_gradstep_save_and_load(cls, kw, tmp_path):
    """gradstep.save / gradstep.load (tensors back, not arrays) restore every new state."""
    def make():
        x = gs.tensor(np.array([-1.2, 1.0, -1.2, 0.5]), requires_grad=True)
        opt = cls([x], **kw)

        def closure():
            opt.zero_grad()
            loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
            loss.backward()
            return loss

        return x, opt, closure

    x, opt, closure = make()
    for _ in range(3):
        opt.step(closure)
    gs.save(opt.state_dict(), tmp_path / "opt.gs")
    x2, opt2, closure2 = make()
    x2._data[...] = x._data
    opt2.load_state_dict(gs.load(tmp_path / "opt.gs"))
    for _ in range(2):
        opt.step(closure)
        opt2.step(closure2)
    assert x._data.tobytes() == x2._data.tobytes()
