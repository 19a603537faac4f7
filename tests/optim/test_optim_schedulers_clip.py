"""Schedulers (state dicts, errors, closed forms) and gradient clipping (no PyTorch needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gradstep as gs
from gradstep import optim
from gradstep.errors import NonFiniteError
from gradstep.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)
from gradstep.optim import lr_scheduler as S


def make_opt(cls=optim.SGD, **kw):
    p = gs.tensor(np.zeros(2), requires_grad=True)
    p._grad = np.zeros(2)
    return cls([dict(params=[p]), dict(params=[gs.tensor(np.zeros(1), requires_grad=True)],
                                     lr=0.5)], lr=0.1, **kw)


BUILDERS = {
    "StepLR": lambda o: S.StepLR(o, 3, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, [2, 5, 5], gamma=0.5),
    "ExponentialLR": lambda o: S.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=6, eta_min=0.01),
    "LinearLR": lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4),
    "InverseScalingLR": lambda o: S.InverseScalingLR(o, power_t=0.5),
    "LambdaLR": lambda o: S.LambdaLR(o, lambda t: 1.0 / (1 + t)),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=30),
    "SequentialLR": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.5, total_iters=3), S.ExponentialLR(o, 0.8)], [4]),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_scheduler_state_dict_json_resume(name):
    o1 = make_opt(momentum=0.9)
    s1 = BUILDERS[name](o1)
    for _ in range(7):
        o1.step()
        s1.step()
    state = json.loads(json.dumps(s1.state_dict(), allow_nan=False))
    osd = o1.state_dict()
    o2 = make_opt(momentum=0.9)
    s2 = BUILDERS[name](o2)
    o2.load_state_dict(osd)
    s2.load_state_dict(state)
    assert s2.get_last_lr() == s1.get_last_lr()
    for _ in range(10):
        s1.step()
        s2.step()
        assert s2.get_last_lr() == s1.get_last_lr()
        assert [g["lr"] for g in o2.param_groups] == s2.get_last_lr()


def test_reduce_on_plateau_state_dict_is_strict_json():
    o = make_opt()
    s = S.ReduceLROnPlateau(o, patience=1)
    sd = s.state_dict()
    assert sd["best"] is None  # +inf is not JSON
    json.dumps(sd, allow_nan=False)
    for m in [1.0, 1.0, 1.0, 1.0]:
        s.step(m)
    assert s.get_last_lr() == pytest.approx([0.01, 0.05])
    s2 = S.ReduceLROnPlateau(make_opt(), patience=1)
    s2.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert s2.best == 1.0 and s2.num_bad_epochs == s.num_bad_epochs


def test_inverse_scaling_closed_form():
    o = make_opt()
    s = S.InverseScalingLR(o, power_t=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(s.get_last_lr()[0])
        s.step()
    assert lrs == pytest.approx([0.1 / math.sqrt(t + 1) for t in range(5)], rel=1e-15)


def test_scheduler_changes_sutskever_velocity_not_retroactively():
    p = gs.tensor(np.zeros(1), requires_grad=True)
    o = optim.SGD([p], lr=0.1, momentum=0.9, momentum_form="sutskever")
    s = S.StepLR(o, step_size=1, gamma=0.1)
    for _ in range(2):
        p._grad = np.ones(1)
        o.step()
        s.step()
    assert p._data[0] == pytest.approx(-0.2)


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda o: S.StepLR("opt", 3), TypeError, "Optimizer.*str"),
        (lambda o: S.StepLR(o, 0), ValueError, "step_size"),
        (lambda o: S.LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
        (lambda o: S.LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
        (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
        (lambda o: S.InverseScalingLR(o, power_t=-1), ValueError, "power_t"),
        (lambda o: S.LambdaLR(o, [lambda t: 1.0]), ValueError, "expected 2"),
        (lambda o: S.LambdaLR(o, 3), TypeError, "callable"),
        (lambda o: S.OneCycleLR(o, max_lr=1.0), ValueError, "total_steps"),
        (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1), ValueError,
         "pct_start"),
        (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"),
         ValueError, "anneal_strategy"),
        (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
        (lambda o: S.ReduceLROnPlateau(o, mode="up"), ValueError, "mode"),
        (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]), ValueError,
         "milestones"),
        (lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o), S.StepLR(o, 2)], [3]),
         ValueError, "ReduceLROnPlateau"),
        (lambda o: S.StepLR(o, 2, last_epoch=5), ValueError, "initial_lr"),
    ],
)
def test_scheduler_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make(make_opt())


def test_one_cycle_needs_momentum_and_stops_at_total_steps():
    with pytest.raises(ValueError, match="momentum or betas"):
        S.OneCycleLR(make_opt(optim.Adagrad), max_lr=1.0, total_steps=5)
    o = make_opt(optim.Adam)
    s = S.OneCycleLR(o, max_lr=1.0, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(ValueError, match="total_steps"):
        s.step()


# ------------------------------------------------------------------------ clipping
def grads_params(*grads):
    ps = []
    for g in grads:
        p = gs.tensor(np.zeros_like(g), requires_grad=True)
        p._grad = np.array(g, dtype=float)
        ps.append(p)
    return ps


def test_clip_grad_norm_scales_and_returns_float():
    ps = grads_params([3.0, 0.0], [4.0])
    total = clip_grad_norm_(ps, 1.0)
    assert isinstance(total, float) and total == 5.0
    np.testing.assert_allclose(ps[0]._grad, [3 / (5 + 1e-6), 0.0])
    assert np.linalg.norm(np.concatenate([p._grad for p in ps])) <= 1.0
    small = grads_params([0.3, 0.4])
    assert clip_grad_norm_(small, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(small[0]._grad, [0.3, 0.4])  # coefficient clamped to 1
    inf_norm = grads_params([-7.0, 2.0], [5.0])
    assert clip_grad_norm_(inf_norm, 1.0, norm_type="inf") == 7.0
    assert clip_grad_norm_(grads_params([1.0, -1.0]), 10.0, norm_type=1) == 2.0


def test_clip_grad_norm_skips_missing_and_works_on_flat_views():
    p = gs.tensor(np.zeros(2), requires_grad=True)
    assert clip_grad_norm_([p], 1.0) == 0.0
    ps = grads_params([3.0], [4.0])
    opt = optim.SGD(ps, lr=1.0, flat=True)
    clip_grad_norm_(ps, 1.0)
    np.testing.assert_allclose(opt.flat_grad, [0.6, 0.8], rtol=1e-5)


def test_clip_grad_norm_nonfinite():
    ps = grads_params([np.inf, 1.0])
    with pytest.raises(NonFiniteError, match="inf"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(ps[0]._grad, [np.inf, 1.0])  # untouched
    ps = grads_params([np.nan, 1.0])
    with pytest.raises(NonFiniteError, match="nan"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert math.isnan(clip_grad_norm_(ps, 1.0))


def test_clip_bad_input():
    ps = grads_params([1.0])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_(ps, -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(ps, 1.0, norm_type=0)
    with pytest.raises(TypeError, match="ndarray"):
        clip_grad_norm_([np.zeros(2)], 1.0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(ps, -0.1)


def test_clip_grad_value():
    ps = grads_params([-2.0, 0.5, 3.0])
    clip_grad_value_(ps[0], 1.0)
    np.testing.assert_array_equal(ps[0]._grad, [-1.0, 0.5, 1.0])


def test_parameters_vector_roundtrip():
    a = gs.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = gs.tensor(np.array([7.0]), requires_grad=True)
    v = parameters_to_vector([a, b])
    np.testing.assert_array_equal(v._data, [0, 1, 2, 3, 4, 5, 7])
    vector_to_parameters(v._data * 2, [a, b])
    np.testing.assert_array_equal(b._data, [14.0])
    with pytest.raises(ValueError, match="7 values"):
        vector_to_parameters(np.zeros(3), [a, b])
