"""The schedulers added beside the original ones (MultiplicativeLR, ConstantLR,
PolynomialLR, CosineAnnealingWarmRestarts, CyclicLR, ChainedScheduler) and the package
layout: state dicts through strict JSON, bad input, the step(epoch) form."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import gradstep as gs
from gradstep import optim
from gradstep.optim import lr_scheduler as S


def make_opt(cls=optim.SGD, **kw):
    p = gs.tensor(np.zeros(2), requires_grad=True)
    p._grad = np.zeros(2)
    q = gs.tensor(np.zeros(1), requires_grad=True)
    q._grad = np.zeros(1)
    return cls([dict(params=[p]), dict(params=[q], lr=0.5)], lr=0.1, **kw)


def _scale(x):
    return 0.9**x


BUILDERS = {
    "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, lambda t: 0.9 if t % 3 else 1.1),
    "ConstantLR": lambda o: S.ConstantLR(o, factor=0.2, total_iters=9),
    "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=12, power=1.5),
    "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, 3, T_mult=2),
    "CyclicLR": lambda o: S.CyclicLR(o, 0.01, [0.1, 0.2], step_size_up=3, mode="triangular2"),
    "CyclicLR-exp": lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2, step_size_down=5,
                                         mode="exp_range", gamma=0.9),
    "CyclicLR-fn": lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4, scale_fn=_scale),
    "ChainedScheduler": lambda o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.5, total_iters=4), S.ExponentialLR(o, 0.9),
         S.CosineAnnealingLR(o, T_max=8)]),
    "SequentialLR-chained": lambda o: S.SequentialLR(
        o, [S.ChainedScheduler([S.LinearLR(o, 0.5, total_iters=3), S.ExponentialLR(o, 0.95)]),
            S.PolynomialLR(o, total_iters=20)], milestones=[5]),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_state_dict_json_resume(name):
    """Save after 7 steps (optimizer and scheduler), restore both into fresh objects through
    strict JSON, continue: the same rates (and momenta) as the uninterrupted run."""
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
    seen = set()
    for _ in range(15):
        s1.step()
        s2.step()
        assert s2.get_last_lr() == s1.get_last_lr()
        assert [g["lr"] for g in o2.param_groups] == s2.get_last_lr()
        assert [g["momentum"] for g in o2.param_groups] == [g["momentum"] for g in
                                                            o1.param_groups]
        seen.add(s1.get_last_lr()[0])
    assert len(seen) > 1


def test_package_layout_and_exports():
    from gradstep.optim.lr_scheduler import composite, cyclic, multiplicative, plateau

    assert S.CyclicLR is cyclic.CyclicLR and S.ChainedScheduler is composite.ChainedScheduler
    assert S.PolynomialLR is multiplicative.PolynomialLR
    assert S.ReduceLROnPlateau is plateau.ReduceLROnPlateau
    for name in S.__all__:
        cls = getattr(S, name)
        assert cls is S.LRScheduler or issubclass(cls, S.LRScheduler)


def test_cyclic_functions_are_not_saved_but_kept():
    o = make_opt(momentum=0.9)
    s = BUILDERS["CyclicLR-fn"](o)
    sd = s.state_dict()
    assert "_scale_fn_custom" not in sd
    json.dumps(sd, allow_nan=False)
    m = S.MultiplicativeLR(make_opt(), lambda t: 0.5)
    assert "lr_lambdas" not in m.state_dict()
    m.load_state_dict(m.state_dict())
    m.step()
    assert m.get_last_lr() == [0.05, 0.25]


def test_cyclic_lr_sets_base_lr_and_cycles_momentum():
    o = make_opt(momentum=0.5)
    s = S.CyclicLR(o, base_lr=0.01, max_lr=0.05, step_size_up=2)
    assert s.get_last_lr() == [0.01, 0.01]
    assert o.param_groups[0]["momentum"] == 0.9  # max_momentum at the bottom of the rate
    lrs = []
    for _ in range(8):
        o.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert lrs == pytest.approx([0.03, 0.05, 0.03, 0.01, 0.03, 0.05, 0.03, 0.01], rel=1e-12)
    assert o.param_groups[0]["momentum"] == pytest.approx(0.9)


def test_step_epoch_uses_closed_form_with_a_warning():
    o = make_opt()
    s = S.PolynomialLR(o, total_iters=10, power=2.0)
    with pytest.warns(UserWarning, match="deprecated"):
        s.step(5)
    assert s.get_last_lr() == pytest.approx([0.1 * 0.25, 0.5 * 0.25], rel=1e-15)
    w = S.CosineAnnealingWarmRestarts(make_opt(), T_0=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warm-restarts jump is documented, no warning
        w.step(6.0)
    assert w.T_cur == 2.0 and w.last_epoch == 6
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        w.step(-1)
    with pytest.raises(TypeError, match="takes no epoch"):
        BUILDERS["ChainedScheduler"](make_opt()).step(3)


def test_reduce_on_plateau_in_cooldown_and_group_mismatch():
    o = make_opt()
    s = S.ReduceLROnPlateau(o, patience=0, cooldown=2, min_lr=[0.0, 0.0])
    s.step(1.0)
    s.step(1.0)  # no improvement: reduce, then cool down
    assert s.in_cooldown and s.get_last_lr() == pytest.approx([0.01, 0.05])
    o.add_param_group(dict(params=[gs.tensor(np.zeros(1), requires_grad=True)]))
    s.step(1.0)
    s.step(1.0)
    assert not s.in_cooldown
    with pytest.raises(ValueError, match="3 parameter groups, min_lr gives 2"):
        s.step(1.0)


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda o: S.MultiplicativeLR(o, 0.9), TypeError, "callable"),
        (lambda o: S.MultiplicativeLR(o, [lambda t: 1.0]), ValueError, "expected 2"),
        (lambda o: S.ConstantLR(o, factor=1.5), ValueError, r"factor must be in \[0, 1\]"),
        (lambda o: S.PolynomialLR(o, total_iters=0), ValueError, "total_iters"),
        (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0"),
        (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError, "T_mult"),
        (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0"), ValueError,
         "eta_min"),
        (lambda o: S.CyclicLR(o, 0.01, 0.1, mode="sine"), ValueError, "mode"),
        (lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError, "step_size_up"),
        (lambda o: S.CyclicLR(o, 0.01, [0.1]), ValueError, "expected 2"),
        (lambda o: S.CyclicLR(o, 0.01, 0.1, scale_fn=_scale, scale_mode="epoch"), ValueError,
         "scale_mode"),
        (lambda o: S.ChainedScheduler([]), ValueError, "at least one"),
        (lambda o: S.ChainedScheduler([S.ReduceLROnPlateau(o)]), ValueError,
         "ReduceLROnPlateau"),
        (lambda o: S.ChainedScheduler([S.StepLR(o, 2), S.StepLR(make_opt(), 2)]), ValueError,
         "different optimizer"),
        (lambda o: S.ChainedScheduler([S.StepLR(o, 2), "x"]), TypeError, "str"),
    ],
)
def test_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make(make_opt())


def test_cyclic_needs_momentum():
    with pytest.raises(ValueError, match="momentum or betas"):
        S.CyclicLR(make_opt(optim.Adagrad), 0.01, 0.1)
    S.CyclicLR(make_opt(optim.Adagrad), 0.01, 0.1, cycle_momentum=False)
