"""Files written by earlier gradstep versions keep loading.

``data/checkpoint_v1.safetensors`` was written by the training-checkpoint writer that was
called ``gradstep.save(path, model, optimizer, scheduler, **meta)`` before that name went to
PyTorch's ``save(obj, f)``: a ``Sequential(Linear(3, 4), ReLU(), Linear(4, 2))`` whose weights
started as ``(arange(n) - n / 2) / 10`` reshaped, then one Adam step (lr 0.01) and one StepLR
step, saved with ``epoch=2, step=7, loader={"pos": 3}, history=[0.5, 0.25]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import gradstep

OLD = Path(__file__).with_name("data") / "checkpoint_v1.safetensors"


def _check_weights(model: gradstep.nn.Module) -> None:
    """Adam's first step moves every weight by lr * g / (|g| + eps): at most lr = 0.01."""
    for k, t in model.state_dict().items():
        v = t.numpy()
        start = (np.arange(v.size, dtype=np.float32).reshape(v.shape) - v.size / 2) / 10
        moved = np.abs(v - start)
        assert moved.max() <= 0.01 + 1e-6 and moved.max() > 0.005, (k, moved)


def _fresh() -> tuple[gradstep.nn.Module, gradstep.optim.Optimizer, object]:
    model = gradstep.nn.Sequential(gradstep.nn.Linear(3, 4), gradstep.nn.ReLU(),
                                   gradstep.nn.Linear(4, 2))
    opt = gradstep.optim.Adam(model.parameters(), lr=0.01)
    return model, opt, gradstep.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)


def test_old_checkpoint_loads_with_load_checkpoint() -> None:
    ck = gradstep.load_checkpoint(OLD)
    assert ck.meta == {"epoch": 2, "step": 7, "loader": {"pos": 3}, "history": [0.5, 0.25]}
    assert ck.epoch == 2 and ck.step == 7
    assert ck.optimizer_class == "Adam" and ck.scheduler_class == "StepLR"
    _check_weights(ck.model)
    model, opt, sched = _fresh()
    gradstep.load_checkpoint(OLD, model, opt, sched)
    assert sorted(opt.state_dict()["state"]) == [0, 1, 2, 3]
    assert opt.state_dict()["state"][0]["step"] == 1
    assert sched.state_dict()["last_epoch"] == 1  # type: ignore[attr-defined]


def test_old_checkpoint_loads_with_load_as_state_dicts() -> None:
    got = gradstep.load(OLD)
    assert sorted(got) == ["meta", "model", "model_config", "optimizer", "scheduler"]
    assert got["meta"]["loader"] == {"pos": 3}
    model, opt, _ = _fresh()
    model.load_state_dict(got["model"])
    _check_weights(model)
    for k, v in gradstep.load_checkpoint(OLD).model_state.items():
        np.testing.assert_array_equal(got["model"][k].numpy(), v, err_msg=k)
    opt.load_state_dict(got["optimizer"])
    assert opt.state_dict()["state"][3]["exp_avg"].shape == (2,)
