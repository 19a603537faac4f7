"""Data parallelism under a real MPI launcher: ``mpiexec -n K python -m mpi4py ...``.

Skipped when mpi4py or mpiexec is missing; CI installs both (``gradstep[mpi]``).
Every launch runs under a timeout, and each worker checks that the communicator has K
ranks, so a launcher from a different MPI (which would start K single-rank jobs) fails
instead of passing vacuously.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py", exc_type=ImportError)

HERE = Path(__file__).resolve().parent
WORKER = HERE / "mpi_worker.py"
sys.path.insert(0, str(HERE))

from _workload import train_reference  # noqa: E402


def _mpiexec() -> str | None:
    """mpiexec next to this Python first (where the mpich wheel puts it), else on PATH."""
    for d in (os.path.dirname(sys.executable), os.path.join(sys.prefix, "bin")):
        found = shutil.which("mpiexec", path=d)
        if found:
            return found
    return shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found")


def mpi_env() -> dict[str, str]:
    env = dict(os.environ)
    # One BLAS/OpenMP thread per rank: K ranks share 2 cores.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    src = str(HERE.parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_mpi(k: int, *args: str, module: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    assert MPIEXEC is not None
    cmd = [MPIEXEC, "-n", str(k), sys.executable]
    if module:
        cmd += ["-m", "mpi4py"]
    cmd += [str(WORKER), *args]
    try:
        return subprocess.run(
            cmd, env=mpi_env(), capture_output=True, text=True, timeout=timeout, cwd=HERE
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} hung for more than {timeout} s: {exc.stderr!r}")


@pytest.mark.parametrize(
    "k, n, b, flat",
    [(2, 19, 3, True), (3, 19, 3, False), (3, 23, 2, True)],
)
def test_k_ranks_match_one_process_with_k_times_the_batch(tmp_path, k, n, b, flat):
    epochs = 3
    proc = run_mpi(k, "equivalence", str(k), str(n), str(b), str(epochs), str(int(flat)),
                   str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    ref = train_reference(n, k * b, epochs)
    finals = []
    for r in range(k):
        with np.load(tmp_path / f"rank{r}.npz") as z:
            assert int(z["world"]) == k
            assert int(z["steps"]) == epochs * -(-n // (k * b))
            finals.append([z[f"arr_{i}"] for i in range(len(ref))])
    for r in range(k):
        for got, want in zip(finals[r], ref):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
            # all ranks bit-identical (the broadcast fixed the different initial seeds)
        for got, first in zip(finals[r], finals[0]):
            np.testing.assert_array_equal(got, first)


def test_collectives_on_three_ranks():
    proc = run_mpi(3, "collectives", "3")
    assert proc.returncode == 0, proc.stderr


def test_wrong_world_size_is_detected():
    # the guard the other tests rely on: a worker expecting 3 ranks refuses to run on 2
    proc = run_mpi(2, "collectives", "3")
    assert proc.returncode != 0
    assert "expected 3" in proc.stderr


@pytest.mark.parametrize("module", [True, False], ids=["python-m-mpi4py", "init-excepthook"])
def test_a_rank_that_raises_ends_the_whole_job(module):
    proc = run_mpi(2, "raise", "2", module=module, timeout=30)
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr


def _fit_outputs(path: Path, k: int) -> list[dict[str, np.ndarray]]:
    outs = []
    for r in range(k):
        with np.load(path / f"fit{r}.npz") as z:
            assert int(z["world"]) == k
            outs.append({key: z[key] for key in z.files})
    return outs


@pytest.mark.parametrize("k, n, b", [(2, 19, 3), (3, 23, 2)])
def test_fit_unchanged_under_mpiexec_with_resume(tmp_path, k, n, b):
    pytest.importorskip("gradstep.train")
    from _workload import INIT_SEED, fit_model, run_fit

    first = run_mpi(k, "fit", str(k), str(n), str(b), "2", str(tmp_path))
    assert first.returncode == 0, first.stderr
    # only rank 0 prints: one line per epoch, not k
    assert first.stdout.count("epoch 1/2") == 1 and first.stdout.count("epoch 2/2") == 1
    ckpt = tmp_path / "ckpt" / "last.safetensors"
    assert ckpt.exists()
    second = run_mpi(k, "fit", str(k), str(n), str(b), "4", str(tmp_path), str(ckpt))
    assert second.returncode == 0, second.stderr
    assert "epoch 1/4" not in second.stdout and second.stdout.count("epoch 4/4") == 1

    model = fit_model(INIT_SEED)
    hist = run_fit(model, n, k * b, 4)
    ref = [p._data for p in model.parameters()]
    outs = _fit_outputs(tmp_path, k)
    for out in outs:
        for i, want in enumerate(ref):
            np.testing.assert_allclose(out[f"arr_{i}"], want, rtol=1e-10, atol=1e-12)
            np.testing.assert_array_equal(out[f"arr_{i}"], outs[0][f"arr_{i}"])
        # training metrics are reduced over ranks: the history is the single process's
        np.testing.assert_allclose(out["loss"], hist["loss"], rtol=1e-10)
        np.testing.assert_allclose(out["mae"], hist["mae"], rtol=1e-10)


def test_fit_a_nonfinite_loss_on_one_rank_skips_the_step_on_all(tmp_path):
    pytest.importorskip("gradstep.train")
    from _workload import INIT_SEED, fit_model, run_fit

    proc = run_mpi(2, "fit-nan", "2", "19", "3", "2", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    model = fit_model(INIT_SEED)
    hist = run_fit(model, 19, 6, 2, nan_index=5)
    assert sum(hist["skipped"]) == 2  # one step per epoch holds the NaN example
    outs = _fit_outputs(tmp_path, 2)
    for out in outs:
        np.testing.assert_array_equal(out["skipped"], hist["skipped"])
        for i, p in enumerate(model.parameters()):
            np.testing.assert_allclose(out[f"arr_{i}"], p._data, rtol=1e-10, atol=1e-12)


def _run_cli(k: int, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    assert MPIEXEC is not None
    cmd = [MPIEXEC, "-n", str(k), sys.executable, "-m", "mpi4py", "-m", "gradstep", *args]
    try:
        return subprocess.run(cmd, env=mpi_env(), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} hung for more than {timeout} s: {exc.stderr!r}")


@pytest.mark.slow
def test_gradstep_train_command_under_mpiexec_with_resume(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    common = ["train", "--dataset", "iris", "--out", str(out), "--batch-size", "8"]
    first = _run_cli(2, *common, "--epochs", "2")
    assert first.returncode == 0, first.stderr
    # one rank prints: one result line, one line per epoch
    assert first.stdout.count("test accuracy:") == 1 and first.stdout.count("epoch 2/2") == 1
    assert (out / "last.safetensors").exists() and (out / "history.json").exists()
    assert len(list(tmp_path.iterdir())) == 1  # one run folder for both ranks
    second = _run_cli(2, *common, "--epochs", "3", "--resume", str(out / "last.safetensors"))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("epoch 3/3") == 1 and "epoch 1/3" not in second.stdout


def test_gradstep_command_error_on_every_rank_exits_nonzero(tmp_path):
    proc = _run_cli(2, "train", "--dataset", "iris", "--epochs", "1", "--out",
                    str(tmp_path / "r"), "--resume", str(tmp_path / "missing.safetensors"),
                    timeout=60)
    assert proc.returncode != 0
    assert "not found" in proc.stderr
