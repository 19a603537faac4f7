"""gradstep.nn against torch.nn: same weights in, same outputs and gradients out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn
from gradstep.nn import functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

pytestmark = pytest.mark.torch

DTYPES = [(np.float64, 1e-7, 1e-10), (np.float32, 1e-4, 1e-5)]
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def close(a: Any, b: Any, rtol: float, atol: float, what: str = "") -> None:
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    a = np.asarray(a._data if isinstance(a, gs.Tensor) else a)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale, err_msg=what)


def to_torch_state(sd: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}


def check_module(
    gm: nn.Module,
    tm: Any,
    x_np: np.ndarray,
    dtype: Any,
    rtol: float,
    atol: float,
    input_grad: bool = True,
    seed: int = 0,
) -> None:
    """Copy gm's weights into tm (strict), compare forward, input and parameter gradients."""
    tm = tm.to(TDT[dtype])
    tm.load_state_dict(to_torch_state(gm.state_dict()), strict=True)
    x = gs.Tensor(x_np.astype(dtype), requires_grad=input_grad)
    xt = torch.tensor(x_np.astype(dtype), requires_grad=input_grad)
    y, yt = gm(x), tm(xt)
    close(y, yt, rtol, atol, "forward")
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    if input_grad:
        close(x._grad, xt.grad, rtol, atol, "input grad")
    tparams = dict(tm.named_parameters())
    names = [n for n, _ in gm.named_parameters()]
    assert names == list(tparams), f"parameter order {names} vs {list(tparams)}"
    for name, p in gm.named_parameters():
        close(p._grad, tparams[name].grad, rtol, atol, f"grad of {name}")


def X(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("bias,shape", [(True, (6, 5)), (False, (6, 5)), (True, (2, 3, 5))])
def test_linear(dtype: Any, rtol: float, atol: float, bias: bool, shape: tuple[int, ...]) -> None:
    gm = nn.Linear(5, 4, bias=bias, dtype=dtype, generator=np.random.default_rng(3))
    check_module(gm, tnn.Linear(5, 4, bias=bias), X(*shape), dtype, rtol, atol)


CONV = [
    dict(),
    dict(stride=2),
    dict(padding=1),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(dilation=2),
    dict(dilation=(2, 1), padding=2, stride=2),
    dict(groups=2),
    dict(groups=4, padding=1, stride=2),
    dict(bias=False, padding="same"),
    dict(padding="same", dilation=2, kernel_size=(2, 3)),
    dict(padding="valid", kernel_size=1),
    dict(kernel_size=(1, 3), stride=3),
]


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("kw", CONV, ids=[str(i) for i in range(len(CONV))])
def test_conv2d(dtype: Any, rtol: float, atol: float, kw: dict[str, Any]) -> None:
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    gm = nn.Conv2d(4, 8, k, dtype=dtype, generator=np.random.default_rng(5), **kw)
    check_module(gm, tnn.Conv2d(4, 8, k, **kw), X(3, 4, 9, 8), dtype, rtol, atol)


def test_conv2d_unbatched() -> None:
    gm = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
    check_module(gm, tnn.Conv2d(2, 3, 3, padding=1), X(2, 5, 6), np.float64, 1e-7, 1e-10)


POOL = [
    (2, None, 0, 1),
    (3, 1, 1, 1),
    (3, 2, 1, 1),
    ((2, 3), (1, 2), (1, 1), 1),
    (2, 1, 0, 2),
    (3, 3, 0, 1),
]


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("k,s,p,d", POOL)
def test_max_pool2d(dtype: Any, rtol: float, atol: float, k: Any, s: Any, p: Any, d: Any) -> None:
    check_module(
        nn.MaxPool2d(k, s, p, d), tnn.MaxPool2d(k, s, p, d), X(2, 3, 9, 8), dtype, rtol, atol
    )


def test_max_pool2d_ties_after_relu_match_torch() -> None:
    x = np.maximum(X(2, 2, 6, 6), 0)
    x[0, 0, :2, :2] = 0.0  # an all-zero window
    x[1, 1, 2:4, 2:4] = 1.5  # tied maxima
    check_module(nn.MaxPool2d(2), tnn.MaxPool2d(2), x, np.float64, 1e-7, 1e-10)
    check_module(nn.MaxPool2d(3, 1, 1), tnn.MaxPool2d(3, 1, 1), x, np.float64, 1e-7, 1e-10)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("k,s,p,_d", POOL[:4])
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d(
    dtype: Any, rtol: float, atol: float, k: Any, s: Any, p: Any, _d: Any, cip: bool
) -> None:
    gm = nn.AvgPool2d(k, s, p, count_include_pad=cip)
    check_module(
        gm, tnn.AvgPool2d(k, s, p, count_include_pad=cip), X(2, 3, 9, 8), dtype, rtol, atol
    )


# ceil_mode: sizes where rounding up adds a last window, one where PyTorch drops it again
# because it would start in the right padding (h=5, k=2, s=2, p=1: 3 windows, not 4), and
# inputs smaller than the kernel
CEIL = [
    (2, None, 0, 1, (9, 8)),
    (3, 2, 1, 1, (9, 8)),
    (2, 2, 1, 1, (5, 5)),
    ((3, 2), (2, 3), (1, 1), 1, (7, 8)),
    (3, 2, 0, 2, (10, 9)),
    (3, 3, 1, 1, (2, 4)),
    (4, 3, 0, 1, (3, 6)),
]


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("k,s,p,d,hw", CEIL)
def test_max_pool2d_ceil_mode(
    dtype: Any, rtol: float, atol: float, k: Any, s: Any, p: Any, d: Any, hw: Any
) -> None:
    gm = nn.MaxPool2d(k, s, p, d, ceil_mode=True)
    tm = tnn.MaxPool2d(k, s, p, d, ceil_mode=True)
    check_module(gm, tm, X(2, 3, *hw), dtype, rtol, atol)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("k,s,p,_d,hw", [c for c in CEIL if c[3] == 1])
@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("div", [None, 3])
def test_avg_pool2d_ceil_mode(
    dtype: Any, rtol: float, atol: float, k: Any, s: Any, p: Any, _d: Any, hw: Any, cip: bool,
    div: Any,
) -> None:
    gm = nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=cip, divisor_override=div)
    tm = tnn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=cip, divisor_override=div)
    check_module(gm, tm, X(2, 3, *hw), dtype, rtol, atol)


