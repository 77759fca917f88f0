"""Numba kernels: the same signatures as ``reference.py``, compiled on first use.

This module imports Numba at the top, so the dispatcher (``__init__.py``)
imports it only on the first call that needs it: ``import scratchnet`` never
pays for Numba.  Each ``@njit`` function compiles lazily on its first call
for the dtype it sees (float32 or float64, C-contiguous arrays only: the
dispatcher guarantees both) and is cached on disk (``cache=True``).

Rules the kernels follow:

* The public functions at the bottom take the arrays the dispatcher has
  already validated and made contiguous; they allocate the outputs and call
  the ``_``-prefixed compiled loops, which write into them.
* float32 stays float32: constants are cast to the input's dtype with
  ``_as(value, array)`` so that a Python float never promotes the arithmetic.
* Deterministic: ``prange`` runs only over independent rows or (batch, head)
  pairs; every reduction has a fixed order within one row.  Cross-row sums
  (layer-norm weight gradients) use a fixed chunking that does not depend on
  the number of threads.
* ``fastmath`` is limited to flags that keep NaN and inf semantics
  (no ``nnan``/``ninf``): ``reassoc`` lets LLVM vectorise the row sums.
* ``exp`` is a branch-free, vectorisable version (``_vexp``) so that the
  softmax-style loops run in SIMD; NumPy's own ``exp`` is SIMD too, and a
  scalar libm call would lose to it.
"""
import contextlib
import math

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

_FM = {"nsz", "contract", "reassoc"}          # no nnan / ninf / afn
_JIT = dict(cache=True, error_model="numpy", fastmath=_FM)
_PJIT = dict(_JIT, parallel=True)


# ----------------------------------------------------------------------------
# helpers: dtype-preserving constants and a vectorisable exp
# ----------------------------------------------------------------------------
def _as(value, like):
    """``value`` cast to the dtype of the array ``like`` (compiled via overload)."""
    raise NotImplementedError


@overload(_as)
def _ol_as(value, like):
    if like.dtype == types.float32:
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)


@intrinsic
def _i32_as_f32(typingctx, x):
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


@intrinsic
def _i64_as_f64(typingctx, x):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@njit(**_JIT)
def _exp_f32(x):
    """exp(x) for float32 by range reduction x = n ln2 + r, |r| <= ln2/2,
    exp(r) by the Cephes expf polynomial (about 1 ulp) and 2^n from its bits.
    Branch-free (selects only), so loops calling it vectorise.  NaN -> NaN,
    -inf -> 0, results below ~1e-38 flush to 0, above FLT_MAX -> inf."""
    xc = x
    if xc < np.float32(-87.3):
        xc = np.float32(-87.3)
    if xc > np.float32(88.72283):
        xc = np.float32(88.72283)
    nf = math.floor(xc * np.float32(1.44269504088896341) + np.float32(0.5))
    if nf != nf:                       # NaN: keep the int conversion defined
        nf = np.float32(0.0)
    r = xc - nf * np.float32(0.693359375) - nf * np.float32(-2.12194440e-4)
    p = (((((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)) * r
            + np.float32(8.3334519073e-3)) * r + np.float32(4.1665795894e-2)) * r
          + np.float32(1.6666665459e-1)) * r + np.float32(5.0000001201e-1)) * (r * r) \
        + r + np.float32(1.0)
    n = np.int32(nf)
    # 2^n as 2^(n-1) * 2 so that n = 128 (x up to 88.72) stays representable
    y = p * _i32_as_f32((n + np.int32(126)) << np.int32(23)) * np.float32(2.0)
    if x < np.float32(-87.3):
        y = np.float32(0.0)
    if x > np.float32(88.72283):
        y = np.float32(np.inf)
    return y


@njit(**_JIT)
def _exp_f64(x):
    """exp(x) for float64: same scheme as _exp_f32 with a degree-12 Taylor
    polynomial on |r| <= ln2/2 (error below 1e-16 relative)."""
    xc = x
    if xc < -708.0:
        xc = -708.0
    if xc > 709.78:
        xc = 709.78
    nf = math.floor(xc * 1.4426950408889634 + 0.5)
    if nf != nf:
        nf = 0.0
    r = xc - nf * 6.93145751953125e-1 - nf * 1.42860682030941723212e-6
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    n = np.int64(nf)
    y = p * _i64_as_f64((n + np.int64(1022)) << np.int64(52)) * 2.0
    if x < -708.0:
        y = 0.0
    if x > 709.782712893384:
        y = np.inf
    return y


