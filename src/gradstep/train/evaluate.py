"""Evaluation without gradients: :func:`evaluate`, :func:`predict`, and the running sums of
losses and metrics that :func:`~gradstep.train.fit` shares with them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from gradstep import metrics as _metrics
from gradstep.data import ArrayDataset, DataLoader
from gradstep.errors import LossWarning
from gradstep.optim import _kernels as _optk
from gradstep.tensor import Tensor, no_grad
from gradstep.train.reduction import LossReduction, resolve_loss

__all__ = ["evaluate", "predict", "RunningSums"]

MetricFns = Sequence[tuple[str, Callable[[Any, Any], float]]]


# ------------------------------------------------------------------------ inputs
def as_loader(data: Any, batch_size: Any, shuffle: bool, seed: int, what: str) -> Any:
    """A DataLoader for ``data``: a DataLoader, a dataset or an ``(x, y)`` tuple."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"{what}: expected an (x, y) tuple, got a tuple of {len(data)}")
        data = ArrayDataset(*data)
    elif isinstance(data, np.ndarray):
        raise TypeError(f"{what}: expected (x, y), a dataset or a DataLoader, got a bare array")
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise TypeError(
            f"{what}: expected an (x, y) tuple, an ArrayDataset or a DataLoader, "
            f"got {type(data).__name__}"
        )
    return DataLoader(  # None is fit's full batch; for the DataLoader it means no batching
        data, batch_size="full" if batch_size is None else batch_size, shuffle=shuffle,
        generator=np.random.default_rng(seed),
    )


