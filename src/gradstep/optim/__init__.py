"""Optimizers, learning-rate schedules and the flat-buffer fast path.

``optim`` sees only parameters (tensors with ``requires_grad``); it never imports
``gradstep.nn``. Each optimizer's update math is a pure in-place function on arrays
(``sgd_update``, ``adam_update``, ``rmsprop_update``, ``adagrad_update``) that its class
calls, once per parameter or once per flat segment.
"""

from __future__ import annotations

from gradstep.optim import lr_scheduler
from gradstep.optim.adagrad import Adagrad, adagrad_update
from gradstep.optim.adam import Adam, AdamW, adam_update
from gradstep.optim.flat import FlatBuffer, FlatSegment, flatten_parameters
from gradstep.optim.optimizer import Optimizer
from gradstep.optim.rmsprop import RMSprop, rmsprop_update
from gradstep.optim.sgd import SGD, sgd_update

__all__ = [
    "Adagrad", "Adam", "AdamW", "FlatBuffer", "FlatSegment", "Optimizer", "RMSprop", "SGD",
    "adagrad_update", "adam_update", "flatten_parameters", "lr_scheduler", "rmsprop_update",
    "sgd_update",
]
