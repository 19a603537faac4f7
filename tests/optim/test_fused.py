"""The fused C kernels (gradstep._fused) against the NumPy kernels: bit-identical results."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gradstep as gs
from gradstep import optim
from gradstep.optim import _kernels
from gradstep.optim.adam import adam_update
from gradstep.optim.sgd import _sgd_fused, sgd_update

pytestmark = pytest.mark.skipif(
    not _kernels.fused_available(), reason="C extension gradstep._fused not built"
)



@pytest.fixture(autouse=True)
def _fused_on():
    """Compare against the C kernels even when GRADSTEP_FUSED=0 turned them off."""
    prev = _kernels.set_fused_enabled(True)
    yield
    _kernels.set_fused_enabled(prev)


DTYPES = (np.float32, np.float64)
# odd sizes: tails that are no multiple of any vector width; 1 << 19 + 5 crosses
# PARALLEL_MIN (split over the thread pool), 70_001 > CHUNK (chunked NumPy reference)
SIZES = (1, 3, 17, 1023, 70_001, (1 << 19) + 5)


def _sgd_cases():
    for maximize, wd, mom, damp, nest, form, first, flush in itertools.product(
        (False, True), (0.0, 0.03), (0.0, 0.9), (0.0, 0.25), (False, True),
        ("pytorch", "sutskever"), (False, True), (0.0, 1e-3),
    ):
        if nest and (mom == 0 or damp != 0):
            continue
        if form == "sutskever" and (damp != 0 or first):
            continue
        if mom == 0 and (first or flush or damp):
            continue
        yield dict(lr=0.05, momentum=mom, dampening=damp, nesterov=nest, weight_decay=wd,
                   maximize=maximize, momentum_form=form, first=first, flush_below=flush)


SGD_CASES = list(_sgd_cases())


def _arrays(n, dtype, k, seed):
    rng = np.random.default_rng(seed)
    out = [rng.standard_normal(n).astype(dtype) for _ in range(k)]
    return out


def _numpy_sgd(p, g, b, hyper):
    def kernel(P, G, B, work):
        sgd_update(P, G, B, work=work[0], **hyper)

    _kernels.elementwise(kernel, [p, g, b], 1)


def _same(a, b):
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.fixture(params=[True, False], ids=["wide", "default"])
def wide(request):
    """The kernels' 256-bit loops (where the CPU has AVX2) and the default ones."""
    prev = _kernels._FUSED_MOD.set_wide(request.param)
    yield request.param
    _kernels._FUSED_MOD.set_wide(prev)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_sgd_kernel_bit_identical(dtype, n, wide):
    for i, hyper in enumerate(SGD_CASES):
        p, g, b = _arrays(n, dtype, 3, i)
        b *= 1e-3  # some entries fall under flush_below
        p1, b1, p2, b2 = p.copy(), b.copy(), p.copy(), b.copy()
        use_b = hyper["momentum"] != 0
        _numpy_sgd(p1, g, b1 if use_b else None, hyper)
        g0 = g.copy()
        assert _sgd_fused(p2, g, b2 if use_b else None, **hyper)
        assert _same(g, g0), "gradient modified"
        assert _same(p1, p2), hyper
        assert _same(b1, b2), hyper


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_sgd_kernel_threads(threads):
    prev = _kernels.set_num_threads(threads)
    try:
        n = (1 << 20) + 37
        for hyper in SGD_CASES[::5]:
            p, g, b = _arrays(n, np.float32, 3, 7)
            p1, b1, p2, b2 = p.copy(), b.copy(), p.copy(), b.copy()
            _numpy_sgd(p1, g, b1, hyper)
            assert _sgd_fused(p2, g, b2, **hyper)
            assert _same(p1, p2) and _same(b1, b2), hyper
    finally:
        _kernels.set_num_threads(prev)