def split_batch(batch: Any, what: str) -> tuple[Any, Any]:
    """``(x, y)`` of a batch (arrays or Tensors)."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(f"{what}: batches must be (x, y) pairs; the data has no targets")


def as_input(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def prep_target(out: np.ndarray, y: Any) -> np.ndarray:
    """Targets as an array fitted to the output: ``(N,)`` -> ``(N, 1)``, output dtype."""
    y = y._data if isinstance(y, Tensor) else np.asarray(y)
    if y.dtype.kind == "f":
        if out.ndim == 2 and y.ndim == 1 and out.shape[1] == 1:
            y = y.reshape(-1, 1)
        if y.dtype != out.dtype:
            y = y.astype(out.dtype)
    return y


def _default_metrics(loss_name: str) -> list[str]:
    n = loss_name.lower()
    if any(s in n for s in ("cross", "entropy", "nll", "bce")):
        return ["accuracy"]
    if any(s in n for s in ("mse", "l1", "mae", "huber")):
        return ["mae"]
    return []


def resolve_metrics(metrics: Any, loss_name: str) -> list[tuple[str, Callable[[Any, Any], float]]]:
    """``(name, fn)`` pairs; ``accuracy`` becomes an exact per-batch count of correct rows."""
    if metrics is None:
        metrics = _default_metrics(loss_name)
    elif isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    out = []
    for m in metrics:
        name, fn = _metrics.get(m)
        if fn is _metrics.accuracy:
            fn = _metrics.correct_count  # integer count per batch: exact and cheap
        out.append((name, fn))
    return out


# ------------------------------------------------------------------------ sums
class RunningSums:
    """Sums over batches of the summed loss, its normaliser, the examples and the metrics.

    The loss of the batches added so far is ``loss / reduction.divisor(norm)``: the loss
    object's value on all of them (see :mod:`gradstep.train.reduction`). Metrics are means
    over examples (``accuracy`` is summed as a count of correct rows).
    """

    __slots__ = ("loss", "norm", "n", "values", "fns", "divisor")

    def __init__(self, fns: MetricFns, divisor: Callable[[float], float]) -> None:
        self.fns = fns
        self.divisor = divisor
        self.loss = 0.0
        self.norm = 0.0
        self.n = 0
        self.values = [0.0] * len(fns)

    def add(self, loss: float, norm: float, out: np.ndarray, y: np.ndarray) -> None:
        """One batch: its summed loss, its normaliser, and the metrics of its output."""
        self.loss += loss
        self.norm += norm
        self.add_metrics(out, y)

    def add_metrics(self, out: np.ndarray, y: np.ndarray) -> None:
        n = len(y) if y.ndim else 1
        self.n += n
        vals = self.values
        fused = _optk._FUSED_MOD if _optk._FUSED_ON[0] else None
        for i, (_, fn) in enumerate(self.fns):
            if fn is _metrics.correct_count:
                c = None
                if fused is not None and out.ndim == 2 and y.ndim == 1 and y.dtype == np.intp:
                    c = fused.correct_count(out, y, out.shape[1])  # None: arrays don't fit
                vals[i] += fn(out, y) if c is None else c
            elif fn is _metrics.mae and out.shape == y.shape and out.size:
                # the mean of |out - y| in float64 without mae's argument checks (which
                # these arrays pass); one C pass when the extension is built
                s = fused.abs_diff_sum(out, y) if fused is not None else None
                if s is None:
                    d = np.subtract(out, y, dtype=np.float64)
                    s = np.add.reduce(np.abs(d, out=d), axis=None)
                vals[i] += float(s / out.size) * n
            else:
                vals[i] += fn(out, y) * n

    def merge(self, other: RunningSums) -> None:
        self.loss += other.loss
        self.norm += other.norm
        self.n += other.n
        self.values = [a + b for a, b in zip(self.values, other.values)]

    def mean_loss(self) -> float:
        d = self.divisor(self.norm)
        if d == 0:
            return math.nan  # every target ignored: 0 / 0, as the loss object gives
        return self.loss / d

    def result(self, prefix: str = "") -> dict[str, float]:
        out = {prefix + "loss": self.mean_loss()}
        n = max(self.n, 1)
        for (name, _), v in zip(self.fns, self.values):
            out[prefix + name] = v / n
        return out

    def vector(self) -> np.ndarray:
        """``[loss, norm, n, *values]`` as float64 (e.g. to sum it over processes)."""
        return np.array([self.loss, self.norm, self.n, *self.values], dtype=np.float64)

    def set_vector(self, v: Any) -> None:
        """Inverse of :meth:`vector`."""
        self.loss, self.norm, self.n = float(v[0]), float(v[1]), int(round(float(v[2])))
        self.values = [float(x) for x in v[3:]]

    def state(self) -> dict[str, Any]:
        return {"loss": self.loss, "norm": self.norm, "n": self.n, "values": list(self.values)}

    def load(self, s: dict[str, Any]) -> None:
        self.loss, self.n = float(s["loss"]), int(s["n"])
        self.norm = float(s.get("norm", self.n))
        values = [float(v) for v in s["values"]]
        if len(values) != len(self.fns):
            raise ValueError(f"metric sums: {len(values)} values for {len(self.fns)} metrics")
        self.values = values


# ------------------------------------------------------------------------ evaluation
def batches(data: Any, batch_size: int) -> Iterator[Any]:
    if isinstance(data, DataLoader):
        yield from data
        return
    if isinstance(data, tuple):
        x, y = data
        n = len(x)
        if len(y) != n:
            raise ValueError(f"evaluate: x has {n} rows but y has {len(y)}")
        for s in range(0, n, batch_size):
            yield x[s : s + batch_size], y[s : s + batch_size]
        return
    # any map-style dataset, in order (array datasets are gathered a batch at a time); its
    # own generator, so evaluating draws nothing from the default generator
    yield from DataLoader(data, batch_size=batch_size, generator=np.random.default_rng(0))


class EvalMode:
    """Put a model in eval mode and no-grad, restoring its previous mode afterwards."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.nograd = no_grad()

    def __enter__(self) -> None:
        self.was_training = getattr(self.model, "training", False)
        if hasattr(self.model, "eval"):
            self.model.eval()
        self.nograd.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.nograd.__exit__(*exc)
        if self.was_training and hasattr(self.model, "train"):
            self.model.train()


