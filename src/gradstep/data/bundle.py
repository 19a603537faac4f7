"""DataBundle: a loaded data set (arrays, task, feature and class names, test split)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gradstep.data.dataset import ArrayDataset
from gradstep.errors import DataError

__all__ = ["DataBundle", "Task"]

Task = Literal["classification", "regression"]


@dataclass(frozen=True, eq=False)
class DataBundle:
    """A loaded data set: arrays plus what they mean (what ``load_digits`` etc. return).

    It is also a map-style dataset over its training split: ``len(bundle)`` examples,
    ``bundle[i] == (x[i], y[i])``, so ``DataLoader(load_digits(), batch_size=32)`` works
    (batches are gathered in one indexing operation).

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

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: Any) -> Any:
        return self.x[index], self.y[index]

    def gather(self, indices: np.ndarray) -> list[np.ndarray]:
        """The collated training batch of ``indices``: ``[x[idx], y[idx]]``."""
        return [self.x[indices], self.y[indices]]

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
            f"DataBundle(name={self.name!r}, task={self.task!r}, x={self.x.shape}, "
            f"y={self.y.shape}{test}, num_classes={self.num_classes})"
        )
