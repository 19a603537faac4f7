"""Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD and LBFGS against torch.optim, float64.

Same keyword dict, same MLP (built from gradstep ops), same data as test_optim_torch.py:
every option combination trains for 100 steps with a MultiStepLR changing the rate
mid-run, and the parameters must agree with PyTorch's to a relative 1e-10.

PyTorch keeps some scalar state (NAdam's ``mu_product``, ASGD's ``eta`` and ``mu``) as
tensors of its default dtype; gradstep keeps them as Python floats. The comparisons run
PyTorch with a float64 default dtype, the setting in which it computes what gradstep does.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gradstep as gs
from gradstep.optim import lr_scheduler as gsched
from gradstep.optim.adadelta import Adadelta
from gradstep.optim.adamax import Adamax
from gradstep.optim.asgd import ASGD
from gradstep.optim.lbfgs import LBFGS
from gradstep.optim.nadam import NAdam
from gradstep.optim.radam import RAdam
from gradstep.optim.rprop import Rprop

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

OURS = {c.__name__: c for c in (Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD, LBFGS)}
STEPS = 100
MILESTONES = [30, 70]


@pytest.fixture(autouse=True)
def _torch_float64_default():
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(prev)


def _data():
    rng = np.random.default_rng(7)
    shapes = [(8, 4), (8,), (3, 8), (3,)]
    init = [rng.standard_normal(s) * 0.5 for s in shapes]
    return init, rng.standard_normal((16, 4)), rng.standard_normal((16, 3))


INIT, X, Y = _data()


def _split_groups(params, groups):
    if groups is None:
        return params
    return [dict(params=params[:2], **groups[0]), dict(params=params[2:], **groups[1])]


def _loss_gs(ps, x, y, sign):
    w1, b1, w2, b2 = ps
    h = (x @ w1.T + b1).relu()
    return (((h @ w2.T + b2) - y) ** 2).mean() * sign


def _loss_torch(ps, x, y, sign):
    w1, b1, w2, b2 = ps
    h = torch.relu(x @ w1.T + b1)
    return (((h @ w2.T + b2) - y) ** 2).mean() * sign


def run_gradstep(name, kwargs, groups=None, flat=False, sign=1.0):
    ps = [gs.tensor(a.copy(), requires_grad=True) for a in INIT]
    opt = OURS[name](_split_groups(ps, groups), flat=flat, **kwargs)
    sched = gsched.MultiStepLR(opt, MILESTONES, gamma=0.3)
    x, y = gs.tensor(X), gs.tensor(Y)
    for _ in range(STEPS):
        opt.zero_grad()
        _loss_gs(ps, x, y, sign).backward()
        opt.step()
        sched.step()
    return [p._data.copy() for p in ps]


def run_torch(name, kwargs, groups=None, sign=1.0):
    ps = [torch.tensor(a.copy(), requires_grad=True) for a in INIT]
    opt = getattr(torch.optim, name)(_split_groups(ps, groups), **kwargs)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, MILESTONES, gamma=0.3)
    x, y = torch.tensor(X), torch.tensor(Y)
    for _ in range(STEPS):
        opt.zero_grad()
        _loss_torch(ps, x, y, sign).backward()
        opt.step()
        sched.step()
    return [p.detach().numpy().copy() for p in ps]


def _product(name, **options):
    keys = list(options)
    return [(name, dict(zip(keys, vals))) for vals in itertools.product(*options.values())]


CASES = (
    _product("Adadelta", lr=[1.0, 0.3], rho=[0.9, 0.5], eps=[1e-6],
             weight_decay=[0.0, 0.01], maximize=[False, True])
    + _product("Adamax", lr=[0.01], betas=[(0.9, 0.999), (0.8, 0.95)], eps=[1e-8, 1e-3],
               weight_decay=[0.0, 0.05], maximize=[False, True])
    + _product("NAdam", lr=[0.01], betas=[(0.9, 0.999), (0.8, 0.9)],
               weight_decay=[0.0, 0.05], momentum_decay=[4e-3, 0.05],
               decoupled_weight_decay=[False, True], maximize=[False, True])
    + _product("RAdam", lr=[0.01], betas=[(0.9, 0.999), (0.8, 0.9)], eps=[1e-8],
               weight_decay=[0.0, 0.05], decoupled_weight_decay=[False, True],
               maximize=[False, True])
    + _product("Rprop", lr=[0.01, 0.002], etas=[(0.5, 1.2), (0.3, 1.6)],
               step_sizes=[(1e-6, 50), (1e-3, 0.05)], maximize=[False, True])
    + _product("ASGD", lr=[0.05], lambd=[1e-4, 0.05], alpha=[0.75, 0.4], t0=[1e6, 20.0],
               weight_decay=[0.0, 0.01], maximize=[False, True])
)


def _id(case):
    name, kw = case
    opts = ",".join(f"{k}={v}" for k, v in kw.items() if v not in (0, 0.0, False))
    return f"{name}[{opts}]"


def _assert_close(ours, theirs):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_trajectory_matches_torch(case):
    name, kw = case
    sign = -1.0 if kw.get("maximize") else 1.0  # ascend the negated loss: bounded runs
    ours = run_gradstep(name, kw, sign=sign)
    assert not np.allclose(ours[0], INIT[0], rtol=1e-3)  # the run moved the weights
    _assert_close(ours, run_torch(name, kw, sign=sign))


FLAT_CASES = [c for c in CASES if not c[1].get("maximize")][::3]


@pytest.mark.parametrize("case", FLAT_CASES, ids=_id)
def test_flat_trajectory_matches_torch(case):
    name, kw = case
    _assert_close(run_gradstep(name, kw, flat=True), run_torch(name, kw))


GROUP_CASES = [
    ("Adadelta", dict(lr=0.5), [dict(rho=0.7), dict(lr=1.0, weight_decay=0.01, eps=1e-4)]),
    ("Adamax", dict(lr=0.01), [dict(betas=(0.5, 0.9)), dict(weight_decay=0.1, lr=0.003)]),
    ("NAdam", dict(lr=0.01), [dict(momentum_decay=0.02, weight_decay=0.01),
                              dict(decoupled_weight_decay=True, weight_decay=0.1)]),
    ("RAdam", dict(lr=0.01), [dict(betas=(0.8, 0.95)),
                              dict(decoupled_weight_decay=True, weight_decay=0.1)]),
    ("Rprop", dict(lr=0.01), [dict(etas=(0.4, 1.3)), dict(lr=0.003, step_sizes=(1e-4, 1.0))]),
    ("ASGD", dict(lr=0.05, t0=10.0), [dict(lambd=0.01), dict(alpha=0.5, t0=40.0, lr=0.02)]),
]


@pytest.mark.parametrize("flat", [False, True], ids=["per-param", "flat"])
@pytest.mark.parametrize("case", GROUP_CASES, ids=lambda c: c[0])
def test_param_groups_match_torch(case, flat):
    name, kw, groups = case
    _assert_close(run_gradstep(name, kw, groups=groups, flat=flat),
                  run_torch(name, kw, groups=groups))


# --------------------------------------------------------------------- LBFGS
# L-BFGS multiplies rounding differences (np.dot against torch's dot) from iteration to
# iteration; 8 steps of 4 iterations keep them near 1e-12, as the element-wise optimizers.
LBFGS_OUTER = 8
LBFGS_CASES = [
    dict(max_iter=4),
    dict(max_iter=4, lr=0.8, history_size=2),
    dict(max_iter=4, tolerance_change=1e-4),
    dict(max_iter=4, line_search_fn="strong_wolfe"),
    dict(max_iter=4, line_search_fn="strong_wolfe", history_size=3),
    dict(max_iter=5, max_eval=6, line_search_fn="strong_wolfe", lr=0.5),
    dict(max_iter=3, max_eval=3, line_search_fn="strong_wolfe"),
    dict(max_iter=4, tolerance_grad=0.1),
]


def _lbfgs_run(lib, kw, flat=False):
    if lib == "torch":
        ps = [torch.tensor(a.copy(), requires_grad=True) for a in INIT]
        opt = torch.optim.LBFGS(ps, **kw)
        x, y, loss_fn = torch.tensor(X), torch.tensor(Y), _loss_torch
    else:
        ps = [gs.tensor(a.copy(), requires_grad=True) for a in INIT]
        opt = LBFGS(ps, flat=flat, **kw)
        x, y, loss_fn = gs.tensor(X), gs.tensor(Y), _loss_gs

    def closure():
        opt.zero_grad()
        loss = loss_fn(ps, x, y, 1.0)
        loss.backward()
        return loss

    losses = []
    for k in range(LBFGS_OUTER):
        if k == LBFGS_OUTER // 2:
            opt.param_groups[0]["lr"] *= 0.5
        losses.append(float(opt.step(closure).detach() if lib == "torch" else opt.step(closure)))
    st = opt.state[ps[0]]
    params = [p.detach().numpy().copy() if lib == "torch" else p._data.copy() for p in ps]
    return params, losses, (st["func_evals"], st["n_iter"])


@pytest.mark.parametrize("flat", [False, True], ids=["per-param", "flat"])
@pytest.mark.parametrize("kw", LBFGS_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in
                                                                    kw.items()))
def test_lbfgs_matches_torch(kw, flat):
    ours, our_losses, our_counts = _lbfgs_run("gs", kw, flat=flat)
    theirs, their_losses, their_counts = _lbfgs_run("torch", kw)
    assert our_counts == their_counts  # the same iterations and loss evaluations
    _assert_close(ours, theirs)
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-10)
    assert our_losses[-1] < 0.5 * our_losses[0]


# The extended Rosenbrock function drives the strong-Wolfe search through all its phases:
# extrapolation out of evaluations (lr=1e-3), zoom with the bracket ends swapped and trial
# steps pushed away from the bracket ends (lr=4, lr=30), zoom out of evaluations (max_eval=4).
ROSENBROCK_CASES = [
    dict(line_search_fn="strong_wolfe", max_iter=6),
    dict(line_search_fn="strong_wolfe", max_iter=3, lr=1e-3),
    dict(line_search_fn="strong_wolfe", max_iter=6, lr=4.0, max_eval=30),
    dict(line_search_fn="strong_wolfe", max_iter=3, lr=4.0, max_eval=4),
    dict(line_search_fn="strong_wolfe", max_iter=3, lr=30.0, max_eval=30, history_size=2),
    dict(max_iter=5, lr=0.5),
]
ROSEN_START = np.array([-1.2, 1.0, -1.2, 1.0, -1.2, 1.0])


def _rosenbrock_run(lib, kw):
    mod = torch if lib == "torch" else gs
    w = mod.tensor(ROSEN_START[:4].copy(), requires_grad=True)
    v = mod.tensor(ROSEN_START[4:].copy(), requires_grad=True)
    opt = torch.optim.LBFGS([w, v], **kw) if lib == "torch" else LBFGS([w, v], **kw)

    def closure():
        opt.zero_grad()
        x = mod.cat([w, v])
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(closure)
    st = opt.state[w]
    x = [w.detach().numpy(), v.detach().numpy()] if lib == "torch" else [w._data, v._data]
    return np.concatenate(x), (st["func_evals"], st["n_iter"])


@pytest.mark.parametrize("kw", ROSENBROCK_CASES,
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_lbfgs_rosenbrock_matches_torch(kw):
    ours, our_counts = _rosenbrock_run("gs", kw)
    theirs, their_counts = _rosenbrock_run("torch", kw)
    assert our_counts == their_counts
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert not np.allclose(ours, ROSEN_START, rtol=1e-3)


# --------------------------------------------------------------------- schedulers
def _lr_trajectory(make_opt, make_sched, steps, momentum_key=None, metrics=None):
    """The rates (and momenta) each epoch, checking get_last_lr against the groups."""
    opt = make_opt()
    sched = make_sched(opt)
    lrs, moms = [], []
    for t in range(steps):
        lrs.append([g["lr"] for g in opt.param_groups])
        assert list(sched.get_last_lr()) == lrs[-1]
        if momentum_key == "betas":
            moms.append([g["betas"][0] for g in opt.param_groups])
        elif momentum_key:
            moms.append([g[momentum_key] for g in opt.param_groups])
        opt.step()
        if metrics is not None:
            sched.step(metrics[t])
        else:
            sched.step()
    return np.array(lrs), np.array(moms)


def _two_groups(lib, opt_name="SGD", **kw):
    def make():
        if lib == "torch":
            ps = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
            for p in ps:
                p.grad = torch.zeros_like(p)
            opt_cls = getattr(torch.optim, opt_name)
        else:
            ps = [gs.zeros(2, requires_grad=True), gs.zeros(3, requires_grad=True)]
            for p in ps:
                p._grad = np.zeros_like(p._data)
            opt_cls = getattr(gs.optim, opt_name)
        return opt_cls([dict(params=[ps[0]]), dict(params=[ps[1]], lr=0.3)], lr=0.1, **kw)

    return make


class _Halve:
    """A callable object as lr_lambda (PyTorch would save its __dict__)."""

    def __call__(self, t):
        return 0.5 if t % 4 == 0 else 1.02


NEW_SCHEDULERS = {
    "MultiplicativeLR": (lambda m, o: m.MultiplicativeLR(o, lambda t: 0.97 if t % 2 else 1.01),
                         50),
    "MultiplicativeLR-list": (lambda m, o: m.MultiplicativeLR(o, [_Halve(), lambda t: 0.9]),
                              30),
    "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=7), 20),
    "ConstantLR-default": (lambda m, o: m.ConstantLR(o), 12),
    "PolynomialLR": (lambda m, o: m.PolynomialLR(o, total_iters=15, power=2.0), 25),
    "PolynomialLR-linear": (lambda m, o: m.PolynomialLR(o, total_iters=9), 15),
    "CosineAnnealingWarmRestarts": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, eta_min=0.01), 40),
    "CosineAnnealingWarmRestarts-mult": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.0), 50),
    "ChainedScheduler": (
        lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=4),
                                         m.ExponentialLR(o, gamma=0.9)]), 30),
    "ChainedScheduler-3": (
        lambda m, o: m.ChainedScheduler([m.LinearLR(o, start_factor=0.2, total_iters=5),
                                         m.StepLR(o, step_size=6, gamma=0.5),
                                         m.PolynomialLR(o, total_iters=25, power=0.5)], o), 30),
    "SequentialLR-nested": (  # nested members: their initial steps are undone recursively
        lambda m, o: m.SequentialLR(
            o, [m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=3),
                                    m.ExponentialLR(o, gamma=0.9)]),
                m.MultiplicativeLR(o, lambda t: 0.99)],
            milestones=[6]),
        30),
    "SequentialLR-warm-restarts": (
        lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, start_factor=0.1, total_iters=4),
                m.PolynomialLR(o, total_iters=10, power=1.5)], milestones=[4]),
        20),
}


@pytest.mark.parametrize("name", list(NEW_SCHEDULERS))
def test_new_scheduler_matches_torch(name):
    make, steps = NEW_SCHEDULERS[name]
    ours, _ = _lr_trajectory(_two_groups("gs", momentum=0.9), lambda o: make(gsched, o), steps)
    theirs, _ = _lr_trajectory(
        _two_groups("torch", momentum=0.9), lambda o: make(torch.optim.lr_scheduler, o), steps
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert len(np.unique(ours[:, 0])) > 1  # the rate changed


CYCLIC_CASES = [
    dict(base_lr=0.01, max_lr=0.1, step_size_up=4),
    dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.5], step_size_up=3, step_size_down=7,
         mode="triangular2"),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=3,
         scale_fn=lambda x: 1 / (1 + 0.1 * x), scale_mode="iterations",
         base_momentum=[0.7, 0.75], max_momentum=0.95),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=4, scale_fn=lambda c: 0.8**c),
    dict(base_lr=0.001, max_lr=0.01, step_size_up=3, cycle_momentum=False),
]


@pytest.mark.parametrize("opt_name,kw,key", [("SGD", dict(momentum=0.9), "momentum"),
                                             ("Adam", {}, "betas")])
@pytest.mark.parametrize("case", CYCLIC_CASES, ids=lambda c: f"{c.get('mode', 'fn')}")
def test_cyclic_lr_matches_torch(case, opt_name, kw, key):
    def make(m, o):
        return m.CyclicLR(o, **case)

    mom_key = key if case.get("cycle_momentum", True) else None
    ours, om = _lr_trajectory(_two_groups("gs", opt_name, **kw), lambda o: make(gsched, o), 40,
                              momentum_key=mom_key)
    theirs, tm = _lr_trajectory(_two_groups("torch", opt_name, **kw),
                                lambda o: make(torch.optim.lr_scheduler, o), 40,
                                momentum_key=mom_key)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(om, tm, rtol=1e-12)
    assert ours.max() > 2 * ours.min()


def test_warm_restarts_fractional_epochs_match_torch():
    """PyTorch's documented within-epoch use: step(epoch + i / iters)."""
    import warnings

    def run(m, o):
        s = m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.001)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # step(epoch) is deprecated in both
            for epoch in range(8):
                for i in range(4):
                    o.step()
                    s.step(epoch + i / 4)
                    out.append([g["lr"] for g in o.param_groups])
        return np.array(out)

    ours = run(gsched, _two_groups("gs", momentum=0.9)())
    theirs = run(torch.optim.lr_scheduler, _two_groups("torch", momentum=0.9)())
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_reduce_on_plateau_extra_group_and_epoch_match_torch():
    """A group added after construction takes the single min_lr (PyTorch's default_min_lr)."""
    res = {}
    for lib in ("gs", "torch"):
        o = _two_groups(lib)()
        m = gsched if lib == "gs" else torch.optim.lr_scheduler
        s = m.ReduceLROnPlateau(o, patience=1, factor=0.5, min_lr=0.04)
        extra = (gs.zeros(1, requires_grad=True) if lib == "gs"
                 else torch.zeros(1, requires_grad=True))
        o.add_param_group(dict(params=[extra], lr=0.2))
        out = []
        for metric in [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]:
            s.step(metric)
            out.append([g["lr"] for g in o.param_groups] + [s.last_epoch, s.in_cooldown])
        res[lib] = np.array(out, dtype=float)
    np.testing.assert_allclose(res["gs"], res["torch"], rtol=1e-12)