def test_pool_ceil_mode_too_small_raises_like_torch() -> None:
    x = X(1, 1, 1, 1)
    with pytest.raises(RuntimeError):
        TF.max_pool2d(torch.tensor(x), 3, 2, 0, ceil_mode=True)
    with pytest.raises(gs.errors.ShapeError, match="smaller than the kernel"):
        F.max_pool2d(x, 3, 2, 0, ceil_mode=True)


@pytest.mark.parametrize("size", [(2, 3), 3, 1, (None, 4), (5, 7), (4, 6)])
def test_adaptive_avg_pool2d(size: Any) -> None:
    for dtype, rtol, atol in DTYPES:
        check_module(
            nn.AdaptiveAvgPool2d(size),
            tnn.AdaptiveAvgPool2d(size),
            X(2, 3, 5, 7),
            dtype,
            rtol,
            atol,
        )


ACTS = [
    (lambda: nn.ReLU(), lambda: tnn.ReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2)),
    (lambda: nn.Tanh(), lambda: tnn.Tanh()),
    (lambda: nn.Sigmoid(), lambda: tnn.Sigmoid()),
    (lambda: nn.GELU(), lambda: tnn.GELU()),
    (lambda: nn.GELU("tanh"), lambda: tnn.GELU("tanh")),
    (lambda: nn.Softmax(dim=1), lambda: tnn.Softmax(dim=1)),
    (lambda: nn.LogSoftmax(dim=-1), lambda: tnn.LogSoftmax(dim=-1)),
    (lambda: nn.Softmax(dim=0), lambda: tnn.Softmax(dim=0)),
    (lambda: nn.SiLU(), lambda: tnn.SiLU()),
    (lambda: nn.ELU(0.5), lambda: tnn.ELU(0.5)),
    (lambda: nn.Softplus(2.0, 5.0), lambda: tnn.Softplus(2.0, 5.0)),
    (lambda: nn.Flatten(), lambda: tnn.Flatten()),
    (lambda: nn.Flatten(0, 1), lambda: tnn.Flatten(0, 1)),
    (lambda: nn.Identity(), lambda: tnn.Identity()),
]


