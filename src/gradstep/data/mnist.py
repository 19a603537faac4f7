"""MNIST-style IDX image sets: MNIST and Fashion-MNIST, found on disk or downloaded.

Where the four files are looked for, in order (each may be gzipped or not):

1. ``root=`` (the command's ``--data-root``);
2. the folder named by the ``GRADSTEP_DATA`` environment variable: its subfolder
   (``mnist/`` or ``fashion-mnist/``), then the folder itself (files found there are used
   only when their content has the data set's SHA-256, since both sets use the same
   file names);
3. system folders (Debian's ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST);
4. the cache, ``~/.cache/gradstep/<folder>`` (``$XDG_CACHE_HOME`` honoured).

``download=True`` fetches missing files into ``root``, else ``$GRADSTEP_DATA/<folder>``,
else the cache, and keeps a file only when the SHA-256 of its decompressed content is the
published one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradstep.data.bundle import DataBundle
from gradstep.errors import DataError

__all__ = ["FASHION_MNIST", "MNIST", "IdxFile", "IdxSource", "load_fashion_mnist",
           "load_idx_dataset", "load_mnist"]


@dataclass(frozen=True)
class IdxFile:
    """One file of an IDX data set.

    Attributes:
        name: file name at the mirrors, e.g. ``"train-images-idx3-ubyte.gz"``.
        sha256: SHA-256 of the *decompressed* content, checked after a download (None:
            not known, only the IDX structure and ``md5`` are checked).
        md5: published MD5 of the file as served (the ``.gz``), checked after a download.
    """

    name: str
    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class IdxSource:
    """Where and how to find an MNIST-style data set (4 IDX files, uint8, 10 classes).

    ``folder`` names its subfolder of ``$GRADSTEP_DATA`` and of the cache (default: ``name``).
    """

    name: str
    title: str
    train_images: IdxFile
    train_labels: IdxFile
    test_images: IdxFile
    test_labels: IdxFile
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]
    image_shape: tuple[int, int] | None = (28, 28)
    system_dirs: tuple[str, ...] = ()
    apt_package: str | None = None
    folder: str | None = None
    size_mb: int = 30

    @property
    def files(self) -> tuple[IdxFile, IdxFile, IdxFile, IdxFile]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    @property
    def subfolder(self) -> str:
        return self.folder or self.name


# SHA-256 of the decompressed files, computed from Debian's dataset-fashion-mnist package
# (the same data as zalandoresearch/fashion-mnist; Debian re-compressed the .gz files, so
# the published .gz MD5s do not apply to them and only the decompressed hash is checked).
FASHION_MNIST = IdxSource(
    name="fashion_mnist",
    title="Fashion-MNIST",
    train_images=IdxFile(
        "train-images-idx3-ubyte.gz",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte.gz",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte.gz",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    apt_package="dataset-fashion-mnist",
    folder="fashion-mnist",
)

# SHA-256 of the decompressed MNIST files (LeCun's data as served by the mirrors below).
MNIST = IdxSource(
    name="mnist",
    title="MNIST",
    train_images=IdxFile(
        "train-images-idx3-ubyte.gz",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte.gz",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte.gz",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    classes=tuple(str(i) for i in range(10)),
    folder="mnist",
    size_mb=11,
)

_LABEL_MAGIC, _IMAGE_MAGIC, _UBYTE = 0x00000801, 0x00000803, 0x08
_MAGICS = (_IMAGE_MAGIC, _LABEL_MAGIC) * 2


def _candidates(name: str) -> list[str]:
    base = name[:-3] if name.endswith(".gz") else name
    out = [name, base, base.replace("-idx", ".idx")]  # also LeCun's unpacked spelling
    return list(dict.fromkeys(out))


def _find_in(directory: str, source: IdxSource) -> list[str] | None:
    found = []
    for f in source.files:
        hit = next((os.path.join(directory, c) for c in _candidates(f.name)
                    if os.path.isfile(os.path.join(directory, c))), None)
        if hit is None:
            return None
        found.append(hit)
    return found


def _content_matches(paths: list[str], source: IdxSource) -> bool:
    """Whether every file's decompressed SHA-256 is the pinned one (all must be pinned)."""
    from gradstep.data.idx import read_idx

    if any(f.sha256 is None for f in source.files):
        return False
    for p, f, magic in zip(paths, source.files, _MAGICS):
        try:
            _, digest = read_idx(p, expected_magic=magic, expected_dtype=_UBYTE,
                                 return_sha256=True)
        except DataError:
            return False
        if digest != f.sha256:
            return False
    return True


