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
* Each loop is compiled twice (``_Kernel``): a serial build for problems
  below PARALLEL_MIN_ELEMENTS and a ``parallel=True`` build for larger ones.
* float32 stays float32: constants are cast to the input's dtype with
  ``_as(value, array)`` so that a Python float never promotes the arithmetic
  (a promoted exp ran in float64 at half the vector width).
* Deterministic: ``prange`` runs only over independent rows, heads or
  fixed chunks; every reduction has a fixed order within one row.  Cross-row
  sums (layer-norm weight gradients) use a fixed chunking that does not
  depend on the number of threads.  ``reassoc`` lets LLVM vectorise row sums
  in an order fixed at compile time (the same on every run).
* ``fastmath`` is limited to flags that keep NaN and inf semantics
  (no ``nnan``/``ninf``).  Row maxima use ``llvm.maxnum`` (``_fmax``), whose
  reduction vectorises without ``nnan``.
* ``exp`` (``_vexp``) and float32 ``erf`` are branch-free polynomial versions
  (about 1 ulp) so that the loops calling them run 16 float32 lanes wide;
  they are compiled without ``reassoc``.
* Row loops are written for the vectoriser: one job per loop (a store and a
  max in the same loop do not vectorise), trip counts that are multiples of
  64 where possible, small helpers that LLVM inlines.
* Attention: small problems run one fused loop over the heads with BLAS
  products (np.dot) in the loop; large ones batched np.matmul products with
  compiled kernels between them, skipping causal blocks above the diagonal.