def _vexp(x):
    """Vectorisable exp of a float32 or float64 scalar (compiled via overload)."""
    raise NotImplementedError


@overload(_vexp)
def _ol_vexp(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    return lambda x: _exp_f64(x)


# ----------------------------------------------------------------------------
# matmul: many small batched products
# ----------------------------------------------------------------------------
@njit(**_PJIT)
def _bmm(a, b, bias, has_bias, out):
    """out[t] = a[t] @ b[t] (+ bias) for every batch index t (in parallel).

    i-k-j loop order: the innermost loop runs along a row of b and of out,
    contiguous, so LLVM vectorises it; a (64, 32) @ (32, 64) product stays in L1.
    """
    T, M, K = a.shape
    N = b.shape[2]
    for t in prange(T):
        for i in range(M):
            for j in range(N):
                out[t, i, j] = bias[j] if has_bias else _as(0.0, out)
            for kk in range(K):
                aik = a[t, i, kk]
                for j in range(N):
                    out[t, i, j] += aik * b[t, kk, j]


# ----------------------------------------------------------------------------
# softmax / log_softmax over the last axis of (N, C)
# ----------------------------------------------------------------------------
@njit(**_PJIT)
def _softmax_rows(x, out, log):
    """Row-wise softmax (log=False) or log_softmax (log=True) of x (N, C)."""
    N, C = x.shape
    for i in prange(N):
        m = x[i, 0]
        for j in range(1, C):
            if x[i, j] > m:
                m = x[i, j]
        s = _as(0.0, x)
        if log:
            for j in range(C):
                s += _vexp(x[i, j] - m)
            c = m + np.log(s)
            for j in range(C):
                out[i, j] = x[i, j] - c
        else:
            for j in range(C):
                e = _vexp(x[i, j] - m)
                out[i, j] = e
                s += e
            inv = _as(1.0, x) / s
            for j in range(C):
                out[i, j] *= inv


@njit(**_PJIT)
def _softmax_bwd_rows(y, gy, out, log):
    """softmax:     gx = y * (gy - sum(gy * y))
    log_softmax: gx = gy - exp(y) * sum(gy)."""
    N, C = y.shape
    for i in prange(N):
        s = _as(0.0, y)
        if log:
            for j in range(C):
                s += gy[i, j]
            for j in range(C):
                out[i, j] = gy[i, j] - _vexp(y[i, j]) * s
        else:
            for j in range(C):
                s += gy[i, j] * y[i, j]
            for j in range(C):
                out[i, j] = y[i, j] * (gy[i, j] - s)


# ----------------------------------------------------------------------------
# cross-entropy fused with log-softmax
# ----------------------------------------------------------------------------
@njit(**_PJIT)
def _cross_entropy_rows(x, target, w, w_total, ignore_index, a, b, nll, smooth, grad):
    """One pass per row i (rows in parallel), y = target[i], lse = log sum exp x_i:

        nll_i    = w[y] * (lse - x[i, y])
        smooth_i = sum_c w[c] * (lse - x[i, c]) = W * lse - sum_c w[c] x[i, c]
        grad_i   = a * w[y] * (p_i - onehot(y)) + b * (W * p_i - w)

    with p_i = exp(x_i - lse), W = w_total, and a, b the reduction's scale
    factors ((1 - eps) and eps / C, divided by the 'mean' denominators).
    Ignored rows get 0 everywhere.  The exp values are stored in grad on the
    way and rescaled in place, so the row is read three times, exp'd once.
    """
    N, C = x.shape
    a_ = _as(a, x)
    b_ = _as(b, x)
    W = _as(w_total, x)
    for i in prange(N):
        y = target[i]
        if y == ignore_index:
            for c in range(C):
                grad[i, c] = _as(0.0, x)
            nll[i] = 0.0
            smooth[i] = 0.0
            continue
        m = x[i, 0]
        for c in range(1, C):
            if x[i, c] > m:
                m = x[i, c]
        s = _as(0.0, x)
        wx = _as(0.0, x)                    # sum_c w[c] * (x[i, c] - m)
        for c in range(C):
            d = x[i, c] - m
            e = _vexp(d)
            grad[i, c] = e
            s += e
            wx += w[c] * d
        log_s = np.log(s)                   # lse - m
        wy = w[y]
        coef = (a_ * wy + b_ * W) / s
        for c in range(C):
            grad[i, c] = grad[i, c] * coef - b_ * w[c]
        grad[i, y] -= a_ * wy
        nll[i] = wy * (log_s - (x[i, y] - m))
        smooth[i] = W * log_s - wx


# ----------------------------------------------------------------------------
# scaled dot-product attention.  The (L, D) x (D, S) products run in NumPy's
# batched matmul (BLAS) outside the compiled code: calling BLAS from inside a
# prange region oversubscribes the cores (OpenBLAS warns "Detect OpenMP Loop
# and this application may hang").  The compiled kernels do everything
# between the products, in place, one (batch, head) pair per prange iteration.
# ----------------------------------------------------------------------------
@njit(**_PJIT)
def _attention_probs(s, mask, has_mask, causal, scale, lse):
    """In place on the raw scores s = q k^T (B, H, L, S): for each row,
    s <- scale * s (+ mask, -inf for j > i if causal), lse = log sum exp s,
    s <- exp(s - lse) (the probabilities; 0 and lse = -inf for a fully
    masked row)."""
    B, H, L, S = s.shape
    Bm, Hm = mask.shape[0], mask.shape[1]
    sc = _as(scale, s)
    ninf = _as(-np.inf, s)
    for bh in prange(B * H):
        b = bh // H
        h = bh % H
        mb = b if Bm > 1 else 0
        mh = h if Hm > 1 else 0
        for i in range(L):
            m = ninf
            for j in range(S):
                sij = s[b, h, i, j] * sc
                if has_mask:
                    sij += mask[mb, mh, i, j]
                if causal and j > i:
                    sij = ninf
                s[b, h, i, j] = sij
                if sij > m:
                    m = sij
            if m == ninf:                          # fully masked row
                for j in range(S):
                    s[b, h, i, j] = _as(0.0, s)
                lse[b, h, i] = ninf
                continue
            total = _as(0.0, s)
            for j in range(S):
                e = _vexp(s[b, h, i, j] - m)
                s[b, h, i, j] = e
                total += e
            inv = _as(1.0, s) / total
            for j in range(S):
                s[b, h, i, j] *= inv
            lse[b, h, i] = m + np.log(total)


@njit(**_PJIT)
def _attention_grad_scores(s, dp, out, gout, lse, mask, has_mask, causal, scale):
    """In place, for each row i with p_ij = exp(scale s_ij + mask_ij - lse_i)
    recomputed from the raw scores s = q k^T and dp = gout v^T:
        s  <- p
        dp <- scale * p * (dp - delta_i),  delta_i = gout_i . out_i
    (both 0 for a fully masked row, lse_i = -inf)."""
    B, H, L, S = s.shape
    Dv = out.shape[3]
    Bm, Hm = mask.shape[0], mask.shape[1]
    sc = _as(scale, s)
    ninf = _as(-np.inf, s)
    for bh in prange(B * H):
        b = bh // H
        h = bh % H
        mb = b if Bm > 1 else 0
        mh = h if Hm > 1 else 0
        for i in range(L):
            li = lse[b, h, i]
            if li == ninf:                          # fully masked row: no gradient
                for j in range(S):
                    s[b, h, i, j] = _as(0.0, s)
                    dp[b, h, i, j] = _as(0.0, s)
                continue
            delta = _as(0.0, s)
            for d in range(Dv):
                delta += gout[b, h, i, d] * out[b, h, i, d]
            for j in range(S):
                sij = s[b, h, i, j] * sc
                if has_mask:
                    sij += mask[mb, mh, i, j]
                if causal and j > i:
                    sij = ninf
                pij = _vexp(sij - li)
                s[b, h, i, j] = pij
                dp[b, h, i, j] = pij * (dp[b, h, i, j] - delta) * sc


# ----------------------------------------------------------------------------
# layer norm over the last axis of (N, D)
# ----------------------------------------------------------------------------
@njit(**_PJIT)
def _layer_norm_fwd(x, w, b, has_w, has_b, eps, y, mean, rstd):
    """mean = sum x / D; var = sum (x - mean)^2 / D (two passes, float64 sums);
    y = (x - mean) * rstd * w + b with rstd = 1 / sqrt(var + eps)."""
    N, D = x.shape
    for i in prange(N):
        acc = 0.0
        for j in range(D):
            acc += x[i, j]
        mu = _as(acc / D, x)
        acc = 0.0
        for j in range(D):
            d = x[i, j] - mu
            acc += d * d
        r = _as(1.0 / math.sqrt(acc / D + eps), x)
        mean[i] = mu
        rstd[i] = r
        for j in range(D):
            v = (x[i, j] - mu) * r
            if has_w:
                v = v * w[j]
            if has_b:
                v = v + b[j]
            y[i, j] = v


_LN_CHUNK = 64      # rows per partial sum of grad_weight / grad_bias (fixed: deterministic)


@njit(**_PJIT)
def _layer_norm_bwd(gy, x, w, has_w, mean, rstd, gx, gw_part, gb_part):
    """xhat = (x - mean) rstd, g = gy * w:
    gx = rstd * (g - mean(g) - xhat * mean(g * xhat)) per row (parallel);
    partial sums of gy * xhat and gy over fixed chunks of _LN_CHUNK rows
    (parallel over chunks, summed in order by the caller)."""
    N, D = x.shape
    nchunks = gw_part.shape[0]
    for c in prange(nchunks):
        for j in range(D):
            gw_part[c, j] = _as(0.0, x)
            gb_part[c, j] = _as(0.0, x)
        stop = min(N, (c + 1) * _LN_CHUNK)
        for i in range(c * _LN_CHUNK, stop):
            mu = mean[i]
            r = rstd[i]
            sg = 0.0
            sgx = 0.0
            for j in range(D):
                xh = (x[i, j] - mu) * r
                g = gy[i, j] * w[j] if has_w else gy[i, j]
                sg += g
                sgx += g * xh
                gw_part[c, j] += gy[i, j] * xh
                gb_part[c, j] += gy[i, j]
            mg = _as(sg / D, x)
            mgx = _as(sgx / D, x)
            for j in range(D):
                xh = (x[i, j] - mu) * r
                g = gy[i, j] * w[j] if has_w else gy[i, j]
                gx[i, j] = r * (g - mg - xh * mgx)


# ----------------------------------------------------------------------------
# GELU (elementwise on a flat array, parallel over fixed-size chunks)
# ----------------------------------------------------------------------------
_GELU_CHUNK = 16384


@njit(**_PJIT)
def _gelu_fwd(x, tanh_approx, y):
    """'none': y = 0.5 x (1 + erf(x / sqrt 2)); 'tanh': 0.5 x (1 + tanh(u)),
    u = sqrt(2/pi) (x + 0.044715 x^3)."""
    n = x.shape[0]
    half = _as(0.5, x)
    one = _as(1.0, x)
    k0 = _as(math.sqrt(2.0 / math.pi), x)
    k1 = _as(0.044715, x)
    r2 = _as(1.0 / math.sqrt(2.0), x)
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        for i in range(c * _GELU_CHUNK, min(n, (c + 1) * _GELU_CHUNK)):
            xi = x[i]
            if tanh_approx:
                y[i] = half * xi * (one + math.tanh(k0 * (xi + k1 * xi * xi * xi)))
            else:
                y[i] = half * xi * (one + math.erf(xi * r2))


@njit(**_PJIT)
def _gelu_bwd(x, gy, tanh_approx, gx):
    """'none': gx = gy (Phi(x) + x phi(x)); 'tanh': gx = gy (0.5 (1 + t) +
    0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)), t = tanh(u)."""
    n = x.shape[0]
    half = _as(0.5, x)
    one = _as(1.0, x)
    k0 = _as(math.sqrt(2.0 / math.pi), x)
    k1 = _as(0.044715, x)
    k3 = _as(3 * 0.044715, x)
    r2 = _as(1.0 / math.sqrt(2.0), x)
    rpi = _as(1.0 / math.sqrt(2.0 * math.pi), x)
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        for i in range(c * _GELU_CHUNK, min(n, (c + 1) * _GELU_CHUNK)):
            xi = x[i]
            if tanh_approx:
                t = math.tanh(k0 * (xi + k1 * xi * xi * xi))
                d = half * (one + t) + half * xi * (one - t * t) * k0 * (one + k3 * xi * xi)
            else:
                d = half * (one + math.erf(xi * r2)) + xi * _vexp(-half * xi * xi) * rpi
            gx[i] = gy[i] * d


# ============================================================================
# thread count per call
# ============================================================================
# Below this many elements a kernel runs its prange loop on one thread.
# Measured on the 2-core machine: softmax of (3072, 64) float32 takes 0.27 ms
# on 2 threads and 0.55 ms on 1 when the machine is quiet, but 7 ms on 2
# threads right after a NumPy matmul, whose OpenBLAS threads keep spinning on
# the cores (the OpenMP barrier then waits for a time slice); 1 thread stays at
# 0.55 ms.  A training step interleaves matmuls and kernels all the time, so
# small kernels stay on the calling thread; large ones use every thread
# NUMBA_NUM_THREADS allows.
PARALLEL_MIN_ELEMENTS = 1 << 20


@contextlib.contextmanager
def _threads_for(n_elements):
    if n_elements >= PARALLEL_MIN_ELEMENTS:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


# ============================================================================
# public functions: same signatures as reference.py.  Inputs are validated,
# C-contiguous float32/float64 arrays of one dtype (the dispatcher sees to it).
# ============================================================================
def matmul(a, b, bias=None):
    """out = a @ b (+ bias), batch dims broadcast; compiled loops per product."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    M, K = a.shape[-2:]
    N = b.shape[-1]
    a3 = np.ascontiguousarray(np.broadcast_to(a, batch + (M, K))).reshape(-1, M, K)
    b3 = np.ascontiguousarray(np.broadcast_to(b, batch + (K, N))).reshape(-1, K, N)
    out = np.empty((a3.shape[0], M, N), dtype=a.dtype)
    has_bias = bias is not None
    with _threads_for(out.size):
        _bmm(a3, b3, bias if has_bias else np.zeros(N, a.dtype), has_bias, out)
    return out.reshape(batch + (M, N))


def matmul_backward(a, b, grad_out, need_a=True, need_b=True, has_bias=False):
    """grad_a = grad_out @ b^T, grad_b = a^T @ grad_out (batch-broadcast shapes)."""
    grad_a = grad_b = grad_bias = None
    if need_a:
        grad_a = matmul(grad_out, np.ascontiguousarray(np.swapaxes(b, -1, -2)))
    if need_b:
        grad_b = matmul(np.ascontiguousarray(np.swapaxes(a, -1, -2)), grad_out)
    if has_bias:
        grad_bias = grad_out.reshape(-1, grad_out.shape[-1]).sum(axis=0)
    return grad_a, grad_b, grad_bias


def _rows(x):
    return x.reshape(-1, x.shape[-1])


def softmax(x):
    out = np.empty_like(x)
    with _threads_for(x.size):
        _softmax_rows(_rows(x), _rows(out), False)
    return out


def log_softmax(x):
    out = np.empty_like(x)
    with _threads_for(x.size):
        _softmax_rows(_rows(x), _rows(out), True)
    return out


def softmax_backward(y, grad_y):
    out = np.empty_like(y)
    with _threads_for(y.size):
        _softmax_bwd_rows(_rows(y), _rows(grad_y), _rows(out), False)
    return out


def log_softmax_backward(y, grad_y):
    out = np.empty_like(y)
    with _threads_for(y.size):
        _softmax_bwd_rows(_rows(y), _rows(grad_y), _rows(out), True)
    return out


def cross_entropy(logits, target, weight=None, ignore_index=-100,
                  label_smoothing=0.0, reduction="mean"):
    """Fused log-softmax + cross-entropy (see reference.cross_entropy for the math)."""
    N, C = logits.shape
    dtype = logits.dtype
    w = np.ones(C, dtype=dtype) if weight is None else weight
    eps = float(label_smoothing)
    valid = target != ignore_index
    a, b = 1.0 - eps, eps / C
    if reduction == "mean":
        w_sum = float(w[target[valid]].astype(np.float64).sum())
        s_den = w_sum                   # torch: the same denominator, weight or not
        a = a / w_sum if w_sum != 0 else 0.0
        b = b / s_den if s_den != 0 else 0.0
    nll = np.empty(N, dtype=np.float64)
    smooth = np.empty(N, dtype=np.float64)
    grad = np.empty_like(logits)
    with _threads_for(logits.size):
        _cross_entropy_rows(logits, target, w, float(w.astype(np.float64).sum()),
                            int(ignore_index), a, b, nll, smooth, grad)
    if reduction == "none":
        loss = (1.0 - eps) * nll + eps / C * smooth
    elif reduction == "sum":
        loss = (1.0 - eps) * nll.sum() + eps / C * smooth.sum()
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = (1.0 - eps) * (nll.sum() / np.float64(w_sum)) \
                + eps / C * (smooth.sum() / np.float64(s_den))
    return np.asarray(loss, dtype=dtype), grad


_NO_MASK = {}


def _mask_arg(mask, dtype):
    if mask is not None:
        return mask, True
    if dtype not in _NO_MASK:
        _NO_MASK[dtype] = np.zeros((1, 1, 1, 1), dtype=dtype)
    return _NO_MASK[dtype], False


def attention(q, k, v, mask=None, is_causal=False, scale=None):
    """mask: None or an additive float array (Bm, Hm, L, S) of q's dtype,
    Bm in {1, B}, Hm in {1, H} (the dispatcher prepares it)."""
    B, H, L, D = q.shape
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    lse = np.empty((B, H, L), dtype=q.dtype)
    m, has_mask = _mask_arg(mask, q.dtype)
    p = np.matmul(q, np.swapaxes(k, -1, -2))                 # (B, H, L, S) raw scores
    with _threads_for(p.size):
        _attention_probs(p, m, has_mask, bool(is_causal), float(scale), lse)
    return np.matmul(p, v), lse                               # (B, H, L, Dv)


def attention_backward(q, k, v, mask, is_causal, scale, out, lse, grad_out):
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    m, has_mask = _mask_arg(mask, q.dtype)
    p = np.matmul(q, np.swapaxes(k, -1, -2))                  # (B, H, L, S) raw scores
    ds = np.matmul(grad_out, np.swapaxes(v, -1, -2))          # (B, H, L, S) dp
    with _threads_for(p.size):
        _attention_grad_scores(p, ds, out, grad_out, lse, m, has_mask, bool(is_causal),
                               float(scale))
    grad_v = np.matmul(np.swapaxes(p, -1, -2), grad_out)      # (B, H, S, Dv)
    grad_q = np.matmul(ds, k)                                 # (B, H, L, D)
    grad_k = np.matmul(np.swapaxes(ds, -1, -2), q)            # (B, H, S, D)
    return grad_q, grad_k, grad_v


def layer_norm(x, weight, bias, eps):
    N, D = x.shape
    y = np.empty_like(x)
    mean = np.empty(N, dtype=x.dtype)
    rstd = np.empty(N, dtype=x.dtype)
    dummy = np.empty(0, dtype=x.dtype)
    with _threads_for(x.size):
        _layer_norm_fwd(x, dummy if weight is None else weight,
                        dummy if bias is None else bias,
                        weight is not None, bias is not None, float(eps), y, mean, rstd)
    return y, mean, rstd


def layer_norm_backward(grad_y, x, weight, mean, rstd):
    N, D = x.shape
    gx = np.empty_like(x)
    nchunks = (N + _LN_CHUNK - 1) // _LN_CHUNK
    gw_part = np.empty((nchunks, D), dtype=x.dtype)
    gb_part = np.empty((nchunks, D), dtype=x.dtype)
    has_w = weight is not None
    with _threads_for(x.size):
        _layer_norm_bwd(grad_y, x, weight if has_w else np.empty(0, x.dtype), has_w,
                        mean, rstd, gx, gw_part, gb_part)
    if not has_w:
        return gx, None, None
    # fixed-order sum of the chunk partials: deterministic
    return gx, gw_part.sum(axis=0), gb_part.sum(axis=0)


def gelu(x, approximate="none"):
    y = np.empty_like(x)
    with _threads_for(x.size):
        _gelu_fwd(x.reshape(-1), approximate == "tanh", y.reshape(-1))
    return y


def gelu_backward(x, grad_y, approximate="none"):
    gx = np.empty_like(x)
    with _threads_for(x.size):
        _gelu_bwd(x.reshape(-1), grad_y.reshape(-1), approximate == "tanh", gx.reshape(-1))
    return gx
