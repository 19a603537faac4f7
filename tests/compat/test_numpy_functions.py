"""NumPy's functions applied to gradstep tensors, as code that mixes the two does
(``np.any(state_dict[k])``, ``np.mean(t)``): NumPy calls the tensor's method with its own
defaults (``out=None``, ``dtype=None``), which must be accepted, and the result equals NumPy's
on the underlying array."""

from __future__ import annotations

import numpy as np
import pytest

import gradstep as gs

FUNCS = [np.any, np.all, np.sum, np.mean, np.max, np.min, np.std, np.var, np.prod]


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
def test_numpy_function_on_a_tensor_equals_numpy_on_its_array(fn) -> None:
    a = np.array([[0.0, 1.5], [-2.0, 3.0]], dtype=np.float32)
    got = fn(gs.tensor(a))
    np.testing.assert_allclose(np.asarray(got), fn(a), rtol=1e-6)


def test_a_real_out_argument_is_still_refused() -> None:
    t = gs.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="out"):
        t.sum(out=np.zeros(()))