def evaluate(
    model: Any,
    data: Any,
    *,
    loss: Any = "cross_entropy",
    metrics: Any = None,
    batch_size: int = 1024,
    max_loss_ratio: float | None = 1e4,
) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data`` (eval mode, no gradients).

    The loss is the loss object's value on the whole of ``data`` (its mean over elements,
    weighted mean, sum...: see :mod:`gradstep.train.reduction`), whatever the batching.

    A non-finite loss, or one above ``max_loss_ratio`` times the loss of an all-zero output
    on the first batch (zero logits: uniform probabilities; zero predictions for
    regression), is returned but flagged with a :class:`~gradstep.errors.LossWarning`: it
    usually means diverged weights or badly scaled inputs.

    Args:
        model: a module (called on a batch of inputs).
        data: ``(x, y)`` arrays, an ArrayDataset or a DataLoader.
        loss: as for :func:`~gradstep.train.fit` (None: metrics only).
        metrics: metric names/callables; default from the loss (accuracy for
            classification losses, MAE for regression).
        batch_size: examples per forward pass (when ``data`` is not a DataLoader).
        max_loss_ratio: the ratio above which the loss is flagged; None: only non-finite.

    Returns:
        ``{"loss": ..., "<metric>": ...}``.
    """
    red = None if loss is None else resolve_loss(loss)
    fns = resolve_metrics(metrics, "" if red is None else red.name)
    res, baseline = evaluate_sums(model, data, red, fns, batch_size, baseline=red is not None)
    if red is not None:
        _flag_loss(res["loss"], baseline, max_loss_ratio)
    return res


def _flag_loss(value: float, baseline: float, ratio: float | None) -> None:
    if not math.isfinite(value):
        warnings.warn(f"evaluate: the loss is not finite ({value}); the weights or the inputs "
                      "hold non-finite or overflowing values", LossWarning, stacklevel=3)
    elif ratio is not None and baseline > 0 and value > ratio * baseline:
        warnings.warn(
            f"evaluate: the loss {value:.4g} is more than {ratio:g} times the loss of an "
            f"all-zero output ({baseline:.4g}); the model has probably diverged or its "
            "inputs are badly scaled", LossWarning, stacklevel=3)


def evaluate_sums(
    model: Any, data: Any, red: LossReduction | None, fns: MetricFns, batch_size: int,
    baseline: bool = False,
) -> tuple[dict[str, float], float]:
    """The results of :func:`evaluate`, and the zero-output loss of the first batch (or nan)."""
    sums = RunningSums(fns, red.divisor if red is not None else (lambda d: 1.0))
    base = math.nan
    with EvalMode(model), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for batch in batches(data, batch_size):
            xb, yb = split_batch(batch, "evaluate")
            out = model(as_input(xb))
            od = out._data
            y = prep_target(od, yb)
            if red is not None:
                sums.loss += float(red.summed(out, y)._data)
                norm = red.normaliser(y, od.ndim)
                sums.norm += norm
                if baseline and math.isnan(base):
                    zero = float(red.summed(Tensor(np.zeros_like(od)), y)._data)
                    base = zero / red.divisor(norm) if red.divisor(norm) else math.nan
            sums.add_metrics(od, y)
    res = sums.result()
    if red is None:
        del res["loss"]
    return res, base


def predict(model: Any, x: Any, *, batch_size: int = 1024) -> np.ndarray:
    """Model outputs (e.g. logits) for inputs ``x``, in eval mode without gradients.

    Args:
        model: a module.
        x: an input array (N, ...), an ``(x, y)`` tuple, a dataset or a DataLoader
            (targets are ignored).
        batch_size: examples per forward pass.

    Returns:
        The outputs of every example, concatenated along the first axis.
    """
    outs: list[np.ndarray] = []
    if isinstance(x, Tensor):
        x = x._data
    with EvalMode(model):
        if isinstance(x, np.ndarray):
            it: Iterable[Any] = (x[s : s + batch_size] for s in range(0, len(x), batch_size))
        else:
            it = (b[0] if isinstance(b, (tuple, list)) else b for b in batches(x, batch_size))
        for xb in it:
            outs.append(np.asarray(model(as_input(xb))._data))
    if not outs:
        raise ValueError("predict: no input examples")
    return np.concatenate(outs, axis=0)
