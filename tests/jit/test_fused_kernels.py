"""The compiled step's fused C passes (gradstep._fused: bias, relu, relu_bwd, tanh_bwd,
sigmoid_bwd, neg_abs, sigmoid_sel, mse, ce_grad) against the NumPy calls they replace:
the same bits, signed zeros, infinities and subnormals included; and compiled steps and fit
runs with the fused passes on and off giving identical parameters.

NaN: a NaN result is NaN in both, with the same bits when it comes from one NaN operand
(x86 returns that operand). When two NaNs meet (nan + nan), which one's sign and payload
the result carries depends on the operand order of the instruction, and NumPy itself is
not consistent there (its vector loop and its scalar tail differ: ``np.add`` of two NaN
arrays of 17 float32 gives both payloads), so those are compared as NaN only."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn, optim
from gradstep.jit import _kernels as K
from gradstep.jit import compile as jit_compile
from gradstep.optim import _kernels as optk

F: Any = optk._FUSED_MOD
pytestmark = pytest.mark.skipif(F is None, reason="C extension gradstep._fused not built")

DTYPES = (np.float32, np.float64)
# (257, 3): rows with a 3-element tail; (200, 100): past the GIL release threshold
SHAPES = ((1, 7), (10, 30), (257, 3), (0, 5), (4, 0), (200, 100))


@pytest.fixture(autouse=True)
def _fused_on() -> Any:
    prev = optk.set_fused_enabled(True)
    with np.errstate(all="ignore"):  # the NumPy references meet inf and NaN on purpose
        yield
    optk.set_fused_enabled(prev)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_same_bits(a: np.ndarray, b: np.ndarray, nan_bits: bool = False) -> None:
    """Same bits; NaNs compared as NaN only unless ``nan_bits`` (see the docstring)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    if nan_bits:
        assert np.array_equal(_bits(a), _bits(b))
        return
    na, nb = np.isnan(a), np.isnan(b)
    assert np.array_equal(na, nb)
    assert np.array_equal(_bits(a)[~na], _bits(b)[~nb])


def special(shape: tuple[int, ...], dt: Any, seed: int = 0, frac: float = 0.3) -> np.ndarray:
    """Normal values with a fraction replaced by NaN (both signs, two payloads), +-inf,
    +-0.0, subnormals, +-1 and +-tiny/huge values."""
    r = np.random.default_rng(seed)
    a = r.standard_normal(shape).astype(dt)
    fi = np.finfo(dt)
    nan = np.array(np.nan, dtype=dt)
    nan2 = nan.copy()
    _bits(nan2.reshape(1))[0] |= 5  # another payload
    pool = np.array([nan, -nan, nan2, -nan2, np.inf, -np.inf, 0.0, -0.0,
                     fi.smallest_subnormal, -fi.smallest_subnormal, fi.smallest_normal / 3,
                     -fi.smallest_normal / 7, 1.0, -1.0, fi.tiny, fi.max, -fi.max, 0.5],
                    dtype=dt)
    pool[1] = np.negative(pool[0])  # a NaN with the sign bit set (- on a NaN may not flip it)
    pool[3] = np.negative(pool[2])
    m = r.random(shape) < frac
    a[m] = pool[r.integers(0, len(pool), int(m.sum()))]
    return a


CASES = [(dt, sh) for dt in DTYPES for sh in SHAPES]


@pytest.mark.parametrize("dt,shape", CASES)
def test_relu_and_bias(dt: Any, shape: tuple[int, int]) -> None:
    x = special(shape, dt, 1)
    b = special(shape[1:], dt, 2)
    o = np.empty_like(x)
    assert F.relu(x, o) is True
    assert_same_bits(o, np.maximum(x, 0))
    ref = x.copy()
    ref += b
    got = x.copy()
    assert F.bias(got, b, False) is True
    assert_same_bits(got, ref)
    got = x.copy()
    assert F.bias(got, b, True) is True
    assert_same_bits(got, np.maximum(ref, 0))
    inplace = x.copy()
    assert F.relu(inplace, inplace) is True
    assert_same_bits(inplace, np.maximum(x, 0))


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("rows", [0, 1, 2, 3, 7, 8, 9, 10, 16, 17, 100, 128, 129, 257, 1000,
                                  4097, 20000])