"""
import math
import threading
import types as pytypes

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from . import gemm_numba, reference

_FM = {"nsz", "contract", "reassoc"}          # no nnan / ninf / afn
_JIT = dict(cache=True, error_model="numpy", fastmath=_FM)
_PJIT = dict(_JIT, parallel=True)


class _Kernel:
    """A compiled loop in two builds of the same source: ``serial`` (``prange``
    runs as ``range``; no thread pool, no OpenMP barrier) and ``parallel``.
    ``launch(n_elements, *args)`` picks by problem size (see
    PARALLEL_MIN_ELEMENTS); calling the object runs the serial build."""

    def __init__(self, fn):
        self.py_func = fn
        self.parallel = njit(**_PJIT)(fn)
        # a renamed copy: Numba's on-disk cache is keyed by the qualified name
        serial = pytypes.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                                      fn.__defaults__, fn.__closure__)
        serial.__qualname__ = fn.__qualname__ + "_serial"
        serial.__doc__, serial.__module__ = fn.__doc__, fn.__module__
        self.serial = njit(**_JIT)(serial)

    def __call__(self, *args):
        return self.serial(*args)

    def launch(self, n_elements, *args):
        if _parallel(n_elements):
            return self.parallel(*args)
        return self.serial(*args)


# ----------------------------------------------------------------------------
# helpers: dtype-preserving constants and a vectorisable exp
# ----------------------------------------------------------------------------
def _as(value, like):
    """``value`` cast to the dtype of ``like``, a float array or scalar (compiled via overload)."""
    raise NotImplementedError


@overload(_as)
def _ol_as(value, like):
    dtype = like if isinstance(like, types.Float) else like.dtype
    if dtype == types.float32:
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


# The exp/erf helpers are compiled without ``reassoc``: the round-to-integer
# trick (t = x * log2(e) + 1.5 * 2^p; n = t - 1.5 * 2^p) must not be folded
# away.  Their instructions keep these flags when LLVM inlines them.
_HJIT = dict(cache=True, error_model="numpy", fastmath={"contract"})
# Helpers whose rounding order matters take _EXACT: an explicit flag set
# without contract or reassoc.  (A helper compiled without ``fastmath``
# inherits its caller's flags, reassoc included.)
_EXACT = dict(cache=True, error_model="numpy", fastmath={"nsz"})

_F32_MAGIC = np.float32(12582912.0)             # 1.5 * 2^23
_F32_MAGIC_BITS = np.int32(0x4B400000)
_F64_MAGIC = np.float64(6755399441055744.0)     # 1.5 * 2^52
_F64_MAGIC_BITS = np.int64(0x4338000000000000)


@intrinsic
def _f32_bits(typingctx, x):
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return sig, codegen


@intrinsic
def _f64_bits(typingctx, x):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


@intrinsic
def _fmax(typingctx, a, b):
    """llvm.maxnum: max(a, b), the other operand if one is NaN.  Unlike
    ``a if a > b else b`` LLVM vectorises a maxnum reduction without nnan."""
    sig = a(a, a)

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args)
    return sig, codegen


@njit(**_HJIT)
def _exp_f32(x):
    """exp(x) for float32 by range reduction x = n ln2 + r, |r| <= ln2/2,
    exp(r) by the Cephes expf polynomial (about 1 ulp) and 2^n from its bits.
    n is rounded with the 1.5 * 2^23 trick, so everything stays float32 and
    branch-free (selects only): loops calling it vectorise 16 lanes wide.
    NaN -> NaN, -inf -> 0, results below ~1e-38 flush to 0, above FLT_MAX -> inf."""
    xc = x
    if xc < np.float32(-87.3):
        xc = np.float32(-87.3)
    if xc > np.float32(88.72283):
        xc = np.float32(88.72283)
    t = xc * np.float32(1.44269504088896341) + _F32_MAGIC
    nf = t - _F32_MAGIC                                   # round(x / ln2), as float32
    r = xc - nf * np.float32(0.693359375) - nf * np.float32(-2.12194440e-4)
    p = (((((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)) * r
            + np.float32(8.3334519073e-3)) * r + np.float32(4.1665795894e-2)) * r
          + np.float32(1.6666665459e-1)) * r + np.float32(5.0000001201e-1)) * (r * r) \
        + r + np.float32(1.0)
    n = _f32_bits(t) - _F32_MAGIC_BITS
    # 2^n as 2^(n-1) * 2 so that n = 128 (x up to 88.72) stays representable
    y = p * _i32_as_f32((n + np.int32(126)) << np.int32(23)) * np.float32(2.0)
    if x < np.float32(-87.3):
        y = np.float32(0.0)
    if x > np.float32(88.72283):
        y = np.float32(np.inf)
    return y


@njit(**_HJIT)
def _exp_f64(x):
    """exp(x) for float64: same scheme as _exp_f32 (rounding with 1.5 * 2^52)
    with a degree-12 Taylor polynomial on |r| <= ln2/2 (error below 1e-16
    relative)."""
    xc = x
    if xc < -708.0:
        xc = -708.0
    if xc > 709.78:
        xc = 709.78
    t = xc * 1.4426950408889634 + _F64_MAGIC
    nf = t - _F64_MAGIC
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
    n = _f64_bits(t) - _F64_MAGIC_BITS
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
@_Kernel
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
@njit(**_JIT)
def _row_max(x, i, stop):
    """max of x[i, :stop] (stop >= 1), NaNs skipped (llvm.maxnum, vectorised);
    a NaN still reaches the output through the exp-sum that follows."""
    m = x[i, 0]
    for j in range(stop):
        m = _fmax(m, x[i, j])
    return m


@njit(**_HJIT)
def _sub2(x, m, c):
    """(x - m) - c in this order (no reassoc: x - (m + c) loses digits when
    |m| >> |c|, e.g. log_softmax of [1e4, 1e4] in float32)."""
    return (x - m) - c


@njit(**_EXACT)
def _sub_shifted(a, x, m):
    """a - (x - m) exactly in this order: with reassoc,
    log_s - (x_y - m) became (log_s + m) - x_y, which is 0 for
    log_s << |m| (the cross-entropy of a row of 1e30s came out 0, not log C)."""
    return a - (x - m)


_ROW_BLOCK = 64     # rows whose maxima are taken before their exp passes


@_Kernel
def _softmax_rows(x, out, log):
    """Row-wise softmax (log=False) or log_softmax (log=True) of x (N, C):
    a max pass, an exp(-and-store)-sum pass and a scale / subtract pass, each
    a straight vectorised loop over the row.  The maxima of a block of
    _ROW_BLOCK rows come first (parked in out[i, 0]), so that one row's
    max -> exp dependency does not stall the next (as in _probs_head)."""
    N, C = x.shape
    for blk in prange((N + _ROW_BLOCK - 1) // _ROW_BLOCK):
        r0 = blk * _ROW_BLOCK
        r1 = min(N, r0 + _ROW_BLOCK)
        for i in range(r0, r1):
            out[i, 0] = _row_max(x, i, C)
        for i in range(r0, r1):
            m = out[i, 0]
            s = _as(0.0, x)
            if log:
                for j in range(C):
                    s += _vexp(x[i, j] - m)
                ls = np.log(s)
                for j in range(C):
                    out[i, j] = _sub2(x[i, j], m, ls)
            else:
                for j in range(C):
                    e = _vexp(x[i, j] - m)
                    out[i, j] = e
                    s += e
                inv = _as(1.0, x) / s
                for j in range(C):
                    out[i, j] *= inv


@_Kernel
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
@_Kernel
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
        m = _row_max(x, i, C)
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
        nll[i] = wy * _sub_shifted(log_s, x[i, y], m)
        smooth[i] = W * log_s - wx


# ----------------------------------------------------------------------------
# scaled dot-product attention.  The (L, D) x (D, S) products run in NumPy's
# batched matmul (BLAS) outside the compiled code: calling BLAS from inside a
# prange region oversubscribes the cores (OpenBLAS warns "Detect OpenMP Loop
# and this application may hang").  The compiled kernels do everything
# between the products, in place, one (batch, head) pair per prange iteration.
# With is_causal, row i only touches columns j <= i (the rest is set to 0).
# ----------------------------------------------------------------------------
# Masking is always additive: the caller passes a (Bm, Hm, L, S) array with the
# user's mask, -inf above the diagonal when causal, or zeros (cached).  A
# select "j <= i" or a has-mask branch inside the row loops stops them from
# vectorising well (measured 1.3-1.6x slower).  Causal row i is processed up
# to _padded(i + 1, S), a multiple of 64 (LLVM's vector step: 16 lanes x 4),
# and is 0 beyond.
_ROW_STEP = 64


@njit(**_EXACT)
def _score(s, sc, mk):
    """z = sc * s + mk, rounded twice (no fma)."""
    return s * sc + mk


@njit(**_EXACT)
def _shifted_score(s, sc, mk, m):
    """z - m with z = _score(s, sc, mk) rounded exactly as in the max loop.
    With contract/reassoc this became fma(s, sc, mk - m): the rounding error
    of the product, ~1e13 for scores near 1e30, went into exp (inf, then NaN)."""
    return (s * sc + mk) - m


@njit(**_JIT)
def _padded(stop, S):
    return min(S, (stop + _ROW_STEP - 1) // _ROW_STEP * _ROW_STEP)


@njit(**_JIT)
def _probs_head(s, mk, causal, sc, lse, inv):
    """One head, in place on its raw scores s = q k^T (L, S), mask mk (L, S):
    with z = sc * s + mk and m = max_j z per row,
        s <- exp(z - m)  (unnormalised),  lse = m + log(total),
        inv = 1 / total,  total = sum_j exp(z_j - m)
    (s = 0, lse = -inf, inv = 0 for a fully masked row).  All row maxima
    first (kept in lse), then the exp pass: the max -> exp dependency of one
    row then no longer stalls the next (measured 1.3x faster at L = S = 64).
    The max loop does not store: with a store it does not vectorise."""
    L, S = s.shape
    ninf = _as(-np.inf, s)
    for i in range(L):
        m = _score(s[i, 0], sc, mk[i, 0])      # not -inf: a row of NaN scores keeps m = NaN
        for j in range(_padded(i + 1, S) if causal else S):
            m = _fmax(m, _score(s[i, j], sc, mk[i, j]))
        lse[i] = m
    for i in range(L):
        m = lse[i]
        stop = 0 if m == ninf else (_padded(i + 1, S) if causal else S)
        total = _as(0.0, s)
        for j in range(stop):
            e = _vexp(_shifted_score(s[i, j], sc, mk[i, j], m))
            s[i, j] = e
            total += e
        for j in range(stop, S):
            s[i, j] = _as(0.0, s)
        if stop > 0:
            lse[i] = m + np.log(total)
        inv[i] = _as(1.0, s) / total if stop > 0 else _as(0.0, s)


@njit(**_JIT)
def _grad_scores_head(s, dp, mk, out, gout, lse, causal, sc):
    """One head, in place, with p_ij = exp(sc s_ij + mk_ij - lse_i) recomputed
    from the raw scores s = q k^T (L, S) and dp = gout v^T (L, S):
        s  <- p
        dp <- sc * p * (dp - delta_i),  delta_i = gout_i . out_i
    (both 0 for a fully masked row, lse_i = -inf, and for j > i if causal)."""
    L, S = s.shape
    for i in range(L):
        li = lse[i]
        stop = 0 if li == _as(-np.inf, s) else (_padded(i + 1, S) if causal else S)
        delta = _as(0.0, s)
        for d in range(out.shape[1]):
            delta += gout[i, d] * out[i, d]
        for j in range(stop):
            pij = _vexp(_shifted_score(s[i, j], sc, mk[i, j], li))
            s[i, j] = pij
            dp[i, j] = pij * (dp[i, j] - delta) * sc
        for j in range(stop, S):
            s[i, j] = _as(0.0, s)
            dp[i, j] = _as(0.0, s)


@njit(**_JIT)
def _head_mask(mask, bh, H):
    """mask[b, h] (or its broadcast) for the flat head index bh = b * H + h."""
    return mask[bh // H if mask.shape[0] > 1 else 0, bh % H if mask.shape[1] > 1 else 0]


@_Kernel
def _attention_probs(s, H, mask, causal, scale, lse, inv):
    """_probs_head for every head of s (B*H, L, S) (heads in parallel);
    lse, inv (B*H, L); mask (Bm, Hm, L, S) additive (see _mask_arg)."""
    sc = _as(scale, s)
    for bh in prange(s.shape[0]):
        _probs_head(s[bh], _head_mask(mask, bh, H), causal, sc, lse[bh], inv[bh])


@_Kernel
def _attention_grad_scores(s, dp, H, out, gout, lse, mask, causal, scale):
    """_grad_scores_head for every head (B*H leading axis, in parallel)."""
    sc = _as(scale, s)
    for bh in prange(s.shape[0]):
        _grad_scores_head(s[bh], dp[bh], _head_mask(mask, bh, H), out[bh], gout[bh], lse[bh],
                          causal, sc)


# Small problems: one compiled loop over the heads does everything per head,
# the products through BLAS (np.dot inside Numba, via SciPy), so that the
# head's scores, probabilities and gradients stay in L1/L2 between steps.
# Heads run in parallel with SciPy's BLAS on one thread (_launch_with_blas).
@njit(**_JIT)
def _transpose_into(src, dst):
    """dst (D, S) <- src (S, D)^T (a contiguous operand for np.dot: OpenBLAS's
    small q @ k^T with a transposed k is 2x slower than with a copy)."""
    for j in range(src.shape[0]):
        for d in range(src.shape[1]):
            dst[d, j] = src[j, d]


@njit(**_JIT)
def _head_forward(q, kt, v, mk, causal, sc, lse, s, inv, o):
    """One head, contiguous operands: s = q k^T (kt = k^T); _probs_head;
    o = (s v) * inv (row i of the unnormalised product times inv[i])."""
    np.dot(q, kt, s)
    _probs_head(s, mk, causal, sc, lse, inv)
    np.dot(s, v, o)
    for i in range(o.shape[0]):
        for d in range(o.shape[1]):
            o[i, d] *= inv[i]


@njit(**_JIT)
def _head_backward(q, kt, vt, g, o, mk, causal, sc, lse, s, dp, gq, gk, gv):
    """One head, contiguous operands (kt = k^T, vt = v^T, g = dout, o = out):
    s = q k^T, dp = g v^T; _grad_scores_head; gv = p^T g, gq = ds k, gk = ds^T q."""
    np.dot(q, kt, s)
    np.dot(g, vt, dp)
    _grad_scores_head(s, dp, mk, o, g, lse, causal, sc)
    np.dot(s.T, g, gv)
    np.dot(dp, kt.T, gq)
    np.dot(dp.T, q, gk)


@_Kernel
def _attention_fused_fwd(q, k, v, H, mask, causal, scale, out, lse):
    """Per head bh of q (B*H, L, D), k (B*H, S, D), v (B*H, S, Dv) (heads in
    parallel): _head_forward into out[bh]; lse (B*H, L).
    Scratch arrays are per head (per thread), a few KB each."""
    BH, L, D = q.shape
    S, Dv = v.shape[1], v.shape[2]
    sc = _as(scale, q)
    for bh in prange(BH):
        s = np.empty((L, S), q.dtype)
        kt = np.empty((D, S), q.dtype)
        inv = np.empty(L, q.dtype)
        _transpose_into(k[bh], kt)
        o = out[bh]
        _head_forward(q[bh], kt, v[bh], _head_mask(mask, bh, H), causal, sc, lse[bh], s, inv, o)


@_Kernel
def _attention_fused_bwd(q, k, v, H, mask, causal, scale, out, lse, gout, gq, gk, gv):
    """Per head bh (heads in parallel, the arrays of _attention_fused_fwd plus
    gout like out and gq, gk, gv like q, k, v): _head_backward."""
    BH, L, D = q.shape
    S, Dv = v.shape[1], v.shape[2]
    sc = _as(scale, q)
    for bh in prange(BH):
        s = np.empty((L, S), q.dtype)
        dp = np.empty((L, S), q.dtype)
        kt = np.empty((D, S), q.dtype)
        vt = np.empty((Dv, S), q.dtype)
        _transpose_into(k[bh], kt)
        _transpose_into(v[bh], vt)
        _head_backward(q[bh], kt, vt, gout[bh], out[bh], _head_mask(mask, bh, H), causal, sc,
                       lse[bh], s, dp, gq[bh], gk[bh], gv[bh])


# Packed self-attention: the heads live in x (B, T, W), head h of block c at
# columns c*C + h*hs : c*C + (h+1)*hs.  The kernels gather each head into
# contiguous scratch arrays (rows of hs unit-stride elements: the copies
# vectorise) and scatter the results back, so that no (B, nh, T, hs) copy of
# the whole tensor is ever made.
@njit(**_JIT)
def _gather(x, b, c0, dst):
    """dst (T, hs) <- x[b, :, c0:c0 + hs].  Unsigned column indices: with a
    signed one, Numba's negative-index wraparound stops the copy from
    vectorising (measured 4x slower)."""
    for t in range(dst.shape[0]):
        row, out = x[b, t], dst[t]
        for d in range(dst.shape[1]):
            out[d] = row[np.uint64(c0) + np.uint64(d)]


@njit(**_JIT)
def _gather_t(x, b, c0, dst):
    """dst (hs, T) <- x[b, :, c0:c0 + hs]^T."""
    for t in range(dst.shape[1]):
        row = x[b, t]
        for d in range(dst.shape[0]):
            dst[d, t] = row[np.uint64(c0) + np.uint64(d)]


@njit(**_JIT)
def _scatter(src, x, b, c0):
    """x[b, :, c0:c0 + hs] <- src (T, hs)."""
    for t in range(src.shape[0]):
        row, inp = x[b, t], src[t]
        for d in range(src.shape[1]):
            row[np.uint64(c0) + np.uint64(d)] = inp[d]


@njit(**_JIT)
def _packed_sizes(qkv, nh):
    """(B, T, C, hs) of qkv (B, T, 3C) with nh heads of size hs."""
    B, T, C3 = qkv.shape
    return B, T, C3 // 3, C3 // 3 // nh


@_Kernel
def _packed_fwd(qkv, nh, mask, causal, scale, out, lse):
    """qkv (B, T, 3C) -> out (B, T, C) merged heads, lse (B, nh, T); per
    head (in parallel): gather q, k^T, v; _head_forward; scatter o."""
    B, T, C, hs = _packed_sizes(qkv, nh)
    sc = _as(scale, qkv)
    for bh in prange(B * nh):
        b, h = bh // nh, bh % nh
        q, v = np.empty((T, hs), qkv.dtype), np.empty((T, hs), qkv.dtype)
        kt = np.empty((hs, T), qkv.dtype)
        s = np.empty((T, T), qkv.dtype)
        inv = np.empty(T, qkv.dtype)
        o = np.empty((T, hs), qkv.dtype)
        _gather(qkv, b, h * hs, q)
        _gather_t(qkv, b, C + h * hs, kt)
        _gather(qkv, b, 2 * C + h * hs, v)
        _head_forward(q, kt, v, _head_mask(mask, bh, nh), causal, sc, lse[b, h], s, inv, o)
        _scatter(o, out, b, h * hs)


@_Kernel
def _packed_bwd(qkv, nh, mask, causal, scale, out, lse, gout, grad):
    """grad (B, T, 3C) = [dq | dk | dv] of _packed_fwd for gout (B, T, C);
    per head (in parallel): gather; _head_backward; scatter."""
    B, T, C, hs = _packed_sizes(qkv, nh)
    sc = _as(scale, qkv)
    for bh in prange(B * nh):
        b, h = bh // nh, bh % nh
        kt, vt = np.empty((hs, T), qkv.dtype), np.empty((hs, T), qkv.dtype)
        s, dp = np.empty((T, T), qkv.dtype), np.empty((T, T), qkv.dtype)
        q, o, g = np.empty((T, hs), qkv.dtype), np.empty((T, hs), qkv.dtype), np.empty((T, hs), qkv.dtype)
        gq, gk, gv = np.empty((T, hs), qkv.dtype), np.empty((T, hs), qkv.dtype), np.empty((T, hs), qkv.dtype)
        _gather(qkv, b, h * hs, q)
        _gather_t(qkv, b, C + h * hs, kt)
        _gather_t(qkv, b, 2 * C + h * hs, vt)
        _gather(gout, b, h * hs, g)
        _gather(out, b, h * hs, o)
        _head_backward(q, kt, vt, g, o, _head_mask(mask, bh, nh), causal, sc, lse[b, h],
                       s, dp, gq, gk, gv)
        _scatter(gq, grad, b, h * hs)
        _scatter(gk, grad, b, C + h * hs)
        _scatter(gv, grad, b, 2 * C + h * hs)


# ----------------------------------------------------------------------------
# layer norm over the last axis of (N, D)
# ----------------------------------------------------------------------------
@_Kernel
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


@_Kernel
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
#
# float32 uses branch-free approximations (selects only), so the loops
# vectorise:
# * erf: the two-range polynomial below; measured against scipy's float64 erf
#   on a 2e6-point grid of [-6, 6] its error is 3.3e-8 relative in exact
#   arithmetic, about 1 ulp (6e-8) once rounded to float32.
# * tanh form: 0.5 x (1 + tanh u) = x * sigmoid(2u) = x / (1 + exp(-2u)),
#   which has no cancellation where tanh u ~ -1, and 1 - tanh^2 u =
#   4 sigmoid(2u) (1 - sigmoid(2u)), from exp(-|2u|) in the backward;
#   only _vexp is approximate (1 ulp).
# float64 uses math.erf (libm, exact; a scalar call, not vectorised) and the
# same sigmoid form with the float64 _vexp (3e-16 relative).
# tests/kernels/test_numba_vs_reference.py checks both against float64 SciPy.
# ----------------------------------------------------------------------------
_GELU_CHUNK = 16384


# erf(a) in float32 = _erf_f32_from(a, _exp_f32(_erf_f32_arg(a))).  Split in
# three so that each piece stays under LLVM's inlining threshold: a call left
# in the loop body stops it from vectorising.
@njit(**_HJIT)
def _erf_f32_arg(a):
    """Q(|a|) (degree 7, |a| clamped to 4, where erf = 1 in float32) for
    erf(a) = sign(a) (1 - exp(Q(|a|))) on |a| > 0.927734375."""
    t = abs(a)
    if t > np.float32(4.0):
        t = np.float32(4.0)
    r = np.float32(-1.72853470e-5) * t + np.float32(3.83197126e-4)
    u = np.float32(-3.88396438e-3) * t + np.float32(2.42546219e-2)
    r = r * (t * t) + u
    r = r * t + np.float32(-1.06777877e-1)
    r = r * t + np.float32(-6.34846687e-1)
    r = r * t + np.float32(-1.28717512e-1)
    return r * t - t


@njit(**_HJIT)
def _erf_f32_from(a, e):
    """erf(a) given e = exp(Q(|a|)): a + a P(a^2) (degree 5) for |a| <=
    0.927734375, else sign(a) (1 - e); both evaluated, one selected."""
    big = np.float32(1.0) - e
    if a < np.float32(0.0):
        big = -big
    s = a * a
    q = np.float32(-5.96761703e-4)
    q = q * s + np.float32(4.99119423e-3)
    q = q * s + np.float32(-2.67681349e-2)
    q = q * s + np.float32(1.12819925e-1)
    q = q * s + np.float32(-3.76125336e-1)
    q = q * s + np.float32(1.28379166e-1)
    small = q * a + a
    if abs(a) > np.float32(0.927734375):
        small = big
    return small


def _erf_arg(x):
    """float32: _erf_f32_arg; float64: 0 (unused)."""
    raise NotImplementedError


@overload(_erf_arg)
def _ol_erf_arg(x):
    if x == types.float32:
        return lambda x: _erf_f32_arg(x)
    return lambda x: 0.0


def _erf_from(x, e):
    """float32: _erf_f32_from(x, e); float64: math.erf(x) (e unused)."""
    raise NotImplementedError


@overload(_erf_from)
def _ol_erf_from(x, e):
    if x == types.float32:
        return lambda x, e: _erf_f32_from(x, e)
    return lambda x, e: math.erf(x)


@njit(**_JIT)
def _gelu_tanh_arg(xi):
    """2u = 2 sqrt(2/pi) (x + 0.044715 x^3), unclamped: exp(-2u) = inf for
    very negative x makes y = x / (1 + inf) = -0 (a clamp at 80 left
    x / 5.5e34, e.g. -1.8e-5 for x = -1e30), and -inf / inf = NaN as in
    PyTorch's 0.5 x (1 + tanh u)."""
    return _as(2.0 * math.sqrt(2.0 / math.pi), xi) * (xi + _as(0.044715, xi) * xi * xi * xi)


