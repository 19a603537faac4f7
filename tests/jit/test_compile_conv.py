"""Compiled steps through Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and BatchNorm1d/2d:
every replay equals the eager step bit for bit (parameters, running statistics, losses),
and the configurations without a kernel run eagerly with a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn, optim
from gradstep.callbacks import Callback
from gradstep.jit import compile_step

DTS = (np.float32, np.float64)
STEPS = 4


def _state(model: Any) -> list[np.ndarray]:
    out = [p._data.copy() for p in model.parameters()]
    out += [np.array(b, copy=True) for _, b in model.named_buffers() if b is not None]
    return out


def _run(make: Callable[[Any], Any], dt: Any, x: np.ndarray, y: np.ndarray, compiled: bool,
         opt: str = "sgd", loss: Any = None, steps: int = STEPS,
         between: Callable[[Any, int], None] | None = None) -> tuple[Any, ...]:
    model = make(dt)
    ps = [p for p in model.parameters() if p.requires_grad]
    o = (optim.SGD(ps, lr=0.05, momentum=0.9) if opt == "sgd"
         else optim.Adam(ps, lr=0.01))
    lf = loss if loss is not None else nn.CrossEntropyLoss()

    def step(xb: Any, yb: Any) -> Any:
        o.zero_grad()
        lo = lf(model(xb), yb)
        lo.backward()
        o.step()
        return lo

    fn = gs.compile(step) if compiled else step
    losses = []
    for i in range(steps):
        if between is not None:
            between(model, i)
        losses.append(np.asarray(fn(x, y)._data).copy())
    return model, losses, fn


def _check(make: Callable[[Any], Any], dt: Any, xshape: tuple[int, ...], classes: int = 3,
           expect_replay: bool = True, **kw: Any) -> Any:
    r = np.random.default_rng(7)
    x = r.standard_normal(xshape).astype(dt)
    y = r.integers(0, classes, xshape[0])
    m_e, l_e, _ = _run(make, dt, x, y, False, **kw)
    m_c, l_c, fn = _run(make, dt, x, y, True, **kw)
    if expect_replay:
        assert not fn.reasons, fn.reasons
        assert fn.traces == (1 if kw.get("between") is None else fn.traces)
    for a, b in zip(_state(m_e), _state(m_c)):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b), np.abs(a.astype(np.float64) - b).max()
    for a, b in zip(l_e, l_c):
        assert np.array_equal(a, b)
    return fn


# ------------------------------------------------------------------------- Conv2d
CONV_CASES = [
    dict(),
    dict(bias=False),
    dict(stride=2),
    dict(padding=1),
    dict(padding=(2, 0), stride=(1, 2)),
    dict(padding="same"),
    dict(padding="same", kernel_size=4),
    dict(dilation=2, padding=2),
    dict(groups=2),
    dict(groups=4, padding=1, bias=False),
    dict(kernel_size=1),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1)),
]


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("kw", CONV_CASES, ids=[str(c) for c in CONV_CASES])
def test_conv2d_replays_bit_identical(dt: Any, kw: dict[str, Any]) -> None:
    def make(dt: Any) -> Any:
        g = np.random.default_rng(0)
        k: dict[str, Any] = dict(kernel_size=3)
        k.update(kw)
        conv = nn.Conv2d(4, 4, generator=g, dtype=dt, **k)
        h = np.zeros((2, 4, 7, 7), dtype=dt)
        n = conv(h).shape[1:]
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, generator=g, dtype=dt), nn.ReLU(), conv, nn.Tanh(),
            nn.Flatten(), nn.Linear(int(np.prod(n)), 3, generator=g, dtype=dt),
        )

    _check(make, dt, (3, 2, 7, 7))


@pytest.mark.parametrize("dt", DTS)
def test_conv2d_first_layer_and_adam(dt: Any) -> None:
    def make(dt: Any) -> Any:
        g = np.random.default_rng(3)
        return nn.Sequential(
            nn.Conv2d(3, 5, 3, stride=2, padding=1, generator=g, dtype=dt),
            nn.Flatten(), nn.Linear(5 * 4 * 4, 4, generator=g, dtype=dt),
        )

    _check(make, dt, (5, 3, 8, 8), classes=4, opt="adam")


def test_conv2d_frozen_weight() -> None:
    def make(dt: Any) -> Any:
        g = np.random.default_rng(3)
        m = nn.Sequential(
            nn.Conv2d(1, 3, 3, generator=g, dtype=dt), nn.ReLU(),
            nn.Conv2d(3, 2, 3, padding=1, generator=g, dtype=dt),
            nn.Flatten(), nn.Linear(2 * 4 * 4, 3, generator=g, dtype=dt),
        )
        m[2].weight.requires_grad = False
        return m

    _check(make, np.float64, (3, 1, 6, 6))


# ------------------------------------------------------------------------- pooling
POOL_CASES = [
    ("max", dict(kernel_size=2)),
    ("max", dict(kernel_size=3, stride=1)),
    ("max", dict(kernel_size=3, stride=2, padding=1)),
    ("max", dict(kernel_size=2, dilation=2)),
    ("max", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("max", dict(kernel_size=1)),
    ("avg", dict(kernel_size=2)),
    ("avg", dict(kernel_size=3, stride=1, padding=1)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("avg", dict(kernel_size=2, divisor_override=3)),
    ("adaptive", dict(output_size=1)),
    ("adaptive", dict(output_size=(3, 2))),
    ("adaptive", dict(output_size=(None, 3))),
]


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("kind,kw", POOL_CASES, ids=[f"{k}{c}" for k, c in POOL_CASES])
def test_pool_replays_bit_identical(dt: Any, kind: str, kw: dict[str, Any]) -> None:
    cls = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d, "adaptive": nn.AdaptiveAvgPool2d}[kind]

    def make(dt: Any) -> Any:
        g = np.random.default_rng(1)
        pool = cls(**kw)
        n = pool(np.zeros((1, 3, 7, 7), dtype=dt)).shape[1:]
        return nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1, generator=g, dtype=dt), nn.ReLU(), pool,
            nn.Sigmoid(), nn.Flatten(), nn.Linear(int(np.prod(n)), 3, generator=g, dtype=dt),
        )

    _check(make, dt, (4, 2, 7, 7))


def test_maxpool_ties_go_to_the_first_maximum() -> None:
    # a ReLU before the pool makes many windows of equal zeros
    def make(dt: Any) -> Any:
        g = np.random.default_rng(2)
        return nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1, generator=g, dtype=dt), nn.ReLU(),
            nn.MaxPool2d(3, stride=1, padding=1), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(2 * 3 * 3, 3, generator=g, dtype=dt),
        )

    _check(make, np.float32, (3, 1, 6, 6))


# ------------------------------------------------------------------------- BatchNorm
BN_CASES = [
    dict(),
    dict(momentum=None),
    dict(momentum=0.3, eps=1e-3),
    dict(affine=False),
    dict(track_running_stats=False),
    dict(affine=False, track_running_stats=False, momentum=None),
]


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("kw", BN_CASES, ids=[str(c) for c in BN_CASES])
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm2d_replays_bit_identical(dt: Any, kw: dict[str, Any], train: bool) -> None:
    def make(dt: Any) -> Any:
        g = np.random.default_rng(4)
        m = nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1, generator=g, dtype=dt), nn.BatchNorm2d(3, dtype=dt, **kw),
            nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(3, dtype=dt, **kw),
            nn.Flatten(), nn.Linear(3 * 3 * 3, 3, generator=g, dtype=dt),
        )
        if not train:
            for bn in (m[1], m[4]):
                if bn.running_mean is not None:
                    bn.running_mean[...] = np.linspace(-0.5, 0.5, 3)
                    bn.running_var[...] = np.linspace(0.5, 2.0, 3)
            m.eval()
        return m

    _check(make, dt, (5, 2, 6, 6))


@pytest.mark.parametrize("dt", DTS)
@pytest.mark.parametrize("kw", BN_CASES, ids=[str(c) for c in BN_CASES])
@pytest.mark.parametrize("three_d", [False, True])
def test_batchnorm1d_replays_bit_identical(dt: Any, kw: dict[str, Any], three_d: bool) -> None:
    def make(dt: Any) -> Any:
        g = np.random.default_rng(5)
        if three_d:
            return nn.Sequential(
                nn.BatchNorm1d(4, dtype=dt, **kw), nn.Flatten(),
                nn.Linear(4 * 5, 6, generator=g, dtype=dt), nn.BatchNorm1d(6, dtype=dt, **kw),
                nn.Tanh(), nn.Linear(6, 3, generator=g, dtype=dt),
            )
        return nn.Sequential(
            nn.Linear(4, 6, generator=g, dtype=dt), nn.BatchNorm1d(6, dtype=dt, **kw),
            nn.ReLU(), nn.Linear(6, 3, generator=g, dtype=dt), nn.BatchNorm1d(3, dtype=dt, **kw),
        )

    _check(make, dt, (6, 4, 5) if three_d else (6, 4), loss=None)


def test_batchnorm_frozen_affine_and_input_layer() -> None:
    def make(dt: Any) -> Any:
        g = np.random.default_rng(6)
        m = nn.Sequential(
            nn.BatchNorm2d(2, dtype=dt), nn.Conv2d(2, 3, 3, padding=1, generator=g, dtype=dt),
            nn.BatchNorm2d(3, dtype=dt), nn.ReLU(),
            nn.Flatten(), nn.Linear(3 * 4 * 4, 3, generator=g, dtype=dt),
        )
        m[2].weight.requires_grad = False
        m[0].bias.requires_grad = False
        return m

    _check(make, np.float32, (4, 2, 4, 4))


def test_batchnorm_before_a_padded_pool_and_conv() -> None:
    # the pool's and conv's input gradients are strided views, in eager as in the replay
    def make(dt: Any) -> Any:
        g = np.random.default_rng(8)
        return nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1, generator=g, dtype=dt), nn.BatchNorm2d(3, dtype=dt),
            nn.MaxPool2d(3, stride=2, padding=1), nn.BatchNorm2d(3, dtype=dt),
            nn.Conv2d(3, 3, 3, padding=1, generator=g, dtype=dt), nn.BatchNorm2d(3, dtype=dt),
            nn.ReLU(), nn.AvgPool2d(3, stride=2, padding=1), nn.BatchNorm2d(3, dtype=dt),
            nn.Flatten(), nn.Linear(3 * 3 * 3, 3, generator=g, dtype=dt),
        )

    for dt in DTS:
        _check(make, dt, (5, 1, 9, 9))


def test_batchnorm_mse_loss_and_more_steps() -> None:
    def make(dt: Any) -> Any:
        g = np.random.default_rng(9)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, generator=g, dtype=dt), nn.BatchNorm2d(4, momentum=None, dtype=dt),
            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(4, 3, generator=g, dtype=dt),
        )

    r = np.random.default_rng(3)
    for dt in DTS:
        x = r.standard_normal((6, 1, 8, 8)).astype(dt)
        y = r.standard_normal((6, 3)).astype(dt)
        res = [_run(make, dt, x, y, c, loss=nn.MSELoss(), steps=10, opt="adam")
               for c in (False, True)]
        (m_e, l_e, _), (m_c, l_c, fn) = res
        assert not fn.reasons
        assert all(np.array_equal(a, b) for a, b in zip(_state(m_e), _state(m_c)))
        assert all(np.array_equal(a, b) for a, b in zip(l_e, l_c))
        assert int(m_c[1].num_batches_tracked) == 10


def _cnn(dt: Any) -> Any:
    g = np.random.default_rng(11)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, generator=g, dtype=dt), nn.BatchNorm2d(4, dtype=dt), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, generator=g, dtype=dt), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 3, generator=g, dtype=dt),
    )


def test_train_eval_switch_retraces() -> None:
    def between(model: Any, i: int) -> None:
        model.train(i % 3 != 2)

    fn = _check(_cnn, np.float64, (4, 1, 14, 14), steps=9, between=between)
    assert fn.traces == 2  # one plan per train()/eval() state
    assert len(fn._plans) == 2


def test_changed_momentum_retraces() -> None:
    def between(model: Any, i: int) -> None:
        if i == 3:
            model[1].momentum = 0.5

    fn = _check(_cnn, np.float32, (4, 1, 14, 14), steps=6, between=between)
    assert fn.traces == 2


# ------------------------------------------------------------------------- fit
class Grab(Callback):
    trainer: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        self.trainer = trainer


@pytest.mark.parametrize("dt", DTS)
def test_fit_cnn_compiled_equals_eager(dt: Any) -> None:
    r = np.random.default_rng(1)
    x = r.standard_normal((45, 1, 14, 14)).astype(dt)
    y = r.integers(0, 3, 45)
    res = []
    for compile in (False, True):
        model = _cnn(dt)
        grab = Grab()
        hist = gs.fit(model, (x, y), loss="cross_entropy",
                      optimizer=optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                      epochs=3, batch_size=8, verbose=0, compile=compile, callbacks=[grab])
        res.append((_state(model), hist, grab.trainer))
    (s_e, h_e, _), (s_c, h_c, tr) = res
    assert all(np.array_equal(a, b) for a, b in zip(s_e, s_c))
    assert h_e.history["loss"] == h_c.history["loss"]
    assert tr.compiled.replays > 0
    assert not tr.compiled.reasons


# ------------------------------------------------------------------------- eager
def test_configurations_without_a_kernel_run_eagerly_with_a_reason() -> None:
    g = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, generator=g, dtype=np.float64), nn.LayerNorm([2, 4, 4]),
        nn.Flatten(), nn.Linear(32, 3, generator=g, dtype=np.float64),
    )
    fn = compile_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 6))
    fn(x, np.array([0, 2]))
    fn(x, np.array([0, 2]))
    assert any("LayerNorm has no compiled kernel" in r for r in fn.reasons.values())

    # an unbatched (C, H, W) input to Conv2d
    model = nn.Sequential(nn.Conv2d(1, 2, 3, generator=g, dtype=np.float64), nn.Flatten(0),
                          nn.Linear(32, 3, generator=g, dtype=np.float64))
    o = optim.SGD(model.parameters(), lr=0.1)
    mse = nn.MSELoss()

    def step(xb: Any, yb: Any) -> Any:
        o.zero_grad()
        lo = mse(model(xb), yb)
        lo.backward()
        o.step()
        return lo

    f2 = gs.compile(step)
    f2(x[0], np.zeros(3))
    assert any("Conv2d on a 3-D input" in r for r in f2.reasons.values())
