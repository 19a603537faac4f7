"""gradstep.save(obj, f) / gradstep.load(f): PyTorch's calls, one safetensors file, no pickle."""

from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradstep
from gradstep import CheckpointError, Tensor

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool"]


def _array(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


def _nested() -> dict[str, Any]:
    """One value of every kind save accepts, in every container it accepts."""
    arrays = {d: _array(d, (2, 3), i) for i, d in enumerate(DTYPES)}
    return {
        "arrays": arrays,
        "tensor": gradstep.tensor([[1.0, 2.0], [3.0, 4.0]]),
        "int64 tensor": gradstep.tensor([1, 2, 3]),
        "scalar0d": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 4), np.float32),
        "strided": np.arange(24, dtype=np.float64).reshape(4, 6)[::2, ::3],
        "numbers": [0, -1, 2**62, 2**70, 1.5, -0.0, 1e-300, True, False, None],
        "non-finite": (math.inf, -math.inf),
        "text": ["", "héllo wörld", "with / slash", "__array__"],
        "tuple": (1, (2, (3, np.ones(2))), []),
        "int keys": {0: {"step": 3}, 2: {"step": 4}},
        "mixed keys": {7: "a", 2.5: "b", True: "c", None: "d", "s": "e"},
        "__dunder": {"__array__": "not a marker", "__tuple__": [1]},
        "numpy scalars": [np.float32(1.25), np.int16(-3), np.bool_(True)],
    }


def _assert_same(got: Any, want: Any, where: str = "obj") -> None:
    if isinstance(want, (np.ndarray, Tensor)):
        arr = want._data if isinstance(want, Tensor) else want
        assert isinstance(got, Tensor), (where, type(got))
        assert got.dtype == arr.dtype and got.shape == arr.shape, where
        np.testing.assert_array_equal(got._data, arr, err_msg=where)
    elif isinstance(want, np.generic):
        assert type(got) is type(want) and got == want, where
    elif isinstance(want, float) and math.isnan(want):
        assert isinstance(got, float) and math.isnan(got), where
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, dict):
        assert type(got) is dict and list(got) == list(want), (where, list(got))
        for k in want:
            assert type(k) is type(next(g for g in got if g == k and type(g) is type(k))), where
            _assert_same(got[k], want[k], f"{where}[{k!r}]")
    else:
        assert type(got) is type(want) and got == want, (where, got, want)
        if isinstance(want, float):
            assert math.copysign(1.0, got) == math.copysign(1.0, want), where


def test_round_trip_of_every_kind_and_dtype(tmp_path: Path) -> None:
    obj = _nested()
    p = tmp_path / "obj.pt"
    gradstep.save(obj, p)
    _assert_same(gradstep.load(p), obj)
    gradstep.save(obj, str(p))  # str paths too
    _assert_same(gradstep.load(str(p)), obj)


@pytest.mark.parametrize("top", [[], {}, (), 3, "text", None, np.arange(3)])
def test_top_level_values_other_than_dicts(tmp_path: Path, top: Any) -> None:
    p = tmp_path / "x.pt"
    gradstep.save(top, p)
    _assert_same(gradstep.load(p), top)


def test_file_objects(tmp_path: Path) -> None:
    obj = _nested()
    buf = io.BytesIO()
    gradstep.save(obj, buf)
    buf.seek(0)
    _assert_same(gradstep.load(buf), obj)
    p = tmp_path / "f.pt"
    with open(p, "wb") as f:
        gradstep.save(obj, f)
    with open(p, "rb") as f:
        _assert_same(gradstep.load(f), obj)
    assert p.read_bytes() == buf.getvalue()  # the same bytes either way


def test_stream_without_seek_and_text_mode_file(tmp_path: Path) -> None:
    class Stream:  # only read(), as a socket or pipe wrapper offers
        def __init__(self, data: bytes) -> None:
            self.buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.buf.read(n)

    buf = io.BytesIO()
    gradstep.save({"w": np.arange(5), "t": (1, "a")}, buf)
    got = gradstep.load(Stream(buf.getvalue()))
    assert got["t"] == (1, "a") and got["w"].tolist() == [0, 1, 2, 3, 4]
    with open(tmp_path / "t.txt", "w") as f, pytest.raises(TypeError, match="text mode"):
        gradstep.save({"w": np.arange(5)}, f)