@njit(**_JIT)
def _chunk(a, c):
    """Chunk c of the flat array a (a view).  Loops over a view vectorise
    about 2x better than range(c * CHUNK, min(n, (c + 1) * CHUNK)) (measured)."""
    return a[c * _GELU_CHUNK:(c + 1) * _GELU_CHUNK]


# One kernel per (form, direction): a single straight loop each, so that all
# the helpers inline and the loop vectorises.  prange runs over fixed chunks.
@_Kernel
def _gelu_erf_fwd(x, y):
    """y = 0.5 x (1 + erf(x / sqrt 2))."""
    n = x.shape[0]
    half = _as(0.5, x)
    one = _as(1.0, x)
    r2 = _as(1.0 / math.sqrt(2.0), x)
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        xc, yc = _chunk(x, c), _chunk(y, c)
        for i in range(xc.shape[0]):
            xs = xc[i] * r2
            erf = _erf_from(xs, _vexp(_erf_arg(xs)))
            yc[i] = half * xc[i] * (one + erf)


@_Kernel
def _gelu_erf_bwd(x, gy, gx):
    """gx = gy (Phi(x) + x phi(x)), Phi(x) = 0.5 (1 + erf(x / sqrt 2)),
    phi(x) = exp(-x^2 / 2) / sqrt(2 pi)."""
    n = x.shape[0]
    half = _as(0.5, x)
    one = _as(1.0, x)
    r2 = _as(1.0 / math.sqrt(2.0), x)
    rpi = _as(1.0 / math.sqrt(2.0 * math.pi), x)
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        xc, gyc, gxc = _chunk(x, c), _chunk(gy, c), _chunk(gx, c)
        for i in range(xc.shape[0]):
            xi = xc[i]
            xs = xi * r2
            erf = _erf_from(xs, _vexp(_erf_arg(xs)))
            gxc[i] = gyc[i] * (half * (one + erf) + xi * _vexp(-half * xi * xi) * rpi)


