"""Random numbers (default generator, manual_seed, Generator, samplers) and devices.

The streams are NumPy's, so values are not compared with PyTorch's; shapes, dtypes,
seeding behaviour and distributions are.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradstep as gs

torch = pytest.importorskip("torch")

SAMPLERS = {
    "rand": lambda L, **kw: L.rand(2, 3, **kw),
    "randn": lambda L, **kw: L.randn((2, 3), **kw),
    "randint": lambda L, **kw: L.randint(0, 10, (4,), **kw),
    "randint_high": lambda L, **kw: L.randint(5, (2, 2), **kw),
    "randperm": lambda L, **kw: L.randperm(6, **kw),
    "normal": lambda L, **kw: L.normal(0.0, 1.0, (3,), **kw),
    "normal_tensors": lambda L, **kw: L.normal(L.zeros(3), L.ones(3), **kw),
    "bernoulli": lambda L, **kw: L.bernoulli(L.full((5,), 0.5), **kw),
    "multinomial": lambda L, **kw: L.multinomial(L.tensor([0.2, 0.3, 0.5]), 2, **kw),
    "rand_like": lambda L, **kw: L.rand_like(L.zeros(2, dtype=L.float64), **kw),
    "randn_like": lambda L, **kw: L.randn_like(L.zeros(3), **kw),
    "randint_like": lambda L, **kw: L.randint_like(L.zeros(3, dtype=L.int32), 4, **kw),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_shape_and_dtype_match_torch(name: str) -> None:
    g = SAMPLERS[name](gs)
    t = SAMPLERS[name](torch)
    assert tuple(g.shape) == tuple(t.shape)
    assert g.dtype.name == str(t.dtype).removeprefix("torch.")


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_manual_seed_makes_draws_reproducible(name: str) -> None:
    gs.manual_seed(123)
    a = SAMPLERS[name](gs).numpy()
    b = SAMPLERS[name](gs).numpy()
    gs.manual_seed(123)
    np.testing.assert_array_equal(SAMPLERS[name](gs).numpy(), a)
    np.testing.assert_array_equal(SAMPLERS[name](gs).numpy(), b)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_generator_argument_is_independent_of_the_default(name: str) -> None:
    g1 = gs.Generator().manual_seed(7)
    first = SAMPLERS[name](gs, generator=g1).numpy()
    gs.manual_seed(0)
    SAMPLERS[name](gs)  # draws from the default generator do not move g1
    g2 = gs.Generator().manual_seed(7)
    np.testing.assert_array_equal(SAMPLERS[name](gs, generator=g2).numpy(), first)
    np.testing.assert_array_equal(
        SAMPLERS[name](gs, generator=np.random.default_rng(3)).numpy(),
        SAMPLERS[name](gs, generator=np.random.default_rng(3)).numpy(),
    )


def test_seed_functions_and_state() -> None:
    assert gs.manual_seed(5) is gs.default_generator
    assert gs.initial_seed() == 5
    state = gs.get_rng_state()
    a = gs.rand(4).numpy()
    gs.set_rng_state(state)
    np.testing.assert_array_equal(gs.rand(4).numpy(), a)
    s = gs.seed()
    assert isinstance(s, int) and gs.initial_seed() == s
    with pytest.raises(TypeError, match="generator"):
        gs.rand(2, generator=3)
    with pytest.raises(TypeError, match="int"):
        gs.manual_seed("0")  # type: ignore[arg-type]


def test_distributions() -> None:
    g = gs.Generator().manual_seed(0)
    n = 20000
    x = gs.randn(n, generator=g, dtype=gs.float64).numpy()
    # mean and std of 20000 standard normals: standard errors 0.007 and 0.005; 5 sigma
    assert abs(x.mean()) < 0.035 and abs(x.std() - 1) < 0.025
    u = gs.rand(n, generator=g).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.011
    r = gs.randint(3, 7, (n,), generator=g).numpy()
    assert set(np.unique(r)) == {3, 4, 5, 6}
    assert sorted(gs.randperm(10, generator=g).tolist()) == list(range(10))
    b = gs.bernoulli(gs.full((n,), 0.25, dtype=gs.float64), generator=g).numpy()
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.25) < 0.016
    m = gs.multinomial(gs.tensor([0.0, 1.0, 3.0]), n, replacement=True, generator=g).numpy()
    assert (m != 0).all() and abs((m == 2).mean() - 0.75) < 0.016
    w = gs.multinomial(gs.tensor([[1.0, 1.0, 1.0, 1.0]]), 4, generator=g).numpy()
    assert sorted(w[0].tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="without replacement"):
        gs.multinomial(gs.tensor([1.0, 1.0]), 3)


def test_in_place_samplers() -> None:
    g = gs.Generator().manual_seed(1)
    t = gs.zeros(1000).normal_(2.0, 0.5, generator=g)
    assert abs(t.numpy().mean() - 2.0) < 0.1
    u = gs.zeros(1000).uniform_(-1.0, 1.0, generator=g)
    assert u.numpy().min() >= -1.0 and u.numpy().max() < 1.0


def test_devices() -> None:
    assert gs.tensor([1.0]).device == gs.device("cpu")
    assert str(gs.device("cpu")) == "cpu" and gs.device("cpu:0").index == 0
    t = gs.tensor([1.0])
    assert t.to("cpu") is t and t.cpu() is t and not t.is_cuda
    assert not gs.cuda.is_available() and gs.cuda.device_count() == 0
    for bad in ("cuda", "cuda:0", "mps", gs.device("cuda")):
        with pytest.raises(gs.DeviceError, match="CPU"):
            t.to(bad)
    with pytest.raises(gs.DeviceError):
        gs.zeros(2, device="cuda")
    with pytest.raises(RuntimeError):  # DeviceError is a RuntimeError
        t.cuda()
    with pytest.raises(ValueError, match="unknown device"):
        gs.device("gpu")


def test_manual_seed_makes_layer_initialisation_reproducible() -> None:
    from gradstep import nn

    gs.manual_seed(0)
    a = nn.Linear(4, 3)
    b = nn.Linear(4, 3)
    gs.manual_seed(0)
    c = nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight._data, c.weight._data)
    assert not np.array_equal(a.weight._data, b.weight._data)  # independent draws, as PyTorch
    gs.manual_seed(1)
    assert not np.array_equal(nn.Linear(4, 3).weight._data, a.weight._data)
    g = gs.Generator().manual_seed(3)
    d = nn.Linear(4, 3, generator=g)
    e = nn.Linear(4, 3, generator=gs.Generator().manual_seed(3))
    np.testing.assert_array_equal(d.weight._data, e.weight._data)


def test_module_to_device_and_dtype() -> None:
    from gradstep import nn

    m = nn.Linear(2, 2, generator=np.random.default_rng(0))
    assert m.to("cpu") is m and m.cpu() is m
    assert m.to(gs.device("cpu"), gs.float64).weight.dtype == gs.float64
    assert m.to(dtype=gs.float32).weight.dtype == gs.float32
    with pytest.raises(gs.DeviceError):
        m.to("cuda")
    with pytest.raises(gs.DeviceError):
        m.cuda()