def test_file_object_read_from_its_position() -> None:
    buf = io.BytesIO(b"preamble")
    buf.seek(0, io.SEEK_END)
    gradstep.save({"w": np.arange(4)}, buf)
    buf.seek(len(b"preamble"))
    np.testing.assert_array_equal(gradstep.load(buf)["w"]._data, np.arange(4))


def test_state_dict_file_is_a_plain_safetensors_weights_file(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    model = gradstep.nn.Sequential(gradstep.nn.Linear(3, 4), gradstep.nn.BatchNorm1d(4))
    p = tmp_path / "model.safetensors"
    gradstep.save(model.state_dict(), p)
    theirs = st.load_file(str(p))
    assert list(theirs) == list(model.state_dict())  # names are the state-dict keys
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(theirs[k], v)


def test_model_and_optimizer_round_trip_continue_identically(tmp_path: Path) -> None:
    """The PyTorch pattern: save both state dicts and the epoch, restore into fresh objects
    and keep training; the same arithmetic on the same values gives the same weights."""

    def build() -> tuple[Any, Any]:  # fresh random weights: load_state_dict overwrites them
        m = gradstep.nn.Sequential(gradstep.nn.Linear(4, 8), gradstep.nn.Tanh(),
                                   gradstep.nn.Linear(8, 3))
        return m, gradstep.optim.Adam(m.parameters(), lr=0.01)

    x = gradstep.tensor(np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32))

    def step(m: Any, opt: Any) -> None:
        opt.zero_grad()
        (m(x) ** 2).mean().backward()
        opt.step()

    m1, o1 = build()
    for _ in range(3):
        step(m1, o1)
    p = tmp_path / "ck.pt"
    gradstep.save({"model": m1.state_dict(), "optimizer": o1.state_dict(), "epoch": 3}, p)
    loaded = gradstep.load(p)
    assert loaded["epoch"] == 3 and sorted(loaded["optimizer"]["state"]) == [0, 1, 2, 3]
    m2, o2 = build()
    m2.load_state_dict(loaded["model"])
    o2.load_state_dict(loaded["optimizer"])
    for _ in range(2):
        step(m1, o1)
        step(m2, o2)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a._data, b._data)
    assert all(isinstance(v, np.ndarray) for st in o2.state.values() for v in st.values()
               if not isinstance(v, (int, float)))


# ---------------------------------------------------------------------------- errors


class _Thing:
    pass


@pytest.mark.parametrize("obj, where, what", [
    ({"optimizer": {"state": {0: {"foo": {1, 2}}}}}, "obj['optimizer']['state'][0]['foo']",
     "cannot save a set"),
    ([1, _Thing()], "obj[1]", "cannot save a _Thing"),
    ({"a": (1, b"bytes")}, "obj['a'][1]", "cannot save a bytes"),
    ({"c": np.zeros(2, np.complex64)}, "obj['c']", "dtype complex64"),
    ({"s": np.array(["a"])}, "obj['s']", "dtype <U1"),
    ({(1, 2): 3}, "obj", "dict key of type tuple"),
    ({"f": lambda: 0}, "obj['f']", "cannot save a function"),
])
def test_unstorable_values_name_their_path(tmp_path: Path, obj: Any, where: str,
                                           what: str) -> None:
    p = tmp_path / "x.pt"
    with pytest.raises(TypeError) as info:
        gradstep.save(obj, p)
    msg = str(info.value)
    assert msg.startswith(where + ":") and what in msg, msg
    assert not p.exists() and os.listdir(tmp_path) == []


def test_self_containing_value_is_refused(tmp_path: Path) -> None:
    a: list[Any] = [1]
    a.append({"again": a})
    with pytest.raises(ValueError, match=r"obj\[1\]\['again'\]: .*contains itself"):
        gradstep.save(a, tmp_path / "x.pt")


def test_modules_and_optimizers_are_refused_with_a_hint(tmp_path: Path) -> None:
    model = gradstep.nn.Linear(2, 2)
    opt = gradstep.optim.SGD(model.parameters(), lr=0.1)
    for obj, where in ((model, "obj"), ({"opt": opt}, "obj['opt']")):
        with pytest.raises(TypeError, match=r"\.state_dict\(\)") as info:
            gradstep.save(obj, tmp_path / "x.pt")
        assert str(info.value).startswith(where + ": cannot save a")


