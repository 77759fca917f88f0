"""The ops behind the basic layers: linear, embedding, dropout, layer norm.

linear:      y = x W^T + b          x (..., in), W (out, in), b (out,)
             dL/dx = g W,  dL/dW = g^T x (over all leading rows),  dL/db = sum of g over rows
embedding:   y[..., :] = W[ids[...], :]   ids (...) integers, W (num, dim)
             dL/dW[k] = sum of g over the positions where ids == k (K.scatter_rows:
             repeated ids accumulate); the padding row gets 0
dropout:     y = x * m / (1 - p),   m ~ Bernoulli(1 - p) drawn from
             ``scratchnet.random.default_generator()``;  dL/dx = g * m / (1 - p)
layer_norm:  over the trailing ``normalized_shape`` dims (flattened to D):
             y = (x - mean) / sqrt(var + eps) * w + b   (biased variance)
             gradients by ``K.layer_norm_backward``

dtype: every op computes in the promoted dtype of its float operands (NumPy's
rule: float32 with float64 gives float64); a float32 model fed float32 stays
float32 end to end. The engine casts each gradient back to its input's dtype.
"""
import math

import numpy as np

from .. import kernels as K
from ..autograd.function import Function
from ..random import default_generator
from .registry import Sample, register, rand
from ._util import broadcasts_to, float_tensor, real_number, to_array


# ---------------------------------------------------------------------- linear
class Linear(Function):
    """y = x W^T + b as one BLAS product with the bias added in place (see module docstring).

    The three products go through ``K.gemm`` (the backward pair through
    ``K.linear_grads``, which computes both in one pass over the rows of g
    when it can), taking the operands as stored and a flag for each
    transpose (x W^T, g W, g^T x): BLAS reads a
    transpose in place, where ``K.matmul(x, W.T)`` would first copy W.T to C
    order (0.65 against 0.43 ms on the 784-512 layer, batch 128, float32).
    With the Numba kernels, large products run on the same thread pool as
    the other kernels (``kernels/gemm_numba.py`` says why).
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        x, weight, bias = _common_float(x, weight, bias)
        x2 = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])  # (..., in) -> (N, in); in may be 0
        y = K.gemm(x2, weight, trans_b=True)                  # (N, in) @ (in, out) -> (N, out)
        if bias is not None:
            y += bias
        ctx.save_for_backward(x2, weight)
        ctx.x_shape = x.shape
        return y.reshape(x.shape[:-1] + (weight.shape[0],))  # (N, out) -> (..., out)

    @staticmethod
    def backward(ctx, g):
        x2, weight = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = g.reshape(math.prod(g.shape[:-1]), g.shape[-1])  # (..., out) -> (N, out); out may be 0
        gx, gw = K.linear_grads(g2, weight, x2, need_x, need_w)   # g W (N, in), g^T x (out, in)
        gx = gx.reshape(ctx.x_shape) if need_x else None      # (N, in) -> (..., in)
        gb = g2.sum(axis=0) if need_b else None               # (out,)
        return gx, gw, gb


def _common_float(*arrays):
    """The arrays in their promoted float dtype (float32 unless one is float64); None stays None."""
    dtypes = {a.dtype for a in arrays if a is not None}
    if len(dtypes) == 1:
        return arrays
    dtype = np.result_type(*dtypes)
    return tuple(None if a is None else a.astype(dtype, copy=False) for a in arrays)


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias for x (..., in_features), weight (out, in), bias (out,) or None.

    As in PyTorch, a bias of another shape that broadcasts to the output
    (..., out), such as () or (1,), is added by the broadcasting add (its
    gradient summed back to its shape); (out,) takes the fused path."""
    x = float_tensor(x, "linear")
    weight = float_tensor(weight, "linear", "weight")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has {x.shape[-1] if x.ndim else 0} features in its last dimension, "
                         f"expected {weight.shape[1]} (input shape {x.shape}, weight shape {weight.shape})")
    if bias is not None:
        bias = float_tensor(bias, "linear", "bias")
        out_shape = x.shape[:-1] + (weight.shape[0],)
        if bias.shape != (weight.shape[0],):
            if not broadcasts_to(bias.shape, out_shape):
                raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) or broadcast to the "
                                 f"output shape {out_shape}, got {bias.shape}")
            return Linear.apply(x, weight, None) + bias
    return Linear.apply(x, weight, bias)


