"""Saving meets PyTorch: gradstep's files load into torch models, and a PyTorch script that
saves and restores state dicts runs unchanged on gradstep after ``import gradstep as torch``."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradstep

torch = pytest.importorskip("torch")

# float32 forward passes through different GEMM kernels (NumPy's BLAS vs PyTorch's) agree to
# a few ulps per dot product; 1e-5 relative leaves room for that over a few small layers.
RTOL, ATOL = 1e-5, 1e-6


def _pair() -> tuple[Any, Any]:
    g = gradstep.nn.Sequential(gradstep.nn.Linear(5, 7), gradstep.nn.BatchNorm1d(7),
                               gradstep.nn.ReLU(), gradstep.nn.Linear(7, 3))
    t = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.BatchNorm1d(7),
                            torch.nn.ReLU(), torch.nn.Linear(7, 3))
    g.train()
    g(gradstep.tensor(np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)))
    g.eval()  # running statistics are no longer the initial ones
    t.eval()
    return g, t


def _compare(g: Any, t: Any) -> None:
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    with torch.no_grad():
        want = t(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(g(gradstep.tensor(x))._data, want, rtol=RTOL, atol=ATOL)


def test_saved_state_dict_loads_into_torch_through_safetensors(tmp_path: Path) -> None:
    st_torch = pytest.importorskip("safetensors.torch")
    g, t = _pair()
    p = tmp_path / "model.safetensors"
    gradstep.save(g.state_dict(), p)
    t.load_state_dict(st_torch.load_file(str(p)), strict=True)
    assert t[1].num_batches_tracked.dtype == torch.int64
    _compare(g, t)


def test_loaded_tensors_convert_to_torch_tensors(tmp_path: Path) -> None:
    g, t = _pair()
    p = tmp_path / "model.pt"
    gradstep.save({"model": g.state_dict(), "epoch": 2}, p)
    loaded = gradstep.load(p)
    t.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in loaded["model"].items()})
    _compare(g, t)


SCRIPT = """
import numpy as np
import {lib} as torch

def make():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))

model = make()
model.load_state_dict({{k: torch.tensor(v) for k, v in INIT.items()}})
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x, y = torch.tensor(X), torch.tensor(Y)

def step(m, opt):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(m(x), y)
    loss.backward()
    opt.step()
    return float(loss.item())

for epoch in range(3):
    step(model, optimizer)

torch.save(model.state_dict(), "model.pth")
torch.save({{"epoch": 3, "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict()}}, "checkpoint.pth")

model2 = make()
model2.load_state_dict(torch.load("model.pth"))
model2.eval()

checkpoint = torch.load("checkpoint.pth", map_location="cpu", weights_only=True)
model3 = make()
optimizer3 = torch.optim.SGD(model3.parameters(), lr=0.1, momentum=0.9)
model3.load_state_dict(checkpoint["model_state_dict"])
optimizer3.load_state_dict(checkpoint["optimizer_state_dict"])
EPOCH = checkpoint["epoch"]
LOSS_A = step(model, optimizer)
LOSS_B = step(model3, optimizer3)
with torch.no_grad():
    OUT2 = model2(x).numpy().copy()
    OUT = model(x).numpy().copy()
    OUT3 = model3(x).numpy().copy()
"""


def _run(lib: str, tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    init = {
        "0.weight": rng.standard_normal((8, 4)).astype(np.float32) * 0.5,
        "0.bias": rng.standard_normal(8).astype(np.float32) * 0.1,
        "2.weight": rng.standard_normal((2, 8)).astype(np.float32) * 0.5,
        "2.bias": rng.standard_normal(2).astype(np.float32) * 0.1,
    }
    env = {"INIT": init, "X": rng.standard_normal((16, 4)).astype(np.float32),
           "Y": rng.standard_normal((16, 2)).astype(np.float32)}
    run_dir = tmp_path / lib
    run_dir.mkdir()
    cwd = os.getcwd()
    os.chdir(run_dir)
    try:
        exec(compile(textwrap.dedent(SCRIPT.format(lib=lib)), f"<{lib} script>", "exec"), env)
    finally:
        os.chdir(cwd)
    return env


def test_pytorch_save_load_script_runs_on_gradstep(tmp_path: Path) -> None:
    ours = _run("gradstep", tmp_path)
    theirs = _run("torch", tmp_path)
    assert ours["EPOCH"] == theirs["EPOCH"] == 3
    # restored state continues exactly as the original within each library (same arithmetic)
    assert ours["LOSS_A"] == ours["LOSS_B"]
    np.testing.assert_array_equal(ours["OUT"], ours["OUT3"])
    # and gradstep follows PyTorch's trajectory from the same initial weights
    for key in ("OUT", "OUT2", "OUT3"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=ATOL, err_msg=key)
    np.testing.assert_allclose(ours["LOSS_A"], theirs["LOSS_A"], rtol=RTOL)
    # gradstep's .pth files are safetensors files, never pickles
    for name in ("model.pth", "checkpoint.pth"):
        head = (tmp_path / "gradstep" / name).read_bytes()[:9]
        assert head[8:9] == b"{", name
