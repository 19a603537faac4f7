"""DataLoader: batch sizes, epochs, reproducibility, resume, sharding (gradstep's extras)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradstep
from gradstep.data import ArrayDataset, DataLoader, Subset, global_batch_slices, shard_bounds
from gradstep.errors import DataError
from gradstep.tensor import Tensor


def _ds(n: int = 10) -> ArrayDataset:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return ArrayDataset(x, np.arange(n))


def _ys(loader: DataLoader) -> list[list[int]]:
    return [yb.tolist() for _, yb in loader]


@pytest.mark.parametrize(
    ("batch_size", "drop_last", "sizes"),
    [
        (1, False, [1] * 10),
        (3, False, [3, 3, 3, 1]),
        (3, True, [3, 3, 3]),
        (10, False, [10]),
        (12, True, []),
        ("full", True, [10]),
    ],
)
def test_batch_sizes(batch_size, drop_last, sizes):
    loader = DataLoader(_ds(), batch_size=batch_size, drop_last=drop_last, shuffle=True)
    got = [xb.shape[0] for xb, _ in loader]
    assert got == sizes
    assert len(loader) == len(sizes)


def test_batch_size_none_turns_batching_off():
    """PyTorch's meaning: batch_size=None yields the examples one by one, as tensors."""
    loader = DataLoader(_ds(4), batch_size=None)
    items = list(loader)
    assert len(loader) == 4 and len(items) == 4
    x0, y0 = items[2]
    assert isinstance(x0, Tensor) and x0.shape == (2,) and x0.tolist() == [4.0, 5.0]
    assert isinstance(y0, Tensor) and y0.shape == () and int(y0.item()) == 2


def test_defaults_are_pytorchs():
    loader = DataLoader(_ds(5))
    assert loader.batch_size == 1 and loader.shuffle is False and loader.drop_last is False
    assert _ys(loader) == [[0], [1], [2], [3], [4]]
    xb, yb = next(iter(loader))
    assert isinstance(xb, Tensor) and xb.dtype == gradstep.float32
    assert isinstance(yb, Tensor) and yb.dtype == gradstep.int64


def test_every_example_once_per_epoch_and_pairs_kept():
    loader = DataLoader(_ds(23), batch_size=4, shuffle=True)
    for _ in range(3):
        seen = []
        for xb, yb in loader:
            np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # x and y stay aligned
            seen.extend(yb.tolist())
        assert sorted(seen) == list(range(23))


def test_new_permutation_each_epoch_reproducible_with_seed():
    a = DataLoader(_ds(20), batch_size=5, shuffle=True, generator=np.random.default_rng(7))
    b = DataLoader(_ds(20), batch_size=5, shuffle=True, generator=np.random.default_rng(7))
    ea1, ea2 = _ys(a), _ys(a)
    assert ea1 == _ys(b) and ea2 == _ys(b)
    assert ea1 != ea2
    g1, g2 = gradstep.Generator().manual_seed(3), gradstep.Generator().manual_seed(3)
    assert _ys(DataLoader(_ds(20), batch_size=5, shuffle=True, generator=g1)) == _ys(
        DataLoader(_ds(20), batch_size=5, shuffle=True, generator=g2))


def test_no_generator_follows_manual_seed():
    """generator=None draws each epoch's order from the default generator, as PyTorch."""
    def two_epochs():
        loader = DataLoader(_ds(20), batch_size=5, shuffle=True)
        return _ys(loader), _ys(loader)

    gradstep.manual_seed(4)
    first = two_epochs()
    gradstep.manual_seed(4)
    assert two_epochs() == first
    assert first[0] != first[1]


def test_no_shuffle_keeps_order():
    assert _ys(DataLoader(_ds(5), batch_size=2, shuffle=False)) == [[0, 1], [2, 3], [4]]


def test_x_only_dataset_and_array_input():
    x = np.arange(6.0)
    batches = list(DataLoader(x, batch_size=4, shuffle=False))
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5]]
    (xb, yb), = list(DataLoader((x, x * 2), batch_size="full"))
    np.testing.assert_array_equal(yb.numpy(), xb.numpy() * 2)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "all", "3"])
def test_batch_size_validation(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=bad)


def test_generator_and_shard_validation():
    with pytest.raises(TypeError, match="generator"):
        DataLoader(_ds(), generator=0)  # type: ignore[arg-type]
    for bad in [(2, 2), (-1, 2), (0, 0), 3, (0, 1, 2)]:
        with pytest.raises(ValueError, match="shard"):
            DataLoader(_ds(), shard=bad)  # type: ignore[arg-type]


