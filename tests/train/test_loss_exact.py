"""fit, evaluate and gradient accumulation use exactly the loss object's value and gradient.

For every loss class of gradstep.nn and every reduction, in float64: the weights after an
epoch of ``fit`` (batches of 3, ``accumulate=2``, 11 examples, so the last group is 3 + 2
examples) equal those of a hand-written loop that applies the same loss object to each
concatenated group, and those of PyTorch with the same loss; the per-step losses equal the
loss object's values; ``evaluate`` equals the loss object on the whole set. The hand
loop's arithmetic (one mean over the group) differs from fit's (sums divided once), so the
comparison uses rel 1e-10: float64 rounding differences are ~1e-16 per operation.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn, optim
from gradstep.tensor import Tensor
from gradstep.train import evaluate, fit

torch = pytest.importorskip("torch")
tnn = torch.nn

N, D, C, B, K, LR = 11, 4, 3, 3, 2, 0.1
REL = 1e-10


def _data(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D))
    if kind == "index":
        y = rng.integers(0, C, N)
        y[[1, 7]] = -1  # used as ignore_index where configured (each group keeps others)
        return x, y
    if kind == "index_plain":
        return x, rng.integers(0, C, N)
    if kind == "prob":
        p = rng.random((N, C))
        return x, p / p.sum(axis=1, keepdims=True)
    if kind == "binary":
        return x, (rng.random((N, C)) < 0.5).astype(np.float64)
    return x, rng.standard_normal((N, C))  # multi-output regression


# (loss class, kwargs, target kind, last layer) — every loss class of gradstep.nn appears
CASES = [
    ("MSELoss", {}, "real", None),
    ("L1Loss", {}, "real", None),
    ("HuberLoss", {"delta": 0.5}, "real", None),
    ("SmoothL1Loss", {"beta": 0.5}, "real", None),
    ("CrossEntropyLoss", {}, "index_plain", None),
    ("CrossEntropyLoss", {"weight": [0.2, 1.0, 3.0], "ignore_index": -1}, "index", None),
    ("CrossEntropyLoss", {"weight": [0.2, 1.0, 3.0], "ignore_index": -1,
                          "label_smoothing": 0.1}, "index", None),
    ("CrossEntropyLoss", {"label_smoothing": 0.2}, "prob", None),
    ("NLLLoss", {"weight": [0.5, 2.0, 1.0], "ignore_index": -1}, "index", "LogSoftmax"),
    ("BCELoss", {"weight": [1.0, 0.5, 2.0]}, "binary", "Sigmoid"),
    ("BCEWithLogitsLoss", {"pos_weight": [2.0, 1.0, 0.5]}, "binary", None),
]
REDUCTIONS = ["mean", "sum", "none"]


def test_every_loss_class_is_covered() -> None:
    names = {n for n in dir(nn) if n.endswith("Loss") and inspect.isclass(getattr(nn, n))}
    assert names == {c[0] for c in CASES}


def _kw(kwargs: dict, lib: str) -> dict:
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, list):
            v = torch.tensor(v, dtype=torch.float64) if lib == "torch" else np.array(v)
        out[k] = v
    return out


def _gs_model(last: str | None) -> nn.Sequential:
    layers = [nn.Linear(D, 5, generator=np.random.default_rng(3), dtype=np.float64), nn.Tanh(),
              nn.Linear(5, C, generator=np.random.default_rng(4), dtype=np.float64)]
    if last == "LogSoftmax":
        layers.append(nn.LogSoftmax(dim=1))
    elif last == "Sigmoid":
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def _torch_model(m: nn.Sequential, last: str | None) -> object:
    layers = [tnn.Linear(D, 5), tnn.Tanh(), tnn.Linear(5, C)]
    if last == "LogSoftmax":
        layers.append(tnn.LogSoftmax(dim=1))
    elif last == "Sigmoid":
        layers.append(tnn.Sigmoid())
    tm = tnn.Sequential(*layers).double()
    with torch.no_grad():
        for (_, p), tp in zip(m.named_parameters(), tm.parameters()):
            tp.copy_(torch.from_numpy(p._data.copy()))
    return tm


def _groups() -> list[np.ndarray]:
    idx = np.arange(N)
    batches = [idx[s:s + B] for s in range(0, N, B)]
    return [np.concatenate(batches[g:g + K]) for g in range(0, len(batches), K)]


def _hand_loop(m: nn.Sequential, loss_obj: object, x: np.ndarray, y: np.ndarray) -> list[float]:
    """The loop a learner writes: the loss object on each concatenated group."""
    losses = []
    for g in _groups():
        out = m(Tensor(x[g]))
        loss = loss_obj(out, y[g])  # type: ignore[operator]
        if loss._data.ndim:
            loss = loss.mean()
        losses.append(float(loss._data))
        loss.backward()
        with gs.no_grad():
            for p in m.parameters():
                p._data -= LR * p._grad
        for p in m.parameters():
            p.grad = None
    return losses


def _torch_loop(tm: object, name: str, kwargs: dict, reduction: str, x: np.ndarray,
                y: np.ndarray) -> list[float]:
    loss_obj = getattr(tnn, name)(reduction=reduction, **_kw(kwargs, "torch"))
    opt = torch.optim.SGD(tm.parameters(), lr=LR)  # type: ignore[attr-defined]
    yt = torch.from_numpy(y)
    losses = []
    for g in _groups():
        opt.zero_grad()
        loss = loss_obj(tm(torch.from_numpy(x[g])), yt[g])  # type: ignore[operator]
        if loss.ndim:
            loss = loss.mean()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return losses


def _close(a: object, b: object) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=REL, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] + str(sorted(c[1])))
def test_fit_step_equals_the_loss_object_and_pytorch(case: tuple, reduction: str) -> None:
    name, kwargs, kind, last = case
    x, y = _data(kind)
    loss_obj = getattr(nn, name)(reduction=reduction, **_kw(kwargs, "gs"))
    m = _gs_model(last)
    hand, tm = copy.deepcopy(m), _torch_model(m, last)
    h = fit(m, (x, y), loss=loss_obj, optimizer=optim.SGD(m.parameters(), lr=LR), epochs=1,
            batch_size=B, accumulate=K, shuffle=False, verbose=0, max_loss_ratio=None)
    hand_losses = _hand_loop(hand, loss_obj, x, y)
    torch_losses = _torch_loop(tm, name, kwargs, reduction, x, y)
    _close(h.steps["loss"], hand_losses)
    _close(hand_losses, torch_losses)
    for p, q, tp in zip(m.parameters(), hand.parameters(), tm.parameters()):
        _close(p._data, q._data)
        _close(p._data, tp.detach().numpy())
    assert loss_obj.reduction == reduction  # fit worked on a copy


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] + str(sorted(c[1])))
def test_evaluate_equals_the_loss_object_on_the_whole_set(case: tuple, reduction: str) -> None:
    name, kwargs, kind, last = case
    x, y = _data(kind)
    loss_obj = getattr(nn, name)(reduction=reduction, **_kw(kwargs, "gs"))
    m = _gs_model(last)
    whole = loss_obj(m(Tensor(x)), y)
    expected = float(whole.mean()._data) if whole._data.ndim else float(whole._data)
    got = evaluate(m, (x, y), loss=loss_obj, batch_size=4, metrics=[])
    _close(got["loss"], expected)
    tm = _torch_model(m, last)
    tl = getattr(tnn, name)(reduction=reduction, **_kw(kwargs, "torch"))(
        tm(torch.from_numpy(x)), torch.from_numpy(y))
    _close(got["loss"], tl.mean().item())


def test_epoch_loss_is_the_loss_object_on_the_epoch_for_multi_output_mse() -> None:
    """The issue's case: (64, 10) targets; the epoch loss and gradient are MSELoss's (mean
    over 640 elements), not 10 times it."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((64, 6)), rng.standard_normal((64, 10))
    m = nn.Sequential(nn.Linear(6, 10, generator=np.random.default_rng(0), dtype=np.float64))
    before = float(nn.MSELoss()(m(Tensor(x)), y)._data)
    assert evaluate(m, (x, y), loss=nn.MSELoss(), metrics=["mse"])["loss"] == pytest.approx(
        before, rel=REL)
    hand = copy.deepcopy(m)
    h = fit(m, (x, y), loss=nn.MSELoss(), optimizer=optim.SGD(m.parameters(), lr=0.5),
            epochs=1, batch_size=64, shuffle=False, verbose=0)
    assert h["loss"][0] == pytest.approx(before, rel=REL)
    loss = nn.MSELoss()(hand(Tensor(x)), y)
    loss.backward()
    for p, q in zip(m.parameters(), hand.parameters()):
        _close(p._data, q._data - 0.5 * q._grad)


def test_a_function_with_reduction_and_a_plain_mean_callable() -> None:
    """F.cross_entropy (a reduction keyword) is exact; a callable returning the batch mean is
    exact with one batch per step."""
    x, y = _data("index_plain")
    fn = nn.functional.cross_entropy
    for loss in (fn, lambda out, t: fn(out, t)):
        m = _gs_model(None)
        hand = copy.deepcopy(m)
        fit(m, (x, y), loss=loss, optimizer=optim.SGD(m.parameters(), lr=LR), epochs=1,
            batch_size=N, shuffle=False, verbose=0)
        out = fn(hand(Tensor(x)), y)
        out.backward()
        for p, q in zip(m.parameters(), hand.parameters()):
            _close(p._data, q._data - LR * q._grad)
