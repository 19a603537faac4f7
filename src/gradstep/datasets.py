"""``gradstep.datasets`` is :mod:`gradstep.data.datasets` (one module, two import paths)."""

from __future__ import annotations

import sys

from gradstep.data import datasets as _datasets

sys.modules[__name__] = _datasets