def _home_cache(source: IdxSource) -> list[str]:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gradstep"
    names = dict.fromkeys([source.subfolder, source.name])  # older caches used the name
    return [str(base / n) for n in names]


def _search_dirs(source: IdxSource, root: Any) -> tuple[list[str], str | None]:
    """Folders to look in, in order, and the ``$GRADSTEP_DATA`` folder itself (or None)."""
    dirs = [os.fspath(root)] if root is not None else []
    env = os.environ.get("GRADSTEP_DATA")
    env_dir = str(Path(env).expanduser()) if env else None
    if env_dir:
        dirs += [os.path.join(env_dir, source.subfolder), env_dir]
    return dirs + list(source.system_dirs) + _home_cache(source), env_dir


def _locate(source: IdxSource, root: Any) -> tuple[list[str] | None, list[str]]:
    dirs, env_dir = _search_dirs(source, root)
    for d in dirs:
        paths = _find_in(d, source)
        if paths is None:
            continue
        if d == env_dir and root is None and not _content_matches(paths, source):
            continue  # e.g. MNIST files in the bare folder while looking for Fashion-MNIST
        return paths, dirs
    return None, dirs


def _download_dir(source: IdxSource, root: Any) -> str:
    if root is not None:
        return os.fspath(root)
    env = os.environ.get("GRADSTEP_DATA")
    if env:
        return str(Path(env).expanduser() / source.subfolder)
    return _home_cache(source)[0]


def _verifier(f: IdxFile, magic: int) -> Any:
    from gradstep.data.download import file_md5
    from gradstep.data.idx import read_idx

    def verify(path: Any) -> None:
        _, digest = read_idx(path, expected_magic=magic, expected_dtype=_UBYTE,
                             return_sha256=True)
        if f.sha256 is not None and digest != f.sha256:
            raise DataError(
                f"download of {f.name}: SHA-256 of the decompressed content is {digest}, "
                f"expected {f.sha256}; the file was discarded"
            )
        if f.md5 is not None and (got := file_md5(path)) != f.md5:
            raise DataError(
                f"download of {f.name}: MD5 is {got}, expected {f.md5}; the file was discarded"
            )

    return verify


def _how_to_get(source: IdxSource, looked: list[str], dest: str) -> str:
    files = ", ".join(f.name for f in source.files)
    fn = f"load_{source.name}"
    ways = [
        f"pass a folder holding {files} (gzip or unpacked): `{fn}(root=DIR)` "
        "(command line: `--data-root DIR`)",
        f"set the GRADSTEP_DATA environment variable to a folder holding them or a "
        f"`{source.subfolder}/` subfolder with them",
        f"download it (about {source.size_mb} MB, into {dest}, checked by SHA-256, from "
        f"{source.mirrors[0]}): `{fn}(download=True)` (command line: `--download`)",
    ]
    if source.apt_package:
        ways.append(f"install the Debian package: `sudo apt-get install {source.apt_package}`")
    return (
        f"{source.title} not found (looked in: {', '.join(looked)}). Get it in one of these "
        "ways: " + "; or ".join(ways) + "."
    )


def _download(source: IdxSource, dest: str, mirrors: tuple[str, ...], how: str,
              timeout: float) -> None:
    from gradstep.data.download import download_file

    for f, magic in zip(source.files, _MAGICS):
        target = os.path.join(dest, f.name)
        if any(os.path.isfile(os.path.join(dest, c)) for c in _candidates(f.name)):
            continue
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + f.name
            try:
                download_file(url, target, verify=_verifier(f, magic), timeout=timeout)
                break
            except DataError as exc:
                errors.append(str(exc))
        else:
            raise DataError(
                f"{source.title}: could not download {f.name}: " + " | ".join(errors)
                + ". " + how
            )


