"""Scaled dot-product attention: the fused op and the composed one.

For queries q (..., L, E), keys k (..., S, E) and values v (..., S, Ev)::

    s_ij  = scale * q_i . k_j + m_ij          (scale defaults to 1/sqrt(E))
    p_ij  = exp(s_ij) / sum_j' exp(s_ij')      (softmax over the keys j)
    out_i = sum_j p_ij v_j                     (..., L, Ev)

The mask m follows ``torch.nn.functional.scaled_dot_product_attention``: a
boolean ``attn_mask`` is True where attention is *allowed* (False gives
m_ij = -inf), a float mask is added to the scores, ``is_causal`` forbids
j > i (top-left aligned, ``tril(ones(L, S))``, as PyTorch). A mask must
broadcast to (..., L, S). ``is_causal`` together with ``attn_mask`` applies
both (PyTorch refuses the combination).

Fully masked rows (every m_ij = -inf): PyTorch returns NaN there; scratchnet
returns out_i = 0 and passes zero gradient through the row, in both paths.

Two implementations that agree (tests/nn/test_attention.py, to 1e-10 in float64):

* ``ScaledDotProductAttention``: one ``Function`` over the fused kernels
  ``K.attention`` / ``K.attention_backward`` (the probabilities are never
  stored; backward recomputes them from the saved log-sum-exp).
* ``attention_composed``: matmul, mask, softmax, (dropout), matmul, built from
  the autograd primitives; the version to read, and the one that can return
  the weights, apply dropout to them and differentiate a float mask.

Backward of the fused op (``dout`` the upstream gradient)::

    dv = p^T dout,   dp_ij = dout_i . v_j,   ds = p * (dp - rowsum(dout * out))
    dq = scale * ds k,   dk = scale * ds^T q

``packed_self_attention(qkv, num_heads, is_causal, scale)`` (``PackedSelfAttention``)
is a scratchnet extension; PyTorch has no such function. It takes the packed
projection of multi-head self-attention, qkv (B, T, 3C) = [q | k | v] along the
last axis with C = nh * hs, and fuses what a GPT block writes around the
attention into one autograd node::

    q, k, v = qkv.split(3, axis=2)                       3 x (B, T, C)
    q = q.reshape(B, T, nh, hs).swapaxes(1, 2)           (B, nh, T, hs), same for k, v
    y = scaled_dot_product_attention(q, k, v, is_causal=is_causal, scale=scale)
    y = y.swapaxes(1, 2).reshape(B, T, C)                (B, nh, T, hs) -> (B, T, C)

Same math, same values (``K.packed_attention``); but the kernel reads each
head straight from qkv and writes it merged into the (B, T, C) output, and
backward writes dq, dk, dv straight into one (B, T, 3C) gradient, instead of
the split, the three reshapes and transposes and their backward copies and
concatenation (Python and memory-traffic overhead that dominates a small
model's training step).
"""
import math

import numpy as np

from .. import kernels as K
from ..autograd.function import Function
from ..dtypes import is_int
from ..tensor import Tensor
from .layers import dropout
from .linalg import matmul
from .nn_ops import softmax
from .shape import broadcast_to
from .registry import Sample, register, rand
from ._util import as_tensor, broadcasts_to, float_tensor, real_number


class ScaledDotProductAttention(Function):
    """Fused attention on (B, H, L, E) arrays through ``K.attention`` (see module docstring).

    ``mask``: None, or a bool/float array broadcastable to (B, H, L, S) with its
    first two dims 1 or full (a constant: it gets no gradient).
    """

    @staticmethod
    def forward(ctx, q, k, v, mask=None, is_causal=False, scale=None):
        # head-split inputs arrive as transposed views: copy them once, here, so that
        # neither the kernel nor its backward (which gets the saved copies) copies again
        q, k, v = (np.ascontiguousarray(t) for t in (q, k, v))
        out, lse = K.attention(q, k, v, mask, is_causal, scale)
        ctx.save_for_backward(q, k, v, out, lse)              # not the probabilities: backward
        ctx.options = (mask, is_causal, scale)                # recomputes them from lse
        return out                                            # (B, H, L, Ev)

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse = ctx.saved
        mask, is_causal, scale = ctx.options
        return K.attention_backward(q, k, v, mask, is_causal, scale, out, lse, g)


