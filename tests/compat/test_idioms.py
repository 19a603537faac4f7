"""Every idiom of the table gives PyTorch 2.13's outcome in gradstep (value, dtype, shape,
requires_grad, or exception type)."""

from __future__ import annotations

import pytest
from tests.compat.harness import check
from tests.compat.idioms import IDIOMS

pytest.importorskip("torch")

pytestmark = pytest.mark.torch


def test_the_table_is_large_enough() -> None:
    assert len(IDIOMS) >= 150


@pytest.mark.parametrize("name", sorted(IDIOMS))
def test_idiom_matches_torch(name: str) -> None:
    check(IDIOMS[name])
