"""Checkpoint file format: safetensors round trip, interop, validation, atomic writes."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import gradstep
from gradstep import _safetensors as ckpt
from gradstep.errors import CheckpointError


class _Stateful:
    """Minimal object with the PyTorch state-dict protocol."""

    def __init__(self, state):
        self.state = state

    def state_dict(self):
        return self.state

    def load_state_dict(self, state, strict=True):
        self.state = state


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "w": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.standard_normal(4),
        "i": np.arange(5, dtype=np.int64),
        "i32": np.arange(3, dtype=np.int32),
        "u": np.arange(7, dtype=np.uint8),
        "m": np.array([True, False, True]),
        "empty": np.zeros((0, 2), dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float64),
    }


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k])


def test_safetensors_round_trip(tmp_path):
    p = tmp_path / "t.safetensors"
    ckpt.write_safetensors(p, _tensors(), {"note": "hi"})
    tensors, meta = ckpt.read_safetensors(p)
    _assert_same(tensors, _tensors())
    assert meta == {"note": "hi"}
    assert list(tensors) == list(_tensors())


def test_interop_with_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    ours = tmp_path / "ours.safetensors"
    ckpt.write_safetensors(ours, _tensors(), {"k": "v"})
    _assert_same(st.load_file(str(ours)), _tensors())
    theirs = tmp_path / "theirs.safetensors"
    st.save_file(_tensors(), str(theirs), metadata={"a": "b"})
    tensors, meta = ckpt.read_safetensors(theirs)
    _assert_same(tensors, _tensors())
    assert meta == {"a": "b"}


def test_plain_safetensors_loads_as_weights(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    p = tmp_path / "w.safetensors"
    st.save_file({"fc.weight": np.ones((2, 2), np.float32)}, str(p))
    ck = gradstep.load_checkpoint(p)
    assert list(ck.model_state) == ["fc.weight"]
    assert ck.optimizer_state is None


def test_save_load_state_round_trip(tmp_path):
    model = _Stateful(
        {"fc.weight": np.ones((2, 3), np.float32), "fc.bias": np.zeros(3, np.float32)}
    )
    opt_state = {
        "state": {0: {"momentum_buffer": np.full((2, 3), 0.5, np.float32), "step": 3}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}],
    }
    optimizer = _Stateful(opt_state)
    scheduler = _Stateful({"last_epoch": 4, "base_lrs": [0.1], "eps": float("inf")})
    rng = np.random.default_rng(123)
    rng.random(3)
    loader_state = {"generator": rng.bit_generator.state, "position": 17, "order": np.arange(5)}
    p = tmp_path / "c.safetensors"
    gradstep.save_checkpoint(
        p, model, optimizer, scheduler, epoch=2, step=40, loader=loader_state, f32=np.float32(1.5)
    )

    m2 = _Stateful(None)
    o2 = _Stateful(None)
    s2 = _Stateful(None)
    ck = gradstep.load_checkpoint(p, m2, o2, s2)
    _assert_same(m2.state, model.state)
    assert o2.state["state"][0]["step"] == 3
    np.testing.assert_array_equal(o2.state["state"][0]["momentum_buffer"], 0.5)
    assert o2.state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert list(o2.state["state"]) == [0]  # int keys survive
    assert s2.state == {"last_epoch": 4, "base_lrs": [0.1], "eps": float("inf")}
    assert ck.epoch == 2 and ck.step == 40
    assert isinstance(ck["f32"], np.float32) and ck["f32"] == 1.5
    # the Generator state is restored exactly
    r2 = np.random.default_rng()
    r2.bit_generator.state = ck["loader"]["generator"]
    np.testing.assert_array_equal(r2.random(4), rng.random(4))
    np.testing.assert_array_equal(ck["loader"]["order"], np.arange(5))


def test_save_rejects_unstorable_values(tmp_path):
    with pytest.raises(CheckpointError, match="object"):
        gradstep.save_checkpoint(tmp_path / "x.safetensors", None, thing=object())
    with pytest.raises(CheckpointError, match="dtype"):
        ckpt.write_safetensors(tmp_path / "y.safetensors", {"c": np.zeros(2, np.complex64)})
    assert not (tmp_path / "y.safetensors").exists()


def test_load_into_optimizer_without_state_is_an_error(tmp_path):
    p = tmp_path / "c.safetensors"
    gradstep.save_checkpoint(p, _Stateful({"w": np.ones(2)}))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        gradstep.load_checkpoint(p, optimizer=_Stateful(None))


def test_load_mismatch_is_checkpoint_error(tmp_path):
    class Strict(_Stateful):
        def load_state_dict(self, state, strict=True):
            raise KeyError("missing key 'fc.bias'")

    p = tmp_path / "c.safetensors"
    gradstep.save_checkpoint(p, _Stateful({"w": np.ones(2)}))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        gradstep.load_checkpoint(p, Strict(None))


# ----------------------------------------------------------------------- atomic writes


def test_failing_replace_keeps_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "c.safetensors"
    gradstep.save_checkpoint(p, _Stateful({"w": np.ones(3)}), epoch=1)
    before = p.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(CheckpointError, match="renaming.*No space left"):
        gradstep.save_checkpoint(p, _Stateful({"w": np.zeros(3)}), epoch=2)
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert gradstep.load_checkpoint(p).epoch == 1
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors"]  # temp file cleaned up


def test_failing_write_keeps_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "c.safetensors"
    gradstep.save_checkpoint(p, _Stateful({"w": np.ones(3)}), epoch=1)
    before = p.read_bytes()

    def bad_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", bad_fsync)
    with pytest.raises(CheckpointError, match="flushing.*Input/output error"):
        gradstep.save_checkpoint(p, _Stateful({"w": np.zeros(3)}), epoch=2)
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors"]


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="write failed"):
        gradstep.save_checkpoint(tmp_path / "nope" / "c.safetensors", _Stateful({"w": np.ones(1)}))


# --------------------------------------------------------------- corrupt / hostile files


def _raw(header: dict | bytes, buffer: bytes = b"", n: int | None = None) -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if n is None else n) + h + buffer


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}

HOSTILE = {
    "empty file": (b"", "empty file"),
    "short file": (b"\x01\x00", "truncated"),
    "text file": (b"epoch,loss\n1,0.5\n2,0.25\n", "not a safetensors file"),
    "short text file": (b"hello", "not a safetensors file"),
    "pickle": (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.", "Python pickle"),
    "zip archive": (b"PK\x03\x04" + b"\0" * 40, "zip archive"),
    "header length beyond file": (_raw(GOOD, b"\0" * 8, n=10**6), "truncated"),
    "not json": (_raw(b"{not json}"), "not valid JSON"),
    "not an object": (_raw(b"[1, 2]  "), "not a safetensors file"),
    "bad utf8": (_raw(b'{"\xff": 1}'), "not valid JSON"),
    "duplicate key": (
        _raw(
            b'{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
            b'"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}'
        ),
        "duplicate",
    ),
    "bad dtype": (
        _raw({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
        "not supported",
    ),
    "object dtype": (
        _raw({"a": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
        "not supported",
    ),
    "negative shape": (
        _raw({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "shape",
    ),
    "float shape": (
        _raw({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, b"\0" * 8),
        "shape",
    ),
    "huge shape": (
        _raw({"a": {"dtype": "F64", "shape": [10**9, 10**9], "data_offsets": [0, 8]}}, b"\0" * 8),
        "needs",
    ),
    "offsets out of range": (
        _raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
        "truncated",
    ),
    "reversed offsets": (
        _raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8),
        "not ordered",
    ),
    "size mismatch": (
        _raw({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
        "needs 12 bytes",
    ),
    "overlap": (
        _raw(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
        ),
        "overlaps",
    ),
    "gap": (
        _raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
        "gap",
    ),
    "trailing bytes": (_raw(GOOD, b"\0" * 12), "trailing bytes"),
    "missing key": (_raw({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "exactly the keys"),
    "extra key": (
        _raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}}, b"\0" * 8),
        "exactly the keys",
    ),
    "bad name": (
        _raw({"a\nb": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "control or whitespace",
    ),
    "metadata not strings": (_raw({"__metadata__": {"a": 1}}), "strings to strings"),
    "bad bool": (
        _raw({"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x07"),
        "BOOL",
    ),
    "deep nesting": (_raw(b"{" + b'"a":[' * 5000 + b"]" * 5000 + b"}"), "JSON"),
    "bad gradstep meta json": (
        _raw({"__metadata__": {"format": "gradstep", "gradstep_format": "1", "meta": "{oops"}}),
        "'meta' is not valid JSON",
    ),
    "missing referenced tensor": (
        _raw(
            {
                "__metadata__": {
                    "format": "gradstep",
                    "gradstep_format": "1",
                    "meta": '{"x": {"__array__": "extra/x"}}',
                }
            }
        ),
        "missing tensor",
    ),
    "unknown gradstep format": (
        _raw({"__metadata__": {"format": "gradstep", "gradstep_format": "99"}}),
        "unsupported gradstep checkpoint format",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_raise_checkpoint_error(tmp_path, case):
    data, match = HOSTILE[case]
    p = tmp_path / "bad.safetensors"
    p.write_bytes(data)
    with pytest.raises(CheckpointError, match=match) as info:
        gradstep.load_checkpoint(p)
    assert "bad.safetensors" in str(info.value)


def test_truncated_real_file(tmp_path):
    p = tmp_path / "t.safetensors"
    ckpt.write_safetensors(p, _tensors())
    data = p.read_bytes()
    for cut in (4, 8, 20, len(data) - 1):
        q = tmp_path / f"cut{cut}.safetensors"
        q.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            ckpt.read_safetensors(q)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot open"):
        gradstep.load_checkpoint(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="cannot open"):
        gradstep.load_checkpoint(tmp_path)  # a directory


def test_random_corruption_never_escapes_as_other_error(tmp_path):
    p = tmp_path / "t.safetensors"
    gradstep.save_checkpoint(p, _Stateful(_tensors()), epoch=3, loader={"pos": 2})
    data = bytearray(p.read_bytes())
    rng = np.random.default_rng(0)
    q = Path(tmp_path / "c.safetensors")
    for _ in range(300):
        d = bytearray(data)
        for i in rng.integers(0, len(d), size=rng.integers(1, 4)):
            d[i] = int(rng.integers(0, 256))
        q.write_bytes(bytes(d))
        try:
            gradstep.load_checkpoint(q, build=False)
        except CheckpointError:
            pass


def test_checkpoint_module_does_not_import_models() -> None:
    """The model is rebuilt by the layer that owns configs (nn.module_from_config)."""
    import ast

    tree = ast.parse(Path(ckpt.__file__).with_name("checkpoint.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {
        f"{n.module}.{a.name}" if n.module else a.name
        for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    assert not [m for m in imported if m == "gradstep.models"
                or m.startswith("gradstep.models.")], imported
    assert "gradstep.nn.module.module_from_config" in imported
