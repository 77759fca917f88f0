"""Matrix multiplication, through the kernel dispatcher.

For y = a @ b:  dL/da = dL/dy @ b^T  and  dL/db = a^T @ dL/dy.
1-D operands are promoted like NumPy (a vector a becomes a row (1, K), a
vector b a column (K, 1)) and the added axis is removed again; batch axes
broadcast, and the engine sums each gradient back over them.
"""
import numpy as np

from .. import kernels as K
from ..autograd.function import Function
from .registry import Sample, register, rand
from ._util import binary_operands


class MatMul(Function):
    """y = a @ b with NumPy's rules for 1-D and batched operands."""

    @staticmethod
    def forward(ctx, a, b):
        a2 = a[None, :] if a.ndim == 1 else a          # (K,) -> (1, K)
        b2 = b[:, None] if b.ndim == 1 else b          # (K,) -> (K, 1)
        nd = max(a2.ndim, b2.ndim)
        a2 = a2.reshape((1,) * (nd - a2.ndim) + a2.shape)  # pad batch axes: (..., M, K)
        b2 = b2.reshape((1,) * (nd - b2.ndim) + b2.shape)  # (..., K, N)
        ctx.save_for_backward(a2, b2)
        ctx.shapes = (a.shape, b.shape)
        y = K.matmul(a2, b2)
        return y.reshape(_result_shape(a.shape, b.shape, y.shape))

    @staticmethod
    def backward(ctx, g):
        a2, b2 = ctx.saved
        a_shape, b_shape = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        g2 = _as_matrix_grad(g, a_shape, b_shape)
        ga, gb, _ = K.matmul_backward(a2, b2, g2, need_a=need_a, need_b=need_b)
        if ga is not None and len(a_shape) == 1:
            ga = ga[..., 0, :]      # (..., 1, K) -> (..., K)
        if gb is not None and len(b_shape) == 1:
            gb = gb[..., :, 0]      # (..., K, 1) -> (..., K)
        return ga, gb


def _result_shape(a_shape, b_shape, y_shape):
    """Drop the axes that 1-D promotion added."""
    shape = list(y_shape)
    if len(b_shape) == 1:
        shape.pop(-1)
    if len(a_shape) == 1:
        shape.pop(-2 if len(b_shape) != 1 else -1)
    return tuple(shape)


def _as_matrix_grad(g, a_shape, b_shape):
    """Re-insert the axes removed by ``_result_shape`` so g is (..., M, N)."""
    if len(a_shape) == 1 and len(b_shape) == 1:
        return g.reshape(1, 1)
    if len(b_shape) == 1:
        return g[..., None]         # (..., M) -> (..., M, 1)
    if len(a_shape) == 1:
        return g[..., None, :]      # (..., N) -> (..., 1, N)
    return g


def _check_matmul_shapes(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                         f"a's last dimension ({k_a}) must equal b's "
                         f"{'first' if b.ndim == 1 else 'second-to-last'} dimension ({k_b})")
    if a.ndim > 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not broadcast") from None


def matmul(a, b):
    """a @ b for 1-D, 2-D and batched operands (batch axes broadcast)."""
    a, b = binary_operands(a, b, "matmul")
    _check_matmul_shapes(a, b)
    return MatMul.apply(a, b)


register(MatMul, matmul, lambda r: [
    Sample("2-d", (rand(r, 3, 4), rand(r, 4, 2))),
    Sample("vector @ matrix", (rand(r, 4), rand(r, 4, 3))),
    Sample("matrix @ vector", (rand(r, 3, 4), rand(r, 4))),
    Sample("vector @ vector", (rand(r, 4), rand(r, 4))),
    Sample("batched", (rand(r, 2, 3, 4), rand(r, 2, 4, 5))),
    Sample("broadcast batch", (rand(r, 2, 1, 3, 4), rand(r, 3, 4, 2))),
    Sample("batched @ 2-d", (rand(r, 2, 3, 4), rand(r, 4, 2))),
    Sample("vector @ batched", (rand(r, 4), rand(r, 2, 4, 3)))])
