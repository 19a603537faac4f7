"""Data: datasets, samplers, the DataLoader, splits, transforms and file readers.

``Dataset``, ``DataLoader``, ``TensorDataset``, the samplers and ``default_collate`` have
PyTorch's meaning (``gradstep.utils.data`` is the same objects under PyTorch's module
path); batches are gradstep tensors. The loaders (``load_digits``, ``load_mnist``...)
return a :class:`DataBundle`, which the DataLoader also accepts as a dataset.
"""

from __future__ import annotations

import importlib
from typing import Any

from gradstep.data._worker import WorkerInfo, get_worker_info
from gradstep.data.bundle import DataBundle
from gradstep.data.collate import default_collate, default_convert
from gradstep.data.dataset import (
    ArrayDataset,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IndexableDataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from gradstep.data.datasets import (
    FASHION_MNIST,
    MNIST,
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
from gradstep.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from gradstep.data.splits import stratified_split, stratified_split_indices, train_test_split
from gradstep.data.transforms import MinMaxScale, OneHot, Standardize

# The data preparation of ``gradstep train`` (gradstep.data.prep), loaded on first use.
_LAZY = {
    "IMAGE_DATASETS": "prep", "Preprocessor": "prep", "holdout_split": "prep",
    "model_input_shape": "prep", "resolve_scale": "prep", "validation_split": "prep",
    "SCALE_METHODS": "transforms", "Scale": "transforms",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"gradstep.data.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'gradstep.data' has no attribute {name!r}")


__all__ = [
    "FASHION_MNIST",
    "IMAGE_DATASETS",
    "MNIST",
    "SCALE_METHODS",
    "ArrayDataset",
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataBundle",
    "DataLoader",
    "Dataset",
    "IdxFile",
    "IdxSource",
    "IndexableDataset",
    "IterableDataset",
    "MinMaxScale",
    "OneHot",
    "Preprocessor",
    "RandomSampler",
    "Sampler",
    "Scale",
    "SequentialSampler",
    "Standardize",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "cache_dir",
    "default_collate",
    "default_convert",
    "download_file",
    "get_worker_info",
    "global_batch_slices",
    "holdout_split",
    "load_breast_cancer",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_iris",
    "load_mnist",
    "load_wine",
    "model_input_shape",
    "random_split",
    "read_idx",
    "resolve_scale",
    "shard_bounds",
    "stratified_split",
    "stratified_split_indices",
    "train_test_split",
    "validation_split",
    "write_idx",
]