def test_batches_use_vectorised_indexing():
    class Spy(ArrayDataset):
        calls: list = []

        def __getitem__(self, index):
            self.calls.append(("item", index))
            return super().__getitem__(index)

        def gather(self, indices):
            self.calls.append(("gather", indices.shape))
            return super().gather(indices)

    ds = Spy(np.zeros((9, 2)), np.zeros(9))
    list(DataLoader(ds, batch_size=4, shuffle=True))
    assert ds.calls == [("gather", (4,)), ("gather", (4,)), ("gather", (1,))]
    ds.calls.clear()
    list(DataLoader(Subset(ds, [8, 0, 3]), batch_size=2))  # a Subset gathers through its parent
    assert ds.calls == [("gather", (2,)), ("gather", (1,))]


@pytest.mark.parametrize("stop_after", [0, 1, 3, 4])
def test_state_dict_resume_mid_epoch_is_exact(stop_after):
    n, bs = 22, 5  # 5 batches per epoch
    ref = DataLoader(_ds(n), batch_size=bs, shuffle=True, generator=np.random.default_rng(3))
    ref_batches = _ys(ref) + _ys(ref) + _ys(ref)

    run = DataLoader(_ds(n), batch_size=bs, shuffle=True, generator=np.random.default_rng(3))
    got = _ys(run)  # epoch 0 complete
    it = iter(run)
    for _ in range(stop_after):
        got.append(next(it)[1].tolist())
    state = json.loads(json.dumps(run.state_dict()))  # must survive JSON
    assert state["epoch"] == 1 and state["batch_index"] == stop_after

    fresh = DataLoader(_ds(n), batch_size=bs, shuffle=True, generator=np.random.default_rng(999))
    fresh.load_state_dict(state)
    got += _ys(fresh)  # rest of epoch 1
    got += _ys(fresh)  # epoch 2
    assert got == ref_batches
    assert fresh.epoch == 3


def test_state_after_last_batch_points_to_next_epoch():
    def mk():
        return DataLoader(_ds(6), batch_size=3, shuffle=True, generator=np.random.default_rng(0))

    loader = mk()
    it = iter(loader)
    next(it)
    next(it)  # last batch consumed; StopIteration not yet triggered
    st = loader.state_dict()
    assert (st["epoch"], st["batch_index"]) == (1, 0)
    other = mk()
    _ys(other)
    fresh = mk()
    fresh.load_state_dict(st)
    assert _ys(fresh) == _ys(other)


def test_abandoned_epoch_starts_new_one():
    loader = DataLoader(_ds(8), batch_size=2)
    next(iter(loader))
    assert loader.epoch == 0
    list(loader)
    assert loader.epoch == 2


def test_load_state_dict_validation():
    loader = DataLoader(_ds(10), batch_size=3, generator=np.random.default_rng(0))
    st = loader.state_dict()
    with pytest.raises(DataError, match="batch_size"):
        DataLoader(_ds(10), batch_size=4).load_state_dict(st)
    with pytest.raises(DataError, match="num_examples"):
        DataLoader(_ds(11), batch_size=3).load_state_dict(st)
    with pytest.raises(DataError, match="missing"):
        loader.load_state_dict({"epoch": 0})
    with pytest.raises(DataError, match="batch_index"):
        loader.load_state_dict({**st, "batch_index": 4})
    with pytest.raises(DataError, match="generator"):
        mt = DataLoader(_ds(10), batch_size=3, generator=np.random.Generator(np.random.MT19937(0)))
        mt.load_state_dict(st)


def test_state_dict_with_mt19937_array_state_roundtrips_json():
    def mk():
        return DataLoader(_ds(10), batch_size=3, shuffle=True,
                          generator=np.random.Generator(np.random.MT19937(5)))

    a = mk()
    it = iter(a)
    next(it)
    st = json.loads(json.dumps(a.state_dict()))
    rest = [b[1].tolist() for b in it]
    b = mk()
    b.load_state_dict(st)
    assert _ys(b) == rest


