"""gradstep.distributed in a world of one process (no MPI needed)."""

from __future__ import annotations

import numpy as np
import pytest

import gradstep as gs
import gradstep.distributed as dist
from gradstep.data import DataLoader
from gradstep.errors import ConfigError
from gradstep.optim import SGD, flatten_parameters


@pytest.fixture(autouse=True)
def _no_comm():
    saved = dist.get_comm()
    dist._reset_for_tests()
    yield
    dist._COMM = saved


def test_world_of_one_before_init():
    assert not dist.is_initialized()
    assert (dist.rank(), dist.world_size(), dist.is_main(), dist.shard()) == (0, 1, True, (0, 1))
    dist.barrier()


def test_init_if_launched_stays_single_process_without_a_launcher(monkeypatch):
    monkeypatch.setenv("GRADSTEP_DISTRIBUTED", "0")
    assert dist.init_if_launched() is False
    assert not dist.is_initialized()


def test_launched_by_mpi_reads_launcher_variables(monkeypatch):
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE",
                "GRADSTEP_DISTRIBUTED"):
        monkeypatch.delenv(var, raising=False)
    assert not dist.launched_by_mpi()
    monkeypatch.setenv("PMI_SIZE", "1")
    assert not dist.launched_by_mpi()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert dist.launched_by_mpi()
    monkeypatch.setenv("GRADSTEP_DISTRIBUTED", "0")
    assert not dist.launched_by_mpi()
    monkeypatch.setenv("GRADSTEP_DISTRIBUTED", "1")
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    assert dist.launched_by_mpi()


@pytest.mark.parametrize("n, b, k", [(19, 3, 2), (23, 2, 3), (5, 4, 3), (12, 2, 3)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shards_are_disjoint_cover_and_match_the_loader(n, b, k, drop_last):
    plans = [
        dist.DistributedSampler(n, b, generator=np.random.default_rng(5), rank=r, world_size=k,
                                drop_last=drop_last).epoch_plan()
        for r in range(k)
    ]
    single = DataLoader(np.arange(n), batch_size=k * b, generator=np.random.default_rng(5),
                        drop_last=drop_last, shuffle=True)
    steps = list(single)
    assert all(len(p) == len(steps) for p in plans)
    for t, batch in enumerate(steps):
        parts = [plans[r][t][0] for r in range(k)]
        assert all(plans[r][t][1] == len(batch) for r in range(k))
        np.testing.assert_array_equal(np.concatenate(parts), batch)
    for r in range(k):
        loader = DataLoader(np.arange(n), batch_size=b, generator=np.random.default_rng(5),
                            drop_last=drop_last, shard=(r, k), shuffle=True)
        for (idx, _), got in zip(plans[r], loader, strict=True):
            np.testing.assert_array_equal(idx, got)


def test_sampler_new_permutation_each_epoch_and_validation():
    s = dist.DistributedSampler(10, 2, generator=np.random.default_rng(0), rank=1, world_size=2)
    assert len(s) == 3 and s.global_batch_size == 4
    a, b = list(s), list(s)
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ConfigError, match="rank"):
        dist.DistributedSampler(10, 2, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="batch_size"):
        dist.DistributedSampler(10, 0)
    with pytest.raises(TypeError, match="generator"):
        dist.DistributedSampler(10, 2, generator=3)  # type: ignore[arg-type]


def _params(rng, dtype=np.float64):
    return [gs.Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
            for s in [(3, 4), (4,), (2, 2)]]


@pytest.mark.parametrize("kind", ["list", "flat-optimizer", "optimizer", "flatbuffer"])
def test_averager_in_a_world_of_one_divides_by_the_count(rng, kind):
    params = _params(rng)
    if kind == "list":
        target = params
    elif kind == "flatbuffer":
        target = flatten_parameters(params)
    else:
        target = SGD(params, lr=0.1, flat=kind == "flat-optimizer")
    for p in params:
        p._grad = None
    grads = [rng.standard_normal(p.shape) for p in params]
    for p, g in zip(params, grads):
        if p._grad is None:
            p._grad = g.copy()
        else:
            p._grad[...] = g
    av = dist.GradientAverager(target)
    assert av.numel == 12 + 4 + 4
    assert av.reduce(4) == 4
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p._grad, g / 4, rtol=1e-15)
    assert av.reduce(4, reduction="mean") == 4
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p._grad, g / 4, rtol=1e-15)


def test_averager_empty_shard_contributes_zeros_and_none_grads(rng):
    params = _params(rng)
    params[0]._grad = np.full(params[0].shape, np.nan)
    av = dist.GradientAverager(params)
    bufs = av.pack(0)
    assert all(not b.any() for b in bufs)
    av.finish(5)
    for p in params:
        assert p._grad is not None and not p._grad.any()


def test_averager_mixed_dtypes_use_one_buffer_per_dtype(rng):
    params = _params(rng) + _params(rng, np.float32)
    for p in params:
        p._grad = np.ones(p.shape, p.dtype)
    av = dist.GradientAverager(params)
    bufs = av.pack(2, "mean")
    assert sorted(str(b.dtype) for b in bufs) == ["float32", "float64"]
    av.finish(4)
    for p in params:
        assert p._grad.dtype == p.dtype
        np.testing.assert_allclose(p._grad, 0.5)


def test_averager_validates(rng):
    av = dist.GradientAverager(_params(rng))
    with pytest.raises(ConfigError, match="reduction"):
        av.pack(1, "max")
    with pytest.raises(ValueError, match="local_count"):
        av.pack(-1)
    with pytest.raises(TypeError, match="local_count"):
        av.pack(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parameter 0"):
        dist.GradientAverager([np.zeros(3)])


def test_reductions_and_broadcast_are_identity_for_one_rank(rng):
    np.testing.assert_array_equal(dist.allreduce_sum([1.0, 2.0]), [1.0, 2.0])
    assert dist.broadcast_json({"a": [1, "x"]}) == {"a": [1, "x"]}
    assert dist.reduce_mean({"loss": 2.0, "acc": 0.5}, 4) == {"loss": 2.0, "acc": 0.5}
    params = _params(rng)
    before = [p._data.copy() for p in params]
    dist.broadcast_parameters(params)
    dist.assert_synchronized(params)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p._data, b)


def test_averager_takes_a_module_even_with_a_flat_attribute(rng):
    class Net:
        def __init__(self) -> None:
            self.ps = _params(rng)
            self.flat = "a layer called flat"

        def parameters(self):
            return self.ps

    net = Net()
    for p in net.ps:
        p._grad = np.full(p.shape, 3.0)
    dist.GradientAverager(net).reduce(3)
    for p in net.ps:
        np.testing.assert_allclose(p._grad, 1.0)
