"""export_onnx: checked graphs whose onnxruntime outputs equal gradstep's on any batch size."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gradstep as gs
from gradstep import nn
from gradstep.onnx_export import OnnxExportError, export_onnx

from .conftest import CNN_INPUT, MLP_INPUT, assert_close

onnx = pytest.importorskip("onnx")


def _session(path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _gs_out(model, x):
    with gs.no_grad():
        return np.asarray(model(x).data)


def _check_file(path):
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_trained_model_matches_onnxruntime(kind, request, rng, tmp_path):
    model, x = request.getfixturevalue(f"trained_{kind}")
    model.train()  # export uses the eval form and restores the mode afterwards
    path = tmp_path / f"{kind}.onnx"
    assert export_onnx(model, path, x[:2]) == path
    assert all(m.training for m in model.modules())

    proto = _check_file(path)
    shape = MLP_INPUT if kind == "mlp" else CNN_INPUT
    assert _dims(proto.graph.input[0]) == ["batch", *shape]
    assert _dims(proto.graph.output[0]) == ["batch", 3]
    ops = {n.op_type for n in proto.graph.node}
    assert "Dropout" not in ops and "BatchNormalization" in ops
    inits = {i.name for i in proto.graph.initializer}
    assert ("2.running_mean" if kind == "mlp" else "0.1.running_mean") in inits

    sess = _session(path)
    model.eval()
    for n in (1, 3, 7, 16):
        xb = rng.standard_normal((n, *shape)).astype(np.float32)
        (out,) = sess.run(None, {"input": xb})
        assert out.shape == (n, 3)
        assert_close(out, _gs_out(model, xb))


def test_gemm_and_matmul_paths_and_activations(rng, tmp_path):
    model = nn.Sequential(
        nn.Linear(5, 6, generator=rng),  # 3-D input: MatMul + Add
        nn.LeakyReLU(0.2),
        nn.LayerNorm(6, bias=False),
        nn.ELU(alpha=0.7),
        nn.Linear(6, 4, bias=False, generator=rng),
        nn.GELU(approximate="tanh"),
        nn.Softplus(beta=2.0, threshold=1.0),
        nn.Sigmoid(),
        nn.Identity(),
        nn.Softmax(dim=-1),
    ).eval()
    x = rng.standard_normal((2, 3, 5)).astype(np.float32) * 3
    path = tmp_path / "act.onnx"
    export_onnx(model, path, x)
    proto = _check_file(path)
    assert _dims(proto.graph.input[0]) == ["batch", 3, 5]
    sess = _session(path)
    for n in (1, 4):
        xb = rng.standard_normal((n, 3, 5)).astype(np.float32) * 3
        assert_close(sess.run(None, {"input": xb})[0], _gs_out(model, xb))


def test_pooling_variants_and_flatten(rng, tmp_path):
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=(1, 0), dilation=1, generator=rng),
        nn.Conv2d(4, 4, 3, padding="valid", groups=2, generator=rng),
        nn.MaxPool2d(2, stride=1, padding=1, dilation=2),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        nn.AdaptiveAvgPool2d((2, 3)),  # bins that do not divide: MatMul form
        nn.Flatten(start_dim=1, end_dim=2),
        nn.LogSoftmax(dim=1),
    ).eval()
    x = rng.standard_normal((2, 3, 21, 23)).astype(np.float32)
    path = tmp_path / "pool.onnx"
    export_onnx(model, path, x)
    _check_file(path)
    sess = _session(path)
    for n in (1, 5):
        xb = rng.standard_normal((n, 3, 21, 23)).astype(np.float32)
        out = sess.run(None, {"input": xb})[0]
        ref = _gs_out(model, xb)
        assert out.shape == ref.shape
        assert_close(out, ref)


def test_global_pool_and_batchnorm1d_3d(rng, tmp_path):
    model = nn.Sequential(
        nn.Conv2d(2, 3, 1, generator=rng),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(2),  # (N, 3, 1)
        nn.BatchNorm1d(3, affine=False),
        nn.Flatten(),
    )
    x = rng.standard_normal((6, 2, 4, 4)).astype(np.float32)
    model.train()
    model(x)
    model.eval()
    path = tmp_path / "gap.onnx"
    export_onnx(model, path, gs.tensor(x))
    ops = [n.op_type for n in _check_file(path).graph.node]
    assert "GlobalAveragePool" in ops
    assert_close(_session(path).run(None, {"input": x})[0], _gs_out(model, x))


def test_embedding_takes_int64(rng, tmp_path):
    model = nn.Sequential(
        nn.Embedding(11, 4, padding_idx=0, generator=rng), nn.Flatten(), nn.Linear(12, 2)
    )
    idx = rng.integers(0, 11, size=(2, 3))
    path = tmp_path / "emb.onnx"
    export_onnx(model, path, idx)
    proto = _check_file(path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    for n in (1, 6):
        ib = rng.integers(0, 11, size=(n, 3)).astype(np.int64)
        assert_close(_session(path).run(None, {"input": ib})[0], _gs_out(model, ib))


def test_single_layer_and_dropout_only(rng, tmp_path):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for i, model in enumerate([nn.Linear(4, 2, generator=rng), nn.Dropout(0.5)]):
        path = tmp_path / f"single{i}.onnx"
        export_onnx(model, path, x)
        _check_file(path)
        assert_close(_session(path).run(None, {"input": x})[0], _gs_out(model.eval(), x))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + x


def test_unsupported_layer_is_named(tmp_path):
    x = np.zeros((2, 4), np.float32)
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), Block()))
    with pytest.raises(OnnxExportError, match=r"layer '1\.1' is a Block, which cannot be exported"):
        export_onnx(model, tmp_path / "x.onnx", x)
    with pytest.raises(OnnxExportError, match=r"the model is a Block"):
        export_onnx(Block(), tmp_path / "x.onnx", x)
    with pytest.raises(TypeError):  # OnnxExportError is a TypeError
        export_onnx(nn.ModuleList([nn.ReLU()]), tmp_path / "x.onnx", x)

    class MyLinear(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(OnnxExportError, match="MyLinear.*subclass of a standard layer"):
        export_onnx(nn.Sequential(MyLinear(4, 4)), tmp_path / "x.onnx", x)
    with pytest.raises(OnnxExportError, match=r"'0' \(BatchNorm1d\).*running statistics"):
        export_onnx(
            nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False)), tmp_path / "x.onnx", x
        )
    assert not (tmp_path / "x.onnx").exists()


def test_import_gradstep_does_not_import_onnx():
    code = "import sys, gradstep; print('onnx' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_public_api():
    assert gs.export_onnx is export_onnx


def test_export_checkpoint_of_builder_models(rng, tmp_path):
    models = pytest.importorskip("gradstep.models")
    from gradstep.errors import ConfigError
    from gradstep.onnx_export import export_checkpoint, infer_input_shape

    mlp = models.build("mlp:8:dropout=0.1", (1, 4, 4), 3, generator=1)
    cnn = models.build("cnn:4", (1, 8, 8), 3, generator=2)
    assert infer_input_shape(mlp) == (16,)
    assert infer_input_shape(cnn) is None
    gs.save_checkpoint(tmp_path / "mlp.safetensors", mlp, epoch=1)
    gs.save_checkpoint(tmp_path / "cnn.safetensors", cnn, epoch=1)

    export_checkpoint(tmp_path / "mlp.safetensors", tmp_path / "mlp.onnx")
    x = rng.standard_normal((5, 16)).astype(np.float32)
    assert_close(_session(tmp_path / "mlp.onnx").run(None, {"input": x})[0], _gs_out(mlp.eval(), x))

    with pytest.raises(ConfigError, match="input shape"):
        export_checkpoint(tmp_path / "cnn.safetensors", tmp_path / "cnn.onnx")
    export_checkpoint(tmp_path / "cnn.safetensors", tmp_path / "cnn.onnx", input_shape=(1, 8, 8))
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    assert_close(_session(tmp_path / "cnn.onnx").run(None, {"input": x})[0], _gs_out(cnn.eval(), x))

    # a shape recorded in the checkpoint's metadata is used
    gs.save_checkpoint(tmp_path / "cnn2.safetensors", cnn, data={"input_shape": [1, 8, 8]})
    export_checkpoint(tmp_path / "cnn2.safetensors", tmp_path / "cnn2.onnx")
    assert _dims(_check_file(tmp_path / "cnn2.onnx").graph.input[0]) == ["batch", 1, 8, 8]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_export_checkpoint_folds_train_preprocessing(task, rng, tmp_path):
    models = pytest.importorskip("gradstep.models")
    from gradstep.errors import ConfigError
    from gradstep.onnx_export import export_checkpoint

    raw, model_shape = (64,), (1, 8, 8)  # as `gradstep train --model cnn` on flat 8x8 digits
    model = models.build("cnn:4", model_shape, 3 if task == "classification" else 1, generator=3)
    mean = rng.standard_normal(raw).astype(np.float32)
    std = rng.uniform(0.5, 2.0, raw).astype(np.float32)
    pre = {
        "mean": mean,
        "std": std,
        "raw_shape": list(raw),
        "model_shape": list(model_shape),
        "task": task,
        "classes": [],
        "y_mean": 4.0,
        "y_std": 2.5,
    }
    ck = tmp_path / "ck.safetensors"
    gs.save_checkpoint(ck, model, preprocess=pre)
    export_checkpoint(ck, tmp_path / "m.onnx")
    proto = _check_file(tmp_path / "m.onnx")
    assert _dims(proto.graph.input[0]) == ["batch", 64]

    x = rng.uniform(0, 16, (5, 64)).astype(np.float32)
    expected = _gs_out(model.eval(), ((x - mean) / std).reshape(5, *model_shape))
    if task == "regression":
        expected = expected * 2.5 + 4.0
    assert_close(_session(tmp_path / "m.onnx").run(None, {"input": x})[0], expected)

    # without the preprocessing: the network's own input
    export_checkpoint(ck, tmp_path / "bare.onnx", preprocess=False)
    assert _dims(_check_file(tmp_path / "bare.onnx").graph.input[0]) == ["batch", 1, 8, 8]
    with pytest.raises(ConfigError, match="no-preprocess"):
        export_checkpoint(ck, tmp_path / "x.onnx", input_shape=(1, 8, 8))