@pytest.mark.parametrize("c", [1, 2, 3, 5, 8, 10, 16, 17, 30, 33, 100])
def test_bias_grad_is_numpys_axis0_reduction(dt: Any, rows: int, c: int) -> None:
    # values spread over 40 binades, so that any other summation order shows
    r = np.random.default_rng(rows * 1000 + c)
    g = (r.standard_normal((rows, c)) * np.exp(r.uniform(-20, 20, (rows, c)))).astype(dt)
    g[r.random((rows, c)) < 0.05] = -0.0
    if rows < 50:  # and some infinities, NaNs and subnormals
        m = r.random((rows, c)) < 0.1
        g[m] = special((rows, c), dt, 19, frac=1.0)[m]
    ref = np.empty(c, dtype=dt)
    np.add.reduce(g, axis=0, out=ref)
    got = np.full(c, 7.0, dtype=dt)
    if c == 1:
        assert F.bias_grad(g, got) is False  # one column: NumPy sums it pairwise
        return
    assert F.bias_grad(g, got) is True
    assert_same_bits(got, ref)


@pytest.mark.parametrize("dt,shape", CASES)
def test_one_nan_operand_keeps_its_bits(dt: Any, shape: tuple[int, int]) -> None:
    x = special(shape, dt, 17)  # NaNs of both signs and two payloads
    y = np.random.default_rng(18).standard_normal(shape).astype(dt)  # no NaN
    b = y[0] if len(y) else np.zeros(shape[1:], dtype=dt)
    o = np.empty_like(x)
    assert F.relu(x, o) is True
    assert_same_bits(o, np.maximum(x, 0), nan_bits=True)
    assert F.neg_abs(x, o) is True
    assert_same_bits(o, np.negative(np.abs(x)), nan_bits=True)
    ref = x.copy()
    ref += b
    got = x.copy()
    assert F.bias(got, b, True) is True
    assert_same_bits(got, np.maximum(ref, 0), nan_bits=True)
    for g, v in ((x, y), (y, x)):
        got = g.copy()
        assert F.relu_bwd(got, v) is True
        assert_same_bits(got, np.multiply(g, np.greater(v, 0)), nan_bits=True)
    got = x.copy()
    assert F.sigmoid_bwd(got, y) is True
    assert_same_bits(got, np.multiply(np.multiply(x, y), np.subtract(1, y)), nan_bits=True)
    got = x.copy()
    assert F.tanh_bwd(got, y) is True
    assert_same_bits(got, np.multiply(x, np.subtract(1, np.multiply(y, y))), nan_bits=True)
    d, sq = np.empty_like(x), np.empty_like(x)
    assert F.mse(x, y, d, sq, 0.5) is True
    rd = np.subtract(x, y)
    assert_same_bits(sq, np.multiply(rd, rd), nan_bits=True)
    assert_same_bits(d, np.multiply(rd, np.asarray(0.5, dtype=dt)), nan_bits=True)


@pytest.mark.parametrize("dt,shape", CASES)
def test_activation_backwards(dt: Any, shape: tuple[int, int]) -> None:
    g = special(shape, dt, 3)
    for o in (special(shape, dt, 4), np.maximum(special(shape, dt, 5), 0)):
        got = g.copy()
        assert F.relu_bwd(got, o) is True
        assert_same_bits(got, np.multiply(g, np.greater(o, 0)))
        got = g.copy()
        assert F.tanh_bwd(got, o) is True
        assert_same_bits(got, np.multiply(g, np.subtract(1, np.multiply(o, o))))
        got = g.copy()
        assert F.sigmoid_bwd(got, o) is True
        assert_same_bits(got, np.multiply(np.multiply(g, o), np.subtract(1, o)))