@pytest.mark.parametrize("i", range(len(ACTS)))
def test_activations(i: int) -> None:
    g, t = ACTS[i]
    for dtype, rtol, atol in DTYPES:
        check_module(g(), t(), X(3, 4, 5) * 3, dtype, rtol, atol)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_layer_norm(dtype: Any, rtol: float, atol: float) -> None:
    gm = nn.LayerNorm((4, 5), dtype=dtype)
    gm.weight._data[...] = X(4, 5, seed=3)
    gm.bias._data[...] = X(4, 5, seed=4)
    check_module(gm, tnn.LayerNorm((4, 5)), X(3, 4, 5), dtype, rtol, atol)
    check_module(
        nn.LayerNorm(5, elementwise_affine=False),
        tnn.LayerNorm(5, elementwise_affine=False),
        X(3, 5),
        dtype,
        rtol,
        atol,
    )


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
def test_embedding(dtype: Any, rtol: float, atol: float) -> None:
    gm = nn.Embedding(7, 3, padding_idx=2, dtype=dtype)
    tm = tnn.Embedding(7, 3, padding_idx=2).to(TDT[dtype])
    tm.load_state_dict(to_torch_state(gm.state_dict()))
    idx = np.array([[0, 2, 6], [2, 2, 1]])
    y, yt = gm(idx), tm(torch.from_numpy(idx))
    close(y, yt, rtol, atol)
    g = X(2, 3, 3).astype(dtype)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    close(gm.weight._grad, tm.weight.grad, rtol, atol)
    assert np.all(gm.weight._data[2] == 0)
    with pytest.raises(ValueError, match=r"\[7\]"):
        gm(np.array([1, 7]))


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize(
    "cls,shape,kw",
    [
        ("BatchNorm1d", (8, 3), {}),
        ("BatchNorm1d", (6, 3, 4), {"momentum": 0.3}),
        ("BatchNorm2d", (4, 3, 5, 5), {}),
        ("BatchNorm2d", (4, 3, 2, 3), {"momentum": None}),
        ("BatchNorm2d", (4, 3, 2, 3), {"affine": False}),
        ("BatchNorm1d", (5, 3), {"track_running_stats": False}),
    ],
)
def test_batch_norm_training_steps_and_eval(
    dtype: Any, rtol: float, atol: float, cls: str, shape: tuple[int, ...], kw: dict[str, Any]
) -> None:
    gm = getattr(nn, cls)(3, dtype=dtype, **kw)
    tm = getattr(tnn, cls)(3, **kw).to(TDT[dtype])
    if gm.weight is not None:
        gm.weight._data[...] = 1 + 0.3 * X(3, seed=9)
        gm.bias._data[...] = 0.2 * X(3, seed=10)
    tm.load_state_dict(to_torch_state(gm.state_dict()))
    tparams = dict(tm.named_parameters())
    for step in range(4):  # several training steps: running stats must follow PyTorch's
        x_np = (X(*shape, seed=20 + step) * (1 + step) + step).astype(dtype)
        x, xt = gs.Tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
        y, yt = gm(x), tm(xt)
        close(y, yt, rtol, atol, f"train forward step {step}")
        g = X(*shape, seed=40 + step).astype(dtype)
        y.backward(g)
        yt.backward(torch.from_numpy(g))
        close(x._grad, xt.grad, rtol, atol, "input grad")
        for n, p in gm.named_parameters():
            close(p._grad, tparams[n].grad, rtol, atol, n)
            p._grad = None
            tparams[n].grad = None
    tsd = tm.state_dict()
    gsd = gm.state_dict()
    assert list(gsd) == list(tsd)
    for k in gsd:
        close(gsd[k], tsd[k], rtol, atol, k)
    gm.eval()
    tm.eval()
    x_np = X(*shape, seed=99).astype(dtype)
    close(gm(x_np), tm(torch.from_numpy(x_np)), rtol, atol, "eval forward")


