"""Standardize / MinMaxScale / OneHot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradstep.data import MinMaxScale, OneHot, Standardize
from gradstep.errors import DataError


def test_standardize_uses_train_stats_only():
    rng = np.random.default_rng(0)
    xtr = rng.normal(3.0, 2.0, size=(200, 3)).astype(np.float32)
    xte = rng.normal(-5.0, 9.0, size=(50, 3)).astype(np.float32)
    st = Standardize().fit(xtr)
    np.testing.assert_allclose(st.mean, xtr.astype(np.float64).mean(0))
    np.testing.assert_allclose(st.std, xtr.astype(np.float64).std(0))
    ztr = st.transform(xtr)
    assert ztr.dtype == np.float32
    np.testing.assert_allclose(ztr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ztr.std(0), 1, atol=1e-5)
    zte = st.transform(xte)
    np.testing.assert_allclose(zte, (xte - st.mean) / st.std, rtol=1e-5)
    assert abs(zte.mean()) > 1  # test stats were not used
    np.testing.assert_allclose(st.inverse_transform(zte), xte, rtol=1e-5, atol=1e-5)


def test_standardize_zero_variance_and_state_dict():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    st = Standardize()
    z = st.fit_transform(x)
    assert np.all(np.isfinite(z)) and z[:, 1].tolist() == [0.0, 0.0]
    state = json.loads(json.dumps(st.state_dict()))
    assert state["mean"] == [2.0, 5.0] and state["std"] == [1.0, 1.0]
    st2 = Standardize.from_state_dict(state)
    np.testing.assert_array_equal(st2.transform(x), z)


def test_standardize_image_shape_and_errors():
    x = np.random.default_rng(1).random((10, 2, 3))
    st = Standardize().fit(x)
    assert st.mean is not None and st.mean.shape == (2, 3)
    assert Standardize.from_state_dict(st.state_dict()).mean.shape == (2, 3)  # type: ignore[union-attr]
    with pytest.raises(DataError, match="shape"):
        st.transform(np.zeros((4, 6)))
    with pytest.raises(DataError, match="fit"):
        Standardize().transform(x)
    with pytest.raises(DataError, match="NaN"):
        Standardize().fit(np.array([[np.nan]]))
    with pytest.raises(DataError):
        Standardize.from_state_dict({"mean": [1.0]})


def test_minmax_and_onehot():
    x = np.array([[0.0, 2.0], [10.0, 2.0]], dtype=np.float32)
    mm = MinMaxScale().fit(x)
    np.testing.assert_array_equal(mm.transform(x), [[0.0, 0.0], [1.0, 0.0]])
    mm2 = MinMaxScale()
    mm2.load_state_dict(json.loads(json.dumps(mm.state_dict())))
    np.testing.assert_array_equal(mm2.transform(x), mm.transform(x))
    oh = OneHot(3)
    np.testing.assert_array_equal(oh(np.array([2, 0])), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(DataError):
        oh(np.array([3]))
    with pytest.raises(ValueError):
        OneHot(0)
