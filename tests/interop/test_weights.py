"""save_weights / load_weights: PyTorch-compatible safetensors files, both directions."""

from __future__ import annotations

import os

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn
from gradstep.errors import CheckpointError
from gradstep.interop import load_weights, save_weights

from .conftest import assert_close, gs_cnn, gs_mlp, torch_cnn, torch_mlp

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")


def _gs_out(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with gs.no_grad():
        return np.asarray(model(x)._data)


def _torch_out(model, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_gradstep_to_torch(kind, request, tmp_path):
    model, x = request.getfixturevalue(f"trained_{kind}")
    path = tmp_path / f"{kind}.safetensors"
    assert save_weights(path, model) == path

    sd = st_torch.load_file(str(path))
    assert list(sd) == list(model.state_dict())
    tmodel = torch_mlp() if kind == "mlp" else torch_cnn()
    tsd = tmodel.state_dict()
    assert {k: (v.dtype, tuple(v.shape)) for k, v in sd.items()} == {
        k: (v.dtype, tuple(v.shape)) for k, v in tsd.items()
    }
    tmodel.load_state_dict(sd, strict=True)
    assert_close(_torch_out(tmodel, x), _gs_out(model, x))
    # BatchNorm statistics came across, including the step counter
    bn = "2" if kind == "mlp" else "0.1"
    assert int(tmodel.state_dict()[f"{bn}.num_batches_tracked"]) == 5
    assert sd[f"{bn}.num_batches_tracked"].dtype == torch.int64
    assert sd[f"{bn}.num_batches_tracked"].shape == ()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_torch_to_gradstep(kind, rng, tmp_path):
    torch.manual_seed(0)
    tmodel = torch_mlp() if kind == "mlp" else torch_cnn()
    shape = (4, 4) if kind == "mlp" else (2, 8, 8)
    x = rng.standard_normal((8, *shape)).astype(np.float32)
    # non-trivial running statistics and affine parameters
    tmodel.train()
    with torch.no_grad():
        for _ in range(3):
            tmodel(torch.from_numpy(x) * 2 + 1)
        for name, p in tmodel.named_parameters():
            if name.endswith(("1.weight", "2.weight", "6.weight")) and p.ndim == 1:
                p.mul_(1.5).add_(0.1)
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(tmodel.state_dict(), str(path))

    model = gs_mlp(rng) if kind == "mlp" else gs_cnn(rng)
    result = load_weights(path, model)
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    assert_close(_gs_out(model, x), _torch_out(tmodel, x))
    for k, v in tmodel.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v.numpy(), err_msg=k)


def test_round_trip_gradstep_only(trained_cnn, rng, tmp_path):
    model, x = trained_cnn
    path = tmp_path / "w.safetensors"
    save_weights(path, model)
    fresh = gs_cnn(np.random.default_rng(99))
    load_weights(path, fresh)
    for k, v in model.state_dict().items():
        got = fresh.state_dict()[k]
        assert got.dtype == v.dtype, k
        np.testing.assert_array_equal(got, v, err_msg=k)
    np.testing.assert_array_equal(_gs_out(fresh, x), _gs_out(model, x))


def test_file_is_plain_safetensors_with_pt_format(trained_mlp, tmp_path):
    from safetensors import safe_open

    model, _ = trained_mlp
    path = tmp_path / "w.safetensors"
    save_weights(str(path), model)
    with safe_open(str(path), "np") as f:
        assert f.metadata() == {"format": "pt"}
        assert set(f.keys()) == set(model.state_dict())
        np.testing.assert_array_equal(f.get_tensor("1.weight"), model.state_dict()["1.weight"])


def test_mismatch_reports_names(trained_mlp, tmp_path):
    model, _ = trained_mlp
    sd = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    del sd["1.bias"]
    sd["9.weight"] = torch.zeros(2)
    sd["5.weight"] = torch.zeros(8, 13)
    path = tmp_path / "bad.safetensors"
    st_torch.save_file(sd, str(path))
    before = model.state_dict()
    with pytest.raises(CheckpointError) as info:
        load_weights(path, model)
    msg = str(info.value)
    assert "bad.safetensors" in msg
    assert "missing tensors ['1.bias']" in msg
    assert "unexpected tensors ['9.weight']" in msg
    assert "5.weight: file shape (8, 13), model shape (8, 12)" in msg
    # nothing was written
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_non_strict_loads_what_fits(trained_mlp, tmp_path):
    model, _ = trained_mlp
    sd = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    del sd["8.bias"]
    sd["extra"] = torch.ones(3)
    sd["8.weight"] = torch.full((3, 8), 0.5)
    path = tmp_path / "partial.safetensors"
    st_torch.save_file(sd, str(path))
    result = load_weights(path, model, strict=False)
    assert result.missing_keys == ["8.bias"]
    assert result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.state_dict()["8.weight"], np.full((3, 8), 0.5))
    # shapes are checked even when not strict
    sd["8.weight"] = torch.zeros(4, 8)
    st_torch.save_file(sd, str(path))
    with pytest.raises(CheckpointError, match=r"8\.weight: file shape \(4, 8\)"):
        load_weights(path, model, strict=False)


def test_float64_file_is_cast_to_model_dtype(tmp_path):
    tlin = torch.nn.Linear(3, 2).double()
    path = tmp_path / "f64.safetensors"
    st_torch.save_file(tlin.state_dict(), str(path))
    lin = nn.Linear(3, 2)
    load_weights(path, lin)
    assert lin.weight.dtype == np.float32
    np.testing.assert_allclose(lin.weight._data, tlin.weight.detach().numpy(), rtol=1e-7)


def test_embedding_and_layernorm_names(tmp_path, rng):
    model = nn.Sequential(nn.Embedding(7, 4, generator=rng), nn.LayerNorm(4))
    tmodel = torch.nn.Sequential(torch.nn.Embedding(7, 4), torch.nn.LayerNorm(4))
    path = tmp_path / "emb.safetensors"
    save_weights(path, model)
    tmodel.load_state_dict(st_torch.load_file(str(path)), strict=True)
    idx = rng.integers(0, 7, size=(3, 5))
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(idx)).numpy()
    with gs.no_grad():
        assert_close(model(idx)._data, expected)


def test_gradstep_checkpoint_is_accepted(trained_mlp, tmp_path):
    model, x = trained_mlp
    path = tmp_path / "ckpt.safetensors"
    gs.save_checkpoint(path, model, epoch=3)
    fresh = gs_mlp(np.random.default_rng(5))
    load_weights(path, fresh)
    np.testing.assert_array_equal(_gs_out(fresh, x), _gs_out(model, x))


def test_write_is_atomic(trained_mlp, tmp_path, monkeypatch):
    model, _ = trained_mlp
    path = tmp_path / "w.safetensors"
    save_weights(path, model)
    good = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    model[1].weight._data[...] = 0
    with pytest.raises(CheckpointError, match="disk full"):
        save_weights(path, model)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_bad_inputs(tmp_path):
    with pytest.raises(CheckpointError, match="cannot open"):
        load_weights(tmp_path / "missing.safetensors", nn.Linear(2, 2))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00[]")
    with pytest.raises(CheckpointError):
        load_weights(junk, nn.Linear(2, 2))
    with pytest.raises(TypeError, match="state_dict"):
        save_weights(tmp_path / "x.safetensors", object())
    with pytest.raises(TypeError, match="load_state_dict"):
        load_weights(junk, object())


def test_public_api():
    assert gs.save_weights is save_weights
    assert gs.load_weights is load_weights
