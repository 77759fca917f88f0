"""Plain NumPy kernels: the readable ground truth.

Every function here has a Numba twin with the same signature in
``numba_cpu.py``; the dispatcher in ``__init__.py`` validates the inputs and
picks one of the two.  These versions favour clarity over speed: whole-array
NumPy expressions that read like the equations in the docstrings.

Conventions shared by all kernels:

* NumPy arrays in, NumPy arrays out; inputs are never modified.
* The dtype is preserved: float32 in gives float32 out (NumPy 2 rules keep
  Python scalars from promoting), float64 in gives float64 out.
* Reductions run over the last axis unless stated otherwise.
"""
import math

import numpy as np

__all__ = [
    "matmul", "matmul_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy",
    "attention", "attention_backward",
    "layer_norm", "layer_norm_backward",
    "gelu", "gelu_backward",
]


# ----------------------------------------------------------------------------
# matmul
# ----------------------------------------------------------------------------
def matmul(a, b, bias=None):
    """out = a @ b (+ bias).

    a (..., M, K), b (..., K, N), batch dims broadcast; bias (N,) is added to
    every row of the result.
    """
    out = np.matmul(a, b)
    if bias is not None:
        out += bias
    return out


def gemm(a, b, trans_a=False, trans_b=False):
    """out = op(a) @ op(b), op(x) = x or x^T: one 2-D product whose operands
    may be stored transposed (a (K, M) with trans_a, b (N, K) with trans_b),
    as the linear layer needs: y = x W^T, dx = g W, dW = g^T x."""
    return np.matmul(a.T if trans_a else a, b.T if trans_b else b)


def linear_grads(g, w, x, need_x=True, need_w=True, product=gemm):
    """The two gradient products of y = x W^T for g = dL/dy (N, out), w (out,
    in), x (N, in): (dx = g W (N, in), dW = g^T x (out, in)); None for a
    gradient not needed.  ``product``: the gemm to use (the Numba backend's
    when it does not pair them)."""
    return (product(g, w) if need_x else None), (product(g, x, trans_a=True) if need_w else None)


def matmul_backward(a, b, grad_out, need_a=True, need_b=True, has_bias=False, product=np.matmul):
    """Gradients of out = a @ b + bias.

    grad_a = grad_out @ b^T      shape (*batch, M, K)
    grad_b = a^T @ grad_out      shape (*batch, K, N)
    grad_bias = sum of grad_out over every axis but the last, shape (N,)

    The batch gradients are *not* summed back to the input's shape: the caller
    unbroadcasts.  ``product(x, y)``: the batched x @ y to use (the Numba
    backend passes its thread-pool version).
    """
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    grad_a = grad_b = grad_bias = None
    if need_a:
        grad_a = product(grad_out, np.swapaxes(b, -1, -2))
        grad_a = np.broadcast_to(grad_a, batch + a.shape[-2:]).copy() \
            if grad_a.shape != batch + a.shape[-2:] else grad_a
    if need_b:
        grad_b = product(np.swapaxes(a, -1, -2), grad_out)
        grad_b = np.broadcast_to(grad_b, batch + b.shape[-2:]).copy() \
            if grad_b.shape != batch + b.shape[-2:] else grad_b
    if has_bias:
        grad_bias = grad_out.reshape(-1, grad_out.shape[-1]).sum(axis=0)
    return grad_a, grad_b, grad_bias


