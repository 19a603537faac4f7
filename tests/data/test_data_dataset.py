"""ArrayDataset, Subset, random_split, stratified/train-test splits."""

from __future__ import annotations

import numpy as np
import pytest

from gradstep.data import (
    ArrayDataset,
    Subset,
    random_split,
    stratified_split,
    stratified_split_indices,
    train_test_split,
)
from gradstep.errors import DataError


def test_array_dataset_basics():
    x = np.arange(12.0).reshape(6, 2)
    y = np.arange(6)
    ds = ArrayDataset(x, y)
    assert len(ds) == 6
    xb, yb = ds[np.array([4, 1])]
    np.testing.assert_array_equal(xb, x[[4, 1]])
    np.testing.assert_array_equal(yb, [4, 1])
    x0, y0 = ds[-1]
    assert y0 == 5 and x0.tolist() == [10.0, 11.0]
    assert ds.x is not None and ds.y is not None
    assert ArrayDataset(x)[2].tolist() == [4.0, 5.0]
    assert ds[1:3][1].tolist() == [1, 2]


def test_array_dataset_errors():
    with pytest.raises(DataError, match=r"len\(x\)=3.*len\(y\)=2"):
        ArrayDataset(np.zeros((3, 1)), np.zeros(2))
    with pytest.raises(DataError):
        ArrayDataset(np.float32(1.0))
    ds = ArrayDataset(np.zeros((3, 1)))
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(IndexError):
        ds[np.array([0, 5])]
    with pytest.raises(TypeError):
        ds[np.array([0.5])]


def test_subset_and_errors():
    ds = ArrayDataset(np.arange(5.0), np.arange(5))
    sub = Subset(ds, [3, 1])
    assert len(sub) == 2
    assert sub[np.array([1, 0])][1].tolist() == [1, 3]
    assert sub.x.tolist() == [3.0, 1.0] and sub.y is not None and sub.y.tolist() == [3, 1]
    with pytest.raises(DataError):
        Subset(ds, [7])
    with pytest.raises(DataError):
        Subset(ds, [[1]])


@pytest.mark.parametrize(("lengths", "sizes"), [([7, 3], [7, 3]), ([0.5, 0.5], [5, 5]),
                                                ([0.34, 0.33, 0.33], [4, 3, 3])])
def test_random_split(lengths, sizes):
    ds = ArrayDataset(np.arange(10.0), np.arange(10))
    parts = random_split(ds, lengths, np.random.default_rng(0))
    assert [len(p) for p in parts] == sizes
    allidx = np.concatenate([p.indices for p in parts])
    assert sorted(allidx.tolist()) == list(range(10))
    again = random_split(ds, lengths, np.random.default_rng(0))
    assert [p.indices.tolist() for p in parts] == [p.indices.tolist() for p in again]


@pytest.mark.parametrize("bad", [[5, 4], [0.5, 0.6], [-1, 11], []])
def test_random_split_errors(bad):
    with pytest.raises(ValueError):
        random_split(ArrayDataset(np.arange(10.0)), bad)


def test_stratified_split_proportions():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [100, 50, 10])
    x = np.arange(len(y))[:, None].astype(np.float32)
    xtr, xte, ytr, yte = stratified_split(x, y, test_size=0.2, generator=rng)
    assert len(yte) == 32 and len(ytr) == 128
    assert np.bincount(yte).tolist() == [20, 10, 2]
    # rows stay paired and nothing is lost or duplicated
    np.testing.assert_array_equal(y[xtr[:, 0].astype(int)], ytr)
    assert sorted(np.concatenate([xtr[:, 0], xte[:, 0]]).tolist()) == list(range(160))


def test_stratified_split_rounding_and_strings():
    y = np.array(["a"] * 7 + ["b"] * 3 + ["c"] * 3)
    tr, te = stratified_split_indices(y, test_size=0.3)
    assert len(te) == 4  # ceil(0.3 * 13)
    counts = {c: int((y[te] == c).sum()) for c in "abc"}
    for c, n in {"a": 7, "b": 3, "c": 3}.items():
        assert abs(counts[c] - 0.3 * n) < 1 + 1e-9
    assert len(set(tr.tolist()) | set(te.tolist())) == 13
    _, te2 = stratified_split_indices(y, test_size=0.3)
    assert te.tolist() == te2.tolist()  # default generator is seeded


def test_train_test_split_plain_and_errors():
    x = np.arange(10.0)
    xtr, xte, ytr, yte = train_test_split(x, x, test_size=3)
    assert len(xte) == 3 and len(xtr) == 7
    np.testing.assert_array_equal(xtr, ytr)
    with pytest.raises(DataError):
        train_test_split(x, x[:5])
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(x, x, test_size=1.5)
