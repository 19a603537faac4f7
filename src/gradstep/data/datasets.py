"""Dataset loaders returning one uniform structure, :class:`Dataset`.

* Small tabular sets bundled with scikit-learn (the optional extra
  ``pip install gradstep[datasets]``): :func:`load_digits`, :func:`load_iris`,
  :func:`load_breast_cancer`, :func:`load_wine` (classification), :func:`load_diabetes`
  (regression). They have no official test split: ``x_test``/``y_test`` are None and
  you split with :func:`gradstep.data.stratified_split`.
* The IDX image sets :func:`load_fashion_mnist` and :func:`load_mnist` (official
  train/test split in ``x``/``y`` and ``x_test``/``y_test``).
* Your own table: :func:`load_csv`.

Conventions of every loader: ``x`` is float32 with the example axis first; ``y`` is int64
class indices ``0..C-1`` for classification (``classes[y]`` is the name) and float32 for
regression. Feature values are returned as stored (digits 0..16, iris centimetres...),
except IDX images, which are scaled to ``[0, 1]`` unless ``scale=False``. Nothing is
standardized: fit :class:`gradstep.data.Standardize` on the training split.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gradstep.data.dataset import ArrayDataset
from gradstep.errors import DataError

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "Dataset",
    "IdxFile",
    "IdxSource",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
    "load_breast_cancer",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_wine",
]

Task = Literal["classification", "regression"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set: arrays plus what they mean.

    Attributes:
        name: short name, e.g. ``"digits"``, ``"fashion_mnist"``, or the CSV file stem.
        x: features (the training split when the set has an official split), float32,
            shape ``(N, ...)``: ``(N, D)`` for tables, ``(N, 28, 28)`` for MNIST images.
        y: targets, shape ``(N,)``: int64 class indices for classification, float32
            values for regression.
        task: ``"classification"`` or ``"regression"``.
        feature_names: one name per feature column (empty for images).
        classes: class names, ``classes[k]`` for label ``k`` (empty for regression).
        x_test: official test features, or None when the set has no official split.
        y_test: official test targets, or None.
        description: one line about the source.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    task: Task
    feature_names: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    description: str = field(default="", repr=False)

    @property
    def x_train(self) -> np.ndarray:
        """Alias of ``x``."""
        return self.x

    @property
    def y_train(self) -> np.ndarray:
        """Alias of ``y``."""
        return self.y

    @property
    def target_names(self) -> tuple[str, ...]:
        """Alias of ``classes`` (scikit-learn's name)."""
        return self.classes

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def num_features(self) -> int:
        """Features per example, ``prod(x.shape[1:])``."""
        return int(np.prod(self.x.shape[1:], dtype=np.int64))

    @property
    def has_test_split(self) -> bool:
        return self.x_test is not None

    def to_array_dataset(self, split: Literal["train", "test"] = "train") -> ArrayDataset:
        """The ``train`` (``x, y``) or ``test`` (``x_test, y_test``) part as an ArrayDataset."""
        if split == "train":
            return ArrayDataset(self.x, self.y)
        if split == "test":
            if self.x_test is None:
                raise DataError(f"{self.name}: has no official test split; use stratified_split")
            return ArrayDataset(self.x_test, self.y_test)
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")

    def __repr__(self) -> str:
        test = "" if self.x_test is None else f", x_test={self.x_test.shape}"
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, x={self.x.shape}, "
            f"y={self.y.shape}{test}, num_classes={self.num_classes})"
        )


# -- scikit-learn bundled data ------------------------------------------------------------
def _sklearn_datasets() -> Any:
    try:
        from sklearn import datasets as skd
    except ImportError:
        raise ImportError(
            "gradstep.datasets: the small bundled data sets are read from scikit-learn; "
            "install it with `pip install gradstep[datasets]` (or `pip install scikit-learn`)"
        ) from None
    return skd


def _from_sklearn(name: str, fn_name: str, task: Task) -> Dataset:
    skd = _sklearn_datasets()
    bunch = getattr(skd, fn_name)()
    x = np.ascontiguousarray(bunch.data, dtype=np.float32)
    feature_names = tuple(str(f) for f in getattr(bunch, "feature_names", ()))
    if task == "classification":
        y = np.asarray(bunch.target, dtype=np.int64)
        classes = tuple(str(c) for c in bunch.target_names)
    else:
        y = np.asarray(bunch.target, dtype=np.float32)
        classes = ()
    descr = (getattr(bunch, "DESCR", "") or "").strip().splitlines()
    lines = [ln.strip(" .") for ln in descr if ln.strip(" .:_-=") and not ln.startswith("..")]
    first = lines[0] if lines else name
    return Dataset(
        name=name, x=x, y=y, task=task, feature_names=feature_names, classes=classes,
        description=f"{first} (scikit-learn bundled copy)",
    )


