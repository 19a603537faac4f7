"""Shared test fixtures."""

from __future__ import annotations

import signal
import sys
import zlib
from collections.abc import Iterator

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread() -> Iterator[None]:
    """One BLAS thread per test process: the suite runs as two xdist workers on two cores,
    and the test models are small, so more threads only oversubscribe the machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(1):
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _per_test_module_rng(request: pytest.FixtureRequest) -> None:
    """Give each test fresh draws from the module-level generators named ``R``.

    Some test modules keep one ``R = np.random.default_rng(seed)`` for their helpers. Drawn
    inside tests, its values would depend on which tests ran before in the same process (test
    order, ``-k``, xdist's distribution). Reseeding it from the test's id makes every test's
    inputs a function of the test alone.
    """
    seed = zlib.crc32(request.node.nodeid.encode())
    mods = [getattr(request, "module", None), sys.modules.get("tests.nn.gradcheck_cases")]
    for mod in mods:
        if mod is not None and isinstance(getattr(mod, "R", None), np.random.Generator):
            mod.R = np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def _sigint_not_ignored() -> Iterator[None]:
    """Run each test with Python's usual Ctrl-C handler even when the runner was started with
    SIGINT ignored (under ``nohup``, or with ``&`` from a script), as a user's shell would have
    it. Tests that send SIGINT to ``fit`` or to a ``gradstep train`` child rely on it; a child
    inherits an ignored SIGINT, but a Python handler becomes the default disposition on exec."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
