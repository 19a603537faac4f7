"""Standard layers: Linear, Conv2d, pooling, Flatten, Dropout, normalisation, Embedding,
activations and Identity.

Constructors mirror ``torch.nn`` and add ``generator`` (a ``numpy.random.Generator``
used for the initial weights) and ``dtype`` (float32 default, float64 allowed). With
``generator=None`` the weights are drawn from gradstep's default generator, as in PyTorch:
``gradstep.manual_seed(0)`` before building a model makes its weights reproducible, and two
equally-shaped layers get different weights. Pass a generator to draw from it instead.

Default initialisation follows PyTorch's distributions: Linear and Conv2d weights are
``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases
U(-1/sqrt(fan_in), 1/sqrt(fan_in)); Embedding weights are N(0, 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradstep import _random, ops
from gradstep.errors import ShapeError
from gradstep.nn import functional as F
from gradstep.nn import init
from gradstep.nn.module import Module, Parameter, register_module_type
from gradstep.tensor import Tensor

__all__ = [
    "Identity",
    "Linear",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "Flatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "Embedding",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
    "GELU",
    "Softmax",
    "LogSoftmax",
    "SiLU",
    "ELU",
    "Softplus",
]


def _float_dtype(dtype: Any, layer: str) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{layer}: dtype must be float32 or float64, got {dt}")
    return dt


def _positive_int(v: Any, name: str, layer: str) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int, got {v!r}")
    return int(v)


def _gen(
    generator: np.random.Generator | None, key: Sequence[int], layer: str
) -> np.random.Generator:
    # None: gradstep's default generator (seeded by gradstep.manual_seed), as PyTorch
    del key
    return _random.numpy_generator(generator, layer)


def _norm(v: Any) -> Any:
    """Lists (from JSON configs) become tuples; ints and None stay."""
    return tuple(v) if isinstance(v, list) else v


def _tuple_or_int(v: Any) -> Any:
    return list(v) if isinstance(v, (tuple, list)) else v


@register_module_type
class Identity(Module):
    """Returns its input. Shape: any -> same."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x

    def config(self) -> dict[str, Any]:
        return {}