class PackedSelfAttention(Function):
    """Multi-head self-attention from the packed projection qkv (B, T, 3C) to the
    merged heads (B, T, C), C = nh * hs (see module docstring):

        out[b, t, h*hs:(h+1)*hs] = attention(q_bh, k_bh, v_bh)[t]
        q_bh = qkv[b, :, h*hs:(h+1)*hs],  k_bh = qkv[b, :, C + h*hs: ...],  v_bh = qkv[b, :, 2C + h*hs: ...]

    Backward is attention's (module docstring), with dq, dk, dv written back
    into the packed layout: d qkv = [dq | dk | dv] (B, T, 3C), heads at the
    same columns.
    """

    @staticmethod
    def forward(ctx, qkv, num_heads=1, is_causal=False, scale=None):
        # the kernels read the heads in place (strided views) and write them merged
        out, lse = K.packed_attention(qkv, num_heads, is_causal, scale)   # (B, T, C), (B, nh, T)
        ctx.save_for_backward(qkv, out, lse)
        ctx.options = (num_heads, is_causal, scale)
        return out

    @staticmethod
    def backward(ctx, g):
        qkv, out, lse = ctx.saved
        num_heads, is_causal, scale = ctx.options
        return K.packed_attention_backward(qkv, num_heads, is_causal, scale, out, lse, g)   # (B, T, 3C)


# ------------------------------------------------------------------ helpers
def _check_qkv(q, k, v, where):
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t.dtype.kind != "f":
            raise TypeError(f"{where}: {name} must be a floating-point tensor, got dtype {t.dtype}")
        if t.ndim < 2:
            raise ValueError(f"{where}: {name} must have shape (..., L, E) with at least 2 dims, got {t.shape}")
    try:
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"{where}: the leading (batch) dims of query {q.shape}, key {k.shape} and "
                         f"value {v.shape} do not broadcast together") from None
    if k.shape[-1] != q.shape[-1] or v.shape[-2] != k.shape[-2]:
        raise ValueError(f"{where}: expected query (..., L, E), key (..., S, E), value (..., S, Ev); "
                         f"got query {q.shape}, key {k.shape}, value {v.shape}")
    return lead


def _broadcast_batch(t, lead):
    """t (..., X, Y) broadcast to (*lead, X, Y) (a view; its gradient is summed back)."""
    return t if t.shape[:-2] == lead else broadcast_to(t, lead + t.shape[-2:])


def _check_mask(attn_mask, target, where):
    """``attn_mask`` (Tensor/array/None) checked against ``target`` = (..., L, S)."""
    if attn_mask is None:
        return None
    m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype != np.bool_ and m.dtype.kind != "f":
        raise TypeError(f"{where}: attn_mask must be boolean or float, got dtype {m.dtype}")
    if not broadcasts_to(m.shape, target):
        raise ValueError(f"{where}: attn_mask of shape {m.shape} does not broadcast to the "
                         f"attention scores' shape (..., L, S) = {tuple(target)}")
    return attn_mask


def _scale(scale, E, where="scaled_dot_product_attention"):
    if scale is None and E == 0:
        raise ValueError(f"{where}: q and k have embedding size E = 0, so the "
                         "default scale 1/sqrt(E) is undefined; pass scale= or use E >= 1")
    return 1.0 / math.sqrt(E) if scale is None else real_number(scale, where, "scale")


def _as_4d(x):
    """(..., L, E) -> (B, H, L, E) view: (L, E) -> (1, 1, L, E), (N, L, E) -> (1, N, L, E),
    (d0, ..., dk, L, E) -> (d0*...*d(k-1), dk, L, E)."""
    lead = x.shape[:-2]
    if len(lead) <= 1:
        return x.reshape((1,) * (2 - len(lead)) + x.shape)   # (L, E) | (N, L, E) -> (1, ., L, E)
    B = int(np.prod(lead[:-1]))                              # explicit: -1 is ambiguous for size 0
    return x.reshape((B, lead[-1]) + x.shape[-2:])           # (..., N, L, E) -> (B, N, L, E)


def _mask_4d(m, lead):
    """A mask broadcastable to (*lead, L, S) as an array the kernel takes: (Bm, Hm, Lm, Sm)
    with Bm in {1, B} and Hm in {1, H} for the (B, H) that ``_as_4d`` makes of ``lead``."""
    m = m.reshape((1,) * (len(lead) + 2 - m.ndim) + m.shape)  # (1.., Lm, Sm) padded to len(lead)+2 dims
    mlead = m.shape[:-2]
    if len(lead) <= 2:
        return m                                             # at most 4-D already, kernel pads to 4-D
    if all(d == 1 for d in mlead):
        return m.reshape(m.shape[-2:])                       # (1, ..., 1, Lm, Sm) -> (Lm, Sm)
    full = np.broadcast_to(m, lead + m.shape[-2:])           # (*lead, Lm, Sm)
    return full.reshape((-1, lead[-1]) + m.shape[-2:])       # -> (B, H, Lm, Sm)