def test_sgd_kernel_special_values(wide):
    hyper = dict(lr=0.1, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.01,
                 maximize=False, momentum_form="pytorch", first=False, flush_below=1e-30)
    for dtype in DTYPES:
        tiny = np.finfo(dtype).tiny
        vals = np.array([0.0, -0.0, np.inf, -np.inf, tiny, -tiny / 4, 1e30, -1e-38, 3.0],
                        dtype=dtype)
        p = np.resize(vals, 101)
        g = np.roll(p, 3)
        b = np.roll(p, 5)
        p1, b1, p2, b2 = p.copy(), b.copy(), p.copy(), b.copy()
        with np.errstate(all="ignore"):
            _numpy_sgd(p1, g, b1, hyper)
            assert _sgd_fused(p2, g, b2, **hyper)
        np.testing.assert_array_equal(p1, p2)
        np.testing.assert_array_equal(b1, b2)
        finite = np.isfinite(p1)
        assert _same(p1[finite], p2[finite])


def test_sgd_fused_declines():
    """Arrays or scalars the C kernel cannot reproduce bit for bit go to NumPy."""
    p, g, b = _arrays(64, np.float32, 3, 0)
    hyper = dict(lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0,
                 maximize=False, momentum_form="pytorch", first=False, flush_below=0.0)
    assert not _sgd_fused(p[::2], g[::2], b[::2], **hyper)  # not contiguous
    assert not _sgd_fused(p.astype(np.float16), g.astype(np.float16), b.astype(np.float16),
                          **hyper)
    assert not _sgd_fused(p, g.astype(np.float64), b, **hyper)  # mixed dtypes
    # a float64 NumPy scalar makes NumPy compute in float64: not the float32 kernel
    assert not _sgd_fused(p, g, b, **{**hyper, "lr": np.float64(0.1)})
    assert _sgd_fused(p, g, b, **{**hyper, "lr": np.float32(0.1)})
    ro = p.copy()
    ro.flags.writeable = False
    assert not _sgd_fused(ro, g, b, **hyper)
    prev = _kernels.set_fused_enabled(False)
    try:
        assert not _sgd_fused(p, g, b, **hyper)
    finally:
        _kernels.set_fused_enabled(prev)


def _train(opt_factory, fused, flat, dtype, steps=6):
    rng = np.random.default_rng(3)
    shapes = [(33, 7), (7,), (70_003,), (1,)]
    ps = [gs.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]
    opt = opt_factory(ps)
    if flat:
        opt.flatten()
    prev = _kernels.set_fused_enabled(fused)
    try:
        for _ in range(steps):
            for p in ps:
                g = rng.standard_normal(p.shape).astype(dtype)
                if p._grad is None:
                    p._grad = g
                else:
                    p._grad[...] = g
            opt.step()
    finally:
        _kernels.set_fused_enabled(prev)
    return [p._data.copy() for p in ps], opt.state_dict()


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "nesterov-max": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, nesterov=True, maximize=True),
    "dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
    "sutskever": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.99, nesterov=True,
                                      momentum_form="sutskever", weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
    "adam-ams-max": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True, maximize=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2, betas=(0.0, 0.99)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flat", [False, True])
def test_optimizer_fused_matches_numpy(name, dtype, flat):
    a, sa = _train(OPTIMIZERS[name], True, flat, dtype)
    b, sb = _train(OPTIMIZERS[name], False, flat, dtype)
    for x, y in zip(a, b):
        assert _same(x, y)
    for k, st in sa["state"].items():
        for key, v in st.items():
            if isinstance(v, np.ndarray):
                assert _same(v, sb["state"][k][key]), (k, key)
            else:
                assert v == sb["state"][k][key]


def _adam_cases():
    for maximize, wd, decoupled, ams, betas in itertools.product(
        (False, True), (0.0, 0.05), (False, True), (False, True), ((0.9, 0.999), (0.0, 0.5)),
    ):
        if decoupled and wd == 0:
            continue
        yield dict(lr=1e-2, beta1=betas[0], beta2=betas[1], eps=1e-8, weight_decay=wd,
                   amsgrad=ams, maximize=maximize, decoupled_weight_decay=decoupled)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_adam_kernel_bit_identical(dtype, n, wide):
    from gradstep.optim.adam import _adam_fused

    for i, hyper in enumerate(_adam_cases()):
        p, g, m, v, vm = _arrays(n, dtype, 5, i)
        v, vm = v * v, vm * vm
        a1 = [p.copy(), m.copy(), v.copy(), vm.copy()]
        a2 = [p.copy(), m.copy(), v.copy(), vm.copy()]
        ams = hyper["amsgrad"]
        for step in (1, 2, 3):
            def kernel(P, G, M, V, VM, work):
                adam_update(P, G, M, V, VM, work=work, step=step, **hyper)

            _kernels.elementwise(kernel, [a1[0], g, a1[1], a1[2], a1[3] if ams else None], 2)
            assert _adam_fused(a2[0], g, a2[1], a2[2], a2[3] if ams else None, step=step,
                               **hyper)
            for x, y in zip(a1, a2):
                assert _same(x, y), (hyper, step)