@register_module_type
class Linear(Module):
    """Affine map ``y = x W^T + b``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.
        generator: source of the initial weights (see module docstring).
        dtype: float32 (default) or float64.

    Shape: ``(*, in_features) -> (*, out_features)``.

    Attributes:
        weight: ``(out_features, in_features)``; bias: ``(out_features,)`` or None.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        generator: np.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dt = _float_dtype(dtype, "Linear")
        gen = _gen(generator, (out_features, in_features), "Linear")
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        self.bias = Parameter(np.empty(out_features, dtype=dt)) if bias else None
        self.reset_parameters(gen)

    def reset_parameters(self, generator: np.random.Generator) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x: Any) -> Tensor:
        shape = np.shape(x._data if isinstance(x, Tensor) else x)
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear(in_features={self.in_features}, out_features={self.out_features}): "
                f"expected input of shape (*, {self.in_features}), "
                f"got input of shape {tuple(shape)}"
            )
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )

    def config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "dtype": str(self.weight.dtype),
        }


@register_module_type
class Conv2d(Module):
    """2-D convolution (cross-correlation) with zero padding.

    Args:
        in_channels, out_channels: channel counts (both divisible by ``groups``).
        kernel_size, stride, dilation: int or (h, w).
        padding: int, (h, w), ``'valid'`` (no padding) or ``'same'`` (stride 1; the extra
            pixel of an odd total goes to the bottom/right, as PyTorch).
        groups: split channels into this many independent convolutions.
        bias: learn a per-output-channel bias.
        padding_mode: only ``'zeros'``.
        generator, dtype: see the module docstring.

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` (also unbatched ``(C_in, H, W)``),
    ``H_out = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        generator: np.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels", "Conv2d")
        self.out_channels = _positive_int(out_channels, "out_channels", "Conv2d")
        self.groups = _positive_int(groups, "groups", "Conv2d")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                f"divisible by groups ({groups})"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"Conv2d: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        self.kernel_size = F._pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = F._pair(stride, "stride", "Conv2d")
        self.dilation = F._pair(dilation, "dilation", "Conv2d")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"Conv2d: padding must be 'same', 'valid', an int or a pair, got {padding!r}"
                )
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1, got {stride!r}")
            self.padding: tuple[int, int] | str = padding
        else:
            self.padding = F._pair(padding, "padding", "Conv2d", minimum=0)
        self.padding_mode = padding_mode
        dt = _float_dtype(dtype, "Conv2d")
        wshape = (out_channels, in_channels // groups, *self.kernel_size)
        gen = _gen(generator, wshape, "Conv2d")
        self.weight = Parameter(np.empty(wshape, dtype=dt))
        self.bias = Parameter(np.empty(out_channels, dtype=dt)) if bias else None
        self.reset_parameters(gen)

    def reset_parameters(self, generator: np.random.Generator) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in = self.weight._data[0].size
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x: Any) -> Tensor:
        shape = np.shape(x._data if isinstance(x, Tensor) else x)
        if len(shape) == 3:
            xt = x if isinstance(x, Tensor) else F._input(x, self.weight.dtype, "Conv2d")
            out = self.forward(ops.reshape(xt, (1, *shape)))
            return ops.reshape(out, out.shape[1:])
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ShapeError(
                f"Conv2d(in_channels={self.in_channels}): expected input of shape "
                f"(N, {self.in_channels}, H, W), got input of shape {tuple(shape)}"
            )
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += (
                f", padding={self.padding!r}"
                if isinstance(self.padding, str)
                else f", padding={self.padding}"
            )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s

    def config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": _tuple_or_int(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias is not None,
            "dtype": str(self.weight.dtype),
        }


class _Pool(Module):
    def _check(self, x: Any) -> tuple[Tensor, tuple[int, ...] | None]:
        xt = x if isinstance(x, Tensor) else F._input(x, None, type(self).__name__)
        if xt.ndim == 3:
            return ops.reshape(xt, (1, *xt.shape)), xt.shape
        if xt.ndim != 4:
            raise ShapeError(
                f"{type(self).__name__}: expected input of shape (N, C, H, W) or (C, H, W), "
                f"got {xt.shape}"
            )
        return xt, None

    @staticmethod
    def _finish(out: Tensor, unbatched: tuple[int, ...] | None) -> Tensor:
        return out if unbatched is None else ops.reshape(out, out.shape[1:])


@register_module_type
class MaxPool2d(_Pool):
    """Max pooling over sliding windows (``stride`` defaults to ``kernel_size``).

    Shape: ``(N, C, H, W) -> (N, C, (H + 2p - d (k - 1) - 1) // s + 1, ...)`` (with
    ``ceil_mode=True`` the division rounds up, as long as the last window starts inside the
    input or its left padding).
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = _norm(kernel_size)
        self.stride = self.kernel_size if stride is None else _norm(stride)
        self.padding = _norm(padding)
        self.dilation = _norm(dilation)
        self.ceil_mode = bool(ceil_mode)
        F._pair(kernel_size, "kernel_size", "MaxPool2d")
        F._pair(self.stride, "stride", "MaxPool2d")
        F._pair(padding, "padding", "MaxPool2d", minimum=0)

    def forward(self, x: Any) -> Tensor:
        xt, ub = self._check(x)
        return self._finish(
            F.max_pool2d(
                xt, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode
            ),
            ub,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )

    def config(self) -> dict[str, Any]:
        return {
            "kernel_size": _tuple_or_int(self.kernel_size),
            "stride": _tuple_or_int(self.stride),
            "padding": _tuple_or_int(self.padding),
            "dilation": _tuple_or_int(self.dilation),
            "ceil_mode": self.ceil_mode,
        }


@register_module_type
class AvgPool2d(_Pool):
    """Average pooling (``stride`` defaults to ``kernel_size``; zero padding counted unless
    ``count_include_pad=False``).

    Shape: ``(N, C, H, W) -> (N, C, (H + 2p - k) // s + 1, ...)`` (rounded up with
    ``ceil_mode=True``, as :class:`MaxPool2d`).
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = _norm(kernel_size)
        self.stride = self.kernel_size if stride is None else _norm(stride)
        self.padding = _norm(padding)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override
        F._pair(kernel_size, "kernel_size", "AvgPool2d")
        F._pair(self.stride, "stride", "AvgPool2d")
        F._pair(padding, "padding", "AvgPool2d", minimum=0)

    def forward(self, x: Any) -> Tensor:
        xt, ub = self._check(x)
        out = F.avg_pool2d(
            xt,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )
        return self._finish(out, ub)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def config(self) -> dict[str, Any]:
        return {
            "kernel_size": _tuple_or_int(self.kernel_size),
            "stride": _tuple_or_int(self.stride),
            "padding": _tuple_or_int(self.padding),
            "ceil_mode": self.ceil_mode,
            "count_include_pad": self.count_include_pad,
            "divisor_override": self.divisor_override,
        }


@register_module_type
class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (PyTorch's bins).

    Shape: ``(N, C, H, W) -> (N, C, out_h, out_w)``.
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = _norm(output_size)

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def config(self) -> dict[str, Any]:
        return {"output_size": _tuple_or_int(self.output_size)}


@register_module_type
class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim``.

    Shape: ``(N, *dims) -> (N, prod(dims))`` by default.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, x: Any) -> Tensor:
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def config(self) -> dict[str, Any]:
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}


@register_module_type
class Dropout(Module):
    """Zero elements with probability ``p`` in training (survivors scaled by 1/(1-p));
    the identity in eval mode.

    Args:
        p: drop probability in [0, 1].
        inplace: write the result into the input tensor (PyTorch's in-place rules).
        generator: source of the masks; by default the module holds
            ``numpy.random.default_rng(seed)``, so runs are reproducible.
        seed: seed of the module's own generator when ``generator`` is None.

    Shape: any -> same.
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        generator: np.random.Generator | None = None,
        seed: int = init.DEFAULT_SEED,
    ) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.seed = int(seed)
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"Dropout: generator must be a numpy.random.Generator, "
                f"got {type(generator).__name__}"
            )
        self.generator = generator if generator is not None else np.random.default_rng(seed)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def config(self) -> dict[str, Any]:
        return {"p": self.p, "seed": self.seed}


class _BatchNorm(Module):
    _dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(num_features, "num_features", name)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = _float_dtype(dtype, name)
        if affine:
            self.weight: Parameter | None = Parameter(np.ones(num_features, dtype=dt))
            self.bias: Parameter | None = Parameter(np.zeros(num_features, dtype=dt))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x: Any) -> Tensor:
        name = type(self).__name__
        shape = np.shape(x._data if isinstance(x, Tensor) else x)
        if len(shape) not in self._dims or shape[1] != self.num_features:
            want = " or ".join(
                "(N, C" + ", L" * (d - 2) + ")" if d < 4 else "(N, C, H, W)" for d in self._dims
            )
            raise ShapeError(
                f"{name}(num_features={self.num_features}): expected input of shape {want} with "
                f"C={self.num_features}, got {tuple(shape)}"
            )
        factor = 0.0 if self.momentum is None else float(self.momentum)
        if self.training and self.track_running_stats:
            self.num_batches_tracked[...] += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if (not self.training or self.track_running_stats) else None,
            self.running_var if (not self.training or self.track_running_stats) else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def config(self) -> dict[str, Any]:
        dt = (
            self.weight.dtype
            if self.weight is not None
            else (
                self.running_mean.dtype if self.running_mean is not None else np.dtype(np.float32)
            )
        )
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
            "dtype": str(dt),
        }


@register_module_type
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs over all but the channel dim.

    Training mode normalises with the batch statistics and updates ``running_mean`` and
    ``running_var`` (unbiased batch variance) with ``momentum`` (None: cumulative average);
    eval mode uses the running statistics.

    Shape: ``(N, C)`` or ``(N, C, L)`` -> same.
    """

    _dims = (2, 3)


@register_module_type
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` inputs per channel (see :class:`BatchNorm1d`).

    Shape: ``(N, C, H, W)`` -> same.
    """

    _dims = (4,)


@register_module_type
class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift.

    Shape: ``(*, *normalized_shape)`` -> same.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, (int, np.integer))
            else tuple(normalized_shape)
        )
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = _float_dtype(dtype, "LayerNorm")
        self.weight = (
            Parameter(np.ones(self.normalized_shape, dtype=dt)) if elementwise_affine else None
        )
        self.bias = (
            Parameter(np.zeros(self.normalized_shape, dtype=dt))
            if elementwise_affine and bias
            else None
        )

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )

    def config(self) -> dict[str, Any]:
        dt = self.weight.dtype if self.weight is not None else np.dtype(np.float32)
        return {
            "normalized_shape": list(self.normalized_shape),
            "eps": self.eps,
            "elementwise_affine": self.elementwise_affine,
            "bias": self.bias is not None,
            "dtype": str(dt),
        }


@register_module_type
class Embedding(Module):
    """Lookup table of ``num_embeddings`` vectors of size ``embedding_dim`` (N(0, 1) init;
    the ``padding_idx`` row is zero and receives no gradient).

    Shape: ``(*)`` integer indices -> ``(*, embedding_dim)``.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        generator: np.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be in [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx = padding_idx % num_embeddings
        self.padding_idx = padding_idx
        dt = _float_dtype(dtype, "Embedding")
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dt))
        init.normal_(
            self.weight, generator=_gen(generator, (num_embeddings, embedding_dim), "Embedding")
        )
        if padding_idx is not None:
            self.weight._data[padding_idx] = 0

    def forward(self, x: Any) -> Tensor:
        return F.embedding(x, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")

    def config(self) -> dict[str, Any]:
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "padding_idx": self.padding_idx,
            "dtype": str(self.weight.dtype),
        }


