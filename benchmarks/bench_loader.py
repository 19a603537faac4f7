"""Data loading: the DataLoader's array fast path and per-example path, beside PyTorch's.

Two tables, one shuffled epoch per timed block (batch 128, ``num_workers=0``, float32
features and int64 labels, a fixed generator):

1. Array data (60,000 x 784): the previous array loader's loop (one permutation, then
   ``dataset[index_array]`` per batch, yielding NumPy arrays; kept here as the baseline),
   ``DataLoader(TensorDataset)`` and ``DataLoader(ArrayDataset)`` (one gather per batch,
   batches as tensors), and PyTorch's ``DataLoader(TensorDataset)``.
   CPU time (``time.process_time``) is reported beside wall time: on a shared, loaded host
   it is the steadier of the two for this single-threaded work.
2. A per-example map-style dataset (10,000 x 784; ``__getitem__`` returns one
   ``(row, label)``): gradstep's DataLoader and PyTorch's, both collating example by example.

    python benchmarks/bench_loader.py [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

BATCH = 128


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def previous_loader_epoch(ds: Any, rng: np.random.Generator) -> int:
    """The array loader's epoch before the PyTorch-style loader: arrays, one gather each."""
    from gradstep.data import global_batch_slices

    perm = rng.permutation(len(ds))
    seen = 0
    for s in global_batch_slices(len(perm), BATCH):
        xb, yb = ds[perm[s]]
        seen += len(yb)
    return seen


def consume(loader: Any) -> Callable[[], int]:
    def epoch() -> int:
        seen = 0
        for batch in loader:
            seen += len(batch[1])
        return seen

    return epoch


class Rows:
    """Per-example dataset (the usual user-written map-style dataset)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.x[i], int(self.y[i])


def array_contenders(x: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], int]]:
    import torch

    from gradstep import from_numpy
    from gradstep.data import ArrayDataset, DataLoader, TensorDataset

    arrays = ArrayDataset(x, y)
    rng = np.random.default_rng(1)
    tds = TensorDataset(from_numpy(x), from_numpy(y))
    kw = {"batch_size": BATCH, "shuffle": True}
    ttd = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return {
        "previous array loader": lambda: previous_loader_epoch(arrays, rng),
        "DataLoader(TensorDataset)": consume(
            DataLoader(tds, generator=np.random.default_rng(1), **kw)),
        "DataLoader(ArrayDataset)": consume(
            DataLoader(arrays, generator=np.random.default_rng(1), **kw)),
        "torch DataLoader(TensorDataset)": consume(
            torch.utils.data.DataLoader(ttd, generator=torch.Generator().manual_seed(1), **kw)),
    }


def item_contenders(x: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], int]]:
    import torch

    from gradstep.data import DataLoader

    kw = {"batch_size": BATCH, "shuffle": True}
    return {
        "gradstep DataLoader(per-item)": consume(
            DataLoader(Rows(x, y), generator=np.random.default_rng(1), **kw)),
        "torch DataLoader(per-item)": consume(
            torch.utils.data.DataLoader(Rows(x, y), generator=torch.Generator().manual_seed(1),
                                        **kw)),
    }


def run_table(contenders: dict[str, Callable[[], int]], n: int,
              repeats: int) -> dict[str, Any]:
    for name, fn in contenders.items():
        if fn() != n:  # every contender sees every example once per epoch
            raise RuntimeError(f"{name}: wrong number of examples per epoch")
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    marks: dict[str, float] = {}

    timed = {k: _then_mark(fn, k, cpu, marks) for k, fn in contenders.items()}
    times = common.interleave(timed, repeats=repeats, warmup=1)
    names = list(contenders)
    cpu = {k: v[-repeats:] for k, v in cpu.items()}
    return {
        name: {"ms_per_epoch": {k: v * 1e3 for k, v in common.summary(t).items()},
               "vs_first": common.paired_ratio(times[names[0]], t),
               "cpu_ms_per_epoch": common.summary(cpu[name])["median"] * 1e3,
               "cpu_vs_first": common.paired_ratio(cpu[names[0]], cpu[name])}
        for name, t in times.items()
    }


def _then_mark(fn: Callable[[], int], name: str, cpu: dict[str, list[float]],
               marks: dict[str, float]) -> Callable[[], int]:
    def call() -> int:
        marks[name] = time.process_time()
        out = fn()
        cpu[name].append(time.process_time() - marks.pop(name))
        return out

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    xa, ya = make_data(60000)
    xi, yi = make_data(10000)
    result = {
        "arrays_60000x784": run_table(array_contenders(xa, ya), 60000, args.repeats),
        "per_item_10000x784": run_table(item_contenders(xi, yi), 10000, args.repeats),
        "load_average": common.load_average(),
    }
    for table in ("arrays_60000x784", "per_item_10000x784"):
        print(f"\n{table} (batch {BATCH}, one shuffled epoch: wall median [min-max] ms and "
              "ratio to the first row; CPU-time median ms and ratio; ratios paired per round)")
        for name, r in result[table].items():
            ms = r["ms_per_epoch"]
            print(f"  {name:34s} {ms['median']:8.1f} [{ms['min']:.1f}-{ms['max']:.1f}]"
                  f"  x{r['vs_first']:.3f}   cpu {r['cpu_ms_per_epoch']:8.1f}"
                  f"  x{r['cpu_vs_first']:.3f}")
    print(f"load average: {result['load_average']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