def load_digits() -> Dataset:
    """8x8 handwritten digits: x (1797, 64) float32 in 0..16, y int64 in 0..9, 10 classes.

    Read from the copy bundled inside scikit-learn (no network). No official test split.

    Raises:
        ImportError: scikit-learn is missing (``pip install gradstep[datasets]``).
    """
    return _from_sklearn("digits", "load_digits", "classification")


def load_iris() -> Dataset:
    """Iris: x (150, 4) float32 (cm), y int64 in 0..2, 3 classes. From scikit-learn."""
    return _from_sklearn("iris", "load_iris", "classification")


def load_breast_cancer() -> Dataset:
    """Wisconsin breast cancer: x (569, 30) float32, y int64 in {0, 1}. From scikit-learn."""
    return _from_sklearn("breast_cancer", "load_breast_cancer", "classification")


def load_wine() -> Dataset:
    """Wine: x (178, 13) float32, y int64 in 0..2, 3 classes. From scikit-learn."""
    return _from_sklearn("wine", "load_wine", "classification")


def load_diabetes() -> Dataset:
    """Diabetes progression (regression): x (442, 10) float32 (scikit-learn's scaled
    features), y (442,) float32 in 25..346. From scikit-learn."""
    return _from_sklearn("diabetes", "load_diabetes", "regression")


# -- CSV ------------------------------------------------------------------------------------
_F32_MAX = float(np.finfo(np.float32).max)  # larger values become inf in the float32 arrays