# --------------------------------------------------------------- activations
@register_module_type
class ReLU(Module):
    """``max(x, 0)``; ``inplace=True`` as :func:`gradstep.nn.functional.relu`.

    Shape: any -> same.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Tensor:
        return F.relu(x, inplace=True) if self.inplace else ops.relu(x)

    def config(self) -> dict[str, Any]:
        return {}


@register_module_type
class LeakyReLU(Module):
    """``x`` if positive else ``negative_slope * x``. Shape: any -> same."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Tensor:
        if self.inplace:
            return F.leaky_relu(x, self.negative_slope, inplace=True)
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


@register_module_type
class Tanh(Module):
    """Hyperbolic tangent. Shape: any -> same."""

    def forward(self, x: Any) -> Tensor:
        return ops.tanh(x)

    def config(self) -> dict[str, Any]:
        return {}


@register_module_type
class Sigmoid(Module):
    """Logistic function. Shape: any -> same."""

    def forward(self, x: Any) -> Tensor:
        return ops.sigmoid(x)

    def config(self) -> dict[str, Any]:
        return {}


@register_module_type
class GELU(Module):
    """Gaussian error linear unit (``approximate='none'`` or ``'tanh'``). Shape: any -> same."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return ops.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


@register_module_type
class SiLU(Module):
    """``x * sigmoid(x)``. Shape: any -> same."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Tensor:
        return F.silu(x, inplace=self.inplace)

    def config(self) -> dict[str, Any]:
        return {}


@register_module_type
class ELU(Module):
    """``x`` if positive else ``alpha (exp(x) - 1)``. Shape: any -> same."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha, inplace=self.inplace)

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@register_module_type
class Softplus(Module):
    """``log(1 + exp(beta x)) / beta`` (linear above ``threshold``). Shape: any -> same."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, x: Any) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def config(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}


def _softmax_dim(dim: int | None, ndim: int) -> int:
    if dim is not None:
        return dim
    return 0 if ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice


@register_module_type
class Softmax(Module):
    """Softmax along ``dim``. Shape: any -> same."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        xt = x if isinstance(x, Tensor) else F._input(x, None, "Softmax")
        return ops.softmax(xt, _softmax_dim(self.dim, xt.ndim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim}


@register_module_type
class LogSoftmax(Module):
    """Log-softmax along ``dim`` (stable). Shape: any -> same."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        xt = x if isinstance(x, Tensor) else F._input(x, None, "LogSoftmax")
        return ops.log_softmax(xt, _softmax_dim(self.dim, xt.ndim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim}