# ----------------------------------------------------------------------------
# softmax / log_softmax (last axis)
# ----------------------------------------------------------------------------
def softmax(x):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m),  m = max_j x_j (stability)."""
    if x.shape[-1] == 0:
        return x.copy()
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y, grad_y):
    """dx = y * (dy - sum_j dy_j y_j)   (Jacobian-vector product of softmax)."""
    return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))


def log_softmax(x):
    """y_i = x_i - m - log(sum_j exp(x_j - m)),  m = max_j x_j."""
    if x.shape[-1] == 0:
        return x.copy()
    m = x.max(axis=-1, keepdims=True)
    shifted = x - m
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(y, grad_y):
    """dx = dy - exp(y) * sum_j dy_j   (y is the log-softmax output)."""
    return grad_y - np.exp(y) * grad_y.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------
# cross-entropy fused with log-softmax
# ----------------------------------------------------------------------------
def cross_entropy(logits, target, weight=None, ignore_index=-100,
                  label_smoothing=0.0, reduction="mean"):
    """PyTorch's F.cross_entropy for class-index targets; returns (loss, grad).

    With logp = log_softmax(logits), w = weight (all ones if None),
    eps = label_smoothing and C classes, for each row i (both terms are 0
    where target[i] == ignore_index):

        nll_i    = -w[y_i] * logp[i, y_i]
        smooth_i = -sum_c w[c] * logp[i, c]
        loss_i   = (1 - eps) * nll_i + eps / C * smooth_i

    reduction 'none' returns loss_i, 'sum' their sum, and 'mean'

        (1 - eps) * sum(nll) / W_t + eps / C * sum(smooth) / W_s

    with W_t = W_s = sum of w[y_i] over the non-ignored rows (the number of
    non-ignored rows when weight is None).  Checked against torch 2.13:
    F.cross_entropy divides the smoothing term by the non-ignored count, not
    by N, also when weight is None.  All rows ignored gives nan for 'mean'
    (0 / 0) with a zero gradient.  Without smoothing (eps = 0) the smooth
    term is left out entirely, so a -inf logit (a masked class) gives a
    finite loss as in PyTorch rather than 0 * inf = nan.

    grad is d(sum of the loss outputs)/d logits.  Since d logp[i, c]/d x[i, k]
    = [c == k] - p[i, k], with W = sum_c w[c]:

        d nll_i / dx_i    = w[y_i] * (p_i - onehot(y_i))
        d smooth_i / dx_i = W * p_i - w
    """
    N, C = logits.shape
    dtype = logits.dtype
    w = np.ones(C, dtype=dtype) if weight is None else weight.astype(dtype, copy=False)
    eps = float(label_smoothing)

    valid = target != ignore_index                     # (N,)
    safe_t = np.where(valid, target, 0)                # any in-range index
    logp = log_softmax(logits)                         # (N, C)
    p = np.exp(logp)
    w_t = np.where(valid, w[safe_t], 0).astype(dtype)  # (N,) w[y_i] or 0

    nll = -w_t * logp[np.arange(N), safe_t]            # (N,)
    smooth = np.where(valid, -(logp * w).sum(axis=1), 0).astype(dtype)

    onehot = np.zeros_like(logits)
    onehot[np.arange(N), safe_t] = 1
    g_nll = w_t[:, None] * (p - onehot)                            # (N, C)
    g_smooth = np.where(valid[:, None], w.sum() * p - w, 0).astype(dtype)

    if eps == 0:
        # no smoothing term at all: a -inf logit (a masked class) makes smooth_i
        # infinite, and 0 * inf would turn a finite loss into nan
        smooth = np.zeros_like(smooth)
    if reduction == "none":
        a, b = 1 - eps, eps / C
        loss = a * nll + b * smooth
    elif reduction == "sum":
        a, b = 1 - eps, eps / C
        loss = np.asarray(a * nll.sum() + b * smooth.sum(), dtype=dtype)
    elif reduction == "mean":
        w_sum = float(w_t.astype(np.float64).sum())
        s_den = w_sum                   # torch: the same denominator, weight or not
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = np.asarray((1 - eps) * (nll.sum() / dtype.type(w_sum))
                              + eps / C * (smooth.sum() / dtype.type(s_den)),
                              dtype=dtype)
        a = (1 - eps) / w_sum if w_sum != 0 else 0.0
        b = eps / C / s_den if s_den != 0 else 0.0
    else:
        raise ValueError(f"cross_entropy: unknown reduction {reduction!r}")
    grad = (a * g_nll + b * g_smooth).astype(dtype, copy=False)
    return loss.astype(dtype, copy=False), grad


# ----------------------------------------------------------------------------
# scaled dot-product attention
# ----------------------------------------------------------------------------
def _scores(q, k, mask, is_causal, scale):
    """s = scale * q k^T, masked: (B, H, L, S), -inf where attention is not allowed."""
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * q.dtype.type(scale)
    L, S = s.shape[-2:]
    if is_causal:
        allowed = np.tril(np.ones((L, S), dtype=bool))        # j <= i
        s = np.where(allowed, s, -np.inf).astype(q.dtype, copy=False)
    if mask is not None:
        if mask.dtype == np.bool_:
            s = np.where(mask, s, -np.inf).astype(q.dtype, copy=False)
        else:
            s = s + mask.astype(q.dtype, copy=False)
    return s


def attention(q, k, v, mask=None, is_causal=False, scale=None):
    """Scaled dot-product attention; returns (out, lse).

        s_ij = scale * q_i . k_j  (+ mask_ij; -inf where masked or j > i causal)
        lse_i = log sum_j exp(s_ij)
        p_ij = exp(s_ij - lse_i)
        out_i = sum_j p_ij v_j

    q (B, H, L, D), k (B, H, S, D), v (B, H, S, Dv); scale defaults to
    1/sqrt(D).  A fully masked row has lse = -inf and out = 0.
    """
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    s = _scores(q, k, mask, is_causal, scale)
    if s.shape[-1] == 0:
        m = np.full(s.shape[:-1] + (1,), -np.inf, dtype=q.dtype)
    else:
        m = s.max(axis=-1, keepdims=True)
    # only a fully masked row (m = -inf) is shifted by 0; m = +inf or NaN gives NaN, as in torch
    m_safe = np.where(np.isneginf(m), 0, m).astype(q.dtype, copy=False)
    e = np.exp(s - m_safe)
    total = e.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = (m_safe + np.log(total))[..., 0]                 # -inf if total == 0
    p = e / np.where(total == 0, 1, total).astype(q.dtype, copy=False)
    out = np.matmul(p, v)
    return out, lse.astype(q.dtype, copy=False)


def attention_backward(q, k, v, mask, is_causal, scale, out, lse, grad_out):
    """Gradients of attention, recomputing p from q, k and the saved lse.

        p_ij  = exp(s_ij - lse_i)           (0 for a fully masked row)
        dv    = p^T dout
        dp_ij = dout_i . v_j
        ds_ij = p_ij (dp_ij - sum_j' p_ij' dp_ij')  with sum_j' p dp = dout_i . out_i
        dq    = scale * ds k,     dk = scale * ds^T q
    """
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    s = _scores(q, k, mask, is_causal, scale)
    dead = np.isneginf(lse)[..., None]          # fully masked rows only: a NaN lse stays NaN
    lse_safe = np.where(dead, 0, lse[..., None]).astype(q.dtype, copy=False)
    p = np.where(dead, 0, np.exp(s - lse_safe)).astype(q.dtype, copy=False)
    grad_v = np.matmul(np.swapaxes(p, -1, -2), grad_out)
    dp = np.matmul(grad_out, np.swapaxes(v, -1, -2))
    delta = (grad_out * out).sum(axis=-1, keepdims=True)
    ds = p * (dp - delta)
    sc = q.dtype.type(scale)
    grad_q = np.matmul(ds, k) * sc
    grad_k = np.matmul(np.swapaxes(ds, -1, -2), q) * sc
    return grad_q, grad_k, grad_v


# ----------------------------------------------------------------------------
# elementwise sum (residual connections, gradients meeting in the graph)
# ----------------------------------------------------------------------------
def add(a, b):
    """a + b for two float arrays of one shape and dtype."""
    return a + b


# ----------------------------------------------------------------------------
# scatter-add of rows (the embedding's weight gradient)
# ----------------------------------------------------------------------------
def scatter_rows(ids, rows, num_rows):
    """out (num_rows, dim) = 0, then out[ids[i]] += rows[i] for every i.

    Equivalent to ``np.add.at(out, ids, rows)``, which is slow: sort the ids
    (stably, so each row's terms keep their order), then add every run of equal
    ids with one ``np.add.reduceat``. About 5x faster for a batch of 768 ids.
    """
    out = np.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
    if ids.size == 0:
        return out
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])   # first of each run
    out[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out


# ----------------------------------------------------------------------------
# packed self-attention: the heads of a (B, T, 3C) projection
# ----------------------------------------------------------------------------
def packed_heads(qkv, num_heads):
    """The heads of a packed projection qkv (B, T, 3C), C = nh * hs, laid out
    [q | k | v] with head h at columns h*hs:(h+1)*hs of each block, as three
    (B, nh, T, hs) views (no copy)."""
    B, T, C3 = qkv.shape
    x = qkv.reshape(B, T, 3, num_heads, C3 // (3 * num_heads))   # (B, T, 3C) -> (B, T, 3, nh, hs)
    return tuple(x.transpose(2, 0, 3, 1, 4))                     # -> 3 x (B, nh, T, hs)


def split_heads(x, num_heads):
    """x (B, T, C) as a (B, nh, T, hs) view."""
    B, T, C = x.shape
    return x.reshape(B, T, num_heads, C // num_heads).transpose(0, 2, 1, 3)   # (B, T, C) -> (B, nh, T, hs)


def merge_heads(x):
    """x (B, nh, T, hs) -> a new contiguous (B, T, nh * hs)."""
    B, nh, T, hs = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3)).reshape(B, T, nh * hs)   # -> (B, T, nh, hs) -> (B, T, C)


def pack_heads(q, k, v):
    """Three (B, nh, T, hs) arrays -> a new (B, T, 3C) in the packed layout."""
    B, nh, T, hs = q.shape
    out = np.empty((B, T, 3 * nh * hs), dtype=q.dtype)
    for slot, x in zip(packed_heads(out, nh), (q, k, v)):
        slot[...] = x
    return out


def packed_attention(qkv, num_heads, is_causal=False, scale=None, attend=None):
    """Causal (or full) self-attention of every head of a packed projection:
    qkv (B, T, 3C) -> (out (B, T, C) with the heads merged, lse (B, nh, T)),
    i.e. attention() on packed_heads(qkv), merged back.  ``attend``: the
    attention kernel to use (default: this module's)."""
    q, k, v = (np.ascontiguousarray(t) for t in packed_heads(qkv, num_heads))
    out, lse = (attend or attention)(q, k, v, None, is_causal, scale)
    return merge_heads(out), lse


def packed_attention_backward(qkv, num_heads, is_causal, scale, out, lse, grad_out, attend_backward=None):
    """d qkv (B, T, 3C) = [dq | dk | dv] in the packed layout, from
    attention_backward (or ``attend_backward``) on the heads; out, grad_out (B, T, C)."""
    c = np.ascontiguousarray
    q, k, v = (c(t) for t in packed_heads(qkv, num_heads))
    grads = (attend_backward or attention_backward)(q, k, v, None, is_causal, scale,
                                                    c(split_heads(out, num_heads)), lse,
                                                    c(split_heads(grad_out, num_heads)))
    return pack_heads(*grads)


# ----------------------------------------------------------------------------
# layer norm over the last axis of (N, D)
# ----------------------------------------------------------------------------
def layer_norm(x, weight, bias, eps):
    """y = (x - mean) * rstd * weight + bias,  rstd = 1 / sqrt(var + eps).

    mean and the (biased) var are taken over the last axis; returns
    (y, mean, rstd) with mean and rstd of shape (N,).
    """
    mean = x.mean(axis=-1)
    xc = x - mean[:, None]
    var = (xc * xc).mean(axis=-1)
    rstd = 1 / np.sqrt(var + x.dtype.type(eps))
    y = xc * rstd[:, None]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y, mean, rstd


def layer_norm_backward(grad_y, x, weight, mean, rstd):
    """With xhat = (x - mean) * rstd and g = grad_y * weight:

        grad_x      = rstd * (g - mean(g) - xhat * mean(g * xhat))
        grad_weight = sum over rows of grad_y * xhat
        grad_bias   = sum over rows of grad_y
    (grad_weight and grad_bias are None when weight is None.)
    """
    xhat = (x - mean[:, None]) * rstd[:, None]
    g = grad_y * weight if weight is not None else grad_y
    grad_x = rstd[:, None] * (g - g.mean(axis=-1, keepdims=True)
                              - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    if weight is None:
        return grad_x, None, None
    return grad_x, (grad_y * xhat).sum(axis=0), grad_y.sum(axis=0)


# ----------------------------------------------------------------------------
# GELU
# ----------------------------------------------------------------------------
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _erf(x):
    from scipy.special import erf  # deferred: keeps `import scratchnet` fast
    return erf(x)


def gelu(x, approximate="none"):
    """'none': y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));
    'tanh': y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1 + t)
    return 0.5 * x * (1 + _erf(x * _INV_SQRT_2))


def gelu_backward(x, grad_y, approximate="none", y=None):
    """'none': dx = dy * (Phi(x) + x * phi(x)),  phi(x) = exp(-x^2/2) / sqrt(2 pi);
    'tanh': with u = sqrt(2/pi) (x + 0.044715 x^3), t = tanh(u):
            dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)).
    ``y``, the forward output, lets a kernel read Phi(x) = y / x instead of
    recomputing erf; the reference ignores it and evaluates erf (ground truth)."""
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
        d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return grad_y * d
    cdf = 0.5 * (1 + _erf(x * _INV_SQRT_2))
    pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return grad_y * (cdf + x * pdf)


# ----------------------------------------------------------------------------
# Adam / AdamW update (in place)
# ----------------------------------------------------------------------------
def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, step,
                weight_decay=0.0, decoupled=False):
    """One Adam step, in place on ``param``, ``exp_avg`` (m), ``exp_avg_sq`` (v)
    and, for AMSGrad, ``max_exp_avg_sq`` (None otherwise); PyTorch's order:

        g <- g + wd p              (Adam's L2; AdamW instead: p <- p (1 - lr wd))
        m <- lerp(m, g, 1 - beta1)
        v <- beta2 v + (1 - beta2) g^2        (AMSGrad: v^ = max(v^, v), used below)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    lerp_(exp_avg, grad, 1 - beta1)
    scratch = np.multiply(grad, grad)
    scratch *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += scratch
    v = exp_avg_sq if max_exp_avg_sq is None else np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    step_size = lr / (1 - beta1 ** step)
    denom = np.sqrt(v, out=scratch)
    denom /= (1 - beta2 ** step) ** 0.5
    denom += eps
    update = np.divide(exp_avg, denom, out=scratch)          # m / denom
    update *= step_size
    param -= update


def lerp_(start, end, weight):
    """start += weight * (end - start), in place, with PyTorch's two-sided formula."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
    return start
