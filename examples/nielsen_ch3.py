"""Nielsen, "Neural Networks and Deep Learning", chapter 3, on MNIST with gradstep.

A [784, 30, 10] sigmoid network with the cross-entropy cost, L2 regularisation lambda = 5.0
on the weights only, eta = 0.5, mini-batches of 10, 30 epochs, and the improved
initialisation: weights from N(0, 1/n_in), biases from N(0, 1). The textbook reports a peak
accuracy of 96.49%.

The textbook's cost is C = 1/m sum_x sum_j BCE(a_j, y_j) + lambda/(2n) sum_w w^2 with sigmoid
outputs a_j, and its update w <- (1 - eta lambda / n) w - eta grad C0. The sigmoid and the
cross-entropy are fused in ``nn.BCEWithLogitsLoss``, whose mean divides by all m * 10
elements, so C0 = 10 * BCE and the update is SGD with lr = 10 * eta = 5.0 and coupled
weight decay lambda / (10 n) (lr * weight_decay = eta * lambda / n) on the weights, none on
the biases.

    python examples/nielsen_ch3.py --seed 0 --root ../shared/data/mnist
"""

from __future__ import annotations

import numpy as np
from nielsen_common import N_TRAIN, arguments, mnist_split, one_hot, run, sigmoid_net

from gradstep import nn, optim

ETA, LAMBDA = 0.5, 5.0
LR = 10 * ETA
WEIGHT_DECAY = LAMBDA / (10 * N_TRAIN)


def build(seed: int, dtype: object = np.float32) -> nn.Sequential:
    return sigmoid_net([784, 30, 10], lambda n_in: float(1 / np.sqrt(n_in)),
                       np.random.default_rng(seed), output_sigmoid=False, dtype=dtype)


def optimizer(model: nn.Sequential) -> optim.SGD:
    """SGD with coupled L2 on the weights (matrices) only."""
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    return optim.SGD([{"params": weights, "weight_decay": WEIGHT_DECAY},
                      {"params": biases, "weight_decay": 0.0}], lr=LR)


def main() -> None:
    args = arguments(__doc__ or "")
    model = build(args.seed)
    run("nielsen_ch3", args, model, nn.BCEWithLogitsLoss(), optimizer(model),
        mnist_split(args.root), one_hot)


if __name__ == "__main__":
    main()