@_Kernel
def _gelu_erf_bwd_from_y(x, y, gy, gx):
    """gx = gy (Phi(x) + x phi(x)) with Phi(x) = y / x read from the forward
    output y = x Phi(x): no erf, one exp (about 2x faster than _gelu_erf_bwd).
    For |x| < 1e-3, Phi(x) = 1/2 + phi(0) (x - x^3 / 6) (the next term is below
    1e-16 relative).  The quotient carries y's rounding (~1 ulp of Phi); where
    y underflows (x < -13 in float32) Phi and x phi(x) are both below 1e-37."""
    n = x.shape[0]
    half = _as(0.5, x)
    sixth = _as(1.0 / 6.0, x)
    rpi = _as(1.0 / math.sqrt(2.0 * math.pi), x)
    tiny = _as(1e-3, x)
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        xc, yc, gyc, gxc = _chunk(x, c), _chunk(y, c), _chunk(gy, c), _chunk(gx, c)
        for i in range(xc.shape[0]):
            xi = xc[i]
            cdf = yc[i] / xi
            if abs(xi) < tiny:
                cdf = half + rpi * (xi - sixth * xi * xi * xi)
            gxc[i] = gyc[i] * (cdf + xi * _vexp(-half * xi * xi) * rpi)


@_Kernel
def _gelu_tanh_fwd(x, y):
    """y = 0.5 x (1 + tanh u) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    n = x.shape[0]
    one = _as(1.0, x)
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        xc, yc = _chunk(x, c), _chunk(y, c)
        for i in range(xc.shape[0]):
            yc[i] = xc[i] / (one + _vexp(-_gelu_tanh_arg(xc[i])))


@_Kernel
def _gelu_tanh_bwd(x, gy, gx):
    """With s = sigmoid(2u) = 0.5 (1 + tanh u) and a = exp(-|2u|) (never
    overflows), s = 1 / (1 + a) for u >= 0, a / (1 + a) below, and
    s (1 - s) = a / (1 + a)^2 = 0.25 (1 - tanh^2 u):
    gx = gy (s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2))."""
    n = x.shape[0]
    one = _as(1.0, x)
    k0 = _as(math.sqrt(2.0 / math.pi), x)
    k3 = _as(3 * 0.044715, x)
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        xc, gyc, gxc = _chunk(x, c), _chunk(gy, c), _chunk(gx, c)
        for i in range(xc.shape[0]):
            xi = xc[i]
            v = _gelu_tanh_arg(xi)
            a = _vexp(-abs(v))
            r = one / (one + a)
            sg = r if v >= _as(0.0, x) else a * r
            gxc[i] = gyc[i] * (sg + (k0 + k0) * xi * (a * r * r) * (one + k3 * xi * xi))


# ============================================================================
# serial or parallel per call
# ============================================================================
# Below this many elements a kernel runs its serial build (no thread pool).
# The thread pool only pays when nothing else spins on the cores: softmax of
# (3072, 64) float32 took 0.27 ms on 2 threads and 0.55 ms on 1 on a quiet
# machine, but 7 ms on 2 threads right after a NumPy matmul, whose OpenBLAS
# threads keep spinning (the OpenMP barrier waits for a time slice).  So the
# layers' products run on the same pool (gemm, gemm_numba.py), and kernels
# of at least 32K elements go parallel: baby-GPT training step (B=12, T=64,
# C=128) 32.4 -> 30.3 ms in a first version with the products and kernels on
# one pool (threshold 16K; median of 40 steps, 2 cores), and 1.44x -> 1.18x
# PyTorch's step with all of it (benchmarks/gpt.py; packed attention
# included).  On a machine shared with other jobs a 2-thread call
# waits for the slower thread's time slice (layer-norm backward of (2048,
# 512): 0.55 ms serial, 7-19 ms on 2 threads under load ~6); NUMBA_NUM_THREADS=1
# (or numba.set_num_threads(1)) keeps every kernel serial.
PARALLEL_MIN_ELEMENTS = 1 << 15
# Where the products cannot run on the pool (SciPy on a BLAS whose thread
# count gemm_numba cannot find), NumPy's BLAS keeps its spinning workers and
# kernels go parallel only from this size on (the rule before the pool).
NO_POOL_PARALLEL_MIN_ELEMENTS = 1 << 24


def _parallel(n_elements):
    """Whether a kernel over n_elements runs its parallel build."""
    if numba.get_num_threads() == 1:
        return False
    if gemm_numba.available():
        return n_elements >= PARALLEL_MIN_ELEMENTS
    return n_elements >= max(PARALLEL_MIN_ELEMENTS, NO_POOL_PARALLEL_MIN_ELEMENTS)
# Attention with a score matrix (B*H*L*S) below this size runs fused per
# head (heads in parallel); larger ones run batched products between the
# kernels (causal attention (4, 8, 512, 64): 93-115 ms fused serial vs
# 123-129 ms batched on 2 threads on the shared machine; not re-measured
# with the fused heads in parallel).
FUSED_MAX_ELEMENTS = 1 << 24


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
    _bmm.launch(out.size, a3, b3, bias if has_bias else np.zeros(N, a.dtype), has_bias, out)
    return out.reshape(batch + (M, N))


# Products of at least this many multiply-adds run on Numba's thread pool, one
# BLAS call per block of the output (gemm_numba says why); smaller ones in
# np.matmul, which OpenBLAS runs on one thread below 4 * 65536 anyway.
POOL_GEMM_MIN_MNK = 1 << 18


def gemm(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) (reference.gemm); large products on the thread pool."""
    M, K = a.shape[::-1] if trans_a else a.shape
    N = b.shape[0] if trans_b else b.shape[1]
    if M * N * K >= POOL_GEMM_MIN_MNK and numba.get_num_threads() > 1 and gemm_numba.available():
        return gemm_numba.gemm(a, b, trans_a, trans_b)
    return np.matmul(a.T if trans_a else a, b.T if trans_b else b)


