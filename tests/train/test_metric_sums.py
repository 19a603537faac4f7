"""fit's per-step C passes (gradstep._fused): the metric sums agree with the metrics
module (the exact count of correct rows; the mean absolute error to rounding), and the
gradient check finds every NaN and infinity."""

from __future__ import annotations

import numpy as np
import pytest

from gradstep import metrics
from gradstep.optim import _kernels as optk
from gradstep.train.evaluate import RunningSums

F = optk._FUSED_MOD
needs_c = pytest.mark.skipif(F is None, reason="the C extension is not built")


def _scores(rng: np.random.Generator, m: int, c: int, dt: type) -> np.ndarray:
    p = rng.standard_normal((m, c)).astype(dt)
    p[rng.random((m, c)) < 0.1] = np.nan  # NaN: NumPy's argmax takes the first one
    p[rng.random((m, c)) < 0.1] = np.inf
    ties = rng.random(m) < 0.2  # ties: the first maximum
    p[ties, -1] = p[ties, 0]
    return p


@needs_c
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("m,c", [(1, 2), (7, 3), (64, 10), (300, 17)])
def test_correct_count_is_numpy_argmax(dt: type, m: int, c: int) -> None:
    rng = np.random.default_rng(m * c)
    p = _scores(rng, m, c, dt)
    t = rng.integers(0, c, m).astype(np.intp)
    want = int(np.count_nonzero(p.argmax(axis=1) == t))
    assert F.correct_count(p, t, c) == want == metrics.correct_count(p, t)


@needs_c
def test_correct_count_declines_what_it_does_not_handle() -> None:
    p = np.zeros((4, 3), np.float32)
    assert F.correct_count(p, np.zeros(4, np.int32), 3) is None  # not intp
    assert F.correct_count(p[:, :1].copy(), np.zeros(4, np.intp), 1) is None  # one column
    assert F.correct_count(p, np.zeros(3, np.intp), 3) is None  # rows differ
    assert F.correct_count(np.asfortranarray(np.zeros((4, 3))), np.zeros(4, np.intp), 3) is None


@needs_c
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_abs_diff_sum_is_the_mae_numerator(dt: type) -> None:
    rng = np.random.default_rng(3)
    for shape in [(1,), (10, 10), (257, 3)]:
        a, b = rng.standard_normal(shape).astype(dt), rng.standard_normal(shape).astype(dt)
        s = F.abs_diff_sum(a, b)
        exact = float(np.sum(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        assert s == pytest.approx(exact, rel=1e-13)
        assert s / a.size == pytest.approx(metrics.mae(a, b), rel=1e-13)
    assert F.abs_diff_sum(np.zeros(3, np.float32), np.zeros(3, np.float64)) is None


@pytest.mark.parametrize("fused", [True, False])
def test_running_sums_give_the_metrics_with_and_without_c(fused: bool) -> None:
    prev = optk.set_fused_enabled(fused)
    try:
        rng = np.random.default_rng(0)
        sums = RunningSums([("accuracy", metrics.correct_count)], lambda d: d)
        outs, ys = [], []
        for _ in range(5):
            o = rng.standard_normal((16, 4)).astype(np.float32)
            y = rng.integers(0, 4, 16)
            sums.add_metrics(o, y)
            outs.append(o)
            ys.append(y)
        o, y = np.concatenate(outs), np.concatenate(ys)
        res = sums.result()
        assert res["accuracy"] == metrics.accuracy(o, y)
        # mae on matching shapes (one-hot targets)
        sums2 = RunningSums([("mae", metrics.mae)], lambda d: d)
        oh = np.eye(4, dtype=np.float32)[y]
        for k in range(5):
            sums2.add_metrics(o[16 * k:16 * (k + 1)], oh[16 * k:16 * (k + 1)])
        assert sums2.result()["mae"] == pytest.approx(metrics.mae(o, oh), rel=1e-12)
    finally:
        optk.set_fused_enabled(prev)


@needs_c
@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_all_finite_finds_every_nan_and_infinity(dt: type, wide: bool) -> None:
    prev = F.set_wide(wide)  # the 256-bit loops (where the CPU has AVX2) and the default
    try:
        _all_finite_cases(dt)
    finally:
        F.set_wide(prev)


def _all_finite_cases(dt: type) -> None:
    info = np.finfo(dt)
    u = np.uint32 if dt == np.float32 else np.uint64
    w = 32 if dt == np.float32 else 64
    # NaNs of any sign and payload (the vector paths test the bits without the sign)
    nans = [np.array(v, dtype=u).view(dt) for v in (
        (1 << w) - 1, (1 << (w - 1)) | (info.max.view(u) + 2), info.max.view(u) + 2)]
    for n in (1, 7, 31, 33, 64, 95, 1000, 24577):
        a = np.random.default_rng(n).standard_normal(n).astype(dt)
        a[0] = info.max  # large, subnormal and zero values are finite
        a[-1] = info.smallest_subnormal
        if n > 2:
            a[1] = -info.max
            a[2] = -0.0
        assert F.all_finite(a) is True
        for bad in (np.nan, np.inf, -np.inf, *nans):
            for where in {0, n // 2, n - 1, max(n - 2, 0)}:
                b = a.copy()
                b[where] = bad
                assert F.all_finite(b) is False, (n, where, bad)
    assert F.all_finite(np.zeros(4, np.float16)) is None
    assert F.all_finite(np.zeros((4, 4), np.float32)[:, ::2]) is None  # not contiguous
