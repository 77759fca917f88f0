"""Gradient clipping, in place on ``.grad``, with PyTorch's formulas.

clip_grad_norm_: total = (sum_p ||g_p||^q)^(1/q) over every parameter's
gradient (q = norm_type, max |g| for inf), combined in float64 (for q = 2
each ||g_p||^2 is a BLAS dot in g's dtype, redone in float64 if it overflows); when
max_norm / (total + 1e-6) < 1 every gradient is multiplied by that factor.
clip_grad_value_: g = clip(g, -clip_value, clip_value).
"""
import math

import numpy as np

from ..tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm_type(norm_type):
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf
    return float(norm_type)


def _squared_norm(g):
    """||g||^2 as a Python float: one dot product in g's dtype (no float64 copy of
    every gradient), repeated in float64 when float32 overflows (|g| > ~1e19)."""
    flat = g.reshape(-1)                                       # (numel,)
    with np.errstate(over="ignore"):
        sq = float(np.dot(flat, flat))
    if not math.isfinite(sq) and np.isfinite(flat).all():
        wide = flat.astype(np.float64)
        sq = float(np.dot(wide, wide))
    return sq


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their total ``norm_type``-norm is at
    most ``max_norm``; returns the total norm (before clipping) as a float."""
    grads = _grads(parameters)
    q = _norm_type(norm_type)
    if not grads:
        return 0.0
    if q == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif q == 2.0:
        total = math.sqrt(math.fsum(_squared_norm(g) for g in grads))
    else:
        norms = [np.linalg.norm(g.reshape(-1).astype(np.float64), ord=q) for g in grads]   # flat (numel,)
        total = float(np.linalg.norm(np.array(norms), ord=q))
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                         f"{total}; set error_if_nonfinite=False to clip anyway")
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    c = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -c, c, out=g)