def linear_grads(g, w, x, need_x=True, need_w=True):
    """reference.linear_grads; with both gradients needed and a weight gradient
    over enough rows to cut its sum (gemm_numba.split_inner), the two products
    in one parallel region (gemm_numba.linear_grads), else gemm twice."""
    N, O = g.shape
    I = w.shape[1]
    if (need_x and need_w and N * O * I >= POOL_GEMM_MIN_MNK and numba.get_num_threads() > 1
            and gemm_numba.available() and gemm_numba.split_inner(O, I, N)):
        return gemm_numba.linear_grads(g, w, x)
    return reference.linear_grads(g, w, x, need_x, need_w, product=gemm)


def _batch_of(x, batch):
    """x (..., R, C) as a C-contiguous (Tx, R, C) for gemm_numba.bmm: Tx = 1 when
    x has no batch of its own (shared, not copied), else the full batch."""
    R, C = x.shape[-2:]
    if math.prod(x.shape[:-2]) == 1:
        return np.ascontiguousarray(x.reshape(1, R, C))
    return np.ascontiguousarray(np.broadcast_to(x, batch + (R, C))).reshape(-1, R, C)


def _bmm_operand(x, batch):
    """(x3, transposed) for gemm_numba.bmm: a transposed view (W.T, k^T) is
    passed as stored with transposed=True (BLAS reads it in place), anything
    else as _batch_of(x, batch)."""
    xt = np.swapaxes(x, -1, -2)
    if not x.flags.c_contiguous and xt.flags.c_contiguous:
        return _batch_of(xt, batch), True
    return _batch_of(x, batch), False