# ------------------------------------------------------------------- embedding
class Embedding(Function):
    """y = weight[ids]; the gradient of row r is the sum of the output gradients
    at the positions where ids == r (``K.scatter_rows``)."""

    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None, scale_grad_by_freq=False):
        ctx.save_for_backward(ids)
        ctx.weight_shape = weight.shape
        ctx.padding_idx = padding_idx
        ctx.scale_grad_by_freq = scale_grad_by_freq
        return weight[ids]                                    # (*ids.shape, dim)

    @staticmethod
    def backward(ctx, g):
        (ids,) = ctx.saved
        flat_ids = ids.reshape(-1)
        rows = g.reshape(-1, ctx.weight_shape[1])                    # (*ids, dim) -> (n, dim)
        if ctx.scale_grad_by_freq:                                    # divide by each id's count in the batch
            counts = np.bincount(flat_ids, minlength=ctx.weight_shape[0])
            rows = rows / counts[flat_ids][:, None].astype(rows.dtype)
        gw = K.scatter_rows(flat_ids, rows, ctx.weight_shape[0])
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return None, gw


def check_ids(ids, num_embeddings, where):
    """``ids`` (Tensor or array) as an integer ndarray with every value in [0, num_embeddings)."""
    ids = to_array(ids, where, "ids")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{where}: ids must be integers, got dtype {ids.dtype} (shape {ids.shape})")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        bad = lo if lo < 0 else hi if hi >= num_embeddings else None
        if bad is not None:
            raise IndexError(f"{where}: index {bad} is out of range for num_embeddings={num_embeddings} "
                             f"(ids must be in [0, {num_embeddings}))")
    return ids


