"""The table of PyTorch idioms that must give PyTorch's outcome in gradstep.

Every entry is ``name -> function(lib)``; ``lib`` is the ``torch`` or the ``gradstep``
module, and the function is written exactly as PyTorch code would be (``import gradstep as
torch`` must not change its outcome). See ``harness.py`` for how outcomes are compared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

IDIOMS: dict[str, Any] = {}

X34 = np.arange(12, dtype=np.float32).reshape(3, 4) / 4 - 1.2
X234 = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.37) % 2.1 - 1.0
POS = np.array([0.5, 1.0, 2.5, 4.0], dtype=np.float32)


def idiom(name: str) -> Any:
    def deco(fn: Any) -> Any:
        IDIOMS[name] = fn
        return fn

    return deco


def table(**entries: Any) -> None:
    IDIOMS.update(entries)


def x34(L: Any, **kw: Any) -> Any:
    return L.tensor(X34, **kw)


def x234(L: Any, **kw: Any) -> Any:
    return L.tensor(X234, **kw)


def grad_of(L: Any, fn: Any, data: np.ndarray = X34) -> Any:
    """Value of ``fn(x)`` and the gradient of its sum with respect to ``x``."""
    x = L.tensor(data, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    return y, x.grad


# ---------------------------------------------------------------- creation and dtypes
table(
    tensor_int_list=lambda L: L.tensor([1, 2, 3]),
    tensor_float_list=lambda L: L.tensor([1.0, 2.5]),
    tensor_bool_list=lambda L: L.tensor([True, False]),
    tensor_int_scalar=lambda L: L.tensor(3),
    tensor_float_scalar=lambda L: L.tensor(3.5),
    tensor_mixed_list=lambda L: L.tensor([1, 2.5]),
    tensor_nested=lambda L: L.tensor([[1, 2], [3, 4]]),
    tensor_dtype_kw=lambda L: L.tensor([1, 2], dtype=L.float64),
    tensor_from_float64_numpy=lambda L: L.tensor(np.array([1.0, 2.0])),
    tensor_from_int32_numpy=lambda L: L.tensor(np.array([1, 2], dtype=np.int32)),
    tensor_from_uint8_numpy=lambda L: L.tensor(np.array([1, 200], dtype=np.uint8)),
    tensor_requires_grad_int=lambda L: L.tensor([1, 2], requires_grad=True),
    tensor_requires_grad_float=lambda L: L.tensor([1.0, 2.0], requires_grad=True),
    zeros_varargs=lambda L: L.zeros(2, 3),
    zeros_tuple=lambda L: L.zeros((2, 3)),
    zeros_dtype=lambda L: L.zeros(2, dtype=L.int64),
    ones_varargs=lambda L: L.ones(2, 3),
    full_float=lambda L: L.full((2, 2), 7.0),
    full_int=lambda L: L.full((2,), 7),
    full_bool=lambda L: L.full((2,), True),
    arange_int=lambda L: L.arange(5),
    arange_start_stop=lambda L: L.arange(2, 7),
    arange_float=lambda L: L.arange(0.0, 1.0, 0.25),
    arange_dtype=lambda L: L.arange(5, dtype=L.float32),
    linspace=lambda L: L.linspace(0, 1, 5),
    logspace=lambda L: L.logspace(0, 2, 3),
    eye=lambda L: L.eye(3),
    eye_rect=lambda L: L.eye(2, 3),
    empty_shape_dtype=lambda L: (L.empty(2, 3).shape, L.empty(2, 3).dtype),
    zeros_like=lambda L: L.zeros_like(x34(L)),
    ones_like_dtype=lambda L: L.ones_like(x34(L), dtype=L.int64),
    full_like=lambda L: L.full_like(x34(L), 2.5),
    empty_like=lambda L: L.empty_like(L.tensor([1, 2])).dtype,
    from_numpy_shares=lambda L: _from_numpy_shares(L),
    as_tensor_float64=lambda L: L.as_tensor(np.array([1.0, 2.0])),
    as_tensor_list=lambda L: L.as_tensor([1, 2]),
    clone=lambda L: x34(L).clone(),
    clone_grad=lambda L: grad_of(L, lambda x: x.clone() * 2),
    detach=lambda L: x34(L, requires_grad=True).detach(),
    get_default_dtype=lambda L: L.get_default_dtype(),
    set_default_dtype=lambda L: _with_default_double(L),
    dtype_aliases=lambda L: [L.float, L.double, L.long, L.int, L.half, L.bool, L.uint8],
    is_floating_point=lambda L: [L.tensor([1.0]).is_floating_point(), L.tensor([1]).is_floating_point()],
    is_tensor=lambda L: [L.is_tensor(L.tensor(1)), L.is_tensor(1)],
    long=lambda L: L.tensor([1.7, -2.7]).long(),
    int_=lambda L: L.tensor([1.7, -2.7]).int(),
    float_=lambda L: L.tensor([1, 2]).float(),
    double=lambda L: L.tensor([1, 2]).double(),
    bool_=lambda L: L.tensor([0.0, 2.0]).bool(),
    half=lambda L: L.tensor([1.5]).half(),
    type_dtype=lambda L: L.tensor([1.5]).type(L.float64),
    to_dtype=lambda L: L.tensor([1.5, 2.5]).to(L.int64),
    to_dtype_kw=lambda L: L.tensor([1, 2]).to(dtype=L.float32),
    to_cpu=lambda L: L.tensor([1.0]).to("cpu"),
    to_tensor_other=lambda L: L.tensor([1, 2]).to(L.tensor([1.0], dtype=L.float64)),
    float_grad_flows=lambda L: grad_of(L, lambda x: x.double() * 3),
    int_requires_grad_=lambda L: L.tensor([1, 2]).requires_grad_(),
)


def _from_numpy_shares(L: Any) -> Any:
    a = np.array([1.0, 2.0])
    t = L.from_numpy(a)
    a[0] = 5.0
    return t


def _with_default_double(L: Any) -> Any:
    old = L.get_default_dtype()
    L.set_default_dtype(L.float64)
    try:
        return [L.tensor([1.0]), L.zeros(2), L.tensor([1, 2]), L.arange(0.0, 1.0, 0.5)]
    finally:
        L.set_default_dtype(old)


# -------------------------------------------------------------- dtype promotion
table(
    scalar_div_keeps_float32=lambda L: 10.0 / x34(L),
    scalar_pow_base_keeps_float32=lambda L: 2 ** x34(L),
    scalar_mul_keeps_float32=lambda L: x34(L) * 2.5,
    scalar_sub_keeps_float32=lambda L: 1.0 - x34(L),
    where_scalar_keeps_float32=lambda L: L.where(x34(L) > 0, x34(L), 0.0),
    clamp_min_scalar=lambda L: x34(L).clamp(min=0.0),
    clamp_both=lambda L: L.clamp(x34(L), -0.5, 0.5),
    int_plus_float_scalar=lambda L: L.tensor([1, 2]) + 1.5,
    int_times_int_scalar=lambda L: L.tensor([1, 2]) * 3,
    int_true_div=lambda L: L.tensor([1, 2]) / 2,
    int_div_int_tensor=lambda L: L.tensor([1, 2]) / L.tensor([2, 4]),
    int_floor_div=lambda L: L.tensor([7, -7]) // 2,
    int_mod=lambda L: L.tensor([7, -7]) % 3,
    float_floor_div=lambda L: L.tensor([7.5, -7.5]) // 2,
    bool_plus_int=lambda L: L.tensor([True, False]) + 1,
    int32_plus_scalar=lambda L: L.tensor([1, 2], dtype=L.int32) + 1,
    float16_plus_scalar=lambda L: L.tensor([1.0], dtype=L.float16) + 1.0,
    float32_plus_float64=lambda L: L.tensor([1.0]) + L.tensor([1.0], dtype=L.float64),
    float32_plus_int64=lambda L: L.tensor([1.0]) + L.tensor([2]),
    float32_plus_0d_float64=lambda L: L.tensor([1.0, 2.0]) + L.tensor(1.0, dtype=L.float64),
    int_plus_0d_float64=lambda L: L.tensor([1, 2]) + L.tensor(1.5, dtype=L.float64),
    int32_plus_int64=lambda L: L.tensor([1], dtype=L.int32) + L.tensor([2]),
    int_pow_scalar=lambda L: L.tensor([1, 2, 3]) ** 2,
    int_pow_float=lambda L: L.tensor([1, 4]) ** 0.5,
    neg_int=lambda L: -L.tensor([1, 2]),
    abs_int=lambda L: L.tensor([-1, 2]).abs(),
    sum_int=lambda L: L.tensor([1, 2, 3]).sum(),
    sum_bool=lambda L: L.tensor([True, True, False]).sum(),
    mean_int_raises=lambda L: L.tensor([1, 2]).mean(),
    float_mean=lambda L: x34(L).mean(),
    sqrt_int=lambda L: L.tensor([4, 9]).sqrt(),
    exp_int=lambda L: L.tensor([0, 1]).exp(),
    matmul_float64=lambda L: L.tensor(np.eye(2)) @ L.tensor(np.ones((2, 1))),
)

# ------------------------------------------------------------- comparisons and logic
table(
    eq_elementwise=lambda L: x34(L) == x34(L)[0],
    eq_scalar=lambda L: L.tensor([1.0, 2.0, 2.0]) == 2.0,
    ne_scalar=lambda L: L.tensor([1.0, 2.0]) != 2.0,
    lt=lambda L: x34(L) < 0,
    le_tensor=lambda L: x34(L) <= x34(L).T[0:3, 0:1],
    gt_int=lambda L: L.tensor([1, 5]) > 2,
    ge=lambda L: x34(L) >= 0.3,
    where_eq=lambda L: L.where(L.tensor([1.0, 2.0, 3.0]) == 2.0, L.tensor([1.0, 2.0, 3.0]), 0.0),
    eq_method=lambda L: L.tensor([1, 2]).eq(L.tensor([1, 3])),
    ne_method=lambda L: L.tensor([1, 2]).ne(2),
    eq_function=lambda L: L.eq(L.tensor([1, 2]), 1),
    hash_by_identity=lambda L: _hash_identity(L),
    in_dict=lambda L: _in_dict(L),
    bool_one=lambda L: bool(L.tensor([3.0])),
    bool_zero=lambda L: bool(L.tensor(0.0)),
    bool_many_raises=lambda L: bool(L.tensor([1.0, 2.0])),
    if_comparison=lambda L: "yes" if (L.tensor(3.0) > 2) else "no",
    all_=lambda L: [L.tensor([True, True]).all(), (x34(L) > -2).all()],
    any_=lambda L: [L.tensor([False, True]).any(), L.any(x34(L) > 5)],
    all_dim=lambda L: (x34(L) > 0).all(dim=1),
    isclose=lambda L: L.isclose(L.tensor([1.0, 2.0]), L.tensor([1.0 + 1e-9, 2.1])),
    allclose=lambda L: L.allclose(L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0 + 1e-9])),
    equal=lambda L: [L.equal(L.tensor([1, 2]), L.tensor([1, 2])), L.equal(L.tensor([1]), L.tensor([2]))],
    logical_not=lambda L: ~(x34(L) > 0),
    logical_and=lambda L: (x34(L) > 0) & (x34(L) < 1),
    logical_or=lambda L: (x34(L) > 1) | (x34(L) < -1),
    bool_mask_sum=lambda L: (x34(L) > 0).sum(),
    mask_float=lambda L: (x34(L) > 0).float().mean(),
    isnan=lambda L: L.isnan(L.tensor([1.0, float("nan")])),
    isfinite=lambda L: L.isfinite(L.tensor([1.0, float("inf")])),
)


def _hash_identity(L: Any) -> Any:
    a, b = L.tensor([1.0]), L.tensor([1.0])
    s = {a, b}
    return [len(s), a in s, hash(a) == hash(a)]


def _in_dict(L: Any) -> Any:
    a, b = L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0])
    d = {a: "a", b: "b"}
    return [d[a], d[b]]


# ---------------------------------------------------------------- reductions with dim
table(
    sum_dim=lambda L: x34(L).sum(dim=0),
    sum_dim_keepdim=lambda L: x34(L).sum(dim=1, keepdim=True),
    sum_axis_alias=lambda L: x34(L).sum(axis=1),
    sum_tuple_dims=lambda L: x234(L).sum(dim=(0, 2)),
    sum_positional=lambda L: x34(L).sum(1),
    sum_function=lambda L: L.sum(x34(L), dim=0),
    sum_dtype=lambda L: L.tensor([1, 2]).sum(dtype=L.float32),
    mean_dim=lambda L: x34(L).mean(dim=-1),
    mean_keepdim=lambda L: x34(L).mean(1, keepdim=True),
    prod=lambda L: x34(L).prod(dim=1),
    prod_all=lambda L: L.tensor([1.0, 2.0, 3.0]).prod(),
    var_default_unbiased=lambda L: x34(L).var(),
    var_dim=lambda L: x34(L).var(dim=1),
    var_unbiased_false=lambda L: x34(L).var(dim=0, unbiased=False),
    var_correction=lambda L: x34(L).var(1, correction=0, keepdim=True),
    std_default=lambda L: x34(L).std(),
    std_dim=lambda L: x34(L).std(dim=0, keepdim=True),
    std_unbiased_false=lambda L: L.std(x34(L), unbiased=False),
    max_all=lambda L: x34(L).max(),
    max_dim=lambda L: x34(L).max(dim=1),
    max_dim_positional=lambda L: x34(L).max(0),
    max_dim_keepdim=lambda L: x34(L).max(1, keepdim=True),
    max_dim_values=lambda L: x34(L).max(dim=1).values,
    max_dim_unpack=lambda L: tuple(x34(L).max(dim=1)),
    max_dim_index0=lambda L: x34(L).max(1)[1],
    min_dim=lambda L: x34(L).min(dim=0),
    max_function_dim=lambda L: L.max(x34(L), 1),
    max_binary=lambda L: L.max(x34(L), L.zeros(3, 4)),
    amax=lambda L: x34(L).amax(dim=1),
    amin_tuple=lambda L: x234(L).amin(dim=(0, 1)),
    argmax_all=lambda L: x34(L).argmax(),
    argmax_dim=lambda L: x34(L).argmax(dim=1),
    argmax_keepdim=lambda L: x34(L).argmax(dim=1, keepdim=True),
    argmin_dim=lambda L: L.argmin(x34(L), dim=0),
    argmax_function=lambda L: L.argmax(x34(L)),
    logsumexp_dim=lambda L: L.logsumexp(x34(L), dim=1),
    logsumexp_method=lambda L: x34(L).logsumexp(dim=0, keepdim=True),
    norm=lambda L: x34(L).norm(),
    norm_dim=lambda L: x34(L).norm(dim=1),
    norm_p1=lambda L: x34(L).norm(p=1, dim=0),
    softmax_dim=lambda L: x34(L).softmax(dim=1),
    softmax_function=lambda L: L.softmax(x34(L), dim=0),
    log_softmax_dim=lambda L: x34(L).log_softmax(dim=-1),
    cumsum=lambda L: x34(L).cumsum(dim=1),
    cumsum_function=lambda L: L.cumsum(L.tensor([1, 2, 3]), dim=0),
    sum_0d_dim0=lambda L: L.tensor(3.0).sum(dim=0),
    sum_0d_dim_out_of_range=lambda L: L.tensor(3.0).sum(dim=1),
    sum_bad_dim=lambda L: x34(L).sum(dim=2),
    mean_bad_dim=lambda L: x34(L).mean(dim=-3),
    max_bad_dim=lambda L: x34(L).max(dim=5),
    softmax_bad_dim=lambda L: x34(L).softmax(dim=2),
    max_grad=lambda L: grad_of(L, lambda x: x.max(dim=1).values),
    var_grad=lambda L: grad_of(L, lambda x: x.var(dim=0)),
    std_grad=lambda L: grad_of(L, lambda x: x.std()),
    prod_grad=lambda L: grad_of(L, lambda x: x.prod(dim=1)),
    norm_grad=lambda L: grad_of(L, lambda x: x.norm(dim=0)),
    cumsum_grad=lambda L: grad_of(L, lambda x: x.cumsum(0) * L.arange(4.0)),
)

# ------------------------------------------------------------------------- shapes
table(
    shape_tuple=lambda L: tuple(x34(L).shape),
    size_method=lambda L: [tuple(x34(L).size()), x34(L).size(1), x34(L).size(-1)],
    numel_dim=lambda L: [x34(L).numel(), x34(L).dim(), x34(L).ndimension(), x34(L).ndim],
    len_=lambda L: len(x34(L)),
    transpose_2d=lambda L: x34(L).transpose(0, 1),
    transpose_3d=lambda L: x234(L).transpose(1, 2),
    transpose_negative=lambda L: x234(L).transpose(-1, 0),
    transpose_function=lambda L: L.transpose(x234(L), 0, 2),
    transpose_bad_dim=lambda L: x34(L).transpose(0, 2),
    t_method=lambda L: x34(L).t(),
    t_1d=lambda L: L.tensor([1.0, 2.0]).t(),
    T_attr=lambda L: x34(L).T,
    mT=lambda L: x234(L).mT,
    permute=lambda L: x234(L).permute(2, 0, 1),
    permute_tuple=lambda L: x234(L).permute((1, 2, 0)),
    view=lambda L: x34(L).view(4, 3),
    view_minus_one=lambda L: x34(L).view(-1),
    view_tuple=lambda L: x34(L).view((2, 6)),
    view_as=lambda L: x34(L).view_as(L.zeros(6, 2)),
    reshape=lambda L: x234(L).reshape(4, -1),
    reshape_function=lambda L: L.reshape(x34(L), (2, 6)),
    reshape_bad=lambda L: x34(L).reshape(5, 2),
    flatten=lambda L: x234(L).flatten(),
    flatten_start=lambda L: x234(L).flatten(1),
    flatten_start_end=lambda L: L.flatten(x234(L), 0, 1),
    squeeze=lambda L: L.zeros(1, 3, 1).squeeze(),
    squeeze_dim=lambda L: L.zeros(1, 3, 1).squeeze(2),
    squeeze_dim_not_one=lambda L: L.zeros(2, 3).squeeze(0),
    unsqueeze=lambda L: x34(L).unsqueeze(0),
    unsqueeze_neg=lambda L: x34(L).unsqueeze(-1),
    unsqueeze_dim_kw=lambda L: L.unsqueeze(x34(L), dim=1),
    expand=lambda L: L.tensor([[1.0], [2.0]]).expand(2, 3),
    expand_minus_one=lambda L: L.tensor([[1.0], [2.0]]).expand(-1, 4),
    expand_as=lambda L: L.tensor([1.0, 2.0, 3.0, 4.0]).expand_as(x34(L)),
    repeat=lambda L: L.tensor([1, 2]).repeat(2, 2),
    chunk=lambda L: L.arange(10).chunk(3),
    split_int=lambda L: L.arange(10).split(4),
    split_sizes=lambda L: x34(L).split([1, 3], dim=1),
    unbind=lambda L: x34(L).unbind(1),
    narrow=lambda L: x34(L).narrow(1, 1, 2),
    flip=lambda L: x34(L).flip(0),
    flip_dims=lambda L: x234(L).flip(dims=(0, 2)),
    roll=lambda L: L.arange(5).roll(2),
    roll_dim=lambda L: x34(L).roll(1, dims=1),
    cat=lambda L: L.cat([x34(L), x34(L)], dim=1),
    cat_default=lambda L: L.cat((x34(L), x34(L))),
    cat_mismatch=lambda L: L.cat([L.zeros(2, 3), L.zeros(2, 4)]),
    stack=lambda L: L.stack([L.tensor([1, 2]), L.tensor([3, 4])], dim=1),
    stack_default=lambda L: L.stack([x34(L), x34(L)]),
    gather=lambda L: x34(L).gather(1, L.tensor([[0], [2], [3]])),
    scatter=lambda L: L.zeros(3, 4).scatter(1, L.tensor([[0], [2], [3]]), 1.0),
    index_select=lambda L: x34(L).index_select(0, L.tensor([2, 0])),
    masked_fill=lambda L: x34(L).masked_fill(x34(L) < 0, 0.0),
    tril=lambda L: x34(L).tril(),
    triu_diag=lambda L: L.triu(x34(L), diagonal=1),
    tril_grad=lambda L: grad_of(L, lambda x: x.tril(-1) * 2),
    transpose_grad=lambda L: grad_of(L, lambda x: x.transpose(0, 1) * L.arange(3.0), X34),
    view_grad=lambda L: grad_of(L, lambda x: x.view(2, 6) * L.arange(6.0)),
    expand_grad=lambda L: grad_of(L, lambda x: x[:, :1].expand(3, 5)),
    repeat_grad=lambda L: grad_of(L, lambda x: x.repeat(2, 1) * L.arange(4.0)),
    chunk_grad=lambda L: grad_of(L, lambda x: x.chunk(2, dim=1)[1] * 3),
    split_grad=lambda L: grad_of(L, lambda x: x.split(1)[2] * 2),
    unbind_grad=lambda L: grad_of(L, lambda x: x.unbind(0)[1] * L.arange(4.0)),
    narrow_grad=lambda L: grad_of(L, lambda x: x.narrow(0, 1, 2) ** 2),
    flip_grad=lambda L: grad_of(L, lambda x: x.flip(1) * L.arange(4.0)),
    roll_grad=lambda L: grad_of(L, lambda x: x.roll(1, 0) * L.arange(3.0)[:, None]),
    gather_grad=lambda L: grad_of(L, lambda x: x.gather(1, L.tensor([[0, 0], [2, 1], [3, 3]]))),
    scatter_grad=lambda L: grad_of(L, lambda x: x.scatter(1, L.tensor([[0], [2], [3]]), 0.0) * 2),
    index_select_grad=lambda L: grad_of(L, lambda x: x.index_select(1, L.tensor([0, 0, 3]))),
    masked_fill_grad=lambda L: grad_of(L, lambda x: x.masked_fill(x > 0, 0.0) * 3),
)

# ------------------------------------------------------------------------ indexing
table(
    index_int=lambda L: x34(L)[1],
    index_neg=lambda L: x34(L)[-1, -2],
    index_slice=lambda L: x34(L)[1:, ::2],
    index_none_ellipsis=lambda L: x234(L)[None, ..., 1],
    index_long_tensor=lambda L: x34(L)[L.tensor([2, 0, 2])],
    index_long_pair=lambda L: x34(L)[L.tensor([0, 1]), L.tensor([3, 2])],
    index_bool_mask=lambda L: x34(L)[x34(L) > 0],
    index_bool_rows=lambda L: x34(L)[L.tensor([True, False, True])],
    index_list=lambda L: x34(L)[[0, 2]],
    index_arange_labels=lambda L: x34(L)[L.arange(3), L.tensor([0, 3, 1])],
    index_out_of_range=lambda L: x34(L)[5],
    index_long_grad=lambda L: grad_of(L, lambda x: x[L.tensor([0, 0, 2])] * 2),
    index_mask_grad=lambda L: grad_of(L, lambda x: x[x > 0] ** 2),
    index_int_tensor_scalar=lambda L: x34(L)[L.tensor(1)],
    setitem_scalar=lambda L: _setitem(L, lambda t: t.__setitem__((0, 1), 5.0)),
    setitem_mask=lambda L: _setitem(L, lambda t: t.__setitem__(t < 0, 0.0)),
    setitem_tensor=lambda L: _setitem(L, lambda t: t.__setitem__(1, L.tensor([9.0, 8.0, 7.0, 6.0]))),
    setitem_long=lambda L: _setitem(L, lambda t: t.__setitem__(L.tensor([0, 2]), 1.0)),
    setitem_slice=lambda L: _setitem(L, lambda t: t.__setitem__((slice(None), 0), L.tensor([1.0, 2.0, 3.0]))),
    item=lambda L: L.tensor([2.5]).item(),
    item_int=lambda L: L.tensor([[7]]).item(),
    item_bool=lambda L: L.tensor(True).item(),
    item_many_raises=lambda L: L.tensor([1.0, 2.0]).item(),
    tolist=lambda L: x34(L)[0].tolist(),
    tolist_int=lambda L: L.tensor([[1, 2]]).tolist(),
    float_conv=lambda L: float(L.tensor(2.5)),
    int_conv=lambda L: int(L.tensor(2.7)),
    iterate_rows=lambda L: [r.sum() for r in x34(L)],
    index_in_range_loop=lambda L: [x34(L)[i, i] for i in range(3)],
)


def _setitem(L: Any, fn: Any) -> Any:
    t = x34(L).clone()
    fn(t)
    return t


# ------------------------------------------------------------------------------ math
UNARY = ["sin", "cos", "tan", "exp", "tanh", "sigmoid", "relu", "abs", "sign", "floor",
         "ceil", "round", "neg"]
for _name in UNARY:
    IDIOMS[f"{_name}_method"] = lambda L, n=_name: getattr(x34(L), n)()
    IDIOMS[f"{_name}_function"] = lambda L, n=_name: getattr(L, n)(x34(L))
POSITIVE = ["log", "log1p", "sqrt", "rsqrt"]
for _name in POSITIVE:
    IDIOMS[f"{_name}_method"] = lambda L, n=_name: getattr(L.tensor(POS), n)()
    IDIOMS[f"{_name}_grad"] = lambda L, n=_name: grad_of(L, lambda x: getattr(x, n)(), POS)
for _name in ["sin", "cos", "tan", "exp", "tanh", "sigmoid", "relu", "abs", "sign", "floor"]:
    IDIOMS[f"{_name}_grad"] = lambda L, n=_name: grad_of(L, lambda x: getattr(x, n)())

table(
    pow_method=lambda L: x34(L).pow(2),
    pow_tensor=lambda L: L.tensor(POS).pow(L.tensor([1.0, 2.0, 0.5, 3.0])),
    pow_function=lambda L: L.pow(x34(L), 3),
    pow_scalar_base=lambda L: L.pow(2.0, x34(L)),
    mm=lambda L: L.mm(x34(L), x34(L).t()),
    mm_method=lambda L: x34(L).mm(x34(L).T),
    mm_3d_raises=lambda L: L.mm(x234(L), x34(L)),
    bmm=lambda L: L.bmm(x234(L), x234(L).transpose(1, 2)),
    matmul=lambda L: L.matmul(x234(L), x34(L).T),
    matmul_method=lambda L: x34(L).matmul(L.tensor([1.0, 2.0, 3.0, 4.0])),
    matmul_mismatch=lambda L: x34(L) @ x34(L),
    addmm=lambda L: L.addmm(L.ones(3), x34(L), x34(L).T),
    addmm_beta_alpha=lambda L: L.addmm(L.ones(3, 3), x34(L), x34(L).T, beta=0.5, alpha=2.0),
    einsum=lambda L: L.einsum("ij,kj->ik", x34(L), x34(L)),
    einsum_trace=lambda L: L.einsum("ii", L.tensor(X34[:, :3])),
    outer=lambda L: L.outer(L.tensor([1.0, 2.0]), L.tensor([3.0, 4.0, 5.0])),
    dot=lambda L: L.dot(L.tensor([1.0, 2.0]), L.tensor([3.0, 4.0])),
    mm_grad=lambda L: grad_of(L, lambda x: L.mm(x, x.t())),
    bmm_grad=lambda L: grad_of(L, lambda x: L.bmm(x, x.transpose(1, 2)), X234),
    addmm_grad=lambda L: grad_of(L, lambda x: L.addmm(x[:, 0], x, x.T, beta=0.5)),
    einsum_grad=lambda L: grad_of(L, lambda x: L.einsum("ij,ij->i", x, x)),
    outer_grad=lambda L: grad_of(L, lambda x: L.outer(x[0], x[1]), X34),
    clamp_grad=lambda L: grad_of(L, lambda x: x.clamp(-0.5, 0.5)),
    maximum=lambda L: L.maximum(x34(L), L.zeros(1)),
    minimum=lambda L: L.minimum(x34(L), L.tensor(0.25)),
    round_decimals=lambda L: L.round(x34(L), decimals=1),
    sigmoid_function_nn=lambda L: L.nn.functional.relu(x34(L)),
    sum_of_squares=lambda L: grad_of(L, lambda x: (x**2).sum()),
    mean_squared=lambda L: grad_of(L, lambda x: ((x - 1) ** 2).mean()),
)

# --------------------------------------------------------------------- in place
table(
    iadd=lambda L: _inplace(L, lambda t: t.__iadd__(1.0)),
    isub_tensor=lambda L: _inplace(L, lambda t: t.__isub__(x34(L))),
    imul=lambda L: _inplace(L, lambda t: t.__imul__(2)),
    itruediv=lambda L: _inplace(L, lambda t: t.__itruediv__(4.0)),
    add_=lambda L: _inplace(L, lambda t: t.add_(x34(L), alpha=2.0)),
    sub_=lambda L: _inplace(L, lambda t: t.sub_(1.0)),
    mul_=lambda L: _inplace(L, lambda t: t.mul_(3.0)),
    div_=lambda L: _inplace(L, lambda t: t.div_(2.0)),
    zero_=lambda L: _inplace(L, lambda t: t.zero_()),
    fill_=lambda L: _inplace(L, lambda t: t.fill_(3.5)),
    copy_=lambda L: _inplace(L, lambda t: t.copy_(L.ones(3, 4))),
    copy_broadcast=lambda L: _inplace(L, lambda t: t.copy_(L.ones(4))),
    clamp_=lambda L: _inplace(L, lambda t: t.clamp_(min=-0.5, max=0.5)),
    pow_=lambda L: _inplace(L, lambda t: t.pow_(2)),
    inplace_returns_self=lambda L: _returns_self(L),
    int_iadd_float_raises=lambda L: L.tensor([1, 2]).__iadd__(1.5),
    inplace_leaf_requires_grad_raises=lambda L: L.tensor([1.0], requires_grad=True).add_(1.0),
    inplace_leaf_isub_raises=lambda L: L.tensor([1.0], requires_grad=True).__isub__(1.0),
    inplace_no_grad_updates_leaf=lambda L: _no_grad_update(L),
    inplace_nonleaf_grad=lambda L: _nonleaf_inplace(L),
    inplace_saved_tensor_raises=lambda L: _saved_modified(L),
    inplace_view_shares=lambda L: _view_shares(L),
    grad_zero_=lambda L: _grad_zero(L),
)


def _inplace(L: Any, fn: Any) -> Any:
    t = x34(L).clone()
    fn(t)
    return t


def _returns_self(L: Any) -> Any:
    t = x34(L).clone()
    return [t.add_(1) is t, t.mul_(2) is t, t.zero_() is t]


def _no_grad_update(L: Any) -> Any:
    w = L.tensor([1.0, -2.0], requires_grad=True)
    (w**2).sum().backward()
    with L.no_grad():
        w -= 0.1 * w.grad
    return [w, w.grad, w.is_leaf]


def _nonleaf_inplace(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y += 1
    y.sum().backward()
    return [y, x.grad]


def _saved_modified(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    with L.no_grad():
        y.mul_(2)
    y.sum().backward()
    return x.grad


def _view_shares(L: Any) -> Any:
    t = L.zeros(2, 3)
    v = t.view(6)
    v[0] = 1.0
    t[1, 2] = 2.0
    return [t, v]


def _grad_zero(L: Any) -> Any:
    w = L.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    w.grad.zero_()
    (w * 2).sum().backward()
    return w.grad


# -------------------------------------------------------------- autograd surface
table(
    grad_is_tensor=lambda L: grad_of(L, lambda x: x * x)[1],
    grad_none_before=lambda L: L.tensor([1.0], requires_grad=True).grad,
    grad_accumulates=lambda L: _accumulate(L),
    grad_same_object=lambda L: _grad_same(L),
    set_grad_none=lambda L: _set_grad_none(L),
    data_is_tensor=lambda L: L.tensor([1.0], requires_grad=True).data,
    data_shares_storage=lambda L: _data_shares(L),
    is_leaf=lambda L: [L.tensor([1.0], requires_grad=True).is_leaf, (L.tensor([1.0], requires_grad=True) * 2).is_leaf],
    requires_grad_flag=lambda L: (x34(L, requires_grad=True) * 2).requires_grad,
    no_grad_context=lambda L: _under(L, L.no_grad()),
    no_grad_decorator_parens=lambda L: L.no_grad()(lambda x: x * 2)(x34(L, requires_grad=True)),
    no_grad_bare_decorator=lambda L: L.no_grad(lambda x: x * 2)(x34(L, requires_grad=True)),
    enable_grad_inside=lambda L: _enable_inside(L),
    set_grad_enabled_false=lambda L: _under(L, L.set_grad_enabled(False)),
    inference_mode=lambda L: _under(L, L.inference_mode()),
    is_grad_enabled=lambda L: L.is_grad_enabled(),
    backward_nonscalar_raises=lambda L: (x34(L, requires_grad=True) * 2).backward(),
    backward_with_grad=lambda L: _backward_with_grad(L),
    backward_no_grad_tensor_raises=lambda L: L.tensor([1.0]).sum().backward(),
    second_backward_raises=lambda L: _second_backward(L),
    retain_graph=lambda L: _retain(L),
    detach_no_grad=lambda L: (x34(L, requires_grad=True).detach() * 2).requires_grad,
    requires_grad_method=lambda L: x34(L).requires_grad_().requires_grad,
)


def _accumulate(L: Any) -> Any:
    w = L.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    (w * 4).sum().backward()
    return w.grad


def _grad_same(L: Any) -> Any:
    w = L.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    return [w.grad is w.grad, w.grad.requires_grad]


def _set_grad_none(L: Any) -> Any:
    w = L.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    w.grad = None
    (w * 2).sum().backward()
    return w.grad


def _data_shares(L: Any) -> Any:
    w = L.tensor([1.0, 2.0], requires_grad=True)
    d = w.data
    d[0] = 7.0
    return [w, d.requires_grad]


def _under(L: Any, ctx: Any) -> Any:
    x = x34(L, requires_grad=True)
    with ctx:
        y = x * 2
    return [y.requires_grad, L.is_grad_enabled()]


def _enable_inside(L: Any) -> Any:
    x = x34(L, requires_grad=True)
    with L.no_grad():
        with L.enable_grad():
            y = x * 2
        z = x * 2
    return [y.requires_grad, z.requires_grad]


def _backward_with_grad(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(L.tensor([1.0, 0.5]))
    return x.grad


def _second_backward(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    y.backward()


def _retain(L: Any) -> Any:
    x = L.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    return x.grad


# ------------------------------------------------------------------ printing and numpy
table(
    repr_float=lambda L: repr(L.tensor([1.5, 2.25, -3.0])),
    repr_int=lambda L: repr(L.tensor([1, 2])),
    repr_whole_floats=lambda L: repr(L.tensor([[1.0, 2.0], [3.0, 4.0]])),
    repr_scalar=lambda L: repr(L.tensor(3.0)),
    repr_sci=lambda L: repr(L.tensor([1e-5, 1e5])),
    repr_bool=lambda L: repr(L.tensor([True, False])),
    repr_float64=lambda L: repr(L.tensor([1.0, 2.0], dtype=L.float64)),
    repr_int32=lambda L: repr(L.tensor([1, 2], dtype=L.int32)),
    repr_requires_grad=lambda L: repr(L.tensor([1.0, 2.0], requires_grad=True)),
    repr_empty=lambda L: repr(L.zeros(0)),
    str_same_as_repr=lambda L: str(L.tensor([0.1, 0.25])),
    format_spec=lambda L: format(L.tensor(2.3456), ".2f"),
    fstring=lambda L: f"{L.tensor([1.23456]).item():.3f} {L.tensor(0.5):.1f}",
    format_many_raises=lambda L: format(L.tensor([1.0, 2.0]), ".2f"),
    numpy_shares=lambda L: _numpy_shares(L),
    numpy_requires_grad_raises=lambda L: L.tensor([1.0], requires_grad=True).numpy(),
    np_array_copies=lambda L: _np_array_copies(L),
    np_asarray_dtype=lambda L: np.asarray(L.tensor([1, 2]), dtype=np.float64),
    device_attr=lambda L: L.tensor([1.0]).device,
    device_ctor=lambda L: L.device("cpu"),
    cpu=lambda L: L.tensor([1.0]).cpu(),
    cuda_is_available=lambda L: L.cuda.is_available(),
    cuda_device_count=lambda L: L.cuda.device_count(),
    accelerator_queries=lambda L: [L.accelerator.is_available(), L.accelerator.device_count(),
                                   L.accelerator.current_accelerator()],
    tensor_device_kw=lambda L: L.zeros(2, device="cpu"),
    is_cuda=lambda L: L.tensor([1.0]).is_cuda,
)


def _numpy_shares(L: Any) -> Any:
    t = L.tensor([1.0, 2.0])
    a = t.numpy()
    a[0] = 9.0
    return t


def _np_array_copies(L: Any) -> Any:
    t = L.tensor([1.0, 2.0])
    a = np.array(t)
    a[0] = 9.0
    b = np.array(t, copy=True)
    b[1] = 9.0
    return t
