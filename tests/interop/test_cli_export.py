"""`gradstep export CHECKPOINT model.onnx`: end to end from `gradstep train`."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import assert_close

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
cli = pytest.importorskip("gradstep.cli")


def _run(tmp_path, model: str, dataset: str) -> str:
    out = tmp_path / "run"
    argv = [
        "train",
        "--dataset",
        dataset,
        "--model",
        model,
        "--epochs",
        "1",
        "-q",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    return str(out / "last.safetensors")


@pytest.mark.parametrize(("model", "dataset"), [("cnn:4", "digits"), ("mlp:8", "diabetes")])
def test_export_matches_predict(model, dataset, tmp_path, capsys):
    pytest.importorskip("sklearn")
    ck = _run(tmp_path, model, dataset)
    onnx_path = tmp_path / "model.onnx"
    assert cli.main(["export", ck, str(onnx_path)]) == 0
    assert "wrote" in capsys.readouterr().out

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    n_features = sess.get_inputs()[0].shape[1]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, (9, n_features)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["predict", ck, str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy")]) == 0
    expected = np.load(tmp_path / "p.npy")
    got = sess.run(None, {"input": x})[0]
    if dataset == "digits":
        np.testing.assert_array_equal(got.argmax(axis=1), expected)
    else:
        assert_close(got[:, 0], expected.astype(np.float32), rtol=1e-5)


def test_export_errors(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "missing.safetensors"), "m.onnx"]) == 2
    assert "cannot open" in capsys.readouterr().err
    assert cli.main(["export", "a.safetensors", "m.onnx", "--input-shape", "1,x"]) == 2
    assert "--input-shape" in capsys.readouterr().err