# ------------------------------------------------------------------ losses
REDUCTIONS = ["mean", "sum", "none"]


def check_loss(
    gfn: Any,
    tfn: Any,
    x_np: np.ndarray,
    target: Any,
    ttarget: Any,
    dtype: Any,
    rtol: float,
    atol: float,
) -> None:
    x = gs.Tensor(x_np.astype(dtype), requires_grad=True)
    xt = torch.tensor(x_np.astype(dtype), requires_grad=True)
    y, yt = gfn(x, target), tfn(xt, ttarget)
    close(y, yt, rtol, atol, "loss")
    g = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    close(x._grad, xt.grad, rtol, atol, "input grad")


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
def test_regression_losses(dtype: Any, rtol: float, atol: float, red: str) -> None:
    x, y = X(4, 5) * 2, X(4, 5, seed=2) * 2
    for g, t in [
        (nn.MSELoss(red), tnn.MSELoss(reduction=red)),
        (nn.L1Loss(red), tnn.L1Loss(reduction=red)),
        (nn.HuberLoss(red), tnn.HuberLoss(reduction=red)),
        (nn.HuberLoss(red, delta=0.5), tnn.HuberLoss(reduction=red, delta=0.5)),
        (nn.SmoothL1Loss(red, beta=0.5), tnn.SmoothL1Loss(reduction=red, beta=0.5)),
    ]:
        check_loss(g, t, x, y.astype(dtype), torch.from_numpy(y.astype(dtype)), dtype, rtol, atol)


CE_CASES = [
    dict(),
    dict(weight=[0.2, 1.0, 3.0, 0.5]),
    dict(ignore_index=1),
    dict(label_smoothing=0.1),
    dict(weight=[0.2, 1.0, 3.0, 0.5], label_smoothing=0.3, ignore_index=2),
]


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("kw", CE_CASES, ids=[str(i) for i in range(len(CE_CASES))])
def test_cross_entropy_index_targets(
    dtype: Any, rtol: float, atol: float, red: str, kw: dict[str, Any]
) -> None:
    tkw = dict(kw)
    if "weight" in tkw:
        tkw["weight"] = torch.tensor(tkw["weight"], dtype=TDT[dtype])
    t = np.array([0, 3, 1, 2, 1, 1])
    check_loss(
        nn.CrossEntropyLoss(reduction=red, **kw),
        tnn.CrossEntropyLoss(reduction=red, **tkw),
        X(6, 4) * 3,
        t,
        torch.from_numpy(t),
        dtype,
        rtol,
        atol,
    )
    # (N, C, d1, d2) inputs
    t4 = np.random.default_rng(0).integers(0, 4, (2, 3, 2))
    check_loss(
        nn.CrossEntropyLoss(reduction=red, **kw),
        tnn.CrossEntropyLoss(reduction=red, **tkw),
        X(2, 4, 3, 2),
        t4,
        torch.from_numpy(t4),
        dtype,
        rtol,
        atol,
    )
    # unbatched (C,)
    if red != "none" or True:
        check_loss(
            nn.CrossEntropyLoss(reduction=red, **kw),
            tnn.CrossEntropyLoss(reduction=red, **tkw),
            X(4),
            np.array(3),
            torch.tensor(3),
            dtype,
            rtol,
            atol,
        )


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("kw", [dict(), dict(weight=[0.2, 1.0, 3.0, 0.5], label_smoothing=0.25)])
def test_cross_entropy_probability_targets(
    dtype: Any, rtol: float, atol: float, red: str, kw: dict[str, Any]
) -> None:
    tkw = dict(kw)
    if "weight" in tkw:
        tkw["weight"] = torch.tensor(tkw["weight"], dtype=TDT[dtype])
    p = np.random.default_rng(0).dirichlet(np.ones(4), 5).astype(dtype)
    check_loss(
        nn.CrossEntropyLoss(reduction=red, **kw),
        tnn.CrossEntropyLoss(reduction=red, **tkw),
        X(5, 4),
        p,
        torch.from_numpy(p),
        dtype,
        rtol,
        atol,
    )
    p4 = np.moveaxis(np.random.default_rng(1).dirichlet(np.ones(4), (2, 3)), -1, 1).astype(dtype)
    check_loss(
        nn.CrossEntropyLoss(reduction=red, **kw),
        tnn.CrossEntropyLoss(reduction=red, **tkw),
        X(2, 4, 3),
        p4,
        torch.from_numpy(p4),
        dtype,
        rtol,
        atol,
    )