def test_old_checkpoint_call_points_at_save_checkpoint(tmp_path: Path) -> None:
    model = gradstep.nn.Linear(2, 2)
    opt = gradstep.optim.SGD(model.parameters(), lr=0.1)
    for call in (lambda: gradstep.save(tmp_path / "c.safetensors", model),
                 lambda: gradstep.save(tmp_path / "c.safetensors", model, opt),
                 lambda: gradstep.save(str(tmp_path / "c"), model, optimizer=opt, epoch=2)):
        with pytest.raises(TypeError, match="save_checkpoint"):
            call()
    with pytest.raises(TypeError, match="unexpected arguments pickle_protocol"):
        gradstep.save({}, tmp_path / "x.pt", pickle_protocol=4)
    with pytest.raises(TypeError, match="path or a binary file object"):
        gradstep.save({}, 3)


def test_failed_save_keeps_previous_file(tmp_path: Path) -> None:
    p = tmp_path / "x.pt"
    gradstep.save({"w": np.ones(3)}, p)
    before = p.read_bytes()
    with pytest.raises(TypeError):
        gradstep.save({"w": np.zeros(3), "bad": {1, 2}}, p)
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["x.pt"]


# ------------------------------------------------------------------- what load refuses


def test_pickles_are_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    for protocol in (2, 4, 5):
        p = tmp_path / f"p{protocol}.pkl"
        p.write_bytes(pickle.dumps({"w": Payload()}, protocol=protocol))
        with pytest.raises(CheckpointError, match="Python pickle.*never loads pickles"):
            gradstep.load(p)
        with pytest.raises(CheckpointError, match="pickle"):
            gradstep.load(io.BytesIO(p.read_bytes()), weights_only=False)
    assert not marker.exists()


def test_torch_save_file_is_refused_as_a_pickle(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    p = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), p)
    with pytest.raises(CheckpointError, match="zip archive.*torch.save.*never loads pickles"):
        gradstep.load(p)


@pytest.mark.parametrize("data, message", [
    (b"", "empty file"),
    (b"epoch,loss\n1,0.5\n", "not a safetensors file"),
    (b"{}", "not a safetensors file"),
    (b"\x10\x00\x00", "truncated"),
])
def test_not_safetensors_or_truncated(tmp_path: Path, data: bytes, message: str) -> None:
    p = tmp_path / "x.pt"
    p.write_bytes(data)
    with pytest.raises(CheckpointError, match=message):
        gradstep.load(p)


