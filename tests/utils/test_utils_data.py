"""gradstep.utils.data against torch.utils.data: collation, datasets, samplers, the loader."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

import gradstep
import gradstep.data
from gradstep.tensor import Tensor
from gradstep.utils import data as gd

torch = pytest.importorskip("torch")
td = torch.utils.data
pytestmark = pytest.mark.torch

Pair = collections.namedtuple("Pair", "a b")


def _same(ours, theirs):
    """Same structure, container types, dtypes and values (collation copies values only)."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, Tensor), type(ours)
        assert str(ours.numpy().dtype) == str(theirs.numpy().dtype)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    else:
        assert ours == theirs


def _torchify(sample):
    if isinstance(sample, Tensor):
        return torch.from_numpy(sample.numpy().copy())
    if isinstance(sample, dict):
        return {k: _torchify(v) for k, v in sample.items()}
    if isinstance(sample, Pair):
        return Pair(*(_torchify(v) for v in sample))
    if isinstance(sample, (list, tuple)):
        return type(sample)(_torchify(v) for v in sample)
    return sample


SAMPLES = {
    "python floats": [1.5, 2.0, -3.25],
    "python ints": [1, 2, 3],
    "bools": [True, False, True],
    "numpy float32 scalars": [np.float32(1.5), np.float32(2)],
    "numpy int32 scalars": [np.int32(1), np.int32(7)],
    "numpy float64 arrays": [np.arange(3.0), np.ones(3)],
    "numpy uint8 images": [np.full((2, 2), 7, np.uint8), np.zeros((2, 2), np.uint8)],
    "tuples": [(np.ones(2, np.float32), 3), (np.zeros(2, np.float32), 4)],
    "lists": [[1, 2.5], [3, 4.5]],
    "dicts": [{"x": np.ones(2), "y": 1, "name": "a"}, {"x": np.zeros(2), "y": 0, "name": "b"}],
    "named tuples": [Pair(1, 2.0), Pair(3, 4.0)],
    "strings": ["a", "b"],
    "tensors": [gradstep.tensor([1.0, 2.0]), gradstep.tensor([3.0, 4.0])],
    "int tensors": [gradstep.tensor(3), gradstep.tensor(4)],
    "nested": [({"k": [1, 2]}, np.float64(1)), ({"k": [3, 4]}, np.float64(2))],
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_default_collate_matches_torch(name):
    batch = SAMPLES[name]
    _same(gd.default_collate(batch), td.default_collate([_torchify(s) for s in batch]))


@pytest.mark.parametrize("sample", [np.arange(3.0), (np.ones(2), 3), {"a": np.int16(2)}, 5])
def test_default_convert_matches_torch(sample):
    _same(gd.default_convert(sample), td.default_convert(sample))


def test_default_collate_errors_match_torch():
    for bad, exc in ([object(), object()], TypeError), ([np.array(["a"])], TypeError), (
            [[1, 2], [3]], RuntimeError):
        with pytest.raises(exc):
            td.default_collate(bad)
        with pytest.raises(exc):
            gd.default_collate(bad)


class Squares(gd.Dataset):
    """A per-example map-style dataset, as users write for PyTorch."""

    def __init__(self, n, lib):
        self.n, self.lib = n, lib

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.array([i, i * i], dtype=np.float32)
        return (torch.from_numpy(x) if self.lib == "torch" else gradstep.from_numpy(x)), i % 3


@pytest.mark.parametrize(("bs", "drop_last"), [(1, False), (4, False), (4, True), (None, False)])
def test_map_style_loader_matches_torch(bs, drop_last):
    ours = list(gd.DataLoader(Squares(10, "gs"), batch_size=bs, drop_last=drop_last))
    theirs = list(td.DataLoader(Squares(10, "torch"), batch_size=bs, drop_last=drop_last))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        _same(a, b)


def test_tensor_dataset_subset_concat_match_torch():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ours = gd.TensorDataset(gradstep.from_numpy(x), gradstep.from_numpy(y))
    theirs = td.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == len(theirs) == 10
    _same(ours[3], theirs[3])
    _same(gd.Subset(ours, [7, 2])[1], td.Subset(theirs, [7, 2])[1])
    cat_o, cat_t = ours + gd.Subset(ours, [0, 1]), theirs + td.Subset(theirs, [0, 1])
    assert len(cat_o) == len(cat_t) == 12 and cat_o.cumulative_sizes == cat_t.cumulative_sizes
    for i in (0, 9, 10, 11, -1, -12):
        _same(cat_o[i], cat_t[i])
    with pytest.raises(ValueError):
        cat_o[-13]
    with pytest.raises(ValueError, match="size mismatch"):
        gd.TensorDataset(gradstep.zeros(3), gradstep.zeros(4))
    for bs in (3, 10):
        for a, b in zip(gd.DataLoader(ours, batch_size=bs), td.DataLoader(theirs, batch_size=bs)):
            _same(a, b)


def test_fast_path_equals_per_example_path():
    """gather() gives exactly the batch default_collate builds from the examples (copies)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(13, 3)).astype(np.float32), rng.integers(0, 5, 13)
    for ds in (gd.TensorDataset(gradstep.from_numpy(x), gradstep.from_numpy(y)),
               gradstep.data.ArrayDataset(x, y), gradstep.data.ArrayDataset(x)):
        idx = np.array([4, 0, 12, 7])
        fast = gradstep.data.collate.as_batch_tensors(ds.gather(idx))
        slow = gd.default_collate([ds[int(i)] for i in idx])
        _same(fast, _torchify(slow))


@pytest.mark.parametrize(
    ("lengths", "sizes"),
    [([3, 7], [3, 7]), ([0.3, 0.3, 0.4], [3, 3, 4]), ([0.33, 0.33, 0.34], [4, 3, 3]),
     ([0.5, 0.5], [5, 5])],
)
def test_random_split_lengths_match_torch(lengths, sizes):
    theirs = td.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
    ours = gd.random_split(range(10), lengths, generator=gradstep.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs] == sizes
    got = sorted(int(i) for s in ours for i in s.indices)
    assert got == list(range(10))


def test_random_split_errors_and_generators():
    with pytest.raises(ValueError, match="sum of input lengths"):
        gd.random_split(range(10), [3, 3])
    with pytest.raises(ValueError):
        gd.random_split(range(10), [0.5, -0.5, 1.0])
    a = gd.random_split(range(10), [5, 5], generator=gradstep.Generator().manual_seed(1))
    b = gd.random_split(range(10), [5, 5], generator=gradstep.Generator().manual_seed(1))
    assert a[0].indices.tolist() == b[0].indices.tolist()
    gradstep.manual_seed(2)
    c = gd.random_split(range(10), [5, 5])
    gradstep.manual_seed(2)
    assert gd.random_split(range(10), [5, 5])[0].indices.tolist() == c[0].indices.tolist()


def test_samplers():
    assert list(gd.SequentialSampler(range(4))) == list(td.SequentialSampler(range(4)))
    g = gradstep.Generator().manual_seed(0)
    perm = list(gd.RandomSampler(range(6), generator=g))
    assert sorted(perm) == list(range(6))
    drawn = list(gd.RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(drawn) == 50 and set(drawn) <= {0, 1, 2}
    long = list(gd.RandomSampler(range(4), num_samples=10, generator=g))
    assert sorted(long[:4]) == list(range(4)) and sorted(long[4:8]) == list(range(4))
    sub = list(gd.SubsetRandomSampler([10, 20, 30], generator=g))
    assert sorted(sub) == [10, 20, 30]
    for ours, theirs in [(gd.BatchSampler(range(7), 3, False), td.BatchSampler(range(7), 3, False)),
                         (gd.BatchSampler(range(7), 3, True), td.BatchSampler(range(7), 3, True))]:
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_weighted_random_sampler_frequencies():
    w = [0.1, 0.0, 0.6, 0.3]
    s = gd.WeightedRandomSampler(w, 20000, generator=gradstep.Generator().manual_seed(0))
    counts = np.bincount(list(s), minlength=4) / 20000
    # 20000 draws: the standard error of each frequency is below 0.0035; 0.02 is > 5 sigma
    np.testing.assert_allclose(counts, w, atol=0.02)
    no_rep = list(gd.WeightedRandomSampler(w, 3, replacement=False,
                                           generator=gradstep.Generator().manual_seed(1)))
    assert sorted(no_rep) == [0, 2, 3]
    with pytest.raises(ValueError, match="num_samples"):
        gd.WeightedRandomSampler(w, 4, replacement=False)
    with pytest.raises(ValueError, match="weights"):
        gd.WeightedRandomSampler([-1.0, 2.0], 2)


def test_loader_option_errors_match_torch():
    ds = Squares(5, "gs")
    cases = [dict(sampler=gd.SequentialSampler(ds), shuffle=True),
             dict(batch_sampler=gd.BatchSampler(range(5), 2, False), batch_size=2),
             dict(batch_size=None, drop_last=True),
             dict(prefetch_factor=2),
             dict(persistent_workers=True)]
    for kw in cases:
        with pytest.raises(ValueError):
            td.DataLoader(Squares(5, "torch"), **kw)
        with pytest.raises(ValueError):
            gd.DataLoader(ds, **kw)


def test_batch_sampler_and_sampler_options():
    ds = gradstep.data.ArrayDataset(np.arange(10))
    bs = gd.BatchSampler(gd.SequentialSampler(ds), 4, drop_last=False)
    got = [b.tolist() for b in gd.DataLoader(ds, batch_sampler=bs)]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    sub = gd.SubsetRandomSampler([1, 3, 5], generator=gradstep.Generator().manual_seed(0))
    got = [b.tolist() for b in gd.DataLoader(ds, batch_size=2, sampler=sub)]
    assert sorted(sum(got, [])) == [1, 3, 5] and [len(b) for b in got] == [2, 1]

    def collate(items):
        return sum(int(i) for i in items)

    assert list(gd.DataLoader(ds, batch_size=5, collate_fn=collate)) == [10, 35]


class Stream(gd.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def test_iterable_dataset_matches_torch():
    class TorchStream(td.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    for kw in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}):
        ours = list(gd.DataLoader(Stream(7), **kw))
        theirs = list(td.DataLoader(TorchStream(), **kw))
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    with pytest.raises(ValueError):
        gd.DataLoader(Stream(3), shuffle=True)
    assert [b.tolist() for b in gd.DataLoader(Stream(2) + Stream(3), batch_size=2)] == [
        [0, 1], [0, 1], [2]]


def test_same_classes_under_both_paths():
    assert gd.DataLoader is gradstep.data.DataLoader
    assert gd.Dataset is gradstep.data.Dataset
    assert gradstep.utils.data is gd
    assert issubclass(gradstep.data.ArrayDataset, gd.Dataset)
    # the loaders' result type has its own name; Dataset is PyTorch's base class
    assert dataclasses.is_dataclass(gradstep.data.DataBundle)
    assert not dataclasses.is_dataclass(gd.Dataset)
    assert isinstance(gradstep.data.load_iris(), gradstep.data.DataBundle)


def test_pytorch_style_script_runs_on_gradstep():
    """The shape of a PyTorch training loop over a map-style dataset, with renamed imports."""
    from gradstep import nn, optim

    gradstep.manual_seed(0)
    model = nn.Linear(2, 3)
    opt = optim.SGD(model.parameters(), lr=0.01)
    loader = gd.DataLoader(Squares(12, "gs"), batch_size=4, shuffle=True)
    losses = []
    for x, label in loader:
        x, label = x.to("cpu"), label.to("cpu")
        assert x.numel() == 8 and label.dtype == gradstep.int64
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x / 100.0), label)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert len(losses) == 3 and all(np.isfinite(losses))


class Blobs:
    """A map-style dataset written once for both libraries (arrays in, the library's tensors
    out), as a PyTorch user writes one."""

    def __init__(self, lib):
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(40, 5)).astype(np.float32)
        self.y = (self.x.sum(axis=1) > 0).astype(np.int64) + (self.x[:, 0] > 1)
        self.lib = lib

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i] * 2.0
        return (torch.from_numpy(x) if self.lib is torch else gradstep.from_numpy(x)), int(self.y[i])


def test_training_script_step_by_step_against_torch():
    """The same loop over the same map-style data, from the same weights: same losses."""
    from gradstep import nn, optim

    gs_model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    th_model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p, q in zip(gs_model.parameters(), th_model.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))
    runs = {}
    for lib, model, opt_mod, data_mod, f in (
            (gradstep, gs_model, optim, gd, nn.functional),
            (torch, th_model, torch.optim, td, torch.nn.functional)):
        opt = opt_mod.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = data_mod.DataLoader(Blobs(lib), batch_size=8, drop_last=True)
        losses = []
        for _ in range(2):
            for x, label in loader:
                opt.zero_grad()
                loss = f.cross_entropy(model(x), label)
                loss.backward()
                opt.step()
                losses.append(loss.item())
        runs[lib.__name__] = losses
    assert len(runs["gradstep"]) == 10
    # float32 arithmetic in different kernel orders: agreement to 1e-5 relative
    np.testing.assert_allclose(runs["gradstep"], runs["torch"], rtol=1e-5)


def test_generic_subscripts_as_in_typed_pytorch_code():
    class Ints(gd.Dataset[int]):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return i

    class Evens(gd.Sampler[int]):
        def __iter__(self):
            return iter([0, 2])

    assert issubclass(Ints, gd.Dataset)
    assert [b.tolist() for b in gd.DataLoader(Ints(), batch_size=2, sampler=Evens())] == [[0, 2]]