def _check_arrays(source: IdxSource, paths: list[str], arrays: list[np.ndarray]) -> None:
    xtr, ytr, xte, yte = arrays
    ncls = len(source.classes)
    pairs = (((paths[0], xtr), (paths[1], ytr)), ((paths[2], xte), (paths[3], yte)))
    for (xp, x), (yp, y) in pairs:
        if source.image_shape is not None and x.shape[1:] != source.image_shape:
            raise DataError(
                f"{source.title}: {xp} holds images of shape {x.shape[1:]}, expected "
                f"{source.image_shape}"
            )
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"{source.title}: {xp} has {x.shape[0]} images but {yp} has {y.shape[0]} labels"
            )
        if y.size and int(y.max()) >= ncls:
            raise DataError(
                f"{source.title}: {yp} has label {int(y.max())}, expected labels in [0, {ncls})"
            )


def load_idx_dataset(
    source: IdxSource,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    *,
    base_url: str | None = None,
    scale: bool = True,
    timeout: float = 60.0,
) -> DataBundle:
    """Load an MNIST-style data set described by ``source`` (see :func:`load_fashion_mnist`)."""
    from gradstep.data.idx import read_idx

    paths, looked = _locate(source, root)
    if paths is None:
        dest = _download_dir(source, root)
        how = _how_to_get(source, looked, dest)
        if not download:
            raise DataError(how)
        _download(source, dest, (base_url,) if base_url else source.mirrors, how, timeout)
        paths = _find_in(dest, source)
        if paths is None:  # pragma: no cover - _download put every file there
            raise DataError(how)
    arrays = [read_idx(p, expected_magic=m, expected_dtype=_UBYTE)
              for p, m in zip(paths, _MAGICS)]
    _check_arrays(source, paths, arrays)
    xtr, ytr, xte, yte = arrays

    def images(a: np.ndarray) -> np.ndarray:
        out = a.astype(np.float32)
        if scale:
            out *= np.float32(1.0 / 255.0)
        return out

    return DataBundle(
        name=source.name,
        x=images(xtr),
        y=ytr.astype(np.int64),
        task="classification",
        classes=source.classes,
        x_test=images(xte),
        y_test=yte.astype(np.int64),
        description=f"{source.title} from {os.path.dirname(paths[0])}",
    )


def load_fashion_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    *,
    base_url: str | None = None,
    scale: bool = True,
) -> DataBundle:
    """Fashion-MNIST: 60000 train + 10000 test 28x28 grey images of 10 clothing classes.

    Returns a :class:`DataBundle` with ``x`` (60000, 28, 28) float32, ``y`` (60000,) int64,
    ``x_test`` (10000, 28, 28), ``y_test`` (10000,); pixels in ``[0, 1]`` (``scale=False``:
    0..255 as float32). Flatten with ``x.reshape(len(x), -1)`` for an MLP.

    Searched in ``root``, ``$GRADSTEP_DATA/fashion-mnist``, ``$GRADSTEP_DATA``, Debian's
    ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``), then
    ``~/.cache/gradstep/fashion-mnist`` (see :mod:`gradstep.data.mnist`).

    Args:
        root: a folder holding the four IDX files; searched first, and the download
            destination when given.
        download: fetch missing files from the official mirrors (or ``base_url``),
            atomically, verifying the SHA-256 of the decompressed content.
        base_url: use this mirror instead of the official ones (URL of the folder).
        scale: divide pixels by 255.

    Raises:
        DataError: not found (the message names every way to get it), download or
            checksum failure, or a malformed file (bad magic, sizes, labels out of range).
    """
    return load_idx_dataset(FASHION_MNIST, root, download, base_url=base_url, scale=scale)


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    *,
    base_url: str | None = None,
    scale: bool = True,
) -> DataBundle:
    """MNIST handwritten digits, the layout of :func:`load_fashion_mnist`.

    Searched in ``root``, ``$GRADSTEP_DATA/mnist``, ``$GRADSTEP_DATA``, then
    ``~/.cache/gradstep/mnist``; ``download=True`` fetches from
    ossci-datasets.s3.amazonaws.com/mnist (or ``base_url``) and keeps a file only when the
    SHA-256 of its decompressed content is the published one.

    Raises:
        DataError: as :func:`load_fashion_mnist`.
    """
    return load_idx_dataset(MNIST, root, download, base_url=base_url, scale=scale)
