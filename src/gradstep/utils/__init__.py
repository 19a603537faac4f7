"""PyTorch's ``torch.utils`` paths: :mod:`gradstep.utils.data`."""

from __future__ import annotations

from gradstep.utils import data

__all__ = ["data"]