def test_truncated_file_says_truncated(tmp_path: Path) -> None:
    p = tmp_path / "x.pt"
    gradstep.save({"w": np.arange(100.0), "v": np.arange(10)}, p)
    data = p.read_bytes()
    for cut in (9, 20, len(data) // 2, len(data) - 1):
        q = tmp_path / f"cut{cut}.pt"
        q.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated") as info:
            gradstep.load(q)
        assert f"cut{cut}.pt" in str(info.value)


# ---------------------------------------------------------------- map_location / weights_only


def test_map_location_and_weights_only(tmp_path: Path) -> None:
    p = tmp_path / "x.pt"
    gradstep.save({"w": np.arange(3)}, p)
    cpu_like = type("device", (), {"type": "cpu", "index": None})()
    for loc in (None, "cpu", "cpu:0", cpu_like, {"cuda:0": "cpu"}):
        for wo in (None, True, False):
            got = gradstep.load(p, map_location=loc, weights_only=wo)
            np.testing.assert_array_equal(got["w"]._data, np.arange(3))
    np.testing.assert_array_equal(gradstep.load(p, gradstep.device("cpu"))["w"]._data,
                                  np.arange(3))
    with pytest.raises(ValueError, match="CPU only"):
        gradstep.load(p, map_location=gradstep.device("cuda"))
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(gradstep.load(p, torch.device("cpu"))["w"]._data, np.arange(3))


@pytest.mark.parametrize("loc, error, match", [
    ("cuda", ValueError, "'cuda' is not available.*CPU only"),
    ("cuda:1", ValueError, "CPU only"),
    ({"cpu": "cuda:0"}, ValueError, "maps to 'cuda:0'"),
    (lambda storage, loc: storage, TypeError, "map_location must be"),
    (3, TypeError, "map_location must be"),
])
def test_map_location_other_than_cpu_is_refused(tmp_path: Path, loc: Any, error: type,
                                                match: str) -> None:
    p = tmp_path / "x.pt"
    gradstep.save({"w": np.arange(3)}, p)
    with pytest.raises(error, match=match):
        gradstep.load(p, map_location=loc)
    with pytest.raises(TypeError, match="weights_only"):
        gradstep.load(p, weights_only="yes")  # type: ignore[arg-type]


# --------------------------------------------------------- the other files load() reads


def test_load_of_a_training_checkpoint_gives_its_state_dicts(tmp_path: Path) -> None:
    model = gradstep.nn.Sequential(gradstep.nn.Linear(3, 2))
    opt = gradstep.optim.Adam(model.parameters(), lr=0.1)
    (model(gradstep.ones(1, 3)).sum()).backward()
    opt.step()
    p = tmp_path / "last.safetensors"
    gradstep.save_checkpoint(p, model, opt, epoch=4, note="hi")
    got = gradstep.load(p)
    assert sorted(got) == ["meta", "model", "model_config", "optimizer"]
    assert got["meta"] == {"epoch": 4, "note": "hi"}
    assert got["model_config"] == model.to_config()
    fresh = gradstep.nn.Sequential(gradstep.nn.Linear(3, 2))
    fresh.load_state_dict(got["model"])
    for a, b in zip(fresh.parameters(), model.parameters()):
        np.testing.assert_array_equal(a._data, b._data)
    opt2 = gradstep.optim.Adam(fresh.parameters(), lr=0.1)
    opt2.load_state_dict(got["optimizer"])
    np.testing.assert_array_equal(opt2.state[fresh[0].weight]["exp_avg"],
                                  opt.state[model[0].weight]["exp_avg"])
    # and the full checkpoint API still reads it, rebuilding the model from its config
    ck = gradstep.load_checkpoint(p)
    assert ck.epoch == 4 and type(ck.model).__name__ == "Sequential"


def test_load_of_a_weights_file_gives_name_to_tensor(tmp_path: Path) -> None:
    model = gradstep.nn.Sequential(gradstep.nn.Linear(3, 2), gradstep.nn.BatchNorm1d(2))
    p = tmp_path / "w.safetensors"
    gradstep.save_weights(p, model)
    got = gradstep.load(p)
    assert list(got) == list(model.state_dict())
    assert got["1.num_batches_tracked"].dtype == np.int64
    model.load_state_dict(got)


def test_checkpoint_written_by_save_checkpoint_loads_with_load_checkpoint(tmp_path: Path) -> None:
    model = gradstep.nn.Sequential(gradstep.nn.Linear(3, 2))
    p = tmp_path / "c.safetensors"
    gradstep.save_checkpoint(p, model, epoch=1)
    fresh = gradstep.nn.Sequential(gradstep.nn.Linear(3, 2))
    ck = gradstep.load_checkpoint(p, fresh)
    assert ck.model is fresh and ck.meta == {"epoch": 1}
    np.testing.assert_array_equal(fresh[0].weight._data, model[0].weight._data)
    built: list[Any] = []

    def builder(config: Any) -> Any:
        built.append(config)
        return gradstep.nn.module_from_config(config)

    ck2 = gradstep.load_checkpoint(p, builder=builder)
    assert built == [model.to_config()] and ck2.model is not None


def test_disk_full_mid_save_keeps_previous_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from gradstep import _atomic

    p = tmp_path / "x.pt"
    gradstep.save({"w": np.ones(1000)}, p)
    before = p.read_bytes()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f: Any) -> None:
            self.f, self.budget = f, 100

        def write(self, data: Any) -> int:
            n = memoryview(data).nbytes
            if n > self.budget:
                self.f.write(memoryview(data).cast("B")[: self.budget])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.budget -= n
            return int(self.f.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.__exit__(*exc)

    monkeypatch.setattr(_atomic.os, "fdopen", lambda fd, *a, **k: Full(real_fdopen(fd, *a, **k)))
    with pytest.raises(CheckpointError) as info:
        gradstep.save({"w": np.zeros(1000)}, p)
    monkeypatch.undo()
    msg = str(info.value)
    assert str(p) in msg and "while writing: No space left on device" in msg, msg
    assert ".tmp" not in msg
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["x.pt"]
