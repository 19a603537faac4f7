"""IDX reader/writer: round trips and hostile files."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradstep.data import read_idx, write_idx
from gradstep.data.idx import read_idx_bytes
from gradstep.errors import DataError


def _header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
def test_roundtrip(tmp_path, dtype, suffix):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = tmp_path / f"a{suffix}"
    write_idx(path, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == suffix.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_expected_magic_and_dtype(tmp_path):
    p = tmp_path / "l.idx"
    write_idx(p, np.zeros(3, np.uint8))
    assert read_idx(p, expected_magic=0x801, expected_dtype=0x08).shape == (3,)
    with pytest.raises(DataError, match="0x00000803"):
        read_idx(p, expected_magic=0x803)
    write_idx(p, np.zeros(3, np.int32))
    with pytest.raises(DataError, match="dtype byte 0x0c, expected 0x08"):
        read_idx(p, expected_dtype=0x08)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "bad magic"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "unknown dtype byte 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header"),
        (_header(8, (3,)) + b"\x01\x02", r"truncated: .* 11 bytes .* file has 10"),
        (_header(8, (3,)) + b"\x01\x02\x03\x04", r"oversized: .* file has 12"),
        (_header(8, (2, 3, 5)) + b"\x00" * 29, "truncated"),
        (_header(8, (60000, 28, 27)) + b"\x00" * 100, "truncated"),
        (_header(0x0E, (2**32 - 1,) * 3) + b"\x00" * 64, "truncated"),  # absurd claim
    ],
)
def test_corrupt_raw(tmp_path, content, match):
    p = tmp_path / "bad.idx"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match) as ei:
        read_idx(p)
    assert str(p) in str(ei.value)
    pgz = tmp_path / "bad.idx.gz"
    pgz.write_bytes(gzip.compress(content))
    with pytest.raises(DataError):
        read_idx(pgz)


def test_huge_claim_over_limit_is_refused_without_allocating(tmp_path):
    p = tmp_path / "huge.idx"
    p.write_bytes(_header(8, (1000, 1000)) + b"\x00" * 1_000_000)
    with pytest.raises(DataError, match="max_bytes"):
        read_idx(p, max_bytes=1000)
    pgz = tmp_path / "huge.idx.gz"
    pgz.write_bytes(gzip.compress(p.read_bytes()))
    with pytest.raises(DataError, match="max_bytes"):
        read_idx(pgz, max_bytes=1000)


def test_gzip_claim_beyond_deflate_ratio(tmp_path):
    # a 40-byte gzip file whose header claims 1 GB: refused from the header alone
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(_header(8, (1000, 1000, 1000))))
    with pytest.raises(DataError, match="more than a .*-byte gzip file can hold"):
        read_idx(p)


def test_gzip_bomb_with_small_claim_stops_early(tmp_path):
    # header claims 10 bytes but the stream inflates to 64 MB: stop at claim + 1
    payload = _header(8, (10,)) + b"\x00" * (64 << 20)
    p = tmp_path / "bomb2.gz"
    p.write_bytes(gzip.compress(payload, compresslevel=9))
    assert p.stat().st_size < 200_000
    with pytest.raises(DataError, match="oversized"):
        read_idx(p)


def test_gzip_truncated_corrupt_trailing(tmp_path):
    good = gzip.compress(_header(8, (100,)) + bytes(range(100)))
    p = tmp_path / "t.gz"
    p.write_bytes(good[:-10])
    with pytest.raises(DataError, match="truncated gzip"):
        read_idx(p)
    bad = bytearray(good)
    bad[-8] ^= 0xFF  # CRC
    p.write_bytes(bytes(bad))
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(p)
    p.write_bytes(good + b"garbage")
    with pytest.raises(DataError, match="trailing garbage"):
        read_idx(p)
    # two gzip members form one file (as `cat a.gz b.gz`)
    raw = _header(8, (100,)) + bytes(range(100))
    p.write_bytes(gzip.compress(raw[:50]) + gzip.compress(raw[50:]))
    np.testing.assert_array_equal(read_idx(p), np.arange(100, dtype=np.uint8))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(DataError):
        read_idx(tmp_path)


def test_write_errors(tmp_path):
    with pytest.raises(DataError, match="dtype"):
        write_idx(tmp_path / "x.idx", np.zeros(2, np.uint16))
    with pytest.raises(DataError, match="shape"):
        write_idx(tmp_path / "x.idx", np.float32(1.0))


def test_sha256_of_decompressed_content(tmp_path):
    import hashlib

    arr = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", arr)
    _, digest = read_idx(tmp_path / "a.gz", return_sha256=True)
    assert digest == hashlib.sha256(_header(8, (10,)) + arr.tobytes()).hexdigest()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64), gz=st.booleans())
def test_fuzz_arbitrary_bytes_never_crash(tmp_path, data, gz):
    p = tmp_path / "f"
    p.write_bytes(gzip.compress(data) if gz else data)
    try:
        arr = read_idx(p)
    except DataError:
        return
    assert isinstance(arr, np.ndarray)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    cut=st.integers(-20, 20),
    gz=st.booleans(),
)
def test_fuzz_mutated_sizes(tmp_path, shape, cut, gz):
    arr = np.ones(shape, dtype=np.uint8)
    raw = _header(8, tuple(shape)) + arr.tobytes()
    mutated = raw[: len(raw) + cut] if cut < 0 else raw + b"\x01" * cut
    p = tmp_path / "m"
    p.write_bytes(gzip.compress(mutated) if gz else mutated)
    if cut == 0:
        np.testing.assert_array_equal(read_idx(p), arr)
    else:
        with pytest.raises(DataError):
            read_idx(p)


def test_header_object(tmp_path):
    write_idx(tmp_path / "a", np.zeros((2, 3), np.int16))
    h, buf = read_idx_bytes(tmp_path / "a")
    assert (h.magic, h.shape, h.header_bytes, h.payload_bytes) == (0x0B02, (2, 3), 12, 12)
    assert len(buf) == h.total_bytes == os.path.getsize(tmp_path / "a")
    assert zlib  # imported for parity with the reader
