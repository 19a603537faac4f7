"""Data parallelism plugs into fit through the fit plug-in table and the step hooks.

Without MPI the plug-in declines (single process). With a stand-in communicator of two
ranks that hold identical data (every Allreduce doubles), the global batch is the local
batch twice, so the loss and gradient must equal one process's: this checks the hooks'
arithmetic (seed 1, summed losses and normalisers, division by the global divisor) for
every reduction, in one process. Values agree to rounding (the division happens after the
sum instead of in the seed), hence rel 1e-12 in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradstep
from gradstep import nn, optim
from gradstep.train import fit, fit_plugins, register_fit_plugin

pytest.importorskip("mpi4py", exc_type=ImportError)


class TwinComm:
    """Two ranks with identical contributions: every sum doubles."""

    def Get_size(self) -> int:
        return 2

    def Get_rank(self) -> int:
        return 0

    def Allreduce(self, send: Any, recv: Any, op: Any = None) -> None:
        recv *= 2


def test_distributed_registers_its_plugin_and_declines_without_mpi(monkeypatch: Any) -> None:
    monkeypatch.setenv("GRADSTEP_DISTRIBUTED", "0")
    assert fit_plugins()["distributed"] is gradstep.distributed.attach
    x = np.random.default_rng(0).standard_normal((8, 3))
    m = nn.Sequential(nn.Linear(3, 2, generator=np.random.default_rng(1), dtype=np.float64))
    trainer = gradstep.train.Trainer(m, None, loss="mse", optimizer=optim.SGD(
        m.parameters(), lr=0.1), epochs=1)
    assert gradstep.distributed.attach(trainer) is None and x.shape == (8, 3)


@pytest.mark.parametrize("loss", [
    nn.MSELoss(), nn.MSELoss(reduction="sum"),
    nn.CrossEntropyLoss(weight=np.array([0.3, 1.0, 2.0]), ignore_index=-1),
])
def test_data_parallel_hooks_give_the_single_process_step(loss: Any) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 4))
    y = (rng.integers(-1, 3, 10) if isinstance(loss, nn.CrossEntropyLoss)
         else rng.standard_normal((10, 3)))

    def model() -> Any:
        return nn.Sequential(nn.Linear(4, 3, generator=np.random.default_rng(5),
                                       dtype=np.float64))

    def run(plugin: bool, lr: float) -> tuple[Any, Any]:
        m = model()
        name = "test-twin"
        if plugin:
            register_fit_plugin(name, lambda t: gradstep.distributed.DataParallel(
                t, comm=TwinComm()))
        try:
            h = fit(m, (x, y), loss=loss, optimizer=optim.SGD(m.parameters(), lr=lr),
                    epochs=2, batch_size=3, accumulate=2, shuffle=False, verbose=0)
        finally:
            gradstep.train.unregister_fit_plugin(name)
        return m, h

    # a summed loss over twice the examples is twice the loss, with twice the gradient: the
    # same trajectory as one process with twice the learning rate
    scale = 2.0 if loss.reduction == "sum" else 1.0
    (m1, h1), (m2, h2) = run(False, 0.1 * scale), run(True, 0.1)
    np.testing.assert_allclose(np.array(h2.steps["loss"]), scale * np.array(h1.steps["loss"]),
                               rtol=1e-12)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p._data, q._data, rtol=1e-12, atol=1e-15)
