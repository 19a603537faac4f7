"""Data: datasets, loaders, splits, transforms and file readers. Yields NumPy arrays only.

``gradstep.data`` never imports the autodiff core; a training loop turns the arrays it
yields into tensors.
"""

from __future__ import annotations

from gradstep.data.dataset import (
    ArrayDataset,
    IndexableDataset,
    Subset,
    random_split,
    stratified_split,
    stratified_split_indices,
    train_test_split,
)
from gradstep.data.datasets import (
    FASHION_MNIST,
    MNIST,
    Dataset,
    IdxFile,
    IdxSource,
    load_breast_cancer,
    load_csv,
    load_diabetes,
    load_digits,
    load_fashion_mnist,
    load_idx_dataset,
    load_iris,
    load_mnist,
    load_wine,
)
from gradstep.data.download import cache_dir, download_file
from gradstep.data.idx import read_idx, write_idx
from gradstep.data.loader import DataLoader, global_batch_slices, shard_bounds
from gradstep.data.transforms import MinMaxScale, OneHot, Standardize

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "IdxFile",
    "IdxSource",
    "cache_dir",
    "download_file",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
    "read_idx",
    "write_idx",
    "ArrayDataset",
    "DataLoader",
    "Dataset",
    "IndexableDataset",
    "MinMaxScale",
    "OneHot",
    "Standardize",
    "Subset",
    "global_batch_slices",
    "load_breast_cancer",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_wine",
    "random_split",
    "shard_bounds",
    "stratified_split",
    "stratified_split_indices",
    "train_test_split",
]
