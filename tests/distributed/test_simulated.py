"""Data-parallel equivalence simulated in one process (a loop over virtual workers).

Runs without MPI: each virtual worker has its own parameters, optimizer, sharded loader and
:class:`GradientAverager`; the Allreduce is replaced by summing the workers' packed flat
buffers, exactly what ``MPI.SUM`` computes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workload import (
    INIT_SEED,
    init_params,
    loss_sum,
    make_loader,
    make_optimizer,
    train_reference,
)

import gradstep.distributed as dist


def simulate(k: int, n: int, b: int, epochs: int, flat: bool, reduction: str):
    workers = []
    for r in range(k):
        params = init_params(INIT_SEED + 17 * r)
        opt = make_optimizer(params, flat)
        workers.append(
            dict(params=params, opt=opt, avg=dist.GradientAverager(opt),
                 loader=make_loader(n, b, shard=(r, k)))
        )
    # the broadcast from rank 0
    for w in workers[1:]:
        for p, p0 in zip(w["params"], workers[0]["params"]):
            p._data[...] = p0._data
    for _ in range(epochs):
        iters = [iter(w["loader"]) for w in workers]
        for batches in zip(*iters, strict=True):
            packed, counts = [], []
            for w, (x, y) in zip(workers, batches):
                w["opt"].zero_grad()
                if len(x):
                    loss = loss_sum(w["params"], x, y)
                    (loss / len(x) if reduction == "mean" else loss).backward()
                packed.append(w["avg"].pack(len(x), reduction))
                counts.append(len(x))
            total = sum(counts)
            summed = [sum(bufs[i] for bufs in packed) for i in range(len(packed[0]))]
            for w, bufs in zip(workers, packed):
                for buf, s in zip(bufs, summed):
                    buf[...] = s
                w["avg"].finish(total)
                w["opt"].step()
    return [[p._data.copy() for p in w["params"]] for w in workers]


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-param"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("k, n, b", [(2, 19, 3), (3, 19, 3), (3, 23, 2), (4, 10, 4)])
def test_virtual_workers_match_one_process(k, n, b, flat, reduction):
    epochs = 3
    ref = train_reference(n, k * b, epochs)
    finals = simulate(k, n, b, epochs, flat, reduction)
    for params in finals:
        for got, want in zip(params, ref):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        for got, first in zip(params, finals[0]):
            np.testing.assert_array_equal(got, first)


def test_batch_split_leaves_some_workers_empty():
    # 19 examples, global batch 6: the last global batch has 1 example, so one of the two
    # workers gets an empty shard in the last step of every epoch.
    sizes = [[len(x) for x, _ in make_loader(19, 3, shard=(r, 2))] for r in range(2)]
    assert sizes == [[3, 3, 3, 0], [3, 3, 3, 1]]
