"""Learning-rate schedules, with PyTorch's semantics (``torch.optim.lr_scheduler``).

A scheduler changes the ``"lr"`` of each parameter group of an optimizer. Call
``optimizer.step()`` then ``scheduler.step()`` once per epoch (or per batch); the first
learning rate is set when the scheduler is built. Each scheduler computes its rates the way
PyTorch does (recursively from the current rate where PyTorch is recursive, in closed form
where it is closed), so trajectories agree with PyTorch to rounding.

The schedulers by family: :mod:`.multiplicative` (``LambdaLR``, ``MultiplicativeLR``,
``StepLR``, ``MultiStepLR``, ``ConstantLR``, ``LinearLR``, ``ExponentialLR``,
``PolynomialLR``, ``InverseScalingLR``), :mod:`.cyclic` (``CosineAnnealingLR``,
``CosineAnnealingWarmRestarts``, ``CyclicLR``, ``OneCycleLR``), :mod:`.composite`
(``SequentialLR``, ``ChainedScheduler``) and :mod:`.plateau` (``ReduceLROnPlateau``).

``state_dict()`` returns plain JSON-able values (ints, floats, bools, strings, lists);
``load_state_dict()`` restores them. User functions (``LambdaLR``'s and
``MultiplicativeLR``'s ``lr_lambda``, ``CyclicLR``'s ``scale_fn``) are not serialised:
rebuild the scheduler with the same functions and load the state into it.
"""

from __future__ import annotations

from .base import LRScheduler
from .composite import ChainedScheduler, SequentialLR
from .cyclic import CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from .multiplicative import (
    ConstantLR,
    ExponentialLR,
    InverseScalingLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from .plateau import ReduceLROnPlateau

__all__ = [
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
    "LinearLR", "ExponentialLR", "PolynomialLR", "InverseScalingLR", "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR", "SequentialLR",
    "ChainedScheduler", "ReduceLROnPlateau",
]
