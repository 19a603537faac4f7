from __future__ import annotations

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn
from gradstep.errors import ConfigError
from gradstep.viz.explain import explain_step, tiny_network


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _hand(W1, b1, W2, b2, x, y, lr, mu, steps):
    """Chain rule by hand in NumPy for x -> Linear -> sigmoid -> Linear -> MSE, SGD momentum."""
    bufs = None
    recs = []
    for _ in range(steps):
        z1 = x @ W1.T + b1
        a1 = _sig(z1)
        z2 = a1 @ W2.T + b2
        n = y.size
        loss = np.mean((z2 - y) ** 2)
        dz2 = 2.0 * (z2 - y) / n
        dW2 = dz2.T @ a1
        db2 = dz2.sum(axis=0)
        da1 = dz2 @ W2
        dz1 = da1 * a1 * (1.0 - a1)
        dW1 = dz1.T @ x
        db1 = dz1.sum(axis=0)
        grads = [dW1, db1, dW2, db2]
        params = [W1, b1, W2, b2]
        bufs = [g.copy() for g in grads] if bufs is None else [mu * b + g for b, g in zip(bufs, grads)]
        new = [p - lr * b for p, b in zip(params, bufs)]
        recs.append(dict(z1=z1, a1=a1, z2=z2, loss=loss, dz2=dz2, da1=da1, dz1=dz1,
                         grads=grads, bufs=[b.copy() for b in bufs], new=new))
        W1, b1, W2, b2 = new
    return recs


@pytest.mark.parametrize("batch", [1, 3])
def test_explained_numbers_match_a_hand_computation(batch):
    rng = np.random.default_rng(5)
    model = tiny_network((2, 3, 1), "sigmoid", np.random.default_rng(1))
    W1, b1 = model[0].weight._data.copy(), model[0].bias._data.copy()
    W2, b2 = model[2].weight._data.copy(), model[2].bias._data.copy()
    x = rng.normal(size=(batch, 2))
    y = rng.normal(size=(batch, 1))
    e = explain_step(steps=2, model=model, x=x, y=y, lr=0.3, momentum=0.9)
    hand = _hand(W1, b1, W2, b2, x, y, 0.3, 0.9, 2)
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    for rec, h in zip(e.steps, hand):
        acts = [a for _, a in rec.activations]
        np.testing.assert_allclose(acts[0], h["z1"], rtol=1e-12)
        np.testing.assert_allclose(acts[1], h["a1"], rtol=1e-12)
        np.testing.assert_allclose(acts[2], h["z2"], rtol=1e-12)
        assert rec.loss == pytest.approx(h["loss"], rel=1e-12)
        og = [g for _, g in rec.output_grads]  # output layer first
        np.testing.assert_allclose(og[0], h["dz2"], rtol=1e-12)
        np.testing.assert_allclose(og[1], h["da1"], rtol=1e-12)
        np.testing.assert_allclose(og[2], h["dz1"], rtol=1e-12)
        for i, n in enumerate(names):
            np.testing.assert_allclose(rec.grads[n], h["grads"][i], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(rec.lr_grad[n], 0.3 * h["grads"][i], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(rec.momentum_buffer[n], h["bufs"][i], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(rec.new[n], h["new"][i], rtol=1e-10, atol=1e-14)
    # the model now holds the weights of the last printed step
    np.testing.assert_array_equal(model[2].bias._data, e.steps[-1].new["2.bias"])


def test_layerwise_backward_equals_the_engine_in_one_go():
    model = tiny_network((2, 3, 1), "tanh", np.random.default_rng(2))
    ref = tiny_network((2, 3, 1), "tanh", np.random.default_rng(2))
    x = np.array([[0.5, -1.0]])
    e = explain_step(model=model, x=x, lr=0.0, momentum=0.0, activation="tanh")
    loss = nn.MSELoss()(ref(gs.tensor(x)), gs.tensor(np.ones((1, 1))))
    loss.backward()
    for n, p in ref.named_parameters():
        np.testing.assert_allclose(e.steps[0].grads[n], p._grad, rtol=1e-12)


def test_text_shows_every_part():
    text = explain_step(steps=1).text()
    for part in ("Forward pass", "loss L", "Backward pass", "dL/d[0.weight]", "dL/d[2.bias]",
                 "lr * g", "momentum buf b", "new value", "Sigmoid"):
        assert part in text
    # the output layer's gradients are printed before the first layer's
    assert text.index("dL/d[2.weight]") < text.index("dL/d[0.weight]")


def test_bad_arguments():
    with pytest.raises(ConfigError):
        explain_step(steps=0)
    with pytest.raises(ConfigError):
        tiny_network((2,))
    with pytest.raises(ConfigError):
        tiny_network((2, 3, 1), "swish")
    with pytest.raises(ConfigError):
        explain_step(momentum=0.0, nesterov=True)