def blas_matmul(a, b, bias=None):
    """reference.matmul for float operands of one dtype: products of at least
    POOL_GEMM_MIN_MNK multiply-adds in all on the thread pool (gemm_numba.bmm,
    one BLAS call per block), smaller ones in np.matmul."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    M, K = a.shape[-2:]
    N = b.shape[-1]
    if (math.prod(batch) * M * N * K < POOL_GEMM_MIN_MNK or K == 0 or numba.get_num_threads() == 1
            or not gemm_numba.available()):
        return reference.matmul(a, b, bias)
    (a3, ta), (b3, tb) = _bmm_operand(a, batch), _bmm_operand(b, batch)
    out = gemm_numba.bmm(a3, b3, ta, tb).reshape(batch + (M, N))
    if bias is not None:
        out += bias
    return out


def blas_matmul_backward(a, b, grad_out, need_a=True, need_b=True, has_bias=False):
    """reference.matmul_backward with blas_matmul's products."""
    return reference.matmul_backward(a, b, grad_out, need_a, need_b, has_bias, product=blas_matmul)


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
    _softmax_rows.launch(x.size, _rows(x), _rows(out), False)
    return out


def log_softmax(x):
    out = np.empty_like(x)
    _softmax_rows.launch(x.size, _rows(x), _rows(out), True)
    return out


def softmax_backward(y, grad_y):
    out = np.empty_like(y)
    _softmax_bwd_rows.launch(y.size, _rows(y), _rows(grad_y), _rows(out), False)
    return out


def log_softmax_backward(y, grad_y):
    out = np.empty_like(y)
    _softmax_bwd_rows.launch(y.size, _rows(y), _rows(grad_y), _rows(out), True)
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
    _cross_entropy_rows.launch(logits.size, logits, target, w,
                               float(w.astype(np.float64).sum()),
                               int(ignore_index), a, b, nll, smooth, grad)
    if eps == 0:
        # no smoothing term at all: a -inf logit (a masked class) makes smooth_i
        # infinite, and 0 * inf would turn a finite loss into nan (as reference.py)
        smooth[:] = 0.0
    if reduction == "none":
        loss = (1.0 - eps) * nll + eps / C * smooth
    elif reduction == "sum":
        loss = (1.0 - eps) * nll.sum() + eps / C * smooth.sum()
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = (1.0 - eps) * (nll.sum() / np.float64(w_sum)) \
                + eps / C * (smooth.sum() / np.float64(s_den))
    return np.asarray(loss, dtype=dtype), grad


_MASKS = {}


def _mask_arg(mask, dtype, causal, L, S):
    """The additive mask (Bm, Hm, L, S) the kernels read: the user's mask
    (already additive, from the dispatcher) plus -inf above the diagonal if
    causal; zeros (1, 1, L, S) when there is neither.  The causal and zero
    masks are cached per (L, S, dtype, causal)."""
    key = (L, S, np.dtype(dtype).str, bool(causal))
    if key not in _MASKS:
        if len(_MASKS) > 64:
            _MASKS.clear()
        allowed = np.tril(np.ones((L, S), dtype=bool)) if causal else np.ones((L, S), bool)
        _MASKS[key] = np.where(allowed, 0, -np.inf).astype(dtype)[None, None]   # (1, 1, L, S)
    base = _MASKS[key]
    if mask is None:
        return base
    return mask + base if causal else mask


def _fused(n_scores):
    """Whether attention takes the fused per-head path (FUSED_MAX_ELEMENTS),
    judged by the size of the score matrix, n_scores = B*H*L*S."""
    return n_scores < FUSED_MAX_ELEMENTS or numba.get_num_threads() == 1


def _launch_with_blas(kernel, n_elements, *args):
    """kernel.launch for loops that call BLAS (np.dot) inside: the parallel
    build runs with SciPy's BLAS on one thread (gemm_numba), or not at all."""
    if _parallel(n_elements) and gemm_numba.available():
        with gemm_numba.pool_blas(args[0].dtype):
            return kernel.parallel(*args)
    return kernel.serial(*args)


def _heads(x):
    """(B, H, ...) -> (B*H, ...), a view (x is C-contiguous)."""
    return x.reshape((-1,) + x.shape[2:])


# Scratch arrays that never leave a kernel (attention scores, transposed
# copies) are reused between calls, per thread.  A fresh 0.8 MB array costs
# its page faults on every call (glibc returns large blocks to the OS): two
# baby-GPT score matrices allocated per call took 500 us instead of 140 us in
# this VM.  Arrays above _SCRATCH_MAX_BYTES are not kept.
_SCRATCH_MAX_BYTES = 1 << 26
_scratch_local = threading.local()