@pytest.mark.parametrize("dt,shape", CASES)
def test_sigmoid_forward_passes(dt: Any, shape: tuple[int, int]) -> None:
    x = special(shape, dt, 6)
    e = np.empty_like(x)
    assert F.neg_abs(x, e) is True
    assert_same_bits(e, np.negative(np.abs(x)))
    np.exp(e, out=e)
    out = np.empty_like(x)
    assert F.sigmoid_sel(x, e, out) is True
    d = np.add(1, e)
    ref = np.divide(e, d)
    np.copyto(ref, np.divide(1, d), where=np.greater_equal(x, 0))
    assert_same_bits(out, ref)
    # arbitrary e too (not only exp's range)
    e2 = special(shape, dt, 7)
    assert F.sigmoid_sel(x, e2, out) is True
    d = np.add(1, e2)
    ref = np.divide(e2, d)
    np.copyto(ref, np.divide(1, d), where=np.greater_equal(x, 0))
    assert_same_bits(out, ref)


@pytest.mark.parametrize("dt,shape", CASES)
def test_mse_pass(dt: Any, shape: tuple[int, int]) -> None:
    x, t = special(shape, dt, 8), special(shape, dt, 9)
    for scale in (np.asarray(2, dtype=dt) / max(x.size, 1), np.asarray(2.0, dtype=dt),
                  np.asarray(-3.1, dtype=dt)):
        d, sq = np.empty_like(x), np.empty_like(x)
        assert F.mse(x, t, d, sq, float(scale)) is True
        rd = np.subtract(x, t)
        rsq = np.multiply(rd, rd)
        assert_same_bits(sq, rsq)
        assert_same_bits(d, np.multiply(rd, scale))


@pytest.mark.parametrize("dt,shape", CASES)
def test_ce_grad_pass(dt: Any, shape: tuple[int, int]) -> None:
    m, c = shape
    if c == 0 and m:
        return  # no class to point at
    r = np.random.default_rng(10)
    ex = special(shape, dt, 11)
    se = special((m, 1), dt, 12)
    t = r.integers(0, max(c, 1), m).astype(np.intp)
    for scale in (None, np.ones((), dtype=dt) / max(m, 1), np.asarray(0.7, dtype=dt)):
        ref = np.divide(ex, se)
        ref[np.arange(m), t] -= 1
        if scale is not None:
            ref *= scale
        got = ex.copy()
        assert F.ce_grad(got, se, t, None if scale is None else float(scale)) is True
        assert_same_bits(got, ref)


def test_passes_decline_arrays_they_do_not_take() -> None:
    x = np.ones((6, 4))
    o = np.full((6, 4), 7.0)
    assert F.relu(x[:, ::2], o[:, :2].copy()) is False  # not C-contiguous
    assert F.relu(x, o.astype(np.float32)) is False  # mixed dtypes
    assert F.relu(x.astype(np.float16), o.astype(np.float16)) is False
    assert F.relu(x, o[:3]) is False  # sizes differ
    ro = o.copy()
    ro.flags.writeable = False
    assert F.relu(x, ro) is False
    assert F.bias(o, np.ones(5), True) is False  # 24 is no multiple of 5
    assert F.mse(x, x[:, ::2], o, o.copy(), 1.0) is False
    t = np.array([0, 1, 2, 3, 4, 0])  # 4 is out of range for 4 classes
    assert F.ce_grad(o, np.ones((6, 1)), t, None) is False
    assert F.ce_grad(o, np.ones((6, 1)), t.astype(np.int32), None) is False
    assert (o == 7.0).all()  # nothing written
    with pytest.raises(TypeError):
        F.relu(x)


