"""Optimizers, learning-rate schedules and the flat-buffer fast path.

``optim`` sees only parameters (tensors with ``requires_grad``); it never imports
``gradstep.nn``. Each element-wise optimizer's update math is a pure in-place function on
arrays (``sgd_update``, ``adam_update``, ``adadelta_update``, ...) that its class calls,
once per parameter or once per flat segment. ``LBFGS`` works on all parameters as one
flat vector (``lbfgs_direction`` is its two-loop recursion).
"""

from __future__ import annotations

from gradstep.optim import lr_scheduler
from gradstep.optim.adadelta import Adadelta, adadelta_update
from gradstep.optim.adagrad import Adagrad, adagrad_update
from gradstep.optim.adam import Adam, AdamW, adam_update
from gradstep.optim.adamax import Adamax, adamax_update
from gradstep.optim.asgd import ASGD, asgd_update
from gradstep.optim.flat import FlatBuffer, FlatSegment, flatten_parameters
from gradstep.optim.lbfgs import LBFGS, lbfgs_direction
from gradstep.optim.nadam import NAdam, nadam_update
from gradstep.optim.optimizer import Optimizer
from gradstep.optim.radam import RAdam, radam_update
from gradstep.optim.rmsprop import RMSprop, rmsprop_update
from gradstep.optim.rprop import Rprop, rprop_update
from gradstep.optim.sgd import SGD, sgd_update

__all__ = [
    "ASGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "FlatBuffer", "FlatSegment",
    "LBFGS", "NAdam", "Optimizer", "RAdam", "RMSprop", "Rprop", "SGD", "adadelta_update",
    "adagrad_update", "adam_update", "adamax_update", "asgd_update", "flatten_parameters",
    "lbfgs_direction", "lr_scheduler", "nadam_update", "radam_update", "rmsprop_update",
    "rprop_update", "sgd_update",
]