def _scratch(name, shape, dtype):
    """An uninitialised array of this shape and dtype, reused across calls
    from the same thread under the same name (the caller must not return it)."""
    cache = getattr(_scratch_local, "arrays", None)
    if cache is None:
        cache = _scratch_local.arrays = {}
    a = cache.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = np.empty(shape, dtype=dtype)
        if a.nbytes <= _SCRATCH_MAX_BYTES:
            cache[name] = a
    return a


def _transposed(k, name):
    """k^T over the last two axes as a C-contiguous (scratch) copy,
    (B, H, S, D) -> (B, H, D, S).  np.matmul(q, k^T) with the strided view
    took 130 us for the baby-GPT heads (48 x 64x32 @ 32x64), the copy plus a
    contiguous product 22 + 63 us (OpenBLAS's small "NT" path is slow)."""
    kt = np.swapaxes(k, -1, -2)
    out = _scratch(name, kt.shape, k.dtype)
    np.copyto(out, kt)
    return out


# Causal problems skip the products' blocks above the diagonal: rows are cut
# into blocks of _CAUSAL_BLOCK, and block [r0, r1) only needs the columns
# below _ceil64(r1) (the kernels read each row up to _padded(i + 1)).  At
# L = S = 512 that is 62.5% of the multiply-adds of the full products.
_CAUSAL_BLOCK = 128