def test_cross_entropy_probability_target_gradient_matches_torch() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(3), 4)
    x = X(4, 3)
    tg = gs.Tensor(p, requires_grad=True)
    tt = torch.tensor(p, requires_grad=True)
    F.cross_entropy(gs.Tensor(x), tg, label_smoothing=0.1).backward()
    TF.cross_entropy(torch.tensor(x), tt, label_smoothing=0.1).backward()
    close(tg._grad, tt.grad, 1e-7, 1e-10)


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
def test_nll_loss(dtype: Any, rtol: float, atol: float, red: str) -> None:
    t = np.array([0, 2, 1, 2, 0])
    w = [1.0, 0.3, 2.0]
    lp = np.log(np.random.default_rng(0).dirichlet(np.ones(3), 5))
    check_loss(
        nn.NLLLoss(reduction=red),
        tnn.NLLLoss(reduction=red),
        lp,
        t,
        torch.from_numpy(t),
        dtype,
        rtol,
        atol,
    )
    check_loss(
        nn.NLLLoss(w, ignore_index=1, reduction=red),
        tnn.NLLLoss(torch.tensor(w, dtype=TDT[dtype]), ignore_index=1, reduction=red),
        lp,
        t,
        torch.from_numpy(t),
        dtype,
        rtol,
        atol,
    )


@pytest.mark.parametrize("dtype,rtol,atol", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
def test_bce_losses(dtype: Any, rtol: float, atol: float, red: str) -> None:
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=(4, 3)) > 0.5).astype(dtype)
    y[0, 0] = 0.3  # soft label
    p = rng.uniform(0.05, 0.95, (4, 3))
    w = rng.uniform(0.5, 2, (4, 3)).astype(dtype)
    yt, wt = torch.from_numpy(y), torch.from_numpy(w)
    check_loss(nn.BCELoss(reduction=red), tnn.BCELoss(reduction=red), p, y, yt, dtype, rtol, atol)
    check_loss(nn.BCELoss(w, red), tnn.BCELoss(wt, reduction=red), p, y, yt, dtype, rtol, atol)
    logits = X(4, 3) * 4
    pw = np.array([0.5, 2.0, 3.0], dtype=dtype)
    check_loss(
        nn.BCEWithLogitsLoss(reduction=red),
        tnn.BCEWithLogitsLoss(reduction=red),
        logits,
        y,
        yt,
        dtype,
        rtol,
        atol,
    )
    check_loss(
        nn.BCEWithLogitsLoss(w, red, pos_weight=pw),
        tnn.BCEWithLogitsLoss(wt, reduction=red, pos_weight=torch.from_numpy(pw)),
        logits,
        y,
        yt,
        dtype,
        rtol,
        atol,
    )


def test_bce_with_logits_extreme_logits_match_torch() -> None:
    x = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4])
    y = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    check_loss(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
        lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none"),
        x,
        y,
        torch.from_numpy(y),
        np.float64,
        1e-7,
        1e-10,
    )


def test_cross_entropy_is_stable_at_large_logits() -> None:
    for dtype in (np.float32, np.float64):
        x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]], dtype=dtype)
        t = np.array([2, 0])
        xg = gs.Tensor(x, requires_grad=True)
        loss = F.cross_entropy(xg, t)
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(xg._grad))
        xt = torch.tensor(x, requires_grad=True)
        lt = TF.cross_entropy(xt, torch.from_numpy(t))
        lt.backward()
        close(loss, lt, 1e-6, 1e-6)
        close(xg._grad, xt.grad, 1e-6, 1e-6)