STEADY_CASES = [
    dict(momentum=0.0),
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(momentum=0.5, dampening=0.3, maximize=True),
    dict(momentum=0.9, momentum_form="sutskever"),
    dict(momentum=0.9, flush_subnormals=True),
]

ADAM_STEADY_CASES = [
    dict(),
    dict(amsgrad=True),
    dict(weight_decay=0.01, maximize=True),
    dict(weight_decay=0.01, decoupled_weight_decay=True),
]


def _steady_against_general(cls, kw, dtype, steps, change, monkeypatch):
    """A flat optimizer's steady segment steps (the fused kernel without the general state
    bookkeeping) against the general path (the hook switched off): the same parameters and
    the same state, also across ``change(t, opt, params)`` made after step ``t``."""
    def run(steady: bool):
        if not steady:
            monkeypatch.setattr(cls, "_steady_segment", lambda self, seg: False)
        r = np.random.default_rng(0)
        ps = [gs.tensor(r.standard_normal(s).astype(dtype), requires_grad=True)
              for s in ((5, 3), (3,), (7,))]
        opt = cls([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}], lr=0.01, flat=True,
                  **kw)
        for t in range(steps):
            for p in ps:
                p.grad = gs.tensor(r.standard_normal(p.shape).astype(dtype))
            opt.step()
            change(t, opt, ps)
        monkeypatch.undo()
        return [p._data.copy() for p in ps], opt.state_dict()

    (pa, sa), (pb, sb) = run(True), run(False)
    assert all(np.array_equal(a, b) for a, b in zip(pa, pb))
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        assert sa["state"][k].keys() == sb["state"][k].keys()
        for name, v in sa["state"][k].items():
            assert np.array_equal(np.asarray(v), np.asarray(sb["state"][k][name])), (k, name)


@pytest.mark.parametrize("kw", STEADY_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_sgd_steady_step_equals_general_step(kw, dtype, monkeypatch):
    # a parameter's momentum buffer removed: the general step runs and rebuilds it
    def change(t, opt, ps):
        if t == 2 and kw["momentum"]:
            del opt.state[ps[1]]["momentum_buffer"]

    _steady_against_general(optim.SGD, kw, dtype, 6, change, monkeypatch)


@pytest.mark.parametrize("kw", ADAM_STEADY_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_adam_steady_step_equals_general_step(kw, dtype, monkeypatch):
    # a parameter's state dropped; AMSGrad switched on mid-run (the general step adds its
    # buffer)
    def change(t, opt, ps):
        if t == 2:
            del opt.state[ps[1]]
        if t == 4:
            opt.param_groups[1]["amsgrad"] = True

    _steady_against_general(optim.Adam, kw, dtype, 7, change, monkeypatch)


@pytest.mark.parametrize("make,first_state", [
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, flat=True), "the momentum buffer"),
    (lambda ps: optim.AdamW(ps, lr=0.1, flat=True), "the moments"),
])
def test_flat_steady_step_is_taken(make, first_state, monkeypatch):
    calls = []
    p = gs.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = make([p])
    orig = type(opt)._steady_segment

    def spy(self, seg):
        calls.append(orig(self, seg))
        return calls[-1]

    monkeypatch.setattr(type(opt), "_steady_segment", spy)
    for _ in range(3):
        p.grad = gs.tensor(np.ones(4, np.float32))
        opt.step()
    assert calls == [False, True, True], first_state  # the first step creates the state
    if isinstance(opt, optim.Adam):
        assert opt.state[p]["step"] == 3