def _row_blocks(L, S, causal):
    """[(r0, r1, c1)]: rows r0:r1 use columns :c1."""
    if not causal or L <= _CAUSAL_BLOCK:
        return [(0, L, S)]
    step = _ROW_STEP
    return [(r0, min(L, r0 + _CAUSAL_BLOCK),
             min(S, (min(L, r0 + _CAUSAL_BLOCK) + step - 1) // step * step))
            for r0 in range(0, L, _CAUSAL_BLOCK)]


def _col_blocks(L, S, causal):
    """[(c0, c1, i0)]: columns c0:c1 get contributions from rows i0: only."""
    if not causal or L <= _CAUSAL_BLOCK:
        return [(0, S, 0)]
    return [(c0, min(S, c0 + _CAUSAL_BLOCK), min(c0, L)) for c0 in range(0, S, _CAUSAL_BLOCK)]


def _scores(q, k, name, causal):
    """q k^T (B, H, L, S) into a scratch array; with causal, only the blocks
    of _row_blocks are computed (the rest is left as is: never read)."""
    B, H, L, _ = q.shape
    S = k.shape[2]
    kt = _transposed(k, name + "_T")
    p = _scratch(name, (B, H, L, S), q.dtype)
    for r0, r1, c1 in _row_blocks(L, S, causal):
        np.matmul(q[:, :, r0:r1], kt[..., :c1], out=p[:, :, r0:r1, :c1])
    return p


def _rows_times(a, b, out, causal):
    """out = a @ b with a (B, H, L, S) zero where j > i (causal), b (B, H, S, N)."""
    L, S = a.shape[2:]
    for r0, r1, c1 in _row_blocks(L, S, causal):
        np.matmul(a[:, :, r0:r1, :c1], b[:, :, :c1], out=out[:, :, r0:r1])
    return out


def _cols_times(a, b, out, causal):
    """out = a^T @ b with a (B, H, L, S) zero where j > i (causal), b (B, H, L, N)."""
    L, S = a.shape[2:]
    for c0, c1, i0 in _col_blocks(L, S, causal):
        np.matmul(np.swapaxes(a[:, :, i0:, c0:c1], -1, -2), b[:, :, i0:], out=out[:, :, c0:c1])
    return out


def attention(q, k, v, mask=None, is_causal=False, scale=None):
    """mask: None or an additive float array (Bm, Hm, L, S) of q's dtype,
    Bm in {1, B}, Hm in {1, H} (the dispatcher prepares it)."""
    B, H, L, D = q.shape
    S, Dv = v.shape[2], v.shape[3]
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    lse = np.empty((B, H, L), dtype=q.dtype)
    out = np.empty((B, H, L, Dv), dtype=q.dtype)
    m = _mask_arg(mask, q.dtype, is_causal, L, S)
    if _fused(B * H * L * S):
        _launch_with_blas(_attention_fused_fwd, B * H * L * S, _heads(q), _heads(k), _heads(v), H, m,
                          bool(is_causal), float(scale), _heads(out), _heads(lse))
        return out, lse
    inv = np.empty((B, H, L, 1), dtype=q.dtype)
    p = _scores(q, k, "p", is_causal)                         # (B, H, L, S) raw scores
    _attention_probs.launch(p.size, _heads(p), H, m, bool(is_causal), float(scale),
                            _heads(lse), inv.reshape(B * H, L))
    _rows_times(p, v, out, is_causal)                         # (B, H, L, Dv), unnormalised
    out *= inv
    return out, lse


def attention_backward(q, k, v, mask, is_causal, scale, out, lse, grad_out):
    B, H, L, D = q.shape
    S = k.shape[2]
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    m = _mask_arg(mask, q.dtype, is_causal, L, S)
    if _fused(B * H * L * S):
        gq, gk, gv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
        _launch_with_blas(_attention_fused_bwd, B * H * L * S, _heads(q), _heads(k), _heads(v), H, m,
                          bool(is_causal), float(scale), _heads(out), _heads(lse), _heads(grad_out),
                          _heads(gq), _heads(gk), _heads(gv))
        return gq, gk, gv
    p = _scores(q, k, "p", is_causal)                         # (B, H, L, S) raw scores
    ds = _scores(grad_out, v, "ds", is_causal)                # (B, H, L, S) dp
    _attention_grad_scores.launch(p.size, _heads(p), _heads(ds), H, _heads(out),
                                  _heads(grad_out), _heads(lse), m, bool(is_causal),
                                  float(scale))
    grad_v = _cols_times(p, grad_out, np.empty_like(v), is_causal)    # (B, H, S, Dv) = p^T g
    grad_q = _rows_times(ds, k, np.empty_like(q), is_causal)          # (B, H, L, D) = ds k
    grad_k = _cols_times(ds, q, np.empty_like(k), is_causal)          # (B, H, S, D) = ds^T q
    return grad_q, grad_k, grad_v


@_Kernel
def _add(a, b, out):
    """out = a + b over flat arrays, in chunks (prange): on two threads, each
    adds the half of the rows it wrote in the product before (the same fixed
    split), so the operands are in its own core's cache."""
    n = a.shape[0]
    for c in prange((n + _GELU_CHUNK - 1) // _GELU_CHUNK):
        ac, bc, oc = _chunk(a, c), _chunk(b, c), _chunk(out, c)
        for i in range(oc.shape[0]):
            oc[i] = ac[i] + bc[i]


def add(a, b):
    """reference.add; arrays of at least PARALLEL_MIN_ELEMENTS on the thread pool."""
    if not _parallel(a.size):
        return a + b
    out = np.empty_like(a)
    _add.parallel(a.reshape(-1), b.reshape(-1), out.reshape(-1))
    return out


@njit(**_JIT)
def _scatter_rows(ids, rows, out):
    """out[ids[i]] += rows[i] in the order of i (one pass, no sort)."""
    for i in range(ids.shape[0]):
        r = ids[i]
        for j in range(rows.shape[1]):
            out[r, j] += rows[i, j]


def scatter_rows(ids, rows, num_rows):
    """reference.scatter_rows in one compiled pass."""
    out = np.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
    _scatter_rows(ids, rows, out)
    return out


def packed_attention(qkv, num_heads, is_causal, scale):
    """reference.packed_attention: the fused kernel gathers each head from qkv
    (B, T, 3C) and scatters it merged into out (B, T, C), no whole-tensor
    copies; problems above FUSED_MAX_ELEMENTS go through attention()."""
    B, T, C3 = qkv.shape
    if not _fused(B * num_heads * T * T):
        return reference.packed_attention(qkv, num_heads, is_causal, scale, attend=attention)
    out = np.empty((B, T, C3 // 3), dtype=qkv.dtype)
    lse = np.empty((B, num_heads, T), dtype=qkv.dtype)
    _launch_with_blas(_packed_fwd, B * num_heads * T * T, qkv, num_heads,
                      _mask_arg(None, qkv.dtype, is_causal, T, T), bool(is_causal), float(scale), out, lse)
    return out, lse


def packed_attention_backward(qkv, num_heads, is_causal, scale, out, lse, grad_out):
    """reference.packed_attention_backward, the fused kernel scattering dq, dk,
    dv straight into the packed (B, T, 3C) gradient."""
    B, T, C3 = qkv.shape
    if not _fused(B * num_heads * T * T):
        return reference.packed_attention_backward(qkv, num_heads, is_causal, scale, out, lse, grad_out,
                                                   attend_backward=attention_backward)
    grad = np.empty_like(qkv)
    _launch_with_blas(_packed_bwd, B * num_heads * T * T, qkv, num_heads,
                      _mask_arg(None, qkv.dtype, is_causal, T, T), bool(is_causal), float(scale),
                      out, lse, grad_out, grad)
    return grad


def layer_norm(x, weight, bias, eps):
    N, D = x.shape
    y = np.empty_like(x)
    mean = np.empty(N, dtype=x.dtype)
    rstd = np.empty(N, dtype=x.dtype)
    dummy = np.empty(0, dtype=x.dtype)
    _layer_norm_fwd.launch(x.size, x, dummy if weight is None else weight,
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
    _layer_norm_bwd.launch(x.size, grad_y, x, weight if has_w else np.empty(0, x.dtype), has_w,
                           mean, rstd, gx, gw_part, gb_part)
    if not has_w:
        return gx, None, None
    # fixed-order sum of the chunk partials: deterministic
    return gx, gw_part.sum(axis=0), gb_part.sum(axis=0)


def gelu(x, approximate="none"):
    y = np.empty_like(x)
    kernel = _gelu_tanh_fwd if approximate == "tanh" else _gelu_erf_fwd
    kernel.launch(x.size, x.reshape(-1), y.reshape(-1))
    return y


def gelu_backward(x, grad_y, approximate="none", y=None):
    gx = np.empty_like(x)
    if approximate != "tanh" and y is not None:
        _gelu_erf_bwd_from_y.launch(x.size, x.reshape(-1), y.reshape(-1), grad_y.reshape(-1), gx.reshape(-1))
        return gx
    kernel = _gelu_tanh_bwd if approximate == "tanh" else _gelu_erf_bwd
    kernel.launch(x.size, x.reshape(-1), grad_y.reshape(-1), gx.reshape(-1))
    return gx


# ============================================================================
# Adam / AdamW: one pass over the parameter instead of ~8 NumPy passes
# ============================================================================
@njit(**_EXACT)
def _adam_loop(p, g, m, v, vmax, amsgrad, w1, low_weight, b2, one_minus_b2, wd, decay,
               step_size, bc2_sqrt, eps):
    """The reference's arithmetic (same order, same float dtype) per element.

    Compiled without ``contract`` and ``reassoc`` (_EXACT): LLVM vectorises the
    loop behind a runtime check on how far apart the arrays lie in memory, and
    runs the plain loop when the check fails, as it may for small parameters
    allocated close together.  With fused multiply-adds allowed, the two
    versions round differently, so a training run's weights depended on where
    its arrays were allocated (seen as a resumed run ending 1 ulp away from an
    uninterrupted one); without them every element is computed the same way."""
    one = _as(1.0, p)
    for i in range(p.shape[0]):
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        mi = m[i]
        if low_weight:
            mi = mi + w1 * (gi - mi)
        else:
            mi = gi - (gi - mi) * (one - w1)
        m[i] = mi
        vi = v[i] * b2 + one_minus_b2 * (gi * gi)
        v[i] = vi
        if amsgrad:
            if vmax[i] > vi:
                vi = vmax[i]
            vmax[i] = vi
        p[i] = p[i] * decay - step_size * (mi / (np.sqrt(vi) / bc2_sqrt + eps))


@_Kernel
def _adam(p, g, m, v, vmax, amsgrad, w1, low_weight, b2, one_minus_b2, wd, decay, step_size, bc2_sqrt, eps):
    """_adam_loop over fixed chunks of the flat arrays (prange): a parameter of
    at least PARALLEL_MIN_ELEMENTS is updated on the thread pool (the square
    root and division per element make the update compute-bound)."""
    for c in prange((p.shape[0] + _GELU_CHUNK - 1) // _GELU_CHUNK):
        _adam_loop(_chunk(p, c), _chunk(g, c), _chunk(m, c), _chunk(v, c), _chunk(vmax, c), amsgrad,
                   w1, low_weight, b2, one_minus_b2, wd, decay, step_size, bc2_sqrt, eps)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, step,
                weight_decay=0.0, decoupled=False):
    f = param.dtype.type
    amsgrad = max_exp_avg_sq is not None
    w1 = 1 - beta1
    _adam.launch(param.size, param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
                 (max_exp_avg_sq if amsgrad else exp_avg_sq).reshape(-1), amsgrad,
                 f(w1), abs(w1) < 0.5, f(beta2), f(1 - beta2),
                 f(0.0 if decoupled else weight_decay), f(1 - lr * weight_decay if decoupled else 1.0),
                 f(lr / (1 - beta1 ** step)), f((1 - beta2 ** step) ** 0.5), f(eps))