def test_shard_helpers():
    assert global_batch_slices(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert global_batch_slices(10, 4, drop_last=True) == [slice(0, 4), slice(4, 8)]
    assert [shard_bounds(5, r, 3) for r in range(3)] == [(0, 1), (1, 3), (3, 5)]


@pytest.mark.parametrize(("n", "b", "k", "drop_last"), [(23, 3, 2, False), (23, 3, 4, False),
                                                         (24, 2, 3, True), (5, 2, 4, False)])
def test_shards_disjoint_covering_and_equal_single_process(n, b, k, drop_last):
    ds = _ds(n)
    single = DataLoader(ds, batch_size=b * k, drop_last=drop_last, shuffle=True,
                        generator=np.random.default_rng(11))
    ranks = [DataLoader(ds, batch_size=b, drop_last=drop_last, shard=(r, k), shuffle=True,
                        generator=np.random.default_rng(11)) for r in range(k)]
    assert all(len(r) == len(single) for r in ranks)
    glob = single.global_batch_indices()
    assert [g.tolist() for g in ranks[0].global_batch_indices()] == [g.tolist() for g in glob]
    for _ in range(2):  # two epochs
        per_rank = [_ys(r) for r in ranks]
        ref = _ys(single)
        for t, ref_batch in enumerate(ref):
            pieces = [per_rank[r][t] for r in range(k)]
            assert sum(pieces, []) == ref_batch  # contiguous split of the global batch
        covered = sorted(sum((sum(pr, []) for pr in per_rank), []))
        if not drop_last:
            assert covered == list(range(n))  # disjoint and covering
        else:
            assert len(covered) == len(set(covered))


def test_full_batch_sharded():
    ranks = [DataLoader(_ds(7), batch_size="full", shard=(r, 3)) for r in range(3)]
    parts = [_ys(r)[0] for r in ranks]
    assert [len(p) for p in parts] == [2, 2, 3]
    assert sorted(sum(parts, [])) == list(range(7))


def test_batch_indices_preview_does_not_advance():
    loader = DataLoader(_ds(9), batch_size=4, shuffle=True, generator=np.random.default_rng(1))
    plan = [p.tolist() for p in loader.batch_indices()]
    assert _ys(loader) == plan
    it = iter(loader)
    first = next(it)[1].tolist()
    assert loader.batch_indices()[0].tolist() == first  # mid-epoch: the current epoch's plan


def test_subset_through_loader():
    sub = Subset(_ds(10), [9, 8, 7])
    assert sorted(sum(_ys(DataLoader(sub, batch_size=2)), [])) == [7, 8, 9]


def test_empty_dataset():
    loader = DataLoader(ArrayDataset(np.zeros((0, 3))), batch_size=4)
    assert len(loader) == 0 and list(loader) == []


def test_resume_without_generator_is_exact():
    """generator=None: the epoch's own stream is saved, so resuming repeats it exactly."""
    gradstep.manual_seed(9)
    run = DataLoader(_ds(12), batch_size=5, shuffle=True)
    it = iter(run)
    seen = [next(it)[1].tolist()]
    state = json.loads(json.dumps(run.state_dict()))
    rest = [b[1].tolist() for b in it]
    gradstep.manual_seed(123)  # the default generator moved on: the resume must not use it
    fresh = DataLoader(_ds(12), batch_size=5, shuffle=True)
    fresh.load_state_dict(state)
    assert _ys(fresh) == rest and len(seen + rest) == 3


def test_custom_sampler_resume_skips_seen_batches():
    from gradstep.data import SequentialSampler

    def mk():
        return DataLoader(_ds(7), batch_size=2, sampler=SequentialSampler(range(7)))

    a = mk()
    it = iter(a)
    next(it)
    st = a.state_dict()
    b = mk()
    b.load_state_dict(st)
    assert _ys(b) == [[2, 3], [4, 5], [6]]
    assert len(a) == 4


def test_loaders_bundle_is_a_dataset():
    """What load_iris() & co. return goes straight into a DataLoader (one gather per batch)."""
    from gradstep.data import DataBundle, load_iris

    pytest.importorskip("sklearn")
    bundle = load_iris()
    assert isinstance(bundle, DataBundle) and len(bundle) == 150
    x0, y0 = bundle[0]
    assert x0.shape == (4,) and int(y0) == int(bundle.y[0])
    batches = list(DataLoader(bundle, batch_size=64))
    assert [len(b[1]) for b in batches] == [64, 64, 22]
    np.testing.assert_array_equal(batches[1][0].numpy(), bundle.x[64:128])
    assert batches[0][1].dtype == gradstep.int64
