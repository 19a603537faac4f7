"""MNIST / Fashion-MNIST data roots: root=, GRADSTEP_DATA, system folders, cache; SHA-256."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gradstep.data import FASHION_MNIST, MNIST, IdxFile, load_idx_dataset, load_mnist, write_idx
from gradstep.errors import DataError

SHARED = Path(os.environ.get("GRADSTEP_DATA") or
              Path(__file__).resolve().parents[3] / "shared" / "data")
NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
have_mnist = pytest.mark.skipif(not (SHARED / "mnist" / NAMES[1]).exists(),
                                reason="no MNIST copy in ../shared/data/mnist")


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """An isolated home cache; GRADSTEP_DATA unset."""
    monkeypatch.delenv("GRADSTEP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    return tmp_path


def _fake(folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shapes = [(6, 4, 3), (6,), (2, 4, 3), (2,)]
    for name, shape in zip(NAMES, shapes):
        high = 10 if len(shape) == 1 else 256
        write_idx(folder / name, rng.integers(0, high, shape, dtype=np.uint8))


def _pinned(folder: Path, **kw) -> object:
    files = [IdxFile(n, hashlib.sha256(gzip.decompress((folder / n).read_bytes())).hexdigest())
             for n in NAMES]
    return dataclasses.replace(MNIST, train_images=files[0], train_labels=files[1],
                               test_images=files[2], test_labels=files[3], image_shape=(4, 3),
                               **kw)


@have_mnist
@pytest.mark.parametrize("where", ["data folder", "mnist folder"])
def test_mnist_from_gradstep_data(monkeypatch, where):
    folder = SHARED if where == "data folder" else SHARED / "mnist"
    monkeypatch.setenv("GRADSTEP_DATA", str(folder))
    ds = load_mnist()
    assert ds.x.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert np.bincount(ds.y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                          5851, 5949]
    assert ds.y[:5].tolist() == [5, 0, 4, 1, 9]
    assert ds.x.dtype == np.float32 and 0.0 <= ds.x.min() and ds.x.max() == 1.0
    assert str(SHARED / "mnist") in ds.description or str(SHARED) in ds.description


@have_mnist
def test_pinned_mnist_hashes_match_the_shared_copy():
    for f in MNIST.files:
        digest = hashlib.sha256(gzip.decompress((SHARED / "mnist" / f.name).read_bytes()))
        assert digest.hexdigest() == f.sha256


@have_mnist
def test_fashion_search_skips_mnist_files_in_the_bare_data_folder(env, monkeypatch):
    """Both sets use the same file names: files directly in GRADSTEP_DATA must match."""
    monkeypatch.setenv("GRADSTEP_DATA", str(SHARED / "mnist"))
    src = dataclasses.replace(FASHION_MNIST, system_dirs=())
    with pytest.raises(DataError, match="Fashion-MNIST not found"):
        load_idx_dataset(src)


@pytest.mark.parametrize("source", [MNIST, FASHION_MNIST])
def test_not_found_names_every_way(env, source):
    src = dataclasses.replace(source, system_dirs=())
    with pytest.raises(DataError) as ei:
        load_idx_dataset(src, root=env / "nothing")
    msg = str(ei.value)
    ways = ["root=", "--data-root", "GRADSTEP_DATA", "download=True", "--download",
            str(env / "nothing"), str(env / "home-cache" / "gradstep" / src.subfolder)]
    for part in ways:
        assert part in msg
    assert ("apt-get install dataset-fashion-mnist" in msg) == (source is FASHION_MNIST)
    assert f"`{src.subfolder}/` subfolder" in msg


def test_search_order_root_then_env_subfolder_then_bare_then_cache(env, monkeypatch):
    for name, seed in (("root", 1), ("data/mnist", 2), ("data", 3),
                       ("home-cache/gradstep/mnist", 4)):
        _fake(env / name, seed)
    src = _pinned(env / "data", system_dirs=())  # hashes of the bare folder's files
    monkeypatch.setenv("GRADSTEP_DATA", str(env / "data"))

    def origin(**kw):
        return load_idx_dataset(src, **kw).description.rsplit(" from ", 1)[1]

    assert origin(root=env / "root") == str(env / "root")
    assert origin() == str(env / "data" / "mnist")
    (env / "data" / "mnist" / NAMES[0]).unlink()
    assert origin() == str(env / "data")  # bare folder: its content has the pinned hashes
    _fake(env / "data", 5)  # different content now: skipped
    assert origin() == str(env / "home-cache" / "gradstep" / "mnist")
    monkeypatch.delenv("GRADSTEP_DATA")
    assert origin() == str(env / "home-cache" / "gradstep" / "mnist")


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_mnist_download_refuses_wrong_sha256(env, server):
    url, served = server
    _fake(served)  # valid IDX files, but not MNIST
    with pytest.raises(DataError, match="SHA-256 of the decompressed content") as ei:
        load_mnist(download=True, base_url=url)
    assert "ba891046e6505d7a" in str(ei.value)  # the pinned train-images hash
    dest = env / "home-cache" / "gradstep" / "mnist"
    assert not dest.exists() or list(dest.iterdir()) == []


@pytest.mark.parametrize("with_env", [True, False])
def test_download_destination(env, server, monkeypatch, with_env):
    url, served = server
    _fake(served)
    src = _pinned(served, system_dirs=())
    if with_env:
        monkeypatch.setenv("GRADSTEP_DATA", str(env / "data"))
        dest = env / "data" / "mnist"
    else:
        dest = env / "home-cache" / "gradstep" / "mnist"
    ds = load_idx_dataset(src, download=True, base_url=url)
    assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)
    assert ds.x.shape == (6, 4, 3) and ds.description.endswith(str(dest))
