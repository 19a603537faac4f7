"""IDX data set loading, search order and the downloader (against a local HTTP server)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gradstep.data import FASHION_MNIST, IdxFile, IdxSource, load_idx_dataset, write_idx
from gradstep.data.download import cache_dir, download_file
from gradstep.errors import DataError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _make_files(folder: Path, n_train: int = 12, n_test: int = 5, shape=(4, 3)) -> dict:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr)
    return arrays


def _sha(path: Path) -> str:
    import gzip

    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def _source(served: Path, **kw) -> IdxSource:
    files = [IdxFile(n, _sha(served / n)) for n in (
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    return IdxSource(name="tiny", title="Tiny", train_images=files[0], train_labels=files[1],
                     test_images=files[2], test_labels=files[3], mirrors=("http://127.0.0.1:9/",),
                     classes=tuple("abcdefghij"), image_shape=(4, 3), **kw)


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GRADSTEP_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    return tmp_path / "cache"


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADSTEP_DATA", str(tmp_path))
    assert cache_dir("x") == tmp_path / "x"
    monkeypatch.delenv("GRADSTEP_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("x") == tmp_path / "xdg" / "gradstep" / "x"


def test_download_into_cache_and_load(server, cache):
    url, served = server
    arrays = _make_files(served)
    src = _source(served)
    ds = load_idx_dataset(src, download=True, base_url=url)
    assert sorted(p.name for p in (cache / "tiny").iterdir()) == sorted(arrays)
    np.testing.assert_allclose(ds.x, arrays["train-images-idx3-ubyte.gz"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64 and ds.x_test.shape == (5, 4, 3)
    # second call finds the cache without the network
    ds2 = load_idx_dataset(src, scale=False)
    assert ds2.x.max() > 1


def test_hash_mismatch_leaves_nothing(server, cache):
    url, served = server
    _make_files(served)  # structurally valid, but not Fashion-MNIST
    src = dataclasses.replace(FASHION_MNIST, system_dirs=(), image_shape=(4, 3))
    with pytest.raises(DataError, match="SHA-256") as ei:
        load_idx_dataset(src, download=True, base_url=url)
    assert "apt-get install dataset-fashion-mnist" in str(ei.value)
    folder = cache / "fashion-mnist"  # the download destination under GRADSTEP_DATA
    assert not folder.exists() or list(folder.iterdir()) == []
    assert "fashion-mnist" in str(ei.value)


def test_download_file_rejects_and_cleans(server, tmp_path):
    url, served = server
    (served / "blob").write_bytes(b"x" * 5000)
    dest = tmp_path / "dl" / "blob"
    with pytest.raises(DataError, match="limit"):
        download_file(url + "blob", dest, max_bytes=100)
    assert list(dest.parent.iterdir()) == []

    def reject(p: Path) -> None:
        raise DataError("nope")

    with pytest.raises(DataError, match="nope"):
        download_file(url + "blob", dest, verify=reject)
    assert list(dest.parent.iterdir()) == []
    with pytest.raises(DataError, match="404|failed"):
        download_file(url + "missing", dest)
    assert download_file(url + "blob", dest).read_bytes() == b"x" * 5000
    assert [p.name for p in dest.parent.iterdir()] == ["blob"]


def test_not_found_message(cache, tmp_path):
    src = dataclasses.replace(FASHION_MNIST, system_dirs=())
    with pytest.raises(DataError) as ei:
        load_idx_dataset(src, root=tmp_path / "nothing")
    msg = str(ei.value)
    for part in ("apt-get install dataset-fashion-mnist", "download=True", "root=",
                 "--data-root", "--download", "GRADSTEP_DATA",
                 str(tmp_path / "nothing"), str(cache / "fashion-mnist"), str(cache),
                 str(tmp_path / "home-cache" / "gradstep" / "fashion-mnist")):
        assert part in msg


def test_unreachable_mirror(cache):
    src = dataclasses.replace(FASHION_MNIST, system_dirs=())
    with pytest.raises(DataError, match="could not download"):
        load_idx_dataset(src, download=True, base_url="http://127.0.0.1:9/")


def test_root_search_with_unpacked_names_and_validation(tmp_path, cache):
    root = tmp_path / "root"
    arrays = _make_files(root)
    src = _source(root)
    # LeCun's unpacked spelling is found too
    os.rename(root / "train-images-idx3-ubyte.gz", root / "train-images.idx3-ubyte")
    ds = load_idx_dataset(src, root=root)
    np.testing.assert_array_equal(ds.y, arrays["train-labels-idx1-ubyte.gz"])
    # label out of range
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 10], np.uint8))
    with pytest.raises(DataError, match="label 10"):
        load_idx_dataset(src, root=root)
    # count mismatch
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="5 images but"):
        load_idx_dataset(src, root=root)
    # labels file where images are expected: wrong magic
    write_idx(root / "t10k-images-idx3-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="magic 0x00000801, expected 0x00000803"):
        load_idx_dataset(src, root=root)
    # wrong image size
    write_idx(root / "t10k-images-idx3-ubyte.gz", np.zeros((5, 2, 2), np.uint8))
    with pytest.raises(DataError, match="shape"):
        load_idx_dataset(src, root=root)


@pytest.mark.skipif(not (DEBIAN / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    from gradstep.datasets import load_fashion_mnist

    ds = load_fashion_mnist()
    assert ds.x.shape == (60000, 28, 28) and ds.x_test is not None
    assert ds.x_test.shape == (10000, 28, 28) and ds.num_classes == 10
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert np.bincount(ds.y).tolist() == [6000] * 10
    for f in FASHION_MNIST.files:  # the pinned hashes match Debian's files
        assert _sha(DEBIAN / f.name) == f.sha256
