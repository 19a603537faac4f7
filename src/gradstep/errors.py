"""Exception types raised by gradstep.

Every error a user can trigger with bad input is one of these (or a built-in
``TypeError`` / ``ValueError`` subclass), and its message names the argument or
op, what was expected and what was received.
"""

from __future__ import annotations


class GradstepError(Exception):
    """Base class of every gradstep-specific error."""


class ShapeError(GradstepError, ValueError):
    """Operand shapes do not fit an op, e.g. ``matmul: cannot multiply (32, 784) by (100, 10)``."""


class GradError(GradstepError, RuntimeError):
    """Misuse of the backward engine (non-scalar backward without ``grad``, released graph...)."""


class GradcheckError(GradstepError, AssertionError):
    """Analytic and finite-difference gradients disagree (raised by :func:`gradstep.gradcheck`)."""


class NonFiniteError(GradstepError, FloatingPointError):
    """A loss, gradient or parameter became NaN or infinite during training."""


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
