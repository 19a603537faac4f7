"""Hostile and corrupt data files, fuzzed: IDX (raw and gzip) and CSV.

Each either loads (and then holds exactly what the file says, finite where required) or
raises :class:`gradstep.DataError` with a message; headers claiming gigabytes allocate
nothing big; out-of-range labels are refused before any update.
"""

from __future__ import annotations

import functools
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradstep import models, optim
from gradstep.data import idx, load_csv
from gradstep.errors import DataError
from gradstep.train import fit

from ._fuzz import fuzz_settings, peak_memory, typed_or_ok


@functools.lru_cache(maxsize=2)
def _valid_idx(gz: bool) -> bytes:
    arr = np.arange(2 * 5 * 4, dtype=np.uint8).reshape(2, 5, 4)
    raw = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    raw += arr.tobytes()
    return gzip.compress(raw, mtime=0) if gz else raw


def _read(p: Path) -> object:
    got = typed_or_ok(lambda: idx.read_idx(p), DataError)
    if isinstance(got, np.ndarray):
        h, buf = idx.read_idx_bytes(p)
        assert got.size * got.itemsize == h.payload_bytes
    return got


@fuzz_settings(150)
@given(gz=st.booleans(), edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)),
                                        max_size=6), cut=st.integers(min_value=0))
def test_mutated_idx_files(tmp_path: Path, gz: bool, edits: list[tuple[int, int]],
                           cut: int) -> None:
    data = bytearray(_valid_idx(gz))
    for pos, b in edits:
        data[pos % len(data)] = b
    if cut % 3 == 0:
        data = data[: cut % len(data)]
    p = tmp_path / "f.idx"
    p.write_bytes(bytes(data))
    _read(p)


@fuzz_settings(150)
@given(dtype=st.integers(0, 255), dims=st.lists(st.integers(0, 2**32 - 1), min_size=0,
                                                max_size=5),
       payload=st.binary(max_size=200), gz=st.booleans(), zero=st.booleans())
def test_arbitrary_idx_headers(tmp_path: Path, dtype: int, dims: list[int], payload: bytes,
                               gz: bool, zero: bool) -> None:
    head = bytes([0 if zero else 1, 0, dtype, len(dims)])
    raw = head + b"".join(d.to_bytes(4, "big") for d in dims) + payload
    p = tmp_path / "h.idx"
    p.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    with peak_memory() as peak:
        _read(p)
    assert peak[0] < 64 * len(raw) + 3 * 2**20  # + a constant: the 1 MiB read chunk


@fuzz_settings(60)
@given(blob=st.binary(max_size=400))
def test_random_bytes_as_idx(tmp_path: Path, blob: bytes) -> None:
    p = tmp_path / "r.idx"
    p.write_bytes(blob)
    _read(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_claiming_10gb_allocates_nothing_big(tmp_path: Path, gz: bool) -> None:
    raw = bytes([0, 0, 8, 3]) + struct.pack(">III", 100_000, 320, 320) + b"\0" * 1000
    p = tmp_path / "big.idx"
    p.write_bytes(gzip.compress(raw) if gz else raw)
    with peak_memory() as peak, pytest.raises(DataError, match="truncated|claims"):
        idx.read_idx(p)
    assert peak[0] < 3 * 2**20  # a constant: the 1 MiB read chunk


def test_idx_gzip_bomb_is_bounded(tmp_path: Path) -> None:
    """5 MB of zeros compress to ~5 kB; the header says 1 image: refused as oversized while
    decompressing, without inflating the whole bomb."""
    raw = bytes([0, 0, 8, 3]) + struct.pack(">III", 1, 28, 28) + b"\0" * (5 * 2**20)
    p = tmp_path / "bomb.idx.gz"
    p.write_bytes(gzip.compress(raw))
    with peak_memory() as peak, pytest.raises(DataError, match="oversized"):
        idx.read_idx(p)
    assert peak[0] < 3 * 2**20


def test_idx_wrong_magic_and_dtype(tmp_path: Path) -> None:
    p = tmp_path / "l.idx"
    idx.write_idx(p, np.arange(5, dtype=np.int32))
    with pytest.raises(DataError, match="magic"):
        idx.read_idx(p, expected_magic=0x801)
    with pytest.raises(DataError, match="dtype"):
        idx.read_idx(p, expected_dtype=0x08)


# ---------------------------------------------------------------------------------- CSV

CELLS = st.one_of(
    st.sampled_from(["0", "1", "-2.5", "nan", "NaN", "inf", "-inf", "1e39", "-1e39", "1e400",
                     "3.4e38", "", " ", "abc", "\x00", "1,2", '"1"', "0x10", "1_000", "∞",
                     "١٢", "1e-50", "\ufeff1", "True"]),
    st.text(max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@st.composite
def csv_text(draw: st.DrawFn) -> str:
    ncol = draw(st.integers(1, 5))
    rows = draw(st.lists(st.lists(CELLS, min_size=max(0, ncol - 1), max_size=ncol + 1),
                         max_size=8))
    header = ",".join(f"c{i}" for i in range(ncol))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return sep.join([header, *(",".join(r) for r in rows)]) + draw(st.sampled_from(["", sep]))


@fuzz_settings(300)
@given(text=csv_text(), target=st.one_of(st.integers(-6, 6), st.sampled_from(["c0", "c1", "zz"])),
       task=st.sampled_from([None, "classification", "regression"]))
def test_hostile_csv_files(tmp_path: Path, text: str, target: int | str,
                           task: str | None) -> None:
    p = tmp_path / "d.csv"
    p.write_text(text, encoding="utf-8")
    ds = typed_or_ok(lambda: load_csv(p, target=target, task=task), DataError)  # type: ignore[arg-type]
    if isinstance(ds, DataError):
        return
    assert ds.x.dtype == np.float32 and np.isfinite(ds.x).all(), "non-finite features loaded"
    assert len(ds.x) == len(ds.y)
    if ds.task == "classification":
        assert ds.y.min() >= 0 and ds.y.max() < len(ds.classes)
    else:
        assert np.isfinite(ds.y).all(), "non-finite regression targets loaded"


@fuzz_settings(40)
@given(blob=st.binary(max_size=300))
def test_random_bytes_as_csv(tmp_path: Path, blob: bytes) -> None:
    p = tmp_path / "b.csv"
    p.write_bytes(blob)
    typed_or_ok(lambda: load_csv(p), DataError)


@pytest.mark.parametrize("value", ["1e39", "-3.5e38", "1e300"])
def test_csv_values_overflowing_float32_are_refused(tmp_path: Path, value: str) -> None:
    p = tmp_path / "o.csv"
    p.write_text(f"a,b,y\n1,{value},0\n2,3,1\n")
    with pytest.raises(DataError, match="line 2"):
        load_csv(p)


def test_huge_csv_field_is_a_typed_error(tmp_path: Path) -> None:
    p = tmp_path / "f.csv"
    p.write_text('a,y\n"' + "1" * 200_000 + '",0\n')
    with pytest.raises(DataError):
        load_csv(p)


@pytest.mark.parametrize("bad", [3, -1, 99])
def test_labels_out_of_range_are_refused_before_any_update(bad: int) -> None:
    model = models.linear(4, 3, generator=np.random.default_rng(0))
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    x = np.ones((6, 4), np.float32)
    y = np.array([0, 1, 2, bad, 0, 1])
    with pytest.raises(ValueError, match=r"\[0, 3\).*" + str(bad)):
        fit(model, (x, y), optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
            batch_size=None, verbose=0)
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k])