def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def load_csv(
    path: str | os.PathLike[str],
    target: int | str = -1,
    delimiter: str = ",",
    header: bool = True,
    *,
    task: Task | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a numeric table with one target column.

    Args:
        path: the CSV file (UTF-8; a leading BOM is ignored).
        target: the target column, by header name or by index (negative counts from the
            end; default the last column).
        delimiter: field separator.
        header: the first row holds column names (else columns are named ``col0``...).
        task: ``"classification"`` or ``"regression"``; None infers it: a target column
            that is not all numeric, or all integer-valued, means classification;
            otherwise regression.
        name: the data set's name (default: the file stem).

    Returns:
        :class:`Dataset` with ``x`` (N, D) float32. For classification ``classes`` are
        the distinct target strings (numerically sorted when all numeric, else sorted as
        strings) and ``y`` their int64 indices; for regression ``y`` is float32.

    Raises:
        DataError: missing file, empty table, ragged rows, unknown target, non-numeric
            feature values or NaN/inf (naming the row and column), or a non-numeric target
            with ``task="regression"``.
    """
    p = os.fspath(path)
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task: expected 'classification', 'regression' or None, got {task!r}")
    if not os.path.isfile(p):
        raise DataError(f"load_csv: file not found: {p}")
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh, delimiter=delimiter)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"load_csv: cannot parse {p}: {exc}") from None
    # Skip fully blank lines (a trailing newline is common) but keep numbering from the file.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise DataError(f"load_csv: {p} is empty")
    if header:
        names = [c.strip() for c in numbered[0][1]]
        data = numbered[1:]
    else:
        names = [f"col{j}" for j in range(len(numbered[0][1]))]
        data = numbered
    ncol = len(names)
    if not data:
        raise DataError(f"load_csv: {p} has a header but no data rows")
    if ncol < 2:
        raise DataError(f"load_csv: {p} needs at least 2 columns (features and target), got {ncol}")
    for line, r in data:
        if len(r) != ncol:
            raise DataError(
                f"load_csv: {p} line {line}: expected {ncol} fields, got {len(r)} (ragged rows)"
            )
    if isinstance(target, str):
        if target not in names:
            raise DataError(f"load_csv: target column {target!r} not in header {names}")
        t = names.index(target)
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -ncol <= int(target) < ncol:
            raise DataError(f"load_csv: target index {target} out of range for {ncol} columns")
        t = int(target) % ncol
    else:
        raise TypeError(f"target: expected a column name or index, got {target!r}")
    feat_cols = [j for j in range(ncol) if j != t]
    x = np.empty((len(data), len(feat_cols)), dtype=np.float64)
    for i, (line, r) in enumerate(data):
        for k, j in enumerate(feat_cols):
            v = _parse_float(r[j].strip())
            if v is None:
                raise DataError(
                    f"load_csv: {p} line {line}, column {j} ({names[j]!r}): "
                    f"non-numeric value {r[j]!r}"
                )
            if not abs(v) <= _F32_MAX:  # NaN, inf, or inf once stored as float32
                raise DataError(
                    f"load_csv: {p} line {line}, column {j} ({names[j]!r}): "
                    f"value {r[j]!r} is NaN or infinite (or beyond float32, |x| > 3.4e38)"
                )
            x[i, k] = v
    raw_t = [r[t].strip() for _, r in data]
    nums = [_parse_float(s) for s in raw_t]
    all_numeric = all(v is not None and abs(v) <= _F32_MAX for v in nums)
    if task is None:
        integral = all_numeric and all(float(v).is_integer() for v in nums)  # type: ignore[arg-type]
        task = "classification" if (not all_numeric or integral) else "regression"
    if task == "regression":
        for (line, _), s, v in zip(data, raw_t, nums):
            if v is None or not abs(v) <= _F32_MAX:
                raise DataError(
                    f"load_csv: {p} line {line}, target column {t} ({names[t]!r}): "
                    f"regression target {s!r} is not a finite number (within float32)"
                )
        y = np.asarray(nums, dtype=np.float32)
        classes: tuple[str, ...] = ()
    else:
        for (line, _), s in zip(data, raw_t):
            if s == "":
                raise DataError(
                    f"load_csv: {p} line {line}, target column {t} ({names[t]!r}): empty label"
                )
        if all_numeric:  # "1" and "1.0" are the same class
            values = sorted({float(v) for v in nums})  # type: ignore[arg-type]
            index = {v: k for k, v in enumerate(values)}
            y = np.asarray([index[float(v)] for v in nums], dtype=np.int64)  # type: ignore[arg-type]
            classes = tuple(str(int(v)) if v.is_integer() else repr(v) for v in values)
        else:
            ordered = sorted(set(raw_t))
            lookup = {s: k for k, s in enumerate(ordered)}
            y = np.asarray([lookup[s] for s in raw_t], dtype=np.int64)
            classes = tuple(ordered)
    stem = os.path.splitext(os.path.basename(p))[0]
    return Dataset(
        name=name or stem,
        x=x.astype(np.float32),
        y=y,
        task=task,
        feature_names=tuple(names[j] for j in feat_cols),
        classes=classes,
        description=f"CSV file {p}, target column {names[t]!r}",
    )


# -- IDX image sets (MNIST family) ------------------------------------------------------------
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
    """Where and how to find an MNIST-style data set (4 IDX files, uint8, 10 classes)."""

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

    @property
    def files(self) -> tuple[IdxFile, IdxFile, IdxFile, IdxFile]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


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
)

# MNIST: the decompressed SHA-256s could not be verified here (no copy available offline),
# so downloads are checked against the widely published MD5s of the .gz files (as used by
# torchvision for the ossci-datasets mirror) plus the full IDX structure validation.
MNIST = IdxSource(
    name="mnist",
    title="MNIST",
    train_images=IdxFile("train-images-idx3-ubyte.gz", md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    train_labels=IdxFile("train-labels-idx1-ubyte.gz", md5="d53e105ee54ea40749a09fcbcd1e9432"),
    test_images=IdxFile("t10k-images-idx3-ubyte.gz", md5="9fb629c4189551a2d022fa330f9573f3"),
    test_labels=IdxFile("t10k-labels-idx1-ubyte.gz", md5="ec29112dd5afa0611ce80d1b7f02629c"),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    classes=tuple(str(i) for i in range(10)),
)

_LABEL_MAGIC, _IMAGE_MAGIC, _UBYTE = 0x00000801, 0x00000803, 0x08


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


def _how_to_get(source: IdxSource, looked: list[str], cache: str) -> str:
    ways = []
    if source.apt_package:
        ways.append(f"install the system package: `sudo apt-get install {source.apt_package}`")
    ways.append(
        f"download it (about 30 MB, into {cache}): `load_{source.name}(download=True)` "
        f"(from {source.mirrors[0]})"
    )
    ways.append(
        "point to a folder holding " + ", ".join(f.name for f in source.files)
        + f" (gzip or unpacked): `load_{source.name}(root=...)`"
    )
    return (
        f"{source.title} not found (looked in: {', '.join(looked)}). Get it in one of these "
        "ways: " + "; or ".join(ways) + "."
    )


def load_idx_dataset(
    source: IdxSource,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    *,
    base_url: str | None = None,
    scale: bool = True,
    timeout: float = 60.0,
) -> Dataset:
    """Load an MNIST-style data set described by ``source`` (see :func:`load_fashion_mnist`)."""
    from gradstep.data.download import cache_dir
    from gradstep.data.download import download_file as fetch
    from gradstep.data.idx import read_idx

    cache = str(cache_dir(source.name))
    dirs = ([os.fspath(root)] if root is not None else []) + list(source.system_dirs) + [cache]
    paths = next((p for d in dirs if (p := _find_in(d, source)) is not None), None)
    if paths is None:
        if not download:
            raise DataError(_how_to_get(source, dirs, cache))
        dest = os.fspath(root) if root is not None else cache
        mirrors = (base_url,) if base_url else source.mirrors
        for f, magic in zip(source.files, (_IMAGE_MAGIC, _LABEL_MAGIC) * 2):
            target = os.path.join(dest, f.name)
            if any(os.path.isfile(os.path.join(dest, c)) for c in _candidates(f.name)):
                continue
            errors = []
            for mirror in mirrors:
                url = mirror.rstrip("/") + "/" + f.name
                try:
                    fetch(url, target, verify=_verifier(f, magic), timeout=timeout)
                    break
                except DataError as exc:
                    errors.append(str(exc))
            else:
                raise DataError(
                    f"{source.title}: could not download {f.name}: " + " | ".join(errors)
                    + ". " + _how_to_get(source, dirs, cache)
                )
        paths = _find_in(dest, source)
        if paths is None:  # pragma: no cover - the loop above put every file there
            raise DataError(_how_to_get(source, dirs, cache))
    arrays = [
        read_idx(p, expected_magic=m, expected_dtype=_UBYTE)
        for p, m in zip(paths, (_IMAGE_MAGIC, _LABEL_MAGIC) * 2)
    ]
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

    def images(a: np.ndarray) -> np.ndarray:
        out = a.astype(np.float32)
        if scale:
            out *= np.float32(1.0 / 255.0)
        return out

    return Dataset(
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
) -> Dataset:
    """Fashion-MNIST: 60000 train + 10000 test 28x28 grey images of 10 clothing classes.

    Returns a :class:`Dataset` with ``x`` (60000, 28, 28) float32, ``y`` (60000,) int64,
    ``x_test`` (10000, 28, 28), ``y_test`` (10000,); pixels in ``[0, 1]`` (``scale=False``:
    0..255 as float32). Flatten with ``x.reshape(len(x), -1)`` for an MLP.

    Files are searched, in order, in ``root``; Debian's ``/usr/share/datasets/fashion-mnist``
    (``apt-get install dataset-fashion-mnist``); the cache ``$GRADSTEP_DATA/fashion_mnist``
    or ``~/.cache/gradstep/fashion_mnist``. Each of the four files may be gzipped or not.

    Args:
        root: a folder holding the four IDX files; searched first, and the download
            destination when given.
        download: fetch missing files from the official mirrors (or ``base_url``) into
            the cache, atomically, verifying the SHA-256 of the decompressed content.
        base_url: use this mirror instead of the official ones (URL of the folder).
        scale: divide pixels by 255.

    Raises:
        DataError: not found (the message says how to get it), download or checksum
            failure, or a malformed file (bad magic, sizes, labels out of range).
    """
    return load_idx_dataset(FASHION_MNIST, root, download, base_url=base_url, scale=scale)


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    *,
    base_url: str | None = None,
    scale: bool = True,
) -> Dataset:
    """MNIST handwritten digits, same layout and search rules as :func:`load_fashion_mnist`.

    Searched in ``root`` then ``$GRADSTEP_DATA/mnist`` or ``~/.cache/gradstep/mnist``;
    ``download=True`` fetches from ossci-datasets.s3.amazonaws.com/mnist (or ``base_url``)
    and checks the published MD5 of each ``.gz`` plus the full IDX structure (no
    decompressed SHA-256 is pinned for MNIST; it could not be verified offline).
    """
    return load_idx_dataset(MNIST, root, download, base_url=base_url, scale=scale)
