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


# ------------------------------------------------------------------ Scale and prep
def test_scale_feature_floors_the_std_so_rare_features_cannot_explode():
    from gradstep.data.transforms import Scale

    x = np.zeros((60000, 3), dtype=np.float32)
    x[:, 0] = np.random.default_rng(0).normal(5.0, 2.0, 60000)
    x[17, 1] = 255.0  # a pixel lit in one image of 60,000: std 1.04, range 255
    sc = Scale("feature").fit(x)
    z = sc.transform(x)
    # the ordinary feature is standardised as by Standardize
    np.testing.assert_allclose(sc.std[0], x[:, 0].astype(np.float64).std(), rtol=1e-12)
    # the rare one: std floored at range / max_z, so no training value is beyond max_z
    assert sc.std[1] == pytest.approx(255.0 / 20.0)
    assert np.abs(z).max() <= 20.0 + 1e-5
    assert sc.std[2] == 1.0 and np.all(z[:, 2] == 0)  # constant feature


def test_scale_global_unit_none():
    from gradstep.data.transforms import Scale

    x = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    g = Scale("global").fit(x)
    np.testing.assert_allclose(g.transform(x), (x - x.mean()) / x.std(), rtol=1e-6)
    assert g.mean.shape == (2, 3)
    u = Scale("unit").fit(x)
    np.testing.assert_allclose(u.transform(x), x / 23.0, rtol=1e-6)
    pix = np.array([[0, 10], [20, 30]], dtype=np.uint8)
    np.testing.assert_allclose(Scale("unit").fit(pix).transform(pix), pix / 255.0, rtol=1e-6)
    n = Scale("none").fit(x)
    np.testing.assert_array_equal(n.transform(x), x)


def test_scale_state_round_trips_through_json_and_rejects_bad_input():
    from gradstep.data.transforms import Scale

    x = np.random.default_rng(1).normal(size=(50, 4))
    sc = Scale("feature").fit(x)
    back = Scale.from_state_dict(json.loads(json.dumps(sc.state_dict())))
    np.testing.assert_array_equal(back.transform(x), sc.transform(x))
    with pytest.raises(ValueError, match="method must be one of"):
        Scale("zscore")
    with pytest.raises(DataError, match="NaN"):
        Scale().fit(np.array([[np.nan]]))
    with pytest.raises(DataError, match="std > 0"):
        Scale.from_state_dict({**sc.state_dict(), "std": [0.0] * 4})


def test_validation_split_count_takes_the_last_examples_in_order():
    from gradstep.data.prep import validation_split

    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    xtr, xv, ytr, yv = validation_split(x, y, 3, seed=0, classification=True)
    np.testing.assert_array_equal(yv, [7, 8, 9])
    np.testing.assert_array_equal(ytr, np.arange(7))
    np.testing.assert_array_equal(xv, x[7:])
    # a fraction is a seeded random split of that size
    a = validation_split(x, y % 2, 0.2, seed=5, classification=True)
    b = validation_split(x, y % 2, 0.2, seed=5, classification=True)
    assert len(a[1]) == 2 and all(np.array_equal(p, q) for p, q in zip(a, b))
    from gradstep.errors import ConfigError

    with pytest.raises(ConfigError, match="between 1 and 9"):
        validation_split(x, y, 10, seed=0, classification=True)
    with pytest.raises(ConfigError, match="fraction"):
        validation_split(x, y, 1.5, seed=0, classification=True)


def test_resolve_scale_and_model_input_shape():
    from gradstep.data.prep import model_input_shape, resolve_scale
    from gradstep.errors import ConfigError

    assert resolve_scale("auto", "mnist") == "unit"
    assert resolve_scale("auto", "fashion-mnist") == "unit"
    assert resolve_scale("auto", "iris") == "feature"
    assert resolve_scale("global", "mnist") == "global"
    with pytest.raises(ConfigError, match="--scale"):
        resolve_scale("bogus", "iris")
    assert model_input_shape((28, 28), "cnn") == (1, 28, 28)
    assert model_input_shape((64,), "cnn", images=True) == (1, 8, 8)
    assert model_input_shape((4,), "mlp") == (4,)
    with pytest.raises(ConfigError, match="tabular"):
        model_input_shape((4,), "cnn")
    with pytest.raises(ConfigError, match="tabular"):
        model_input_shape((64,), "cnn")  # a square vector is an image only when said so


def test_preprocessor_scales_reshapes_and_round_trips():
    from gradstep.data.prep import Preprocessor

    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, size=(30, 4, 4)).astype(np.float32)
    y = rng.normal(3.0, 2.0, size=30)
    p = Preprocessor.fit(x, y, task="regression", scale="unit", model_shape=(1, 4, 4))
    z = p.x(x)
    assert z.shape == (30, 1, 4, 4) and z.dtype == np.float32
    assert z.min() == 0.0 and z.max() == pytest.approx(1.0)
    np.testing.assert_allclose(p.y_inverse(p.y(y)), y, rtol=1e-6)
    state = p.state()
    assert state["scale"] == "unit" and state["mean"].shape == (4, 4)
    q = Preprocessor.from_state(state)
    np.testing.assert_array_equal(q.x(x.reshape(30, 16)), z)  # flat rows are reshaped
    with pytest.raises(DataError, match="shape"):
        p.x(np.zeros((2, 5)))
    with pytest.raises(DataError, match="NaN"):
        p.x(np.full((1, 4, 4), np.nan))
