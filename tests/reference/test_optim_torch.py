"""gradstep.optim against torch.optim: same keyword dict, same MLP, same data, float64.

Every optimizer option combination trains a small MLP (built from gradstep ops) for 100
steps with a MultiStepLR changing the rate mid-run; the parameters must agree with
PyTorch's to a relative 1e-10. Every scheduler's learning-rate trajectory must agree too.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gradstep as gs
from gradstep import optim
from gradstep.optim import lr_scheduler as gsched

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

STEPS = 100
MILESTONES = [30, 70]


def _data():
    rng = np.random.default_rng(7)
    shapes = [(8, 4), (8,), (3, 8), (3,)]
    init = [rng.standard_normal(s) * 0.5 for s in shapes]
    x = rng.standard_normal((16, 4))
    y = rng.standard_normal((16, 3))
    return init, x, y


INIT, X, Y = _data()


def _split_groups(params, groups):
    """groups: None (one group) or a list of per-group option dicts over (W1, b1) / (W2, b2)."""
    if groups is None:
        return params
    return [dict(params=params[:2], **groups[0]), dict(params=params[2:], **groups[1])]


def run_gradstep(name, kwargs, groups=None, flat=False, steps=STEPS, sign=1.0):
    ps = [gs.tensor(a.copy(), requires_grad=True) for a in INIT]
    opt = getattr(optim, name)(_split_groups(ps, groups), **kwargs)
    if flat:
        opt.flatten()
    sched = gsched.MultiStepLR(opt, MILESTONES, gamma=0.3)
    x, y = gs.tensor(X), gs.tensor(Y)
    w1, b1, w2, b2 = ps
    for _ in range(steps):
        opt.zero_grad()
        h = (x @ w1.T + b1).relu()
        loss = (((h @ w2.T + b2) - y) ** 2).mean() * sign
        loss.backward()
        opt.step()
        sched.step()
    return [p.data.copy() for p in ps]


def run_torch(name, kwargs, groups=None, steps=STEPS, sign=1.0):
    ps = [torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True) for a in INIT]
    opt = getattr(torch.optim, name)(_split_groups(ps, groups), **kwargs)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, MILESTONES, gamma=0.3)
    x, y = torch.tensor(X), torch.tensor(Y)
    w1, b1, w2, b2 = ps
    for _ in range(steps):
        opt.zero_grad()
        h = torch.relu(x @ w1.T + b1)
        loss = (((h @ w2.T + b2) - y) ** 2).mean() * sign
        loss.backward()
        opt.step()
        sched.step()
    return [p.detach().numpy().copy() for p in ps]


def _sgd_cases():
    out = []
    for momentum, dampening, nesterov, wd, maximize in itertools.product(
        [0.0, 0.9], [0.0, 0.5], [False, True], [0.0, 0.01], [False, True]
    ):
        if momentum == 0 and (dampening or nesterov):
            continue
        if nesterov and dampening:
            continue
        out.append(("SGD", dict(lr=0.05, momentum=momentum, dampening=dampening,
                                nesterov=nesterov, weight_decay=wd, maximize=maximize)))
    return out


def _adam_cases():
    out = []
    for name in ("Adam", "AdamW"):
        for amsgrad, wd, maximize in itertools.product([False, True], [0.0, 0.05], [False, True]):
            out.append((name, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=wd,
                                   amsgrad=amsgrad, maximize=maximize)))
    return out


def _rmsprop_cases():
    out = []
    for centered, momentum, wd, maximize in itertools.product(
        [False, True], [0.0, 0.9], [0.0, 0.01], [False, True]
    ):
        out.append(("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-6, centered=centered,
                                    momentum=momentum, weight_decay=wd, maximize=maximize)))
    return out


def _adagrad_cases():
    out = []
    for lr_decay, wd, init_acc, maximize in itertools.product(
        [0.0, 0.01], [0.0, 0.01], [0.0, 0.1], [False, True]
    ):
        out.append(("Adagrad", dict(lr=0.05, lr_decay=lr_decay, weight_decay=wd,
                                    initial_accumulator_value=init_acc, eps=1e-10,
                                    maximize=maximize)))
    return out


CASES = _sgd_cases() + _adam_cases() + _rmsprop_cases() + _adagrad_cases()


def _id(case):
    name, kw = case
    opts = ",".join(f"{k}={v}" for k, v in kw.items() if k != "lr" and v not in (0, 0.0, False))
    return f"{name}[{opts}]"


def _assert_close(ours, theirs):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def _kwargs_and_sign(kw):
    # maximize=True ascends: train on the negated loss so both runs stay bounded
    return kw, (-1.0 if kw.get("maximize") else 1.0)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_trajectory_matches_torch(case):
    name, kw = case
    kw, sign = _kwargs_and_sign(kw)
    _assert_close(run_gradstep(name, kw, sign=sign), run_torch(name, kw, sign=sign))


FLAT_CASES = [c for c in CASES if not c[1].get("maximize")][::3]


@pytest.mark.parametrize("case", FLAT_CASES, ids=_id)
def test_flat_trajectory_matches_torch(case):
    name, kw = case
    _assert_close(run_gradstep(name, kw, flat=True), run_torch(name, kw))


GROUP_CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9),
     [dict(lr=0.02, nesterov=True), dict(momentum=0.5, dampening=0.3, weight_decay=0.01)]),
    ("Adam", dict(lr=0.01), [dict(betas=(0.5, 0.9), amsgrad=True), dict(weight_decay=0.1)]),
    ("AdamW", dict(lr=0.01), [dict(weight_decay=0.0), dict(lr=0.003, eps=1e-6)]),
    ("RMSprop", dict(lr=0.005), [dict(centered=True, momentum=0.9), dict(alpha=0.5)]),
    # (not a per-group initial_accumulator_value: PyTorch ignores it, gradstep honours it)
    ("Adagrad", dict(lr=0.05, initial_accumulator_value=0.2),
     [dict(lr_decay=0.1), dict(eps=1e-3, weight_decay=0.1)]),
]


@pytest.mark.parametrize("flat", [False, True], ids=["per-param", "flat"])
@pytest.mark.parametrize("case", GROUP_CASES, ids=lambda c: c[0])
def test_param_groups_match_torch(case, flat):
    name, kw, groups = case
    ours = run_gradstep(name, kw, groups=groups, flat=flat)
    _assert_close(ours, run_torch(name, kw, groups=groups))


# --------------------------------------------------------------------- schedulers
def _lr_trajectory(make_opt, make_sched, steps, metrics=None, momentum_key=None):
    opt = make_opt()
    sched = make_sched(opt)
    lrs, moms = [], []
    for t in range(steps):
        lrs.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == lrs[-1]
        if momentum_key:
            moms.append([g[momentum_key] for g in opt.param_groups])
        opt.step()
        if metrics is not None:
            sched.step(metrics[t])
        else:
            sched.step()
    return np.array(lrs), moms


def _two_groups(lib, opt_name="SGD", **kw):
    def make():
        if lib == "torch":
            ps = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
            ps[0].grad = torch.zeros(2)
            ps[1].grad = torch.zeros(3)
            return getattr(torch.optim, opt_name)(
                [dict(params=[ps[0]]), dict(params=[ps[1]], lr=0.3)], lr=0.1, **kw
            )
        ps2 = [gs.zeros(2, requires_grad=True), gs.zeros(3, requires_grad=True)]
        for p in ps2:
            p.grad = np.zeros_like(p.data)
        return getattr(optim, opt_name)(
            [dict(params=[ps2[0]]), dict(params=[ps2[1]], lr=0.3)], lr=0.1, **kw
        )

    return make


def _inv(t):
    return 1.0 / (t + 1) ** 0.25


SCHEDULERS = {
    "LambdaLR": (lambda m, o: m.LambdaLR(o, lambda t: 0.95**t + 0.01 * (t % 3)), 60),
    "LambdaLR-list": (lambda m, o: m.LambdaLR(o, [lambda t: 1 / (1 + t), lambda t: 0.9**t]), 40),
    "StepLR": (lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), 60),
    "MultiStepLR": (lambda m, o: m.MultiStepLR(o, [5, 12, 12, 40], gamma=0.3), 60),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.93), 60),
    "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 55),
    "LinearLR": (lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12), 30),
    "SequentialLR": (
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.1, total_iters=5),
             m.CosineAnnealingLR(o, T_max=20, eta_min=0.0),
             m.ExponentialLR(o, gamma=0.9)],
            milestones=[5, 25],
        ),
        50,
    ),
    "SequentialLR-step": (
        lambda m, o: m.SequentialLR(
            o, [m.ExponentialLR(o, gamma=0.8), m.StepLR(o, step_size=4, gamma=0.5)],
            milestones=[10],
        ),
        40,
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(name):
    make, steps = SCHEDULERS[name]
    ours, _ = _lr_trajectory(_two_groups("gs", momentum=0.9), lambda o: make(gsched, o), steps)
    theirs, _ = _lr_trajectory(
        _two_groups("torch", momentum=0.9), lambda o: make(torch.optim.lr_scheduler, o), steps
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_inverse_scaling_matches_torch_lambda():
    ours, _ = _lr_trajectory(
        _two_groups("gs"), lambda o: gsched.InverseScalingLR(o, power_t=0.25), 30
    )
    theirs, _ = _lr_trajectory(
        _two_groups("torch"), lambda o: torch.optim.lr_scheduler.LambdaLR(o, _inv), 30
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ours[9, 0] == pytest.approx(0.1 / 10**0.25)


@pytest.mark.parametrize(
    "opt_name,kw,key",
    [("SGD", dict(momentum=0.9), "momentum"), ("Adam", {}, "betas")],
)
@pytest.mark.parametrize(
    "sched_kw",
    [dict(anneal_strategy="cos"), dict(anneal_strategy="linear"),
     dict(three_phase=True, pct_start=0.25), dict(cycle_momentum=False)],
    ids=["cos", "linear", "three_phase", "no-momentum"],
)
def test_one_cycle_matches_torch(opt_name, kw, key, sched_kw):
    def make(m, o):
        return m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=50, **sched_kw)

    ours, om = _lr_trajectory(_two_groups("gs", opt_name, **kw), lambda o: make(gsched, o), 50,
                              momentum_key=key)
    theirs, tm = _lr_trajectory(_two_groups("torch", opt_name, **kw),
                                lambda o: make(torch.optim.lr_scheduler, o), 50, momentum_key=key)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.array(om, dtype=object).astype(float) if key == "momentum"
                               else np.array(om), np.array(tm), rtol=1e-12)


def test_reduce_on_plateau_matches_torch():
    rng = np.random.default_rng(3)
    metrics = list(np.concatenate([np.linspace(5, 1, 10), 1 + 0.01 * rng.random(40),
                                   np.linspace(1, 0.2, 10), np.full(20, 0.2)]))
    for kw in [dict(patience=3, factor=0.5, cooldown=2, min_lr=[0.01, 0.002]),
               dict(mode="max", patience=2, threshold=0.05, threshold_mode="abs"),
               dict(patience=0, factor=0.9, threshold_mode="rel", eps=1e-3)]:
        ours, _ = _lr_trajectory(
            _two_groups("gs"), lambda o, kw=kw: gsched.ReduceLROnPlateau(o, **kw), len(metrics),
            metrics=metrics,
        )
        theirs, _ = _lr_trajectory(
            _two_groups("torch"),
            lambda o, kw=kw: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw), len(metrics),
            metrics=metrics,
        )
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        assert not math.isclose(ours[-1, 0], ours[0, 0])


# --------------------------------------------------------------------- clipping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    from gradstep.nn.utils import clip_grad_norm_

    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 2)]]
    ours = [gs.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for o, t, g in zip(ours, theirs, grads):
        o.grad = g.copy()
        t.grad = torch.tensor(g)
    n_ours = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    n_theirs = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(n_ours, float)
    assert n_ours == pytest.approx(float(n_theirs), rel=1e-12)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_matches_torch():
    from gradstep.nn.utils import clip_grad_value_

    g = np.random.default_rng(2).standard_normal((4, 5))
    o = gs.tensor(np.zeros_like(g), requires_grad=True)
    o.grad = g.copy()
    t = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(g)
    clip_grad_value_(o, 0.3)
    torch.nn.utils.clip_grad_value_([t], 0.3)
    np.testing.assert_array_equal(o.grad, t.grad.numpy())
