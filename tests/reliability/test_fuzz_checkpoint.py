"""Hostile and corrupt checkpoints and safetensors files, fuzzed with hypothesis.

Whatever the bytes, reading, loading, rebuilding the model from the stored config and
resuming training from the file either succeed or raise :class:`gradstep.CheckpointError`
with a message; nothing else escapes, nothing hangs, memory stays bounded by the file's
real size, and nothing outside the file is touched (tensor names are never paths).
"""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradstep
from gradstep import _safetensors as ck
from gradstep.errors import CheckpointError, NonFiniteError
from gradstep.train import Trainer

from . import _tiny
from ._fuzz import fuzz_settings, peak_memory, snapshot, typed_or_ok

# ----------------------------------------------------------------------------- fixtures


@functools.lru_cache(maxsize=1)
def valid_checkpoint() -> bytes:
    """A full resumable checkpoint written mid-epoch by fit (model config, Adam state,
    scheduler, loader position, dropout Generator, history)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.safetensors"
        with pytest.raises(_tiny._Stop):
            _tiny.train(2, callbacks=(_tiny.StepCheckpoint(p, stop_after=9),))
        return p.read_bytes()


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _join(header: Any, buffer: bytes) -> bytes:
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + buffer


def _fresh_trainer() -> Trainer:
    return _tiny.make_trainer(2)


def _every_consumer(path: Path) -> None:
    """Everything that reads a checkpoint file: each succeeds or raises CheckpointError."""
    typed_or_ok(lambda: ck.read_safetensors(path), CheckpointError)
    typed_or_ok(lambda: gradstep.load_checkpoint(path), CheckpointError)  # rebuilds from the config
    typed_or_ok(lambda: gradstep.load(path), CheckpointError)  # the states as tensors
    typed_or_ok(lambda: gradstep.load_weights(path, _tiny.build()[0]), CheckpointError)
    trainer = _fresh_trainer()
    restored = typed_or_ok(lambda: trainer.restore(path), CheckpointError)
    if not isinstance(restored, CheckpointError):
        # A file that restores must also train (or stop on non-finite corrupted weights).
        typed_or_ok(trainer.run, NonFiniteError)  # type: ignore[arg-type]


def test_valid_checkpoint_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "c.safetensors"
    p.write_bytes(valid_checkpoint())
    trainer = _fresh_trainer()
    trainer.restore(p)
    assert trainer.step == 9
    st_ = pytest.importorskip("safetensors.numpy")
    assert st_.load_file(str(p)).keys() == ck.read_safetensors(p)[0].keys()


# ------------------------------------------------------------------ byte-level mutations


@fuzz_settings(100)
@given(cut=st.integers(min_value=0, max_value=10**9))
def test_truncated_checkpoint_is_refused(tmp_path: Path, cut: int) -> None:
    data = valid_checkpoint()
    p = tmp_path / "t.safetensors"
    p.write_bytes(data[: cut % len(data)])
    with pytest.raises(CheckpointError, match="t.safetensors"):
        gradstep.load_checkpoint(p)
    with pytest.raises(CheckpointError):
        _fresh_trainer().restore(p)


@fuzz_settings(150)
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1,
                   max_size=8),
    in_header=st.booleans(),
)
def test_byte_flips_give_typed_errors(tmp_path: Path, edits: list[tuple[int, int]],
                                      in_header: bool) -> None:
    data = bytearray(valid_checkpoint())
    (n,) = struct.unpack("<Q", data[:8])
    span = n + 8 if in_header else len(data)
    for pos, byte in edits:
        data[pos % span] = byte
    p = tmp_path / "m.safetensors"
    p.write_bytes(bytes(data))
    _every_consumer(p)


@fuzz_settings(40)
@given(n=st.integers(min_value=0, max_value=2**64 - 1))
def test_header_length_field_is_checked_against_file_size(tmp_path: Path, n: int) -> None:
    data = valid_checkpoint()
    (real,) = struct.unpack("<Q", data[:8])
    p = tmp_path / "h.safetensors"
    p.write_bytes(struct.pack("<Q", n) + data[8:])
    if n == real:
        return
    with pytest.raises(CheckpointError, match="header"):
        ck.read_safetensors(p)


# ---------------------------------------------------------------- structured headers

NAMES = st.one_of(
    st.sampled_from(["w", "model/0.weight", "../../etc/passwd", "/etc/shadow", "..\\..\\x",
                     "~/.ssh/id_rsa", "a/../../b", "__metadata__", "", "a\x00b", "x" * 2000,
                     "\u202egnp.exe", "model/1.weight", "nul", "CON", "a\nb"]),
    st.text(max_size=30),
)
DTYPES = st.sampled_from(["F32", "F64", "F16", "I64", "I32", "U8", "BOOL", "BF16", "F8_E4M3",
                          "C64", "f32", "", "OBJECT", "<f4"])
INTS = st.one_of(st.integers(min_value=-3, max_value=70),
                 st.sampled_from([2**31, 2**32 + 1, 2**40, 2**63, 2**64 + 5, 10**30]))
SHAPE = st.one_of(st.lists(INTS, max_size=4), st.lists(INTS, min_size=65, max_size=70),
                  st.just("3"), st.none(), st.lists(st.floats(0, 4), max_size=2),
                  st.lists(st.booleans(), max_size=2))
OFFSETS = st.one_of(st.lists(INTS, min_size=2, max_size=2), st.lists(INTS, max_size=3),
                    st.just([0.0, 4.0]), st.just([True, False]), st.none(), st.just("0,4"))


@st.composite
def headers(draw: Any) -> tuple[Any, bytes]:
    entries = draw(st.lists(st.tuples(NAMES, DTYPES, SHAPE, OFFSETS), max_size=5))
    header: dict[str, Any] = {}
    for name, dtype, shape, offs in entries:
        info: Any = {"dtype": dtype, "shape": shape, "data_offsets": offs}
        if draw(st.booleans()):
            info = draw(st.sampled_from([info, [], "x", {"dtype": dtype}, {**info, "extra": 1}]))
        header[name] = info
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.one_of(
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
            st.just({"format": "gradstep", "gradstep_format": "1"}),
            st.just({"a": 1}), st.just([]), st.just("x")))
    if draw(st.integers(0, 9)) == 0:  # sometimes not an object at all
        header = draw(st.sampled_from([[], "s", 3, None]))
    buf = draw(st.binary(max_size=300))
    return header, buf


@fuzz_settings(250)
@given(h=headers())
def test_hostile_headers_give_typed_errors(tmp_path: Path, h: tuple[Any, bytes]) -> None:
    header, buf = h
    p = tmp_path / "s.safetensors"
    p.write_bytes(_join(header, buf))
    before = snapshot(tmp_path.parent)
    got = typed_or_ok(lambda: ck.read_safetensors(p), CheckpointError)
    if not isinstance(got, CheckpointError):  # accepted: every tensor is exactly in the file
        tensors, _ = got
        assert sum(a.nbytes for a in tensors.values()) == len(buf)
    typed_or_ok(lambda: gradstep.load_checkpoint(p), CheckpointError)
    typed_or_ok(lambda: gradstep.load_weights(p, _tiny.build()[0]), CheckpointError)
    assert snapshot(tmp_path.parent) == before  # names are never used as paths


def test_valid_safetensors_with_path_trick_names_touch_nothing(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    names = ["../../escape", "/tmp/abs", "..\\win", "~/home", "a/../../../b", "./.", ".."]
    tensors = {n: np.full(3, i, np.float32) for i, n in enumerate(names)}
    p = sandbox / "names.safetensors"
    ck.write_safetensors(p, tensors)
    before = snapshot(tmp_path)
    got, _ = ck.read_safetensors(p)
    assert list(got) == names
    loaded = gradstep.load_checkpoint(p, build=False)
    assert set(loaded.model_state) == set(names)
    with pytest.raises(CheckpointError):
        gradstep.load_weights(p, _tiny.build()[0])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["a\x00b", "tab\tname", "new\nline", "", "x" * 5000])
def test_unprintable_or_oversized_names_are_refused(tmp_path: Path, name: str) -> None:
    p = tmp_path / "n.safetensors"
    p.write_bytes(_join({name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                        b"\0" * 4))
    with pytest.raises(CheckpointError, match="name"):
        ck.read_safetensors(p)
    with pytest.raises(CheckpointError, match="name"):
        ck.write_safetensors(tmp_path / "w.safetensors", {name: np.zeros(1)})


@pytest.mark.parametrize(
    "entries, problem",
    [
        ({"a": ([0, 8], [2]), "b": ([4, 12], [2])}, "overlaps"),
        ({"a": ([0, 8], [2]), "b": ([12, 20], [2])}, "gap"),
        ({"a": ([0, 8], [2]), "b": ([8, 4], [2])}, "not ordered"),
        ({"a": ([0, 10**10], [2500000000])}, "outside"),
        ({"a": ([0, 8], [3])}, "needs 12 bytes"),
        ({"a": ([-8, 0], [2])}, "not ordered"),
        ({"a": ([0, 8], [2]), "b": ([0, 8], [2])}, "overlaps"),
    ],
)
def test_overlapping_and_out_of_range_offsets(tmp_path: Path, entries: dict[str, Any],
                                              problem: str) -> None:
    header = {n: {"dtype": "F32", "shape": s, "data_offsets": o} for n, (o, s) in entries.items()}
    p = tmp_path / "o.safetensors"
    p.write_bytes(_join(header, b"\0" * 24))
    with pytest.raises(CheckpointError, match=problem):
        ck.read_safetensors(p)


def test_duplicate_keys_and_bool_garbage_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "d.safetensors"
    h = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' \
        b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    p.write_bytes(struct.pack("<Q", len(h)) + h + b"\0")
    with pytest.raises(CheckpointError, match="duplicate"):
        ck.read_safetensors(p)
    p.write_bytes(_join({"b": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\0\7"))
    with pytest.raises(CheckpointError, match="BOOL"):
        ck.read_safetensors(p)


# ------------------------------------------------------------- hostile metadata (JSON)

JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["nan", "inf", "model/0.weight", "optimizer/state/0/exp_avg", "Linear",
                     "Sequential", "Dropout", "1", "gradstep"]),
)
JSON_KEYS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["__array__", "__scalar__", "__float__", "__tuple__", "__dict__", "type",
                     "config", "layers", "epoch", "step", "trainer", "version", "loader",
                     "state", "param_groups", "lr", "in_features", "out_features"]),
)
JSON = st.recursive(
    JSON_LEAF,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(JSON_KEYS, kids, max_size=3),
    max_leaves=12,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    obj[path[0]] = _replace(obj[path[0]], path[1:], value)
    return obj


@fuzz_settings(300)
@given(key=st.sampled_from(["meta", "optimizer", "scheduler", "model_config"]),
       where=st.integers(min_value=0), value=JSON, drop=st.booleans())
def test_hostile_metadata_gives_typed_errors(tmp_path: Path, key: str, where: int, value: Any,
                                             drop: bool) -> None:
    """Structure-aware mutation: one node of a real checkpoint's JSON metadata is replaced by
    arbitrary JSON (or deleted): trainer state, optimizer/scheduler state, model config."""
    header, buf = _split(valid_checkpoint())
    meta = header["__metadata__"]
    doc = json.loads(meta[key])
    paths = _paths(doc)
    path = paths[where % len(paths)]
    if drop and path:
        parent = functools.reduce(lambda o, k: o[k], path[:-1], doc)
        del parent[path[-1]]
    else:
        doc = _replace(doc, path, value)
    meta[key] = json.dumps(doc)
    p = tmp_path / "j.safetensors"
    p.write_bytes(_join(header, buf))
    _every_consumer(p)


@pytest.mark.parametrize("depth", [50, 400, 3000])
def test_deeply_nested_metadata_is_refused_not_crashing(tmp_path: Path, depth: int) -> None:
    header, buf = _split(valid_checkpoint())
    meta = header["__metadata__"]
    nested_cfg = '{"type":"Sequential","layers":[' * depth + "]}" * depth
    nested_meta = '{"__tuple__":[' * depth + "]}" * depth
    for key, text in (("model_config", nested_cfg), ("meta", nested_meta)):
        m = dict(meta, **{key: text})
        p = tmp_path / f"{key}.safetensors"
        p.write_bytes(_join({**header, "__metadata__": m}, buf))
        _every_consumer(p)


# -------------------------------------------------------------------- bounded memory

TEN_GB = 10 * 2**30


def _bounded(p: Path, fn: Any) -> None:
    size = p.stat().st_size
    with peak_memory() as peak:
        with pytest.raises(CheckpointError):
            fn()
    assert peak[0] < 64 * size + 2**20, f"peak {peak[0]} bytes for a {size}-byte file"


def test_header_length_claiming_10gb_allocates_nothing_big(tmp_path: Path) -> None:
    p = tmp_path / "big.safetensors"
    p.write_bytes(struct.pack("<Q", TEN_GB) + b'{"a":1}')
    _bounded(p, lambda: ck.read_safetensors(p))


def test_tensor_claiming_10gb_allocates_nothing_big(tmp_path: Path) -> None:
    p = tmp_path / "big.safetensors"
    p.write_bytes(_join({"w": {"dtype": "F32", "shape": [TEN_GB // 4],
                               "data_offsets": [0, TEN_GB]}}, b"\0" * 64))
    _bounded(p, lambda: ck.read_safetensors(p))
    _bounded(p, lambda: gradstep.load_checkpoint(p))


@pytest.mark.parametrize("layer", [
    {"type": "Linear", "config": {"in_features": 8000, "out_features": 8000}},
    {"type": "Conv2d", "config": {"in_channels": 512, "out_channels": 512, "kernel_size": 9}},
    {"type": "Embedding", "config": {"num_embeddings": 2**22, "embedding_dim": 16}},
    {"type": "Linear", "config": {"in_features": 2**40, "out_features": 2**40}},
])
def test_model_config_claiming_a_huge_layer_is_refused_before_allocating(
    tmp_path: Path, layer: dict[str, Any]
) -> None:
    """A tiny file whose stored model config describes a layer of gigabytes: rebuilding the
    model from it must not allocate those gigabytes (nor die of MemoryError)."""
    header, buf = _split(valid_checkpoint())
    cfg = {"type": "Sequential", "layers": [layer]}
    header["__metadata__"]["model_config"] = json.dumps(cfg)
    p = tmp_path / "cfg.safetensors"
    p.write_bytes(_join(header, buf))
    _bounded(p, lambda: gradstep.load_checkpoint(p))


def test_pickle_payload_is_never_executed(tmp_path: Path) -> None:
    """A PyTorch/pickle file (with a payload that would create a file) is just refused."""
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    p = tmp_path / "model.pt"
    p.write_bytes(pickle.dumps({"w": Payload()}))
    for fn in (lambda: ck.read_safetensors(p), lambda: gradstep.load_checkpoint(p),
               lambda: gradstep.load(p), lambda: _fresh_trainer().restore(p)):
        with pytest.raises(CheckpointError, match="pickle"):
            fn()
    assert not marker.exists()
