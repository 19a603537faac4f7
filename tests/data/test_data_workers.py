"""DataLoader worker processes: same batches as in-process, seeding, errors, no leaks."""

from __future__ import annotations

import multiprocessing
import os
import random
import time

import numpy as np
import pytest

import gradstep
from gradstep.data import DataLoader, Dataset, IterableDataset, get_worker_info

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")


def _alive(pids):
    out = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        try:  # a zombie still answers kill(0): reap it if it is our child
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done == 0:
            out.append(pid)
    return out


@pytest.fixture(autouse=True)
def _no_leak():
    before = {p.pid for p in multiprocessing.active_children()}
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = {p.pid for p in multiprocessing.active_children()} - before
        if not left:
            return
        time.sleep(0.05)
    pytest.fail(f"worker processes left running: {left}")


class Items(Dataset):
    """Per-example dataset reporting which process built each example."""

    def __init__(self, n=23, fail_at=None, sleep=0.0, exit_at=None):
        self.n, self.fail_at, self.sleep, self.exit_at = n, fail_at, sleep, exit_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad example {i}")
        if i == self.exit_at:
            os._exit(3)
        if self.sleep:
            time.sleep(self.sleep)
        info = get_worker_info()
        wid = -1 if info is None else info.id
        return np.array([i, 2 * i], np.float32), i, wid, os.getpid()


def _values(batches):
    return [(b[0].numpy().tolist(), b[1].tolist()) for b in batches]


@pytest.mark.parametrize("persistent", [False, True])
def test_workers_give_the_same_batches_in_order(persistent):
    def mk(workers, **kw):
        return DataLoader(Items(), batch_size=4, shuffle=True, num_workers=workers,
                          generator=np.random.default_rng(2), **kw)

    ref = mk(0)
    par = mk(2, persistent_workers=persistent)
    for _ in range(2):  # two epochs: same order, same content
        a, b = list(ref), list(par)
        assert _values(a) == _values(b)
        assert {w for batch in a for w in batch[2].tolist()} == {-1}
        assert {w for batch in b for w in batch[2].tolist()} == {0, 1}
        assert os.getpid() not in {p for batch in b for p in batch[3].tolist()}
    pids = {p.pid for p in multiprocessing.active_children()}
    assert (len(pids) == 2) == persistent
    del par


def test_persistent_workers_are_reused_then_stopped():
    loader = DataLoader(Items(8), batch_size=2, num_workers=2, persistent_workers=True)
    first = {p for batch in loader for p in batch[3].tolist()}
    second = {p for batch in loader for p in batch[3].tolist()}
    assert first == second and len(first) == 2
    del loader  # the loader held the workers: they stop with it
    assert _alive(first) == []


class Seeds(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return (info.id, info.seed, info.num_workers, random.random(),
                float(gradstep.rand(1).item()),
                float(np.random.random()),  # noqa: NPY002 - the worker seeds NumPy's global state
                MARK.get("init", -1))


MARK: dict[str, int] = {}


def _init(worker_id):
    MARK["init"] = 100 + worker_id


def test_seeding_and_worker_init_fn_as_pytorch():
    def run(seed):
        loader = DataLoader(Seeds(), batch_size=2, num_workers=2, worker_init_fn=_init,
                            generator=np.random.default_rng(seed))
        rows = []
        for b in loader:
            rows += list(zip(*(t.tolist() for t in b)))
        return rows

    rows = run(5)
    by_worker = {r[0]: r for r in rows}
    assert set(by_worker) == {0, 1}
    assert by_worker[1][1] - by_worker[0][1] == 1  # seed = base_seed + worker_id
    assert all(r[2] == 2 for r in rows)
    assert {r[0]: r[6] for r in rows} == {0: 100, 1: 101}  # worker_init_fn ran in each
    assert by_worker[0][3:6] != by_worker[1][3:6]  # each worker draws its own numbers
    assert run(5) == rows  # same loader seed: same worker seeds and draws
    assert run(6) != rows
    assert get_worker_info() is None


def test_worker_exception_is_reraised_naming_the_worker():
    loader = DataLoader(Items(12, fail_at=9), batch_size=3, num_workers=2)
    with pytest.raises(ValueError) as ei:
        list(loader)
    msg = str(ei.value)
    assert "worker process 1" in msg and "bad example 9" in msg and "Traceback" in msg


def test_dead_worker_and_timeout_raise_instead_of_hanging():
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(DataLoader(Items(6, exit_at=4), batch_size=2, num_workers=2))
    with pytest.raises(RuntimeError, match="timed out after 0.3 seconds"):
        list(DataLoader(Items(4, sleep=3.0), batch_size=2, num_workers=1, timeout=0.3))


def test_early_stop_stops_the_workers():
    loader = DataLoader(Items(40), batch_size=2, num_workers=2)
    it = iter(loader)
    next(it)
    pids = {p.pid for p in multiprocessing.active_children()}
    assert len(pids) == 2
    for _ in it:
        break
    del it
    deadline = time.monotonic() + 10
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(pids) == []


def test_resume_mid_epoch_with_workers():
    def mk():
        return DataLoader(Items(), batch_size=5, shuffle=True, num_workers=2,
                          generator=np.random.default_rng(8))

    run = mk()
    it = iter(run)
    next(it)
    state = run.state_dict()
    rest = _values(it)
    fresh = mk()
    fresh.load_state_dict(state)
    assert _values(fresh) == rest


class Split(IterableDataset):
    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, 11, step))


def test_iterable_dataset_split_across_workers():
    got = [v for b in DataLoader(Split(), batch_size=2, num_workers=2) for v in b.tolist()]
    assert sorted(got) == list(range(11))
    loader = DataLoader(Split(), batch_size=2, num_workers=2, persistent_workers=True)
    assert sorted(v for _ in range(2) for b in loader for v in b.tolist()) == sorted(
        list(range(11)) * 2)
    del loader


class Objects(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return object()


def test_unsendable_batch_says_what_to_do():
    loader = DataLoader(Objects(), batch_size=2, num_workers=1, collate_fn=list)
    with pytest.raises(TypeError, match="num_workers=0"):
        list(loader)


def test_worker_option_validation():
    for kw in ({"num_workers": -1}, {"timeout": -1}, {"num_workers": 1, "prefetch_factor": 0}):
        with pytest.raises(ValueError):
            DataLoader(Items(), **kw)
