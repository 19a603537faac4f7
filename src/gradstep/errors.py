"""Exception types raised by gradstep.

Every error a user can trigger with bad input is one of these (or a built-in
``TypeError`` / ``ValueError`` subclass), and its message names the argument or
op, what was expected and what was received.
"""

from __future__ import annotations


class GradstepError(Exception):
    """Base class of every gradstep-specific error."""


class ShapeError(GradstepError, ValueError, RuntimeError):
    """Operand shapes do not fit an op, e.g. ``matmul: cannot multiply (32, 784) by (100, 10)``.

    A ``ValueError``, and also a ``RuntimeError`` because PyTorch raises ``RuntimeError`` for
    the same mistakes, so ``except RuntimeError`` written for PyTorch catches it too.
    """


class DimensionError(ShapeError, IndexError):
    """A ``dim`` (or ``axis``) argument is out of range for the tensor, e.g.
    ``sum: dim 2 is out of range for a tensor with 2 dimensions (expected -2..1)``.

    A :class:`ShapeError`, and an ``IndexError`` as PyTorch's "Dimension out of range".
    """


class DTypeError(GradstepError, TypeError, RuntimeError):
    """An op got a dtype it cannot work with, e.g. an int64 tensor asked to require grad.

    A ``TypeError``, and a ``RuntimeError`` as PyTorch raises for the same mistakes.
    """


class GradError(GradstepError, RuntimeError):
    """Misuse of the backward engine (non-scalar backward without ``grad``, released graph...)."""


class GradcheckError(GradstepError, AssertionError):
    """Analytic and finite-difference gradients disagree (raised by :func:`gradstep.gradcheck`)."""


class NonFiniteError(GradstepError, FloatingPointError):
    """A loss, gradient or parameter became NaN or infinite during training.

    Attributes:
        epoch: the 1-based epoch in which it happened (None when not raised by a fit loop).
        step: the 1-based optimizer step (None when not raised by a fit loop).
        parameter: the name of the first non-finite gradient or parameter, or None.
    """

    def __init__(self, message: str, epoch: int | None = None, step: int | None = None,
                 parameter: str | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.parameter = parameter


class DivergenceError(NonFiniteError):
    """Training diverged: a non-finite loss or gradient, or a loss that grew past
    ``max_loss_ratio`` times its reference (see :func:`gradstep.fit`).

    Attributes (besides ``epoch``, ``step`` and ``parameter``):
        loss: the offending loss value (None when a gradient was non-finite).
        reference: the value the loss was compared with (None for a non-finite value).
        checkpoint: the path of the last good checkpoint a ModelCheckpoint wrote, or None.
    """

    def __init__(self, message: str, epoch: int | None = None, step: int | None = None,
                 parameter: str | None = None, *, loss: float | None = None,
                 reference: float | None = None, checkpoint: str | None = None) -> None:
        super().__init__(message, epoch, step, parameter)
        self.loss = loss
        self.reference = reference
        self.checkpoint = checkpoint


class LossWarning(UserWarning):
    """A loss that :func:`gradstep.evaluate` computed is not finite or absurdly large."""


class DeviceError(GradstepError, RuntimeError):
    """A device other than the CPU was requested (``t.to("cuda")``): gradstep runs on the CPU."""


class CheckpointError(GradstepError, ValueError):
    """A checkpoint or weights file is missing, corrupt, hostile or does not fit the model."""


class DataError(GradstepError, ValueError):
    """A data file or array is malformed (bad IDX magic, wrong sizes, NaNs, labels out of range)."""


class ConfigError(GradstepError, ValueError):
    """A configuration value (CLI flag, TOML key) is unknown or out of range."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`gradstep.fit` cleanly between two optimizer steps.

    A ``KeyboardInterrupt`` (so code that does not know it still stops), not a
    :class:`GradstepError`. Attributes: ``checkpoint``, the resumable file written at the
    interruption (None when the run has no :class:`~gradstep.callbacks.ModelCheckpoint`);
    ``epoch`` (0-based) and ``step`` (steps completed).
    """

    def __init__(self, message: str, checkpoint: object = None, epoch: int = 0,
                 step: int = 0) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
        self.epoch = epoch
        self.step = step
