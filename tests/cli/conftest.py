"""Training tests: tiny models, so one BLAS thread (threads only thrash on a shared machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1):
        yield
