"""Reductions over any axes, with ``keepdims``.

The backward of a reduction broadcasts the output gradient back over the
reduced axes (``expand_reduced``), scaled by the local derivative.
"""
import numpy as np

from ..autograd.function import Function
from .registry import Sample, register, rand, distinct
from ._util import as_tensor, float_tensor, normalize_axes, expand_reduced


def _reduce(fn, x, axis, keepdims, name, **kw):
    x = as_tensor(x, where=name)
    axes = normalize_axes(axis, x.ndim, name)
    return fn.apply(x, axes=axes, keepdims=bool(keepdims), **kw)


class Sum(Function):
    """y = sum_i x_i over ``axes``;  dy/dx_i = 1."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.meta = (x.shape, axes, keepdims)
        return np.sum(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdims = ctx.meta
        return expand_reduced(g, shape, axes, keepdims)


def sum(x, axis=None, keepdims=False):
    return _reduce(Sum, x, axis, keepdims, "sum")


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _reduced_shape(shape, axes, keepdims):
    return tuple(1 if i in axes else d for i, d in enumerate(shape) if keepdims or i not in axes)


def _without_kept_axes(y, axes, keepdims):
    """A result computed with keepdims=True, in the shape the caller asked for."""
    return y if keepdims else np.squeeze(y, axis=axes)


def _with_kept_axes(g, axes, keepdims):
    """The output gradient with the reduced axes back as size-1 axes (broadcasts against x)."""
    return g if keepdims else np.expand_dims(g, axes)


def _empty_result(x, axes, keepdims, name, has_identity=True):
    """For an input with no elements: the (empty) result when every output is
    empty, as NumPy and PyTorch give it; a clear error when an output would
    reduce over nothing, or, for reductions without an identity (max, min),
    when any reduced axis is empty (NumPy refuses those too); None when ``x``
    has elements."""
    if x.size:
        return None
    out_shape = _reduced_shape(x.shape, axes, keepdims)
    no_identity_over_empty = not has_identity and any(x.shape[a] == 0 for a in axes)
    if no_identity_over_empty or (_count(out_shape, range(len(out_shape))) and not _count(x.shape, axes)):
        raise ValueError(f"{name}: reduction over an empty axis of a tensor of shape {x.shape} (axes {axes})")
    return np.zeros(out_shape, dtype=x.dtype)


class Mean(Function):
    """y = (1/n) sum_i x_i;  dy/dx_i = 1/n."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.meta = (x.shape, axes, keepdims)
        empty = _empty_result(x, axes, keepdims, "mean")
        if empty is not None:
            return empty
        y = np.mean(x, axis=axes, keepdims=keepdims)
        return y.astype(x.dtype, copy=False) if x.dtype.kind == "f" else y

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdims = ctx.meta
        return expand_reduced(g / _count(shape, axes), shape, axes, keepdims)


def mean(x, axis=None, keepdims=False):
    x = float_tensor(x, "mean")
    return _reduce(Mean, x, axis, keepdims, "mean")


class _Extremum(Function):
    """y = max (or min) over ``axes``; the gradient goes to the elements equal
    to the extremum, shared evenly among ties."""

    np_fn = None

    @classmethod
    def forward(cls, ctx, x, axes, keepdims):
        empty = _empty_result(x, axes, True, cls.__name__.lower(), has_identity=False)
        y = empty if empty is not None else cls.np_fn(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.meta = (axes, keepdims)
        return _without_kept_axes(y, axes, keepdims)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        axes, keepdims = ctx.meta
        hit = x == y
        share = hit / hit.sum(axis=axes, keepdims=True)
        g = _with_kept_axes(g, axes, keepdims)
        return g * share


class Max(_Extremum):
    np_fn = staticmethod(np.max)


class Min(_Extremum):
    np_fn = staticmethod(np.min)


def max(x, axis=None, keepdims=False):
    return _reduce(Max, x, axis, keepdims, "max")


def min(x, axis=None, keepdims=False):
    return _reduce(Min, x, axis, keepdims, "min")


class Var(Function):
    """y = sum_i (x_i - mean)^2 / (n - ddof);  dy/dx_i = 2 (x_i - mean) / (n - ddof)."""

    @staticmethod
    def forward(ctx, x, axes, keepdims, ddof):
        n = _count(x.shape, axes)
        if n - ddof <= 0:
            raise ValueError(f"var: {n} elements over axes {axes} of shape {x.shape} with ddof={ddof}; "
                             f"need more than ddof elements")
        centered = x - np.mean(x, axis=axes, keepdims=True).astype(x.dtype, copy=False)
        ctx.save_for_backward(centered)
        ctx.meta = (axes, keepdims, n - ddof)
        return (np.sum(centered * centered, axis=axes, keepdims=keepdims) / (n - ddof)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (centered,) = ctx.saved
        axes, keepdims, denom = ctx.meta
        g = _with_kept_axes(g, axes, keepdims)
        return g * centered * (2.0 / denom)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance with NumPy's meaning of ``ddof`` (0: population variance)."""
    x = float_tensor(x, "var")
    return _reduce(Var, x, axis, keepdims, "var", ddof=ddof)


class LogSumExp(Function):
    """y = log sum_i e^{x_i}, computed as m + log sum_i e^{x_i - m} with
    m = max x (stable);  dy/dx_i = e^{x_i - y} = softmax(x)_i."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        empty = _empty_result(x, axes, True, "logsumexp")
        if empty is not None:
            ctx.save_for_backward(x, empty)
            ctx.meta = (axes, keepdims)
            return _without_kept_axes(empty, axes, keepdims)
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            y = m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))
        ctx.save_for_backward(x, y)
        ctx.meta = (axes, keepdims)
        return _without_kept_axes(y, axes, keepdims)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        axes, keepdims = ctx.meta
        g = _with_kept_axes(g, axes, keepdims)
        return g * np.exp(x - y)


def logsumexp(x, axis=None, keepdims=False):
    return _reduce(LogSumExp, x, axis, keepdims, "logsumexp")


def _reduction_samples(make=rand):
    def samples(r):
        return [Sample("all", (make(r, 3, 4),)),
                Sample("axis 1", (make(r, 2, 3, 4),), {"axis": 1}),
                Sample("axes (0, 2) keepdims", (make(r, 2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
                Sample("negative axis", (make(r, 3, 4),), {"axis": -1}),
                Sample("size-1 axis", (make(r, 3, 1),), {"axis": 1}),
                Sample("0-d", (make(r),))]
    return samples


register(Sum, sum, _reduction_samples())
register(Mean, mean, _reduction_samples())
register(Max, max, _reduction_samples(distinct))
register(Min, min, _reduction_samples(distinct))
register(LogSumExp, logsumexp, _reduction_samples())
register(Var, var, lambda r: [s for s in _reduction_samples()(r) if s.name not in ("0-d", "size-1 axis")]
         + [Sample("ddof=1", (rand(r, 4, 3),), {"axis": 0, "ddof": 1})])
