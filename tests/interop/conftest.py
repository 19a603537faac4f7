"""Models shared by the interop tests: small trained gradstep networks and their torch twins."""

from __future__ import annotations

import numpy as np
import pytest

from gradstep import nn
from gradstep.nn import functional as F
from gradstep.optim import SGD


def train_a_little(model: nn.Module, x: np.ndarray, y: np.ndarray, steps: int = 5) -> nn.Module:
    """A few SGD steps with momentum, so weights and BatchNorm statistics are not at init."""
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return model.eval()


def gs_mlp(rng: np.random.Generator) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(16, 12, generator=rng),
        nn.BatchNorm1d(12),
        nn.ReLU(),
        nn.Dropout(0.25, generator=rng),
        nn.Linear(12, 8, generator=rng),
        nn.LayerNorm(8),
        nn.Tanh(),
        nn.Linear(8, 3, generator=rng),
    )


def gs_cnn(rng: np.random.Generator) -> nn.Sequential:
    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, generator=rng),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ),
        nn.Conv2d(4, 6, 3, stride=1, padding="same", generator=rng),
        nn.BatchNorm2d(6),
        nn.GELU(),
        nn.AvgPool2d(2),
        nn.Dropout(0.2, generator=rng),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 10, generator=rng),
        nn.SiLU(),
        nn.Linear(10, 3, generator=rng),
    )


def torch_mlp():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Flatten(),
        tnn.Linear(16, 12),
        tnn.BatchNorm1d(12),
        tnn.ReLU(),
        tnn.Dropout(0.25),
        tnn.Linear(12, 8),
        tnn.LayerNorm(8),
        tnn.Tanh(),
        tnn.Linear(8, 3),
    )


def torch_cnn():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Sequential(
            tnn.Conv2d(2, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2)
        ),
        tnn.Conv2d(4, 6, 3, stride=1, padding="same"),
        tnn.BatchNorm2d(6),
        tnn.GELU(),
        tnn.AvgPool2d(2),
        tnn.Dropout(0.2),
        tnn.Flatten(),
        tnn.Linear(6 * 2 * 2, 10),
        tnn.SiLU(),
        tnn.Linear(10, 3),
    )


MLP_INPUT = (4, 4)  # flattened to 16
CNN_INPUT = (2, 8, 8)


@pytest.fixture
def trained_mlp(rng: np.random.Generator) -> tuple[nn.Sequential, np.ndarray]:
    x = rng.standard_normal((32, *MLP_INPUT)).astype(np.float32)
    y = rng.integers(0, 3, size=32)
    return train_a_little(gs_mlp(rng), x, y), x


@pytest.fixture
def trained_cnn(rng: np.random.Generator) -> tuple[nn.Sequential, np.ndarray]:
    x = rng.standard_normal((16, *CNN_INPUT)).astype(np.float32)
    y = rng.integers(0, 3, size=16)
    return train_a_little(gs_cnn(rng), x, y), x


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-5) -> None:
    """float32 relative closeness, with an absolute floor of rtol * max|expected|."""
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)