# --------------------------------------------------------------- models and state
class GsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.fc1 = nn.Linear(4 * 4 * 4, 8)
        self.drop = nn.Dropout(0.5)
        self.heads = nn.ModuleList([nn.Linear(8, 3), nn.Linear(8, 2)])

    def forward(self, x: Any) -> Any:
        h = self.drop(self.fc1(self.features(x).flatten(1)).relu())
        return gs.cat([m(h) for m in self.heads], axis=1)


class TNet(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2)
        )
        self.fc1 = tnn.Linear(4 * 4 * 4, 8)
        self.drop = tnn.Dropout(0.5)
        self.heads = tnn.ModuleList([tnn.Linear(8, 3), tnn.Linear(8, 2)])

    def forward(self, x: Any) -> Any:
        h = self.drop(torch.relu(self.fc1(self.features(x).flatten(1))))
        return torch.cat([m(h) for m in self.heads], dim=1)


def test_state_dict_moves_both_ways_with_same_outputs() -> None:
    g, t = GsNet(), TNet().double()
    # train-mode step on both so running stats are non-trivial
    x = X(5, 1, 8, 8)
    t.load_state_dict(to_torch_state(g.state_dict()), strict=True)  # gradstep -> torch
    g.eval(), t.eval()
    close(g(x.astype(np.float32)), t.float()(torch.tensor(x, dtype=torch.float32)), 1e-4, 1e-5)
    # torch -> gradstep (fresh torch weights, and modified running stats)
    t2 = TNet()
    with torch.no_grad():
        t2.features[1].running_mean.uniform_(-1, 1)
        t2.features[1].running_var.uniform_(0.5, 2)
        t2.features[1].num_batches_tracked.fill_(7)
    g2 = GsNet()
    g2.load_state_dict(t2.state_dict(), strict=True)
    assert list(g2.state_dict()) == list(t2.state_dict())
    g2.eval(), t2.eval()
    close(g2(x.astype(np.float32)), t2(torch.tensor(x, dtype=torch.float32)), 1e-4, 1e-5)
    assert int(g2.state_dict()["features.1.num_batches_tracked"]) == 7
    assert [n for n, _ in g2.named_parameters()] == [n for n, _ in t2.named_parameters()]


