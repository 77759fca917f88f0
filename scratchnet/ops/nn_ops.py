"""Neural-network ops built on the fused kernels: softmax and log-softmax
(more in this module as layers need them).

softmax:      y_i = e^{x_i - m} / sum_j e^{x_j - m},  m = max_j x_j (stable)
              dL/dx = y * (g - sum(g * y))
log_softmax:  y_i = x_i - m - log sum_j e^{x_j - m}
              dL/dx = g - e^y * sum(g)
The kernels work over the last axis; another ``axis`` is moved there and back.
"""
import numpy as np

from .. import kernels as K
from ..autograd.function import Function
from .registry import Sample, register, rand
from ._util import float_tensor, normalize_axis


def _to_last(x, axis):
    return x if axis == x.ndim - 1 else np.moveaxis(x, axis, -1)


def _from_last(y, axis):
    return y if axis == y.ndim - 1 else np.moveaxis(y, -1, axis)


class _LastAxisKernel(Function):
    """y = kernel(x) over ``axis``; backward through ``kernel_backward(y, g)``.
    Both kernels work on the last axis: another ``axis`` is moved there and back."""

    kernel = kernel_backward = None

    @classmethod
    def forward(cls, ctx, x, axis):
        y = cls.kernel(_to_last(x, axis))
        ctx.save_for_backward(y)
        ctx.axis = axis
        return _from_last(y, axis)

    @classmethod
    def backward(cls, ctx, g):
        (y,) = ctx.saved
        return _from_last(cls.kernel_backward(y, _to_last(g, ctx.axis)), ctx.axis)


class Softmax(_LastAxisKernel):
    """Softmax over ``axis`` (see module docstring); the output is saved."""
    kernel, kernel_backward = staticmethod(K.softmax), staticmethod(K.softmax_backward)


class LogSoftmax(_LastAxisKernel):
    """Log-softmax over ``axis`` (see module docstring); the output is saved."""
    kernel, kernel_backward = staticmethod(K.log_softmax), staticmethod(K.log_softmax_backward)


def softmax(x, axis=-1):
    x = float_tensor(x, "softmax")
    if x.ndim == 0:
        raise ValueError("softmax: needs at least one dimension, got a 0-d tensor")
    return Softmax.apply(x, normalize_axis(axis, x.ndim, "softmax"))


def log_softmax(x, axis=-1):
    x = float_tensor(x, "log_softmax")
    if x.ndim == 0:
        raise ValueError("log_softmax: needs at least one dimension, got a 0-d tensor")
    return LogSoftmax.apply(x, normalize_axis(axis, x.ndim, "log_softmax"))


def _softmax_samples(r):
    return [Sample("last axis", (rand(r, 3, 5),)),
            Sample("axis 0", (rand(r, 4, 3),), {"axis": 0}),
            Sample("3-d middle axis", (rand(r, 2, 3, 4),), {"axis": 1}),
            Sample("size-1 axis", (rand(r, 3, 1),)),
            Sample("1-d", (rand(r, 6),))]


register(Softmax, softmax, _softmax_samples)
register(LogSoftmax, log_softmax, _softmax_samples)
