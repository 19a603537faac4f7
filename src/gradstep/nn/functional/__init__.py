"""Functional forms of the layers, activations and losses (``gradstep.nn.functional``).

The convolution, pooling, linear, embedding and loss primitives here are fused: each
computes its forward with a few vectorised NumPy calls (strided views and one matrix
product per layer, no Python loops over pixels or samples) and its gradient in one
backward closure. They are registered in :data:`gradstep.ops.PRIMITIVES`.

Arguments follow ``torch.nn.functional`` (``dim`` rather than ``axis``), so a PyTorch
model ports by changing the import. The package is split by family (``dense``, ``conv``,
``pooling``, ``regularization``, ``normalization``, ``activations``, ``losses``,
``classification``); every public name is available from here.
"""

from __future__ import annotations

from ._common import _check_reduction, _input, _pair
from .activations import (
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .classification import cross_entropy, nll_loss
from .conv import conv2d
from .dense import embedding, flatten, linear
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)
from .normalization import batch_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .regularization import dropout

__all__ = [
    "linear",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "flatten",
    "dropout",
    "batch_norm",
    "layer_norm",
    "embedding",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "gelu",
    "softmax",
    "log_softmax",
    "silu",
    "softplus",
    "elu",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

# helpers the layer and loss modules share (not part of the public API)
_ = (_check_reduction, _input, _pair)
