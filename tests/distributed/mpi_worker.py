"""Run under mpiexec by test_mpi.py: ``mpiexec -n K python -m mpi4py mpi_worker.py MODE ...``.

Modes:
    equivalence K N B EPOCHS FLAT OUTDIR: data-parallel training of the shared workload with a
        different initial seed per rank (the broadcast must fix it); each rank saves its final
        parameters to OUTDIR/rank<r>.npz.
    collectives K: checks broadcast of a module-like object with buffers, allreduce_sum,
        reduce_mean (empty ranks included) and assert_synchronized detecting a difference.
    fit K N B EPOCHS OUTDIR [RESUME]: ``gradstep.train.fit`` unchanged (verbose=2, a
        ModelCheckpoint in OUTDIR/ckpt), different initial seeds per rank; each rank saves
        its parameters and epoch losses to OUTDIR/fit<r>.npz.
    fit-nan K N B EPOCHS OUTDIR: the same with a NaN input example and on_nonfinite="skip".
    raise K: rank 1 raises while the other ranks wait in a collective.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import gradstep.distributed as dist


def check_world(expected: int) -> None:
    if dist.world_size() != expected:
        sys.stderr.write(
            f"communicator has {dist.world_size()} ranks, expected {expected}: "
            "mpiexec and mpi4py come from different MPI installations?\n"
        )
        sys.exit(3)


def equivalence(k: int, n: int, b: int, epochs: int, flat: bool, outdir: str) -> None:
    from _workload import INIT_SEED, init_params, loss_sum, make_loader, make_optimizer

    r = dist.rank()
    params = init_params(INIT_SEED + 17 * r)  # deliberately different on every rank
    dist.broadcast_parameters(params, root=0)
    opt = make_optimizer(params, flat)
    averager = dist.GradientAverager(opt)
    loader = make_loader(n, b, shard=dist.shard())
    steps = 0
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            if len(x):
                loss_sum(params, x, y).backward()
            averager.reduce(len(x))
            opt.step()
            steps += 1
    dist.assert_synchronized(params)
    np.savez(
        os.path.join(outdir, f"rank{r}.npz"),
        *[p._data for p in params],
        world=np.array(dist.world_size()),
        steps=np.array(steps),
    )


def collectives() -> None:
    import gradstep as gs

    r, k = dist.rank(), dist.world_size()

    class Model:  # duck-typed module: parameters() and buffers()
        def __init__(self, seed: int) -> None:
            rng = np.random.default_rng(seed)
            self.w = gs.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
            self.h = gs.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
            self.running = rng.standard_normal(2)

        def parameters(self):
            return [self.w, self.h]

        def buffers(self):
            return [self.running]

    m, ref = Model(r), Model(0)
    dist.broadcast_parameters(m)
    assert np.array_equal(m.w._data, ref.w._data) and np.array_equal(m.h._data, ref.h._data)
    assert np.array_equal(m.running, ref.running) and m.h._data.dtype == np.float32
    dist.assert_synchronized(m)
    total = dist.allreduce_sum([r, 1.0])
    assert total.tolist() == [k * (k - 1) / 2, k], total
    # rank r has mean metric r over r samples (rank 0: no samples)
    got = dist.reduce_mean({"m": float(r) if r else float("nan")}, r)
    want = sum(i * i for i in range(k)) / sum(range(k))
    assert abs(got["m"] - want) < 1e-12, (got, want)
    got_json = dist.broadcast_json({"run": f"runs/from-rank-{r}", "n": [r, 2.5]}, root=k - 1)
    assert got_json == {"run": f"runs/from-rank-{k - 1}", "n": [k - 1, 2.5]}, got_json
    if r == k - 1:
        m.w._data[0, 0] += 1.0
    try:
        dist.assert_synchronized(m)
    except RuntimeError as exc:
        assert f"ranks [{k - 1}]" in str(exc), exc
    else:
        raise AssertionError("assert_synchronized missed a difference")


def fit_mode(n: int, b: int, epochs: int, outdir: str, resume: str | None,
             nan_index: int | None = None) -> None:
    from _workload import INIT_SEED, fit_model, run_fit

    r = dist.rank()
    model = fit_model(INIT_SEED + 17 * r)
    hist = run_fit(model, n, b, epochs, ckpt_dir=os.path.join(outdir, "ckpt"), resume=resume,
                   verbose=2, nan_index=nan_index)
    dist.assert_synchronized(model)
    np.savez(
        os.path.join(outdir, f"fit{r}.npz"),
        *[p._data for p in model.parameters()],
        loss=np.array(hist["loss"]),
        mae=np.array(hist["mae"]),
        skipped=np.array(hist["skipped"] if "skipped" in hist else []),
        world=np.array(dist.world_size()),
    )


def raise_on_rank1() -> None:
    from mpi4py import MPI

    comm = dist.get_comm()
    if dist.rank() == 1:
        raise RuntimeError("rank 1 fails on purpose")
    comm.allreduce(1, op=MPI.SUM)  # would wait for ever for rank 1
    comm.Barrier()


def main() -> None:
    mode = sys.argv[1]
    dist.init()
    check_world(int(sys.argv[2]))
    if mode == "equivalence":
        k, n, b, epochs, flat = (int(v) for v in sys.argv[2:7])
        equivalence(k, n, b, epochs, bool(flat), sys.argv[7])
    elif mode == "fit":
        n, b, epochs = (int(v) for v in sys.argv[3:6])
        fit_mode(n, b, epochs, sys.argv[6], sys.argv[7] if len(sys.argv) > 7 else None)
    elif mode == "fit-nan":
        n, b, epochs = (int(v) for v in sys.argv[3:6])
        fit_mode(n, b, epochs, sys.argv[6], None, nan_index=5)
    elif mode == "collectives":
        collectives()
    elif mode == "raise":
        raise_on_rank1()
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
