"""The dense layers' optional SciPy gemm path (``GRADSTEP_BLAS=scipy``)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import gradstep as gs
from gradstep import _blas, nn

pytest.importorskip("scipy")


@pytest.fixture
def scipy_gemm(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.linalg.blas import dgemm, sgemm

    monkeypatch.setattr(_blas, "_GEMM", {np.dtype(np.float32): sgemm, np.dtype(np.float64): dgemm})


def _linear_grads(dtype: type, preallocated: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(3)
    lin = nn.Linear(7, 5, generator=rng, dtype=dtype)
    x = gs.tensor(rng.standard_normal((6, 7)).astype(dtype), requires_grad=True)
    if preallocated:  # e.g. a flat optimizer buffer holding an earlier gradient
        lin.weight.grad = np.full(lin.weight.shape, 0.25, dtype=dtype)
    out = lin(x)
    out.backward(np.linspace(-1, 1, out.size).reshape(out.shape).astype(dtype))
    assert lin.weight.grad is not None and x.grad is not None
    return out.data, lin.weight.grad, x.grad


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("preallocated", [False, True])
def test_scipy_gemm_matches_numpy(scipy_gemm: None, dtype: type, rtol: float,
                                  preallocated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _linear_grads(dtype, preallocated)
    monkeypatch.setattr(_blas, "_GEMM", {})
    want = _linear_grads(dtype, preallocated)
    for g, w in zip(got, want):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


def test_gemm_accumulates_in_place(scipy_gemm: None) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((9, 4)).astype(np.float32)
    b = rng.standard_normal((9, 3)).astype(np.float32)
    out = np.ones((4, 3), dtype=np.float32)
    res = _blas.matmul_tn(a, b, out=out)
    assert res is out
    np.testing.assert_allclose(out, 1 + a.T @ b, rtol=1e-5)
    np.testing.assert_allclose(_blas.matmul_nt(b.T.copy(), a.T.copy()), b.T @ a, rtol=1e-5)


def test_scipy_blas_inherits_the_thread_limit_in_force() -> None:
    code = (
        "from threadpoolctl import threadpool_limits, threadpool_info\n"
        "import numpy, gradstep\n"
        "from gradstep import _blas\n"
        "with threadpool_limits(1):\n"
        "    assert _blas.load()\n"
        "    print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))\n"
    )
    env = {**os.environ, "GRADSTEP_BLAS": "scipy", "OPENBLAS_NUM_THREADS": "", "OMP_NUM_THREADS": ""}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[1]"
