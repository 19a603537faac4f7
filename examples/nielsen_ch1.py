"""Nielsen, "Neural Networks and Deep Learning", chapter 1, on MNIST with gradstep.

A [784, 30, 10] network of sigmoid neurons, weights and biases drawn from N(0, 1), trained
by mini-batch SGD (mini-batches of 10, eta = 3.0, 30 epochs) on the quadratic cost of
one-hot targets. The textbook reports a peak test accuracy of 95.42%.

The textbook's cost is C = 1/(2m) sum_x ||a(x) - y(x)||^2 over a mini-batch of m examples.
``nn.MSELoss()`` means over all m * 10 elements: MSE = 1/(10m) sum_x ||a - y||^2 = C / 5, so
eta * grad C = (5 * eta) * grad MSE, and the textbook's update is SGD with lr = 5 * 3.0 = 15
on MSELoss (tests/train/test_textbook.py checks one update against the textbook formula).

    python examples/nielsen_ch1.py --seed 0 --root ../shared/data/mnist
"""

from __future__ import annotations

import numpy as np
from nielsen_common import arguments, mnist_split, one_hot, run, sigmoid_net

from gradstep import nn, optim

ETA = 3.0
LR = 5 * ETA  # the same update on gradstep's element-mean MSELoss (see above)


def build(seed: int, dtype: object = np.float32) -> nn.Sequential:
    return sigmoid_net([784, 30, 10], lambda n_in: 1.0, np.random.default_rng(seed),
                       output_sigmoid=True, dtype=dtype)


def main() -> None:
    args = arguments(__doc__ or "")
    model = build(args.seed)
    opt = optim.SGD(model.parameters(), lr=LR)
    run("nielsen_ch1", args, model, nn.MSELoss(), opt, mnist_split(args.root), one_hot)


if __name__ == "__main__":
    main()