# ------------------------------------------------------------ composed path
def _array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _constant_mask(attn_mask, is_causal, L, S, dtype):
    """The constant additive part of m: 0 / -inf from causality and a boolean mask, or None."""
    add = None
    if is_causal:
        add = np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf).astype(dtype)  # (L, S)
    if attn_mask is not None and _array(attn_mask).dtype == np.bool_:
        b = np.where(_array(attn_mask), 0.0, -np.inf).astype(dtype)   # True = attend -> 0
        add = b if add is None else add + b
    return add


def attention_composed(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """Attention from primitives; returns ``(out (..., L, Ev), weights (..., L, S))``.

        scores  = scale * q @ k^T + m            (..., L, S)
        weights = softmax(scores) (then dropout)
        out     = weights @ v

    The weights are the probabilities after dropout (what
    ``MultiheadAttention`` returns). A float ``attn_mask`` may be a Tensor that
    requires grad (it receives dL/ds). A fully masked row has its scores
    replaced by 0 before the softmax (no NaN) and its weights zeroed after.
    """
    q, k, v = (as_tensor(t, where="attention_composed") for t in (q, k, v))
    lead = _check_qkv(q, k, v, "attention_composed")
    attn_mask = _check_mask(attn_mask, lead + (q.shape[-2], k.shape[-2]), "attention_composed")
    scores = matmul(q, k.swapaxes(-1, -2)) * _scale(scale, q.shape[-1])   # (..., L, E) @ (..., E, S)
    const = _constant_mask(attn_mask, is_causal, q.shape[-2], k.shape[-2], q.dtype)
    total = const
    if attn_mask is not None and _array(attn_mask).dtype != np.bool_:      # float mask: added
        scores = scores + as_tensor(attn_mask).astype(q.dtype)
        total = _array(attn_mask) if total is None else total + _array(attn_mask)
    if const is not None:
        scores = scores + Tensor._wrap(const)
    dead = None if total is None else np.isneginf(total).all(axis=-1, keepdims=True)  # (..., L, 1)
    if dead is not None and dead.any():
        dead = np.broadcast_to(dead, scores.shape[:-1] + (1,))
        scores = scores.masked_fill(dead, 0.0)              # a fully masked row stays finite ...
    weights = softmax(scores, axis=-1)                       # (..., L, S)
    if dead is not None and dead.any():
        weights = weights.masked_fill(dead, 0.0)             # ... and gets zero weights
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return matmul(weights, v), weights                       # (..., L, S) @ (..., S, Ev)


# ------------------------------------------------------------------ public
def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """PyTorch's ``F.scaled_dot_product_attention`` (see module docstring).

    q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev). Boolean mask:
    True = attend; float mask: added; broadcastable to (..., L, S).
    ``dropout_p > 0`` drops attention weights (always, like PyTorch: pass
    ``dropout_p=0`` in eval) and runs the composed path, as does a float mask
    that requires grad; everything else runs the fused kernel.
    """
    q, k, v = (as_tensor(t, where="scaled_dot_product_attention") for t in (q, k, v))
    lead = _check_qkv(q, k, v, "scaled_dot_product_attention")
    attn_mask = _check_mask(attn_mask, lead + (q.shape[-2], k.shape[-2]), "scaled_dot_product_attention")
    if not 0.0 <= real_number(dropout_p, "scaled_dot_product_attention", "dropout_p") <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p!r}")
    mask_grad = isinstance(attn_mask, Tensor) and attn_mask.requires_grad
    if dropout_p > 0.0 or mask_grad:
        return attention_composed(q, k, v, attn_mask, dropout_p, is_causal, scale)[0]
    mask = None
    if attn_mask is not None:
        mask = _mask_4d(_array(attn_mask), lead)
    dtype = np.result_type(q.dtype, k.dtype, v.dtype)
    q4, k4, v4 = (_as_4d(_broadcast_batch(t if t.dtype == dtype else t.astype(dtype), lead))
                  for t in (q, k, v))
    out = ScaledDotProductAttention.apply(q4, k4, v4, mask=mask, is_causal=bool(is_causal),
                                          scale=_scale(scale, q.shape[-1]))
    return out.reshape(lead + out.shape[-2:])                # (B, H, L, Ev) -> (..., L, Ev)