def _kernels(dt: Any, act: Any, n: int) -> tuple[Any, Any]:
    g = np.random.default_rng(0)
    lin = nn.Linear(20, 12, generator=g, dtype=dt)
    a = {nn.ReLU: K.ReLUK, nn.Tanh: K.TanhK, nn.Sigmoid: K.SigmoidK}[act]((n, 12), dt, True)
    return K.LinearK(lin, (n, 20), dt, {}), a


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid])
@pytest.mark.parametrize("n", [1, 10, 257])
def test_kernels_fused_on_and_off_agree(dt: Any, act: Any, n: int) -> None:
    x = special((n, 20), dt, 13, frac=0.05)
    gy = special((n, 12), dt, 14, frac=0.05)
    res = []
    for on in (True, False):
        optk.set_fused_enabled(on)
        lin, a = _kernels(dt, act, n)
        h = a.fwd(lin.fwd(x.copy()))
        g = a.bwd(gy.copy(), True)
        gx = lin.bwd(g, True)
        res.append([h.copy(), g.copy(), gx.copy(), lin.w._grad.copy(), lin.b._grad.copy()])
    for u, v in zip(*res):
        assert_same_bits(u, v)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("mean", [True, False])
@pytest.mark.parametrize("seed", [None, 0.37])
def test_loss_kernels_fused_on_and_off_agree(dt: Any, mean: bool, seed: Any) -> None:
    red = "mean" if mean else "sum"
    x = special((10, 7), dt, 15, frac=0.1)
    tgt = special((10, 7), dt, 16, frac=0.1)
    s = None if seed is None else np.asarray(seed, dtype=dt)
    xs = np.random.default_rng(2).standard_normal((10, 7)).astype(dt)
    cls = np.random.default_rng(3).integers(0, 7, 10)
    res = []
    for on in (True, False):
        optk.set_fused_enabled(on)
        mk = K.MSEK(red, (10, 7), np.dtype(dt))
        loss, g = mk.run(x, tgt, s)
        ck = K.CrossEntropyK(red, (10, 7), np.dtype(dt))
        closs, cg = ck.run(xs, ck.targets(cls, -100), s)
        res.append([np.asarray(loss), g.copy(), np.asarray(closs), cg.copy()])
    for u, v in zip(*res):
        assert_same_bits(u, v)


def _model(dt: Any, act: Any) -> Any:
    g = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(12, 16, generator=g, dtype=dt), act(),
                         nn.Linear(16, 8, generator=g, dtype=dt), act(),
                         nn.Linear(8, 4, generator=g, dtype=dt))


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_compiled_step_fused_on_and_off_agree(dt: Any, act: Any, loss: str) -> None:
    def run(on: bool) -> tuple[list[np.ndarray], list[float]]:
        optk.set_fused_enabled(on)
        model = _model(dt, act)
        params = list(model.parameters())
        opt = optim.SGD(params, lr=0.1, momentum=0.9)
        lf = nn.CrossEntropyLoss() if loss == "ce" else nn.MSELoss()

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            out = lf(model(x), y)
            out.backward()
            opt.step()
            return out

        fn = jit_compile(step)
        r = np.random.default_rng(4)
        losses = []
        for _ in range(6):
            x = r.standard_normal((10, 12)).astype(dt)
            y = r.integers(0, 4, 10)
            if loss == "mse":
                y = np.eye(4, dtype=dt)[y]
            losses.append(float(fn(x, y)._data))
        assert not fn.reasons
        return [p._data.copy() for p in params], losses

    (pa, la), (pb, lb) = run(True), run(False)
    assert la == lb
    for u, v in zip(pa, pb):
        assert_same_bits(u, v)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("act,loss", [(nn.ReLU, "cross_entropy"), (nn.Sigmoid, "mse")])
def test_fit_fused_on_and_off_agree(dt: Any, act: Any, loss: str) -> None:
    def run(on: bool) -> tuple[list[np.ndarray], Any]:
        optk.set_fused_enabled(on)
        model = _model(dt, act)
        r = np.random.default_rng(5)
        x = r.standard_normal((45, 12)).astype(dt)
        y = r.integers(0, 4, 45)
        if loss == "mse":
            y = np.eye(4, dtype=dt)[y]
        o = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        h = gs.fit(model, (x, y), loss=loss, optimizer=o, epochs=2, batch_size=10,
                   verbose=0, compile=True)
        return [p._data.copy() for p in model.parameters()], h

    (pa, ha), (pb, hb) = run(True), run(False)
    assert ha.steps["loss"] == hb.steps["loss"]
    for u, v in zip(pa, pb):
        assert_same_bits(u, v)
