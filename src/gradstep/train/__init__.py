"""Training: :func:`fit`, :func:`evaluate`, :func:`predict`, :class:`History`, :class:`Trainer`.

:func:`fit` runs the epoch loop of a :class:`Trainer`::

    for each epoch:
        for each group of `accumulate` batches:       # one optimizer step
            on_step_begin hooks
            for each batch: forward, summed loss, backward(seed = 1 / group's divisor)
            on_after_backward hooks
            check the loss (finite, not diverged); on_before_step hooks;
            check the gradients are finite; clip the gradient norm;
            optimizer.step(); zero_grad()
            on_batch_end hooks (per-step scheduler)
        validation (every `eval_every` epochs and the last), epoch logs, on_epoch_end
        hooks (per-epoch scheduler, checkpoints, early stopping)

The loss is exactly the loss object's value and gradient on each group of batches
(:mod:`gradstep.train.reduction`); the divergence guard is in :mod:`gradstep.train.guard`.

Layering: this package knows no pictures and no MPI: it imports neither
:mod:`gradstep.viz` nor :mod:`gradstep.distributed` nor the command line. They plug in
through the interface users have: callbacks (per-layer statistics are the
:class:`gradstep.viz.layers.LayerTracker` callback), and *fit plug-ins*
(:mod:`gradstep.train.plugins`): :mod:`gradstep.distributed` registers one when it is
imported (``import gradstep`` imports it), which, when the process was started by
``mpiexec -n K``, shards the loader, broadcasts the weights and adds a data-parallel
callback that sums the step's losses and gradients over the processes in the
``on_step_begin``/``on_after_backward`` hooks. So ``gradstep.fit`` and
``gradstep.train.fit`` (one function) run unchanged under MPI, and
:meth:`Trainer.train_step` is the single-process step.

Resuming: ``fit(..., resume=path)`` restores the model, optimizer, scheduler, the data
loader's generator and position, Generators held by the model (e.g. dropout), callback
state, the divergence reference and the history, then continues; ``epochs`` is the total
number of epochs, so the same command resumes an interrupted run to completion,
bit-identically.
"""

from __future__ import annotations

from gradstep.train.evaluate import RunningSums, evaluate, predict
from gradstep.train.history import History
from gradstep.train.loop import Trainer, fit
from gradstep.train.plugins import fit_plugins, register_fit_plugin, unregister_fit_plugin
from gradstep.train.reduction import LossReduction, resolve_loss
from gradstep.train.step import StepState

__all__ = [
    "fit", "evaluate", "predict", "History", "Trainer", "resolve_loss", "LossReduction",
    "RunningSums", "StepState", "register_fit_plugin", "unregister_fit_plugin",
    "fit_plugins",
]