def test_cnn_training_step_matches_torch_float64() -> None:
    def gs_cnn() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(1, 8, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 10),
        )

    g = gs_cnn()
    for p in g.parameters():
        p._data = p._data.astype(np.float64)
    t = tnn.Sequential(
        tnn.Conv2d(1, 8, 3),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(8, 16, 3),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(16 * 5 * 5, 10),
    ).double()
    t.load_state_dict(to_torch_state(g.state_dict()))
    x = X(6, 1, 28, 28)
    y = np.array([0, 1, 2, 3, 4, 9])
    loss = nn.CrossEntropyLoss()(g(x), y)
    lt = tnn.CrossEntropyLoss()(t(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    lt.backward()
    close(loss, lt, 1e-7, 1e-10)
    for (n, p), (tn, tp) in zip(g.named_parameters(), t.named_parameters()):
        assert n == tn
        close(p._grad, tp.grad, 1e-7, 1e-10, n)


# ---------------------------------------------------------------------- init
def test_default_init_distributions_follow_torch() -> None:
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    assert np.abs(lin.weight._data).max() <= bound and np.abs(lin.weight._data).max() > 0.99 * bound
    assert np.abs(lin.bias._data).max() <= bound
    np.testing.assert_allclose(lin.weight._data.std(), bound / np.sqrt(3), rtol=0.02)
    conv = nn.Conv2d(8, 16, 3)
    cb = 1 / np.sqrt(8 * 9)
    assert np.abs(conv.weight._data).max() <= cb and np.abs(conv.weight._data).max() > 0.98 * cb
    tl = tnn.Linear(400, 300)
    np.testing.assert_allclose(lin.weight._data.std(), tl.weight.detach().numpy().std(), rtol=0.03)


@pytest.mark.parametrize(
    "nl,param",
    [
        ("relu", None),
        ("tanh", None),
        ("leaky_relu", 0.2),
        ("linear", None),
        ("sigmoid", None),
        ("selu", None),
        ("leaky_relu", None),
    ],
)
def test_calculate_gain(nl: str, param: Any) -> None:
    assert nn.init.calculate_gain(nl, param) == pytest.approx(tnn.init.calculate_gain(nl, param))


def test_init_functions_statistics() -> None:
    gen = np.random.default_rng(0)
    w = gs.Tensor(np.empty((300, 200)))
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=gen)
    np.testing.assert_allclose(w._data.std(), np.sqrt(2 / 300), rtol=0.02)
    nn.init.kaiming_uniform_(w, a=0.0, nonlinearity="relu", generator=gen)
    assert np.abs(w._data).max() <= np.sqrt(6 / 200)
    nn.init.xavier_uniform_(w, gain=2.0, generator=gen)
    assert np.abs(w._data).max() <= 2 * np.sqrt(6 / 500)
    nn.init.xavier_normal_(w, generator=gen)
    np.testing.assert_allclose(w._data.std(), np.sqrt(2 / 500), rtol=0.02)
    q = gs.Tensor(np.empty((4, 6)))
    nn.init.orthogonal_(q, gain=2.0, generator=gen)
    np.testing.assert_allclose(q._data @ q._data.T, 4 * np.eye(4), atol=1e-12)
    nn.init.constant_(q, 0.5)
    assert np.all(q._data == 0.5)
    nn.init.zeros_(q), nn.init.ones_(q)
    assert np.all(q._data == 1)
    nn.init.normal_(q, 3.0, 0.0, generator=gen)
    assert np.all(q._data == 3)
    nn.init.uniform_(w, -2, -1, generator=gen)
    assert w._data.min() >= -2 and w._data.max() < -1
    a = nn.init.uniform_(gs.Tensor(np.empty(5)), generator=np.random.default_rng(1))
    b = nn.init.uniform_(gs.Tensor(np.empty(5)), generator=np.random.default_rng(1))
    assert np.array_equal(a._data, b._data)


# --------------------------------------------------------- randomised shapes
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3),
    groups=st.sampled_from([1, 2]),
    cin_g=st.integers(1, 2),
    cout_g=st.integers(1, 2),
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    dh=st.integers(1, 2),
    dw=st.integers(1, 2),
    bias=st.booleans(),
)
def test_conv2d_random_configurations(
    n: int,
    groups: int,
    cin_g: int,
    cout_g: int,
    h: int,
    w: int,
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    ph: int,
    pw: int,
    dh: int,
    dw: int,
    bias: bool,
) -> None:
    if h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1:
        return
    kw_ = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups, bias=bias)
    gm = nn.Conv2d(cin_g * groups, cout_g * groups, (kh, kw), dtype=np.float64, **kw_)
    tm = tnn.Conv2d(cin_g * groups, cout_g * groups, (kh, kw), **kw_)
    check_module(gm, tm, X(n, cin_g * groups, h, w), np.float64, 1e-7, 1e-10)


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(2, 9),
    w=st.integers(2, 9),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    pad=st.integers(0, 1),
    dil=st.integers(1, 2),
    ceil=st.booleans(),
)
def test_pools_random_configurations(
    h: int, w: int, kh: int, kw: int, sh: int, sw: int, pad: int, dil: int, ceil: bool
) -> None:
    ph, pw = min(pad, kh // 2), min(pad, kw // 2)
    if h + 2 * ph < dil * (kh - 1) + 1 or w + 2 * pw < dil * (kw - 1) + 1:
        return
    x = X(2, 2, h, w)
    check_module(
        nn.MaxPool2d((kh, kw), (sh, sw), (ph, pw), dil, ceil_mode=ceil),
        tnn.MaxPool2d((kh, kw), (sh, sw), (ph, pw), dil, ceil_mode=ceil),
        x,
        np.float64,
        1e-7,
        1e-10,
    )
    if h + 2 * ph >= kh and w + 2 * pw >= kw:
        for cip in (True, False):
            check_module(
                nn.AvgPool2d((kh, kw), (sh, sw), (ph, pw), ceil, count_include_pad=cip),
                tnn.AvgPool2d((kh, kw), (sh, sw), (ph, pw), ceil, count_include_pad=cip),
                x,
                np.float64,
                1e-7,
                1e-10,
            )
