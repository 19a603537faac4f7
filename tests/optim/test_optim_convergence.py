"""Table-driven convergence: every optimizer reaches the minimum of a quadratic bowl and of
the Rosenbrock function from a fixed start within a stated number of steps."""

from __future__ import annotations

import numpy as np
import pytest

import gradstep as gs
from gradstep import optim

A = np.array([1.0, 10.0])  # bowl curvatures (condition number 10)
C = np.array([1.0, -2.0])  # bowl minimum


def bowl(x):
    return (gs.tensor(A) * (x - gs.tensor(C)) ** 2).sum() * 0.5


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


PROBLEMS = {
    "bowl": (bowl, np.array([-3.0, 3.0]), C),
    "rosenbrock": (rosenbrock, np.array([-1.5, 2.0]), np.array([1.0, 1.0])),
}

# (optimizer, problem, kwargs, steps allowed); measured steps to reach 1e-3 in brackets
TABLE = [
    ("SGD", "bowl", dict(lr=0.05), 250),  # [162]
    ("SGD", "rosenbrock", dict(lr=1.8e-3), 12000),  # [9348]
    ("SGD", "bowl", dict(lr=0.05, momentum=0.9), 200),  # [133]
    ("SGD", "rosenbrock", dict(lr=1e-3, momentum=0.9), 2500),  # [1651]
    ("SGD", "bowl", dict(lr=0.05, momentum=0.9, nesterov=True), 120),  # [79]
    ("SGD", "rosenbrock", dict(lr=1e-3, momentum=0.9, nesterov=True), 2500),  # [1546]
    ("SGD", "bowl", dict(lr=0.05, momentum=0.9, momentum_form="sutskever"), 200),
    ("SGD", "rosenbrock", dict(lr=1e-3, momentum=0.9, momentum_form="sutskever"), 2500),
    ("Adam", "bowl", dict(lr=0.1), 250),  # [148]
    ("Adam", "rosenbrock", dict(lr=0.02), 3500),  # [2401]
    ("Adam", "bowl", dict(lr=0.1, amsgrad=True), 250),  # [150]
    ("Adam", "rosenbrock", dict(lr=0.05, amsgrad=True), 3000),  # [2031]
    ("AdamW", "bowl", dict(lr=0.1, weight_decay=0.0), 250),  # [148]
    ("AdamW", "rosenbrock", dict(lr=0.02, weight_decay=0.0), 3500),  # [2401]
    ("RMSprop", "bowl", dict(lr=0.01), 1200),  # [792]
    ("RMSprop", "rosenbrock", dict(lr=1e-3), 11000),  # [8745]
    ("RMSprop", "bowl", dict(lr=0.01, centered=True, momentum=0.5), 600),  # [381]
    ("RMSprop", "rosenbrock", dict(lr=1e-3, centered=True, momentum=0.5), 4000),  # [2837]
    ("Adagrad", "bowl", dict(lr=0.5), 400),  # [254]
    ("Adagrad", "rosenbrock", dict(lr=1.0), 16000),  # [12898]
    ("Adadelta", "bowl", dict(lr=10.0), 400),  # [247] (Rosenbrock: not within 40000)
    ("Adamax", "bowl", dict(lr=0.1), 400),  # [262]
    ("Adamax", "rosenbrock", dict(lr=0.02), 6000),  # [4163]
    ("NAdam", "bowl", dict(lr=0.1), 250),  # [146]
    ("NAdam", "rosenbrock", dict(lr=0.005), 7500),  # [5096]
    ("RAdam", "bowl", dict(lr=0.1), 450),  # [296]
    ("RAdam", "rosenbrock", dict(lr=0.01), 10000),  # [6969]
    ("Rprop", "bowl", dict(lr=0.01), 100),  # [50]
    ("Rprop", "rosenbrock", dict(lr=0.01), 6000),  # [4148]
    ("ASGD", "bowl", dict(lr=0.05), 250),  # [164]
    ("ASGD", "rosenbrock", dict(lr=1.8e-3), 14000),  # [9845]
]


@pytest.mark.parametrize(
    "name,problem,kwargs,steps", TABLE,
    ids=[f"{n}-{p}-{','.join(f'{k}={v}' for k, v in kw.items())}" for n, p, kw, _ in TABLE],
)
def test_reaches_minimum(name, problem, kwargs, steps):
    f, start, minimum = PROBLEMS[problem]
    x = gs.tensor(start.copy(), requires_grad=True)
    opt = getattr(optim, name)([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        f(x).backward()
        opt.step()
        if np.max(np.abs(x._data - minimum)) < 1e-3:
            break
    else:
        pytest.fail(f"{name}{kwargs} on {problem}: at {x._data} after {steps} steps, min {minimum}")
