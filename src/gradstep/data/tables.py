"""CSV tables: :func:`load_csv` reads a numeric table with one target column."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradstep.data.bundle import DataBundle, Task
from gradstep.errors import DataError

__all__ = ["load_csv"]

_F32_MAX = float(np.finfo(np.float32).max)  # larger values become inf in the float32 arrays

Rows = list[tuple[int, list[str]]]  # (line number in the file, fields)


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_rows(p: str, delimiter: str, header: bool) -> tuple[list[str], Rows]:
    """Column names and the non-blank data rows with their line numbers."""
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh, delimiter=delimiter))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"load_csv: cannot parse {p}: {exc}") from None
    # Skip fully blank lines (a trailing newline is common) but keep numbering from the file.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise DataError(f"load_csv: {p} is empty")
    if header:
        names, data = [c.strip() for c in numbered[0][1]], numbered[1:]
    else:
        names, data = [f"col{j}" for j in range(len(numbered[0][1]))], numbered
    if not data:
        raise DataError(f"load_csv: {p} has a header but no data rows")
    if len(names) < 2:
        raise DataError(
            f"load_csv: {p} needs at least 2 columns (features and target), got {len(names)}"
        )
    for line, r in data:
        if len(r) != len(names):
            raise DataError(
                f"load_csv: {p} line {line}: expected {len(names)} fields, got {len(r)} "
                "(ragged rows)"
            )
    return names, data


def _target_index(target: Any, names: Sequence[str]) -> int:
    ncol = len(names)
    if isinstance(target, str):
        if target not in names:
            raise DataError(f"load_csv: target column {target!r} not in header {list(names)}")
        return names.index(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -ncol <= int(target) < ncol:
            raise DataError(f"load_csv: target index {target} out of range for {ncol} columns")
        return int(target) % ncol
    raise TypeError(f"target: expected a column name or index, got {target!r}")


def _features(p: str, data: Rows, names: Sequence[str], cols: Sequence[int]) -> np.ndarray:
    """The feature columns as float32, refusing non-numeric, NaN and infinite values."""
    x = np.empty((len(data), len(cols)), dtype=np.float64)
    for i, (line, r) in enumerate(data):
        for k, j in enumerate(cols):
            v = _parse_float(r[j].strip())
            if v is None or not abs(v) <= _F32_MAX:  # NaN, inf, or inf once stored as float32
                where = f"load_csv: {p} line {line}, column {j} ({names[j]!r})"
                if v is None:
                    raise DataError(f"{where}: non-numeric value {r[j]!r}")
                raise DataError(
                    f"{where}: value {r[j]!r} is NaN or infinite (or beyond float32, "
                    "|x| > 3.4e38)"
                )
            x[i, k] = v
    return x.astype(np.float32)


def _at(where: tuple[str, int, str], line: int) -> str:
    p, t, name = where
    return f"load_csv: {p} line {line}, target column {t} ({name!r})"


def _regression_targets(where: tuple[str, int, str], data: Rows, raw: list[str],
                        nums: list[float | None]) -> np.ndarray:
    for (line, _), s, v in zip(data, raw, nums):
        if v is None or not abs(v) <= _F32_MAX:
            raise DataError(
                f"{_at(where, line)}: regression target {s!r} is not a finite number "
                "(within float32)"
            )
    return np.asarray(nums, dtype=np.float32)


def _class_targets(where: tuple[str, int, str], data: Rows, raw: list[str],
                   nums: list[float | None],
                   all_numeric: bool) -> tuple[np.ndarray, tuple[str, ...]]:
    for (line, _), s in zip(data, raw):
        if s == "":
            raise DataError(f"{_at(where, line)}: empty label")
    if all_numeric:  # "1" and "1.0" are the same class
        values = sorted({float(v) for v in nums if v is not None})
        index = {v: k for k, v in enumerate(values)}
        y = np.asarray([index[float(v)] for v in nums if v is not None], dtype=np.int64)
        return y, tuple(str(int(v)) if v.is_integer() else repr(v) for v in values)
    ordered = sorted(set(raw))
    lookup = {s: k for k, s in enumerate(ordered)}
    return np.asarray([lookup[s] for s in raw], dtype=np.int64), tuple(ordered)


def load_csv(
    path: str | os.PathLike[str],
    target: int | str = -1,
    delimiter: str = ",",
    header: bool = True,
    *,
    task: Task | None = None,
    name: str | None = None,
) -> DataBundle:
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
        :class:`DataBundle` with ``x`` (N, D) float32. For classification ``classes`` are
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
    names, data = _read_rows(p, delimiter, header)
    t = _target_index(target, names)
    feat_cols = [j for j in range(len(names)) if j != t]
    x = _features(p, data, names, feat_cols)
    raw = [r[t].strip() for _, r in data]
    nums = [_parse_float(s) for s in raw]
    all_numeric = all(v is not None and abs(v) <= _F32_MAX for v in nums)
    if task is None:
        integral = all_numeric and all(float(v).is_integer() for v in nums if v is not None)
        task = "classification" if (not all_numeric or integral) else "regression"
    where = (p, t, names[t])
    classes: tuple[str, ...] = ()
    if task == "regression":
        y = _regression_targets(where, data, raw, nums)
    else:
        y, classes = _class_targets(where, data, raw, nums, all_numeric)
    return DataBundle(
        name=name or os.path.splitext(os.path.basename(p))[0],
        x=x,
        y=y,
        task=task,
        feature_names=tuple(names[j] for j in feat_cols),
        classes=classes,
        description=f"CSV file {p}, target column {names[t]!r}",
    )
