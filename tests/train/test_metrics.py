"""gradstep.metrics on plain arrays, checked against scikit-learn where it has the metric."""

from __future__ import annotations

import numpy as np
import pytest

from gradstep import metrics


def test_accuracy_from_scores_labels_and_onehot():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    y = np.array([1, 0, 0, 0])
    assert metrics.accuracy(scores, y) == 0.75
    assert metrics.accuracy(np.array([1, 0, 1, 0]), y) == 0.75
    assert metrics.accuracy(scores, np.eye(2)[y]) == 0.75
    assert metrics.accuracy(np.array([[2.0], [-1.0], [0.5]]), np.array([1.0, 0.0, 0.0])) == 2 / 3
    assert metrics.accuracy(np.zeros((0, 3)), np.zeros(0, np.int64)) == 0.0


def test_top_k_matches_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((200, 7))
    y = rng.integers(0, 7, 200)
    for k in (1, 2, 3, 6):
        assert metrics.top_k_accuracy(scores, y, k) == pytest.approx(
            skm.top_k_accuracy_score(y, scores, k=k, labels=np.arange(7))
        )
    assert metrics.top_k_accuracy(scores, y, 7) == 1.0
    assert metrics.top_k_accuracy(scores, y, 1) == metrics.accuracy(scores, y)
    with pytest.raises(ValueError, match="k must be"):
        metrics.top_k_accuracy(scores, y, 0)


def test_regression_metrics():
    p = np.array([[1.0], [2.0], [4.0]])
    t = np.array([1.0, 3.0, 2.0])
    assert metrics.mse(p, t) == pytest.approx((0 + 1 + 4) / 3)
    assert metrics.mae(p, t) == pytest.approx((0 + 1 + 2) / 3)
    with pytest.raises(ValueError, match="shape"):
        metrics.mse(np.zeros((3, 2)), np.zeros(4))


def test_get_and_errors():
    assert metrics.get("acc")[0] == "accuracy"
    name, fn = metrics.get("top3")
    assert name == "top3_accuracy"
    assert fn(np.eye(4), np.arange(4)) == 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("f1")
    with pytest.raises(ValueError, match="rows"):
        metrics.accuracy(np.zeros((3, 2)), np.zeros(2))