def embedding(ids, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``ids`` of any shape:
    output (*ids.shape, dim). The row ``padding_idx`` receives no gradient.

    As in PyTorch: with ``max_norm``, every row that ``ids`` looks up and whose
    ``norm_type``-norm exceeds it is first rescaled, in place and outside the
    graph, to norm ``max_norm`` (factor max_norm / (norm + 1e-7));
    ``scale_grad_by_freq`` divides each looked-up row's gradient by how often
    its id occurs in ``ids``. ``sparse`` is accepted for compatibility: the
    gradient is always a dense array.
    """
    weight = float_tensor(weight, "embedding", "weight")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    ids = check_ids(ids, weight.shape[0], "embedding")
    if padding_idx is not None:
        padding_idx = normalize_padding_idx(padding_idx, weight.shape[0], "embedding")
    if max_norm is not None:
        renorm_rows_(weight.data, ids, max_norm, norm_type)
    return Embedding.apply(ids, weight, padding_idx=padding_idx, scale_grad_by_freq=bool(scale_grad_by_freq))


def renorm_rows_(weight, ids, max_norm, norm_type=2.0):
    """Rescale, in place, the rows of ``weight`` named in ``ids`` whose norm exceeds ``max_norm``."""
    if not max_norm > 0:
        raise ValueError(f"embedding: max_norm must be positive, got {max_norm!r}")
    rows = np.unique(ids)
    norms = np.linalg.norm(weight[rows].astype(np.float64), ord=norm_type, axis=1)
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    weight[rows] *= scale[:, None].astype(weight.dtype)


def normalize_padding_idx(padding_idx, num_embeddings, where):
    """A padding index in [-num, num) as a non-negative int (PyTorch's rule)."""
    if not isinstance(padding_idx, (int, np.integer)) or isinstance(padding_idx, bool):
        raise TypeError(f"{where}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{where}: padding_idx {padding_idx} must be within num_embeddings={num_embeddings}")
    return int(padding_idx) % num_embeddings


# --------------------------------------------------------------------- dropout
class Dropout(Function):
    """y = x * keep * scale with a given boolean mask ``keep`` and scale 1/(1-p)."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        mask = np.multiply(keep, x.dtype.type(scale), dtype=x.dtype)   # 0 or 1/(1-p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        return g * mask, None


def check_p(p, where):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: dropout probability p must be a number in [0, 1], got {p!r}")
    if not 0 <= p <= 1:
        raise ValueError(f"{where}: dropout probability p must be a number in [0, 1], got {p!r}")
    return float(p)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) while
    ``training``; the identity otherwise (and for p=0). p=1 gives zeros."""
    p = check_p(p, "dropout")
    x = float_tensor(x, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return Dropout.apply(x, np.zeros(x.shape, dtype=bool), 0.0)
    keep = default_generator().random(x.shape, dtype=np.float32) >= np.float32(p)
    return Dropout.apply(x, keep, 1.0 / (1.0 - p))


def _dropout_with_mask(x, keep, p):
    """Dropout with a fixed mask (the registry's deterministic sample call)."""
    return Dropout.apply(x, keep, 1.0 / (1.0 - p))


# ------------------------------------------------------------------ layer norm
class LayerNorm(Function):
    """Layer normalisation over the trailing ``n_axes`` dims, through ``K.layer_norm``."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps, n_axes):
        D = math.prod(x.shape[x.ndim - n_axes:])
        x2 = x.reshape(-1, D)                                 # (..., *normalized_shape) -> (N, D)
        w = None if weight is None else weight.reshape(D)     # normalized_shape -> (D,)
        b = None if bias is None else bias.reshape(D)        # normalized_shape -> (D,)
        y, mean, rstd = K.layer_norm(x2, w, b, eps)
        ctx.save_for_backward(x2, w, mean, rstd)
        ctx.shapes = (x.shape, None if weight is None else weight.shape, None if bias is None else bias.shape)
        return y.reshape(x.shape)                             # (N, D) -> x.shape

    @staticmethod
    def backward(ctx, g):
        x2, w, mean, rstd = ctx.saved
        x_shape, w_shape, b_shape = ctx.shapes
        g2 = g.reshape(x2.shape)                              # x.shape -> (N, D)
        gx, gw, gb = K.layer_norm_backward(g2, x2, w, mean, rstd)
        if b_shape is not None and gb is None:                # bias without weight
            gb = g2.sum(axis=0)
        return (gx.reshape(x_shape),                                         # (N, D) -> x.shape
                None if w_shape is None else gw.reshape(w_shape),    # (D,) -> normalized_shape
                None if b_shape is None else gb.reshape(b_shape))


def normalize_shape(normalized_shape, where):
    """An int or a sequence of ints as a tuple of positive ints."""
    if isinstance(normalized_shape, (int, np.integer)):
        shape = (normalized_shape,)
    elif isinstance(normalized_shape, (tuple, list)):
        shape = tuple(normalized_shape)
    else:
        raise TypeError(f"{where}: normalized_shape must be an int or a tuple of ints, "
                        f"got {type(normalized_shape).__name__}")
    if not shape or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0 for n in shape):
        raise ValueError(f"{where}: normalized_shape must be a positive int or a non-empty tuple of "
                         f"positive ints, got {normalized_shape!r}")
    return tuple(int(n) for n in shape)


def check_normalized_input(x, shape, where):
    """``x`` as a float Tensor whose trailing dims equal ``shape`` (errors name ``where``)."""
    x = float_tensor(x, where)
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"{where}: input shape {x.shape} does not end with normalized_shape {shape} "
                         f"(expected (*, {', '.join(map(str, shape))}))")
    return x


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise ``x`` over its trailing dims equal to ``normalized_shape``, then
    scale by ``weight`` and shift by ``bias`` (each of shape normalized_shape or None)."""
    shape = normalize_shape(normalized_shape, "layer_norm")
    x = check_normalized_input(x, shape, "layer_norm")
    params = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            p = float_tensor(p, "layer_norm", name)
            if p.shape != shape:
                raise ValueError(f"layer_norm: {name} must have shape {shape}, got {p.shape}")
        params.append(p)
    return LayerNorm.apply(x, params[0], params[1], real_number(eps, "layer_norm", "eps"), len(shape))


# -------------------------------------------------------------------- registry
def _int_ids(r, shape, n):
    return r.integers(0, n, size=shape)


register(Linear, linear, lambda r: [
    Sample("2-d with bias", (rand(r, 3, 4), rand(r, 2, 4), rand(r, 2))),
    Sample("no bias", (rand(r, 3, 4), rand(r, 2, 4))),
    Sample("1-d input", (rand(r, 4), rand(r, 3, 4), rand(r, 3))),
    Sample("3-d input", (rand(r, 2, 3, 4), rand(r, 2, 4), rand(r, 2)))])

register(Embedding, embedding, lambda r: [
    Sample("repeated ids", (np.array([[0, 2, 2], [3, 0, 2]]), rand(r, 4, 3))),
    Sample("1-d ids", (np.array([1, 1, 0]), rand(r, 3, 2))),
    Sample("padding row unused", (_int_ids(r, (2, 2), 3), rand(r, 4, 2)), {"padding_idx": 3})])

register(Dropout, _dropout_with_mask, lambda r: [
    Sample("p=0.5", (rand(r, 3, 4), r.random((3, 4)) >= 0.5, 0.5)),
    Sample("p=0.2 3-d", (rand(r, 2, 2, 3), r.random((2, 2, 3)) >= 0.2, 0.2))])

register(LayerNorm, layer_norm, lambda r: [
    Sample("affine", (rand(r, 3, 4), 4, rand(r, 4), rand(r, 4))),
    Sample("no affine", (rand(r, 2, 5), (5,))),
    Sample("tuple shape", (rand(r, 2, 2, 3), (2, 3), rand(r, 2, 3), rand(r, 2, 3))),
    Sample("weight only", (rand(r, 3, 4), 4, rand(r, 4))),
    Sample("bias only", (rand(r, 3, 4), 4, None, rand(r, 4)))])
