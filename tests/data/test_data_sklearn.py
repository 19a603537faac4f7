"""Small bundled data sets (read through scikit-learn)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradstep.datasets as gd

pytest.importorskip("sklearn")


@pytest.mark.parametrize(
    ("fn", "shape", "ncls"),
    [(gd.load_digits, (1797, 64), 10), (gd.load_iris, (150, 4), 3),
     (gd.load_breast_cancer, (569, 30), 2), (gd.load_wine, (178, 13), 3)],
)
def test_classification_sets(fn, shape, ncls):
    ds = fn()
    assert ds.x.shape == shape and ds.x.dtype == np.float32
    assert ds.y.shape == (shape[0],) and ds.y.dtype == np.int64
    assert ds.task == "classification" and ds.num_classes == ncls
    assert set(np.unique(ds.y).tolist()) == set(range(ncls))
    assert len(ds.feature_names) == shape[1] and ds.x_test is None
    assert ds.num_features == shape[1] and ds.x_train is ds.x
    tr = ds.to_array_dataset()
    assert len(tr) == shape[0]


def test_diabetes_regression():
    ds = gd.load_diabetes()
    assert ds.x.shape == (442, 10) and ds.y.dtype == np.float32 and ds.task == "regression"
    assert ds.classes == ()


def test_digits_values_match_sklearn():
    from sklearn.datasets import load_digits

    ref = load_digits()
    ds = gd.load_digits()
    np.testing.assert_array_equal(ds.x, ref.data.astype(np.float32))
    np.testing.assert_array_equal(ds.y, ref.target)
    assert ds.x.max() == 16.0


def test_missing_sklearn_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install gradstep\[datasets\]"):
        gd.load_iris()
