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


def _apply_over_axis(fn, x, axis, where):
    """``fn.apply`` over ``axis`` of ``x``. A 0-d tensor is one class, as in PyTorch
    (axis 0 or -1): it goes through the kernel as shape (1,), so softmax gives 1
    and log_softmax 0, with the gradient of the 1-element case."""
    x = float_tensor(x, where)
    if x.ndim == 0:
        try:
            normalize_axis(axis, 1, where)                # only 0 / -1, as PyTorch
        except ValueError:
            raise ValueError(f"{where}: axis {axis} is out of range for a 0-d tensor "
                             f"(expected 0 or -1)") from None
        return fn.apply(x.reshape(1), 0).reshape(())      # () -> (1,) -> ()
    return fn.apply(x, normalize_axis(axis, x.ndim, where))


def softmax(x, axis=-1):
    """y_i = e^{x_i} / sum_j e^{x_j} along ``axis`` (see module docstring)."""
    return _apply_over_axis(Softmax, x, axis, "softmax")


def log_softmax(x, axis=-1):
    """y_i = x_i - log sum_j e^{x_j} along ``axis`` (see module docstring)."""
    return _apply_over_axis(LogSoftmax, x, axis, "log_softmax")


def _softmax_samples(r):
    return [Sample("last axis", (rand(r, 3, 5),)),
            Sample("axis 0", (rand(r, 4, 3),), {"axis": 0}),
            Sample("3-d middle axis", (rand(r, 2, 3, 4),), {"axis": 1}),
            Sample("size-1 axis", (rand(r, 3, 1),)),
            Sample("1-d", (rand(r, 6),)),
            Sample("0-d", (rand(r),))]


register(Softmax, softmax, _softmax_samples)
register(LogSoftmax, log_softmax, _softmax_samples)