# --------------------------------------------------------------------- SGD and subnormals
def _decaying_buffer_run(lib, dtype, **kw):
    """One tiny gradient, then zeros: the momentum buffer decays through the subnormal
    range, and the parameter (starting at 0, so of the same tiny size) keeps moving by
    subnormal amounts."""
    steps = 400
    g0 = 1e-36 if dtype == "float32" else 1e-305
    if lib == "torch":
        p = torch.zeros(4, dtype=getattr(torch, dtype), requires_grad=True)
        opt = torch.optim.SGD([p], lr=1.0, momentum=0.9)
    else:
        p = gs.zeros(4, dtype=dtype, requires_grad=True)
        opt = gs.optim.SGD([p], lr=1.0, momentum=0.9, **kw)
    out = []
    for t in range(steps):
        g = np.full(4, g0 if t == 0 else 0.0, dtype=dtype)
        if lib == "torch":
            p.grad = torch.tensor(g)
        else:
            p._grad = g
        opt.step()
        out.append((p.detach().numpy() if lib == "torch" else p._data).copy())
    return np.array(out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_subnormal_buffers_are_pytorchs(dtype):
    """lr = 1 and dampening 0: b <- 0.9 b (+ g) and p <- p - b round the same way in both
    libraries (one multiply and one add or subtract per element), so the default SGD must
    match PyTorch bit for bit even where the buffer is subnormal. The opt-in flush zeroes
    tiny buffer entries and then leaves the parameter where it is: a different trajectory."""
    theirs = _decaying_buffer_run("torch", dtype)
    moves = np.abs(np.diff(theirs[:, 0]))
    subnormal_moves = (moves > 0) & (moves < np.finfo(dtype).tiny)
    assert subnormal_moves.sum() > 20  # many steps moved the parameter by a subnormal buffer
    np.testing.assert_array_equal(_decaying_buffer_run("gs", dtype), theirs)
    flushed = _decaying_buffer_run("gs", dtype, flush_subnormals=True)
    assert not np.array_equal(flushed[-1], theirs[-1])


def test_sgd_positional_arguments_are_pytorchs():
    """SGD(params, lr, momentum, dampening, weight_decay, nesterov) as in PyTorch."""
    ps = [gs.tensor(a.copy(), requires_grad=True) for a in INIT]
    opt = gs.optim.SGD(ps, 0.05, 0.9, 0.0, 0.01, True)
    g = opt.param_groups[0]
    assert (g["weight_decay"], g["nesterov"]) == (0.01, True)
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in INIT]
    topt = torch.optim.SGD(tps, 0.05, 0.9, 0.0, 0.01, True)
    x, y = gs.tensor(X), gs.tensor(Y)
    tx, ty = torch.tensor(X), torch.tensor(Y)
    for _ in range(20):
        opt.zero_grad()
        _loss_gs(ps, x, y, 1.0).backward()
        opt.step()
        topt.zero_grad()
        _loss_torch(tps, tx, ty, 1.0).backward()
        topt.step()
    _assert_close([p._data for p in ps], [p.detach().numpy() for p in tps])


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.05, momentum=0.9, foreach=False, fused=None)),
    ("Adam", dict(lr=0.01, foreach=True, capturable=False, differentiable=False, fused=None)),
    ("AdamW", dict(lr=0.01, foreach=False, fused=False)),
    ("RMSprop", dict(lr=0.005, foreach=True, capturable=False)),
    ("Adagrad", dict(lr=0.05, foreach=False, fused=None)),
])
def test_existing_optimizers_accept_pytorch_flags(name, kw):
    """A PyTorch script's implementation flags run unchanged and change nothing."""
    ps = [gs.tensor(a.copy(), requires_grad=True) for a in INIT]
    opt = getattr(gs.optim, name)(ps, **kw)
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in INIT]
    topt = getattr(torch.optim, name)(tps, **kw)
    x, y = gs.tensor(X), gs.tensor(Y)
    tx, ty = torch.tensor(X), torch.tensor(Y)
    for _ in range(30):
        opt.zero_grad()
        _loss_gs(ps, x, y, 1.0).backward()
        opt.step()
        topt.zero_grad()
        _loss_torch(tps, tx, ty, 1.0).backward()
        topt.step()
    _assert_close([p._data for p in ps], [p.detach().numpy() for p in tps])


# --------------------------------------------------------------------- signatures
GRADSTEP_ONLY = {"flat", "momentum_form", "flush_subnormals"}


def _signature(fn, skip=()):
    import inspect

    return [(n, p.kind, p.default) for n, p in inspect.signature(fn).parameters.items()
            if n not in skip]


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                                  "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "LBFGS"])
def test_optimizer_signature_is_pytorchs(name):
    """Same parameter names, order, kinds (positional or keyword-only) and defaults; only
    gradstep's own keyword-only extras are added."""
    ours = _signature(getattr(gs.optim, name).__init__, GRADSTEP_ONLY)
    assert ours == _signature(getattr(torch.optim, name).__init__)


@pytest.mark.parametrize("name", [n for n in gsched.__all__
                                  if hasattr(torch.optim.lr_scheduler, n)])
def test_scheduler_signature_is_pytorchs(name):
    ours = _signature(getattr(gsched, name).__init__)
    assert ours == _signature(getattr(torch.optim.lr_scheduler, name).__init__)