def packed_self_attention(qkv, num_heads, is_causal=False, scale=None):
    """Multi-head self-attention on a packed projection, one autograd op
    (a scratchnet extension, see module docstring).

    qkv (B, T, 3C) = [q | k | v] along the last axis, C = num_heads * hs, head h
    of q at columns h*hs:(h+1)*hs of the q block (what ``Linear(C, 3C)`` gives a
    GPT block) -> (B, T, C), the heads merged back in the same column order.
    Equals ``split(3, axis=2)``, ``reshape(B, T, nh, hs).swapaxes(1, 2)``,
    ``scaled_dot_product_attention(q, k, v, is_causal=is_causal, scale=scale)``,
    ``swapaxes(1, 2).reshape(B, T, C)``. scale defaults to 1/sqrt(hs); the dtype is kept.
    """
    where = "packed_self_attention"
    qkv = float_tensor(qkv, where, "qkv")
    if qkv.ndim != 3:
        raise ValueError(f"{where}: qkv must have shape (B, T, 3C) (3 dims), got shape {qkv.shape}")
    if not is_int(num_heads):
        raise TypeError(f"{where}: num_heads must be an int, got {type(num_heads).__name__} {num_heads!r}")
    if num_heads < 1:
        raise ValueError(f"{where}: num_heads must be >= 1, got {num_heads}")
    num_heads = int(num_heads)
    if qkv.shape[-1] % (3 * num_heads):
        raise ValueError(f"{where}: the last dim of qkv {qkv.shape} must be 3 * C with C a multiple "
                         f"of num_heads = {num_heads}, i.e. divisible by {3 * num_heads}")
    scale = _scale(scale, qkv.shape[-1] // (3 * num_heads), where)
    return PackedSelfAttention.apply(qkv, num_heads=num_heads, is_causal=bool(is_causal), scale=scale)


# ---------------------------------------------------------------- registry
def _sdpa_samples(r):
    q, k, v = rand(r, 1, 2, 3, 4), rand(r, 1, 2, 5, 4), rand(r, 1, 2, 5, 3)
    bool_mask = r.random((3, 5)) > 0.4
    bool_mask[:, 0] = True                                   # every row keeps a key
    dead = np.ones((3, 5), dtype=bool)
    dead[1] = False                                          # row 1 fully masked
    add = r.uniform(-1.0, 1.0, size=(2, 1, 5))
    return [
        Sample("plain", (q, k, v)),
        Sample("causal", (rand(r, 1, 2, 4, 3), rand(r, 1, 2, 4, 3), rand(r, 1, 2, 4, 3)),
               {"is_causal": True}),
        Sample("bool mask", (q, k, v), {"attn_mask": bool_mask}),
        Sample("additive mask", (q, k, v), {"attn_mask": add}),
        Sample("fully masked row", (q, k, v), {"attn_mask": dead}),
        Sample("3-d, scale", (rand(r, 2, 3, 4), rand(r, 2, 2, 4), rand(r, 2, 2, 2)), {"scale": 0.7}),
        Sample("broadcast batch", (rand(r, 2, 1, 3, 4), rand(r, 1, 2, 5, 4), rand(r, 2, 2, 5, 3))),
        Sample("5-d", (rand(r, 2, 1, 2, 2, 3), rand(r, 2, 1, 2, 3, 3), rand(r, 2, 1, 2, 3, 3)),
               {"attn_mask": r.random((2, 1, 1, 2, 3)) > 0.3}),
    ]


register(ScaledDotProductAttention, scaled_dot_product_attention, _sdpa_samples)


def _packed_samples(r):
    return [
        Sample("plain", (rand(r, 2, 4, 18),), {"num_heads": 2}),            # nh 2, hs 3
        Sample("causal", (rand(r, 2, 5, 18),), {"num_heads": 3, "is_causal": True}),   # nh 3, hs 2
        Sample("causal, scale", (rand(r, 1, 4, 12),), {"num_heads": 2, "is_causal": True, "scale": 0.7}),
        Sample("T=1", (rand(r, 2, 1, 12),), {"num_heads": 2, "is_causal": True}),
        Sample("hs=1, nh=3", (rand(r, 2, 4, 9),), {"num_heads": 3, "is_causal": True}),
        Sample("nh=1, B=1", (rand(r, 1, 3, 6),), {"num_heads": 1}),
    ]


register(PackedSelfAttention, packed_self_attention, _packed_samples)
