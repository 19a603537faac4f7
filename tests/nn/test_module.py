"""Module mechanics: discovery, modes, state dicts, config, errors, determinism."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn
from gradstep.nn import functional as F


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))  # own param after a child
        self.extra = [nn.Linear(4, 4), nn.Linear(4, 2)]
        self.table = {"a": nn.Parameter(np.zeros(2, dtype=np.float32)), "b": nn.Linear(2, 2)}
        self.pair = (nn.BatchNorm1d(2),)
        self.cache = [1, 2, 3]  # not a member container
        self.not_a_param = gs.Tensor(np.ones(2))

    def forward(self, x: Any) -> Any:
        h = self.fc(x) * self.scale
        for m in self.extra:
            h = m(h)
        return self.pair[0](self.table["b"](h) + self.table["a"])


def test_parameter_discovery_order_and_names() -> None:
    b = Block()
    names = [n for n, _ in b.named_parameters()]
    assert names == [
        "scale",
        "fc.weight",
        "fc.bias",
        "extra.0.weight",
        "extra.0.bias",
        "extra.1.weight",
        "extra.1.bias",
        "table.a",
        "table.b.weight",
        "table.b.bias",
        "pair.0.weight",
        "pair.0.bias",
    ]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in b.parameters())
    assert [n for n, _ in b.named_buffers()] == [
        "pair.0.running_mean",
        "pair.0.running_var",
        "pair.0.num_batches_tracked",
    ]
    assert [n for n, _ in b.named_children()] == ["fc", "extra.0", "extra.1", "table.b", "pair.0"]
    assert len(list(b.modules())) == 6
    sd = b.state_dict()
    assert list(sd)[:3] == ["scale", "fc.weight", "fc.bias"]
    assert "pair.0.num_batches_tracked" in sd and sd["pair.0.num_batches_tracked"].dtype == np.int64
    out = b(np.ones((5, 3), dtype=np.float32))
    assert out.shape == (5, 2) and out.dtype == np.float32
    assert b.num_parameters() == 4 + 16 + 20 + 10 + 2 + 6 + 4


def test_shared_parameters_once_in_parameters_twice_in_state_dict() -> None:
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_train_eval_recursive_and_dropout() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Dropout(0.5)))
    assert model.training and model[1][0].training
    model.eval()
    assert not model.training and not model[1][0].training
    x = gs.Tensor(np.ones((200, 4), dtype=np.float32))
    d = model[1][0]
    assert np.array_equal(d(x)._data, x._data)
    model.train()
    y = d(gs.Tensor(np.ones((400, 500), dtype=np.float32)))._data
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs(y.mean() - 1.0) < 0.02  # expectation kept
    # reproducible with the same seed, explicit generator honoured
    a = nn.Dropout(0.3, seed=5)(x)._data
    b = nn.Dropout(0.3, seed=5)(x)._data
    assert np.array_equal(a, b)
    c = nn.Dropout(0.3, generator=np.random.default_rng(5))(x)._data
    assert np.array_equal(a, c)
    assert np.all(nn.Dropout(1.0)(x)._data == 0)
    with pytest.raises(TypeError, match="generator"):
        F.dropout(x, 0.5, True)


def test_dropout_gradient_uses_the_mask() -> None:
    x = gs.Tensor(np.ones((10, 10)), requires_grad=True)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    assert np.array_equal(x._grad, y._data)


def test_zero_grad_modes() -> None:
    m = nn.Linear(3, 2)
    m(np.ones((1, 3), dtype=np.float32)).sum().backward()
    g = m.weight._grad
    assert g is not None
    m.zero_grad(set_to_none=False)
    assert m.weight._grad is g and np.all(g == 0)
    m.zero_grad()
    assert m.weight._grad is None


def test_layers_read_parameters_at_forward_time() -> None:
    m = nn.Linear(3, 2, bias=False)
    flat = np.zeros(6, dtype=np.float32)
    flat[:] = m.weight._data.ravel()
    m.weight._data = flat.reshape(2, 3)  # an optimizer rebinding to a flat-buffer view
    flat *= 2
    x = np.ones((1, 3), dtype=np.float32)
    np.testing.assert_allclose(m(x)._data, x @ flat.reshape(2, 3).T)
    # load_state_dict writes into the view in place
    m.load_state_dict({"weight": np.full((2, 3), 7.0)})
    assert np.all(flat == 7) and m.weight._data.base is flat


def test_load_state_dict_errors_and_non_strict() -> None:
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sd = m.state_dict()
    bad = dict(sd)
    del bad["0.bias"]
    bad["extra.weight"] = np.zeros(1)
    bad["0.weight"] = np.zeros((3, 3))
    before = m.state_dict()
    with pytest.raises(gs.CheckpointError) as ei:
        m.load_state_dict(bad)
    msg = str(ei.value)
    assert "0.bias" in msg and "extra.weight" in msg and "0.weight" in msg and "(3, 3)" in msg
    for k, v in m.state_dict().items():  # nothing written
        assert np.array_equal(v, before[k])
    ok = dict(sd)
    del ok["0.bias"]
    ok["junk"] = np.zeros(1)
    ok["1.running_mean"] = np.array([1.0, 2.0])
    res = m.load_state_dict(ok, strict=False)
    assert res.missing_keys == ["0.bias"] and res.unexpected_keys == ["junk"]
    assert np.array_equal(m[1].running_mean, [1.0, 2.0])
    with pytest.raises(gs.CheckpointError, match="mis-shaped"):
        m.load_state_dict({"0.weight": np.zeros(5)}, strict=False)
    with pytest.raises(gs.CheckpointError):
        m.load_state_dict([1, 2])  # type: ignore[arg-type]


def test_state_dict_is_a_copy() -> None:
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    sd["weight"][...] = 99
    assert not np.any(m.weight._data == 99)


def test_repr_shows_structure_and_counts() -> None:
    m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 10))
    r = repr(m)
    assert "(0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1))  # 80 parameters" in r
    assert "(3): Linear(in_features=8, out_features=10, bias=True)  # 90 parameters" in r
    assert r.startswith("Sequential(  # 170 parameters")
    assert "Parameter containing" in repr(m[0].weight)


def test_apply_and_containers() -> None:
    seen: list[str] = []
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]
    assert len(m) == 2 and isinstance(m[-1], nn.Sequential) and len(m[0:1]) == 1
    m.append(nn.Tanh())
    assert [type(x).__name__ for x in m] == ["Linear", "Sequential", "Tanh"]
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.Linear(2, 3))
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    md = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    md["dec"] = nn.Linear(2, 1)
    assert list(md) == ["enc", "dec"] and "dec" in md
    assert [n for n, _ in md.named_parameters()][-1] == "dec.bias"
    with pytest.raises(KeyError, match="nope"):
        md["nope"]
    with pytest.raises(TypeError):
        nn.Sequential(nn.Linear(2, 2), 3)  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = m.missing


def test_config_round_trip_rebuilds_the_architecture() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2, 1),
        nn.AdaptiveAvgPool2d((2, 2)),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(16, 8),
        nn.LayerNorm(8),
        nn.GELU("tanh"),
        nn.LeakyReLU(0.2),
        nn.Linear(8, 3, bias=False),
        nn.LogSoftmax(dim=1),
    )
    cfg = json.loads(json.dumps(model.to_config()))
    clone = nn.module_from_config(cfg)
    assert repr(clone) == repr(model)
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(model(x)._data, clone(x)._data)
    loss_cfg = nn.CrossEntropyLoss(weight=[1.0, 2.0], label_smoothing=0.1).to_config()
    assert nn.module_from_config(json.loads(json.dumps(loss_cfg))).label_smoothing == 0.1
    with pytest.raises(gs.CheckpointError, match="unknown module type"):
        nn.module_from_config({"type": "Nope"})


def test_same_construction_same_model_bit_for_bit() -> None:
    def build(gen: Any = None) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, generator=gen),
            nn.Linear(4, 3, generator=gen),
            nn.Embedding(5, 2, generator=gen),
        )

    # without a generator the weights come from the default generator (PyTorch's rule):
    # the same seed gives the same model, and consecutive builds differ
    gs.manual_seed(0)
    a = build()
    gs.manual_seed(0)
    b = build()
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert np.array_equal(v, w), k
    assert not np.array_equal(a[1].weight._data, build()[1].weight._data)
    c = build(np.random.default_rng(1))
    d = build(np.random.default_rng(1))
    e = build(np.random.default_rng(2))
    assert all(
        np.array_equal(x, y) for x, y in zip(c.state_dict().values(), d.state_dict().values())
    )
    assert not np.array_equal(c[0].weight._data, e[0].weight._data)


def test_dtypes() -> None:
    m32 = nn.Linear(3, 2)
    assert m32.weight.dtype == np.float32
    out = m32(np.ones((2, 3)))  # float64 numpy input: cast to the layer's dtype, no drift
    assert out.dtype == np.float32
    m64 = nn.Conv2d(1, 2, 3, dtype=np.float64)
    assert m64(np.ones((1, 1, 4, 4))).dtype == np.float64
    with pytest.raises(ValueError, match="float32 or float64"):
        nn.Linear(2, 2, dtype=np.int32)
    cnn = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 2),
    )
    y = cnn(np.ones((2, 1, 4, 4)))
    loss = nn.CrossEntropyLoss()(y, np.array([0, 1]))
    loss.backward()
    assert y.dtype == np.float32 and loss.dtype == np.float32
    assert all(p._grad.dtype == np.float32 for p in cnn.parameters())


def test_shape_errors_name_both_shapes() -> None:
    with pytest.raises(gs.ShapeError, match=r"784.*\(32, 100\)"):
        nn.Linear(784, 10)(np.zeros((32, 100), dtype=np.float32))
    with pytest.raises(gs.ShapeError, match=r"in_channels=3.*\(2, 1, 8, 8\)"):
        nn.Conv2d(3, 4, 3)(np.zeros((2, 1, 8, 8)))
    with pytest.raises(gs.ShapeError, match="smaller than the kernel"):
        nn.Conv2d(1, 4, 5)(np.zeros((2, 1, 3, 3)))
    with pytest.raises(gs.ShapeError, match="smaller than the kernel"):
        nn.MaxPool2d(4)(np.zeros((2, 1, 3, 3)))
    with pytest.raises(gs.ShapeError, match="num_features=3"):
        nn.BatchNorm2d(3)(np.zeros((2, 4, 3, 3)))
    with pytest.raises(gs.ShapeError, match="more than 1 value"):
        nn.BatchNorm1d(3)(np.zeros((1, 3)))
    with pytest.raises(gs.ShapeError, match="target shape"):
        nn.MSELoss()(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_cross_entropy_target_validation() -> None:
    x = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"non-integer values \[0.5\]"):
        F.cross_entropy(x, np.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match=r"out-of-range values \[-1, 4\]"):
        F.cross_entropy(x, np.array([0, 4, -1]))
    with pytest.raises(ValueError, match=r"out-of-range values \[7\]"):
        F.nll_loss(x, gs.Tensor([7.0, 1.0, 1.0]))
    with pytest.raises(gs.ShapeError, match="target must have shape"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([0, 1, 2]), reduction="avg")
    # gradstep tensors are float by default: whole-number float targets are class indices
    a = F.cross_entropy(x + 1, gs.Tensor([0.0, 3.0, 1.0]))
    b = F.cross_entropy(x + 1, np.array([0, 3, 1]))
    assert a.item() == b.item() == pytest.approx(np.log(4))
    # ignore_index is exempt from the range check
    assert np.isfinite(F.cross_entropy(x, np.array([0, -100, 1])).item())


def test_bce_rejects_non_probabilities() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy(np.array([0.5, 1.5]), np.array([0.0, 1.0]))


def test_deepcopy_gives_an_independent_model() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    c = copy.deepcopy(m)
    c[0].weight._data[...] = 0
    assert not np.all(m[0].weight._data == 0)
    assert isinstance(c[0].weight, nn.Parameter)


def test_no_grad_forward_records_nothing() -> None:
    m = nn.Linear(3, 2)
    with gs.no_grad():
        y = m(np.ones((1, 3), dtype=np.float32))
    assert not y.requires_grad


def test_to_dtype_and_registration_helpers() -> None:
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64 and m[1].num_batches_tracked.dtype == np.int64
    assert m(np.ones((4, 3))).dtype == np.float64
    m.float()
    assert m(np.ones((4, 3))).dtype == np.float32
    b = nn.Module()
    b.register_parameter("w", nn.Parameter(np.ones(2)))
    b.add_module("fc", nn.Linear(2, 2))
    assert [n for n, _ in b.named_parameters()] == ["w", "fc.weight", "fc.bias"]
    with pytest.raises(TypeError):
        b.add_module("x", 3)  # type: ignore[arg-type]
