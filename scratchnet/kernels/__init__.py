"""Kernel dispatch: NumPy arrays in, NumPy arrays out.

Every kernel exists twice, with the same signature:

* ``reference.py``: plain NumPy, the readable ground truth;
* ``numba_cpu.py``: compiled with Numba (``@njit(cache=True)``), imported and
  compiled only on the first call that needs it, so ``import scratchnet``
  never imports Numba.

The functions here validate their inputs (raising ``ValueError`` /
``IndexError`` that name the kernel and the shapes), make them C-contiguous
(views, read-only and non-contiguous arrays are fine; inputs are never
modified) and call the chosen backend.

Backend selection, checked on every call (see :func:`backend`):

1. a :func:`use_backend` override active in the calling thread;
2. the environment variable ``SCRATCHNET_KERNELS`` (``numpy`` selects the
   reference; anything else, or unset, selects Numba);
3. Numba is used only if it can be imported; otherwise the NumPy reference
   runs (with one warning).

Size-0 inputs always go to the NumPy reference (they return empty results).
Non-float (e.g. integer) matmul operands also go to NumPy.
"""
import contextlib
import importlib.util
import math
import os
import threading
import warnings

import numpy as np

from . import reference

__all__ = [
    "matmul", "matmul_backward", "gemm", "linear_grads",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy",
    "attention", "attention_backward", "packed_attention", "packed_attention_backward",
    "layer_norm", "layer_norm_backward", "scatter_rows", "add",
    "gelu", "gelu_backward",
    "adam_update",
    "backend", "use_backend",
]

_BACKENDS = ("numba", "numpy")
_local = threading.local()
_numba_module = None          # numba_cpu once imported
_numba_failed = None          # the ImportError if numba could not be imported


# ----------------------------------------------------------------------------
# backend selection
# ----------------------------------------------------------------------------
def _numba_importable():
    if _numba_failed is not None:
        return False
    if _numba_module is not None:
        return True
    return importlib.util.find_spec("numba") is not None


_ENV_VAR = "SCRATCHNET_KERNELS"
# os.environ.get encodes the key and decodes the value on every call (about
# 1 us; a baby-GPT training step dispatches over 100 kernels, 0.3-0.6 ms of
# its ~24 ms).  os.environ keeps its encoded mapping ``_data`` in step with
# every change made through it, so the variable is read from there, and the
# parsed choice is remembered per raw value.
_environ_data = getattr(os.environ, "_data", None)
_env_key = os.environ.encodekey(_ENV_VAR) if _environ_data is not None else None
_env_choices = {}             # raw value of the variable -> 'numba' or 'numpy'


def _env_backend():
    """The backend ``SCRATCHNET_KERNELS`` asks for, read now: 'numpy' for
    ``numpy`` or ``reference`` (any case, spaces ignored), else 'numba'."""
    if _environ_data is None:
        raw = os.environ.get(_ENV_VAR, "")
    else:
        raw = _environ_data.get(_env_key, "")
    name = _env_choices.get(raw)
    if name is None:
        text = os.environ.decodevalue(raw) if isinstance(raw, bytes) else raw
        name = "numpy" if text.strip().lower() in ("numpy", "reference") else "numba"
        if len(_env_choices) < 16:
            _env_choices[raw] = name
    return name


def backend():
    """The backend the next kernel call will use: ``'numba'`` or ``'numpy'``.

    A :func:`use_backend` override in this thread wins; otherwise
    ``SCRATCHNET_KERNELS=numpy`` (read now, not at import) selects NumPy;
    otherwise Numba, if it is importable.
    """
    name = getattr(_local, "override", None)
    if name is None:
        name = _env_backend()
    if name == "numba" and not _numba_importable():
        return "numpy"
    return name


@contextlib.contextmanager
def use_backend(name):
    """Run the enclosed block with backend ``name`` ('numba' or 'numpy').

    The override is thread-local (other threads keep their own choice) and
    restored on exit, also on error; overrides nest.  It beats the
    ``SCRATCHNET_KERNELS`` variable.  ``'numba'`` still falls back to NumPy
    when Numba cannot be imported.
    """
    if name not in _BACKENDS:
        raise ValueError(f"use_backend: unknown backend {name!r}; expected one of {_BACKENDS}")
    previous = getattr(_local, "override", None)
    _local.override = name
    try:
        yield
    finally:
        _local.override = previous


def _numba():
    """The numba_cpu module (imported on first use), or None if unavailable."""
    global _numba_module, _numba_failed
    if _numba_module is None and _numba_failed is None:
        try:
            from . import numba_cpu
            _numba_module = numba_cpu
        except ImportError as exc:   # numba or scipy missing / broken
            _numba_failed = exc
            warnings.warn(f"scratchnet.kernels: Numba unavailable ({exc}); "
                          "using the NumPy reference kernels", RuntimeWarning)
    return _numba_module


def _impl(*arrays):
    """The module to run: numba_cpu, or reference for the NumPy backend / empty inputs."""
    if backend() == "numpy":
        return reference
    for x in arrays:
        if x is not None and x.size == 0:
            return reference
    mod = _numba()
    return mod if mod is not None else reference


# ----------------------------------------------------------------------------
# input helpers
# ----------------------------------------------------------------------------
def _float_array(name, what, x):
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer) \
                or x.dtype == np.bool_:
            x = x.astype(np.float64)
        else:
            raise TypeError(f"{name}: {what} must be a float array, got dtype {x.dtype}")
    return x


def _floats(name, **arrays):
    """Float arrays of one common dtype (float32 if all are float32), C-contiguous."""
    if _already_floats(arrays.values()):           # the common case: nothing to convert
        return list(arrays.values())
    out = {k: (None if v is None else _float_array(name, k, v)) for k, v in arrays.items()}
    dtypes = [v.dtype for v in out.values() if v is not None]
    dtype = np.float32 if all(d == np.float32 for d in dtypes) else np.float64
    # astype(order='C', copy=False): no copy when already fine, and 0-d stays 0-d
    return [None if v is None else v.astype(dtype, order="C", copy=False)
            for v in out.values()]


def _already_floats(values):
    """Whether every value is None or a C-contiguous ndarray of one float dtype."""
    dtype = None
    for v in values:
        if v is None:
            continue
        if type(v) is not np.ndarray or not v.flags.c_contiguous or v.dtype not in _FLOATS \
                or (dtype is not None and v.dtype != dtype):
            return False
        dtype = v.dtype
    return True


def _shapes(**arrays):
    return ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in arrays.items() if v is not None)


def _same_shape(name, a, b, an, bn):
    if a.shape != b.shape:
        raise ValueError(f"{name}: {an} {a.shape} and {bn} {b.shape} must have the same shape")


# ----------------------------------------------------------------------------
# matmul
# ----------------------------------------------------------------------------
# Which path a matmul takes.  Measured with `python benchmarks/kernels.py
# --matmul-sweep` on this 2-core machine (float32, forward, ms, np.matmul vs
# the compiled batched loop _bmm):
#     48 x (64x32 @ 32x64)     0.078 vs 0.241      8 x (64x32 @ 32x64)   0.012 vs 0.037
#     48 x (64x64 @ 64x64)     0.156 vs 0.330     48 x (16x16 @ 16x16)   0.005 vs 0.023
#     48 x (96x96 @ 96x96)     0.510 vs 1.363     32 x (512x64 @ 64x512) 8.9   vs 26.5
#      1 x (768x128 @ 128x512) 0.272 vs 4.501
# NumPy 2.x's matmul calls BLAS gemm once per product of a stack, with little
# overhead, and beats the loop on every shape measured, including the many
# small products of attention heads.  So matmul always goes to BLAS: large
# products on Numba's thread pool, one single-threaded BLAS call per block
# (numba_cpu.blas_matmul, gemm_numba.py), small ones in np.matmul.  The
# compiled loop stays available (and tested) for machines where the sweep
# says otherwise: set _NUMBA_MATMUL.
_NUMBA_MATMUL = False
_BMM_MIN_BATCH = 4               # at least this many products
_BMM_MAX_MNK = 96 * 96 * 96      # and each product at most this many multiply-adds


def _one_float_dtype(*arrays):
    """The float arrays in one dtype (float32 unless one is float64), layout untouched."""
    dtypes = {x.dtype for x in arrays if x is not None}
    if len(dtypes) <= 1 and dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
        return arrays
    dtype = np.float32 if all(d == np.float32 for d in dtypes) else np.float64
    return tuple(None if x is None else _float_array("matmul", "operand", x).astype(dtype, copy=False)
                 for x in arrays)


def _use_numba_matmul(a, b):
    if not _NUMBA_MATMUL:
        return False
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    T = math.prod(batch)
    M, K = a.shape[-2:]
    N = b.shape[-1]
    return T >= _BMM_MIN_BATCH and M * K * N <= _BMM_MAX_MNK


def _check_matmul(name, a, b):
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"{name}: a {a.shape} and b {b.shape} must have ndim >= 2")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"{name}: inner dimensions differ: a {a.shape} @ b {b.shape}")
    try:
        return np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"{name}: batch dimensions of a {a.shape} and b {b.shape} "
                         "do not broadcast") from None


def matmul(a, b, bias=None):
    """out = a @ b + bias.  a (..., M, K), b (..., K, N), broadcastable batch
    dims; bias (N,) or None.  Large products go to BLAS (np.matmul), many
    small batched ones to Numba (see _use_numba_matmul)."""
    a, b = np.asarray(a), np.asarray(b)
    _check_matmul("matmul", a, b)
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (b.shape[-1],):
            raise ValueError(f"matmul: bias {bias.shape} must have shape ({b.shape[-1]},) "
                             f"for a {a.shape} @ b {b.shape}")
    if not all(x.dtype in (np.float32, np.float64) for x in (a, b)):
        return reference.matmul(a, b, bias)          # ints etc.: plain NumPy
    if not _NUMBA_MATMUL:                            # BLAS, on the kernels' thread pool when large
        a, b, bias = _one_float_dtype(a, b, bias)
        mod = _impl(a, b)
        return reference.matmul(a, b, bias) if mod is reference else mod.blas_matmul(a, b, bias)
    a, b, bias = _floats("matmul", a=a, b=b, bias=bias)
    mod = _impl(a, b, bias)
    if mod is not reference and not _use_numba_matmul(a, b):
        mod = reference
    return mod.matmul(a, b, bias)


def matmul_backward(a, b, grad_out, need_a=True, need_b=True, has_bias=False):
    """(grad_a, grad_b, grad_bias) of out = a @ b (+ bias): grad_a = grad_out @ b^T
    with shape (*batch, M, K), grad_b = a^T @ grad_out with shape (*batch, K, N)
    (the caller unbroadcasts), grad_bias = grad_out summed over all but the
    last axis.  Entries not needed are None."""
    a, b, grad_out = np.asarray(a), np.asarray(b), np.asarray(grad_out)
    batch = _check_matmul("matmul_backward", a, b)
    expected = batch + (a.shape[-2], b.shape[-1])
    if grad_out.shape != expected:
        raise ValueError(f"matmul_backward: grad_out {grad_out.shape} must have shape "
                         f"{expected} for a {a.shape} @ b {b.shape}")
    if not _NUMBA_MATMUL:
        a, b, grad_out = _one_float_dtype(a, b, grad_out)
        mod = _impl(a, b, grad_out)
        if mod is reference:
            return reference.matmul_backward(a, b, grad_out, need_a, need_b, has_bias)
        return mod.blas_matmul_backward(a, b, grad_out, need_a, need_b, has_bias)
    a, b, grad_out = _floats("matmul_backward", a=a, b=b, grad_out=grad_out)
    mod = _impl(a, b, grad_out)
    if mod is not reference and not _use_numba_matmul(a, b):
        mod = reference
    return mod.matmul_backward(a, b, grad_out, need_a, need_b, has_bias)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def gemm(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for 2-D float arrays, op(x) = x or x^T: a (M, K), or
    (K, M) with trans_a; b (K, N), or (N, K) with trans_b.  The operands are
    the arrays as stored (pass W, not W.T), so that neither backend copies a
    transpose.  One float dtype for both (float32 unless one is float64).
    The Numba backend runs large products on its thread pool (gemm_numba)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm: a {a.shape} and b {b.shape} must be 2-D")
    ka = a.shape[0] if trans_a else a.shape[1]
    kb = b.shape[1] if trans_b else b.shape[0]
    if ka != kb:
        raise ValueError(f"gemm: inner dimensions differ: op(a) has {ka} columns, op(b) {kb} rows "
                         f"(a {a.shape}, trans_a={trans_a}; b {b.shape}, trans_b={trans_b})")
    if not (a.dtype == b.dtype and a.dtype in _FLOATS and a.flags.c_contiguous and b.flags.c_contiguous):
        a, b = _floats("gemm", a=a, b=b)              # (the common case, Linear's, skips this)
    return _impl(a, b).gemm(a, b, bool(trans_a), bool(trans_b))


def linear_grads(g, w, x, need_x=True, need_w=True):
    """The gradient products of y = x W^T: (dx = g W, dW = g^T x) for g (N,
    out), w (out, in), x (N, in), None for a gradient not needed.  The Numba
    backend computes both in one parallel region when both are needed."""
    g, w, x = np.asarray(g), np.asarray(w), np.asarray(x)
    if g.ndim != 2 or w.ndim != 2 or x.ndim != 2 or g.shape[1] != w.shape[0] \
            or x.shape != (g.shape[0], w.shape[1]):
        raise ValueError(f"linear_grads: expected g (N, out), w (out, in), x (N, in); got "
                         f"g {g.shape}, w {w.shape}, x {x.shape}")
    g, w, x = _floats("linear_grads", g=g, w=w, x=x)
    return _impl(g, w, x).linear_grads(g, w, x, bool(need_x), bool(need_w))


# ----------------------------------------------------------------------------
# softmax / log_softmax
# ----------------------------------------------------------------------------
def _check_last_axis(name, x):
    if x.ndim == 0:
        raise ValueError(f"{name}: input must have at least 1 dimension, got a 0-d array")


def softmax(x):
    """y = exp(x - max) / sum exp(x - max) over the last axis."""
    (x,) = _floats("softmax", x=x)
    _check_last_axis("softmax", x)
    return _impl(x).softmax(x)


def softmax_backward(y, grad_y):
    """grad_x = y * (grad_y - sum(grad_y * y, -1, keepdims=True))."""
    y, grad_y = _floats("softmax_backward", y=y, grad_y=grad_y)
    _check_last_axis("softmax_backward", y)
    _same_shape("softmax_backward", y, grad_y, "y", "grad_y")
    return _impl(y).softmax_backward(y, grad_y)


def log_softmax(x):
    """y = x - max - log(sum exp(x - max)) over the last axis."""
    (x,) = _floats("log_softmax", x=x)
    _check_last_axis("log_softmax", x)
    return _impl(x).log_softmax(x)


def log_softmax_backward(y, grad_y):
    """grad_x = grad_y - exp(y) * sum(grad_y, -1, keepdims=True)."""
    y, grad_y = _floats("log_softmax_backward", y=y, grad_y=grad_y)
    _check_last_axis("log_softmax_backward", y)
    _same_shape("log_softmax_backward", y, grad_y, "y", "grad_y")
    return _impl(y).log_softmax_backward(y, grad_y)


# ----------------------------------------------------------------------------
# cross-entropy
# ----------------------------------------------------------------------------
def cross_entropy(logits, target, weight=None, ignore_index=-100,
                  label_smoothing=0.0, reduction="mean"):
    """Fused log-softmax + cross-entropy with PyTorch's F.cross_entropy math
    (class-index targets); returns (loss, grad_logits).  See
    reference.cross_entropy for the formulas.  loss has shape (N,) for
    reduction='none', else is a 0-d array."""
    logits, weight = _floats("cross_entropy", logits=logits, weight=weight)
    target = np.asarray(target)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits {logits.shape} must be 2-D (N, C)")
    N, C = logits.shape
    if target.shape != (N,):
        raise ValueError(f"cross_entropy: target {target.shape} must have shape ({N},) "
                         f"for logits {logits.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class indices, "
                        f"got dtype {target.dtype}")
    if weight is not None and weight.shape != (C,):
        raise ValueError(f"cross_entropy: weight {weight.shape} must have shape ({C},) "
                         f"for logits {logits.shape}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], "
                         f"got {label_smoothing}")
    if C == 0:
        raise ValueError(f"cross_entropy: logits {logits.shape} has 0 classes")
    target = np.ascontiguousarray(target, dtype=np.int64)
    ignore_index = int(ignore_index)
    bad = (target != ignore_index) & ((target < 0) | (target >= C))
    if bad.any():
        value = int(target[np.argmax(bad)])
        raise IndexError(f"cross_entropy: target index {value} out of range for {C} classes")
    return _impl(logits).cross_entropy(logits, target, weight, ignore_index,
                                       float(label_smoothing), reduction)


# ----------------------------------------------------------------------------
# attention
# ----------------------------------------------------------------------------
def _prepare_mask(mask, B, H, L, S, dtype):
    """A mask (bool: True = may attend, or float: added) as an additive float
    array of shape (Bm, Hm, L, S), Bm in {1, B}, Hm in {1, H}, or None."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.ndim > 4:
        raise ValueError(f"attention: mask {mask.shape} has more than 4 dimensions")
    m4 = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    try:
        np.broadcast_shapes(m4.shape, (B, H, L, S))
        if np.broadcast_shapes(m4.shape, (B, H, L, S)) != (B, H, L, S):
            raise ValueError
    except ValueError:
        raise ValueError(f"attention: mask {mask.shape} does not broadcast to "
                         f"(B, H, L, S) = {(B, H, L, S)}") from None
    m4 = np.broadcast_to(m4, (m4.shape[0], m4.shape[1], L, S))
    if m4.dtype == np.bool_:
        add = np.where(m4, dtype(0), dtype(-np.inf)).astype(dtype)
    elif np.issubdtype(m4.dtype, np.floating):
        add = np.ascontiguousarray(m4, dtype=dtype)
    else:
        raise TypeError(f"attention: mask must be boolean or float, got dtype {mask.dtype}")
    return add


def _check_attention(name, q, k, v):
    for n, x in (("q", q), ("k", k), ("v", v)):
        if x.ndim != 4:
            raise ValueError(f"{name}: q, k, v must be 4-D (B, H, L|S, D); "
                             f"got {_shapes(q=q, k=k, v=v)} ({n} is {x.ndim}-D)")
    B, H, L, D = q.shape
    S = k.shape[2]
    if k.shape != (B, H, S, D) or v.shape[:3] != (B, H, S):
        raise ValueError(f"{name}: expected q (B, H, L, D), k (B, H, S, D), v (B, H, S, Dv); "
                         f"got {_shapes(q=q, k=k, v=v)}")
    return B, H, L, S, D


def _scale(name, scale, D):
    if scale is None:
        if D == 0:
            raise ValueError(f"{name}: head dimension D is 0, the default scale 1/sqrt(D) "
                             "is undefined; pass scale explicitly")
        return 1.0 / math.sqrt(D)
    return float(scale)


def attention(q, k, v, mask=None, is_causal=False, scale=None):
    """Scaled dot-product attention; returns (out (B, H, L, Dv), lse (B, H, L)).

    mask: None, boolean broadcastable to (B, H, L, S) (True = may attend) or
    float broadcastable to (B, H, L, S) (added to the scores).  is_causal:
    position i attends to j <= i.  Fully masked rows give out = 0, lse = -inf.
    """
    q, k, v = _floats("attention", q=q, k=k, v=v)
    B, H, L, S, D = _check_attention("attention", q, k, v)
    scale = _scale("attention", scale, D)
    mask = _prepare_mask(mask, B, H, L, S, q.dtype.type)
    return _impl(q, k, v, mask).attention(q, k, v, mask, bool(is_causal), scale)


def attention_backward(q, k, v, mask, is_causal, scale, out, lse, grad_out):
    """(grad_q, grad_k, grad_v) of attention, recomputing the probabilities
    from q, k and lse; fully masked rows contribute zero gradient."""
    q, k, v, out, lse, grad_out = _floats("attention_backward", q=q, k=k, v=v, out=out,
                                          lse=lse, grad_out=grad_out)
    B, H, L, S, D = _check_attention("attention_backward", q, k, v)
    Dv = v.shape[3]
    if out.shape != (B, H, L, Dv) or grad_out.shape != (B, H, L, Dv) or lse.shape != (B, H, L):
        raise ValueError(f"attention_backward: expected out and grad_out {(B, H, L, Dv)} and "
                         f"lse {(B, H, L)}; got {_shapes(out=out, grad_out=grad_out, lse=lse)}")
    scale = _scale("attention_backward", scale, D)
    mask = _prepare_mask(mask, B, H, L, S, q.dtype.type)
    return _impl(q, k, v, mask, grad_out).attention_backward(
        q, k, v, mask, bool(is_causal), scale, out, lse, grad_out)


def _check_packed(name, qkv, num_heads):
    """(B, T, C3, hs) of a packed projection qkv (B, T, 3 * num_heads * hs)."""
    if qkv.ndim != 3:
        raise ValueError(f"{name}: qkv must be 3-D (B, T, 3C), got shape {qkv.shape}")
    if int(num_heads) < 1 or qkv.shape[2] % (3 * int(num_heads)):
        raise ValueError(f"{name}: the last dim of qkv {qkv.shape} must be 3 * num_heads * head_size "
                         f"with num_heads = {num_heads} >= 1")
    return qkv.shape + (qkv.shape[2] // (3 * int(num_heads)),)


def packed_attention(qkv, num_heads, is_causal=False, scale=None):
    """Self-attention of the heads of a packed projection qkv (B, T, 3C) =
    [q | k | v], head h at columns h*hs:(h+1)*hs of each block (what
    ``split(3)`` then ``reshape(B, T, nh, hs).swapaxes(1, 2)`` gives).
    Returns (out (B, T, C) with the heads merged, lse (B, nh, T))."""
    qkv, = _floats("packed_attention", qkv=qkv)
    hs = _check_packed("packed_attention", qkv, num_heads)[3]
    scale = _scale("packed_attention", scale, hs)
    return _impl(qkv).packed_attention(qkv, int(num_heads), bool(is_causal), scale)


def packed_attention_backward(qkv, num_heads, is_causal, scale, out, lse, grad_out):
    """d qkv (B, T, 3C) of packed_attention for grad_out (B, T, C), in the packed layout."""
    qkv, out, lse, grad_out = _floats("packed_attention_backward", qkv=qkv, out=out, lse=lse,
                                      grad_out=grad_out)
    B, T, C3, hs = _check_packed("packed_attention_backward", qkv, num_heads)
    nh = int(num_heads)
    for what, x, shape in (("out", out, (B, T, C3 // 3)), ("grad_out", grad_out, (B, T, C3 // 3)),
                           ("lse", lse, (B, nh, T))):
        if x.shape != shape:
            raise ValueError(f"packed_attention_backward: {what} {x.shape} must have shape {shape} "
                             f"for qkv {qkv.shape} with {nh} heads")
    scale = _scale("packed_attention_backward", scale, hs)
    return _impl(qkv, grad_out).packed_attention_backward(qkv, nh, bool(is_causal), scale, out, lse,
                                                          grad_out)


def add(a, b):
    """a + b with NumPy's rules.  Two C-contiguous float arrays of one shape and
    dtype go to the backend (the Numba one adds large arrays on the thread
    pool, where the products and kernels before them left their rows); any
    other pair (broadcasting, mixed dtypes, views) is NumPy's a + b."""
    if a is not None and b is not None and _already_floats((a, b)) and a.shape == b.shape and a.size:
        return _impl(a, b).add(a, b)
    return np.add(a, b)


def scatter_rows(ids, rows, num_rows):
    """out (num_rows, dim) with out[ids[i]] += rows[i] (zeros elsewhere): the
    embedding's weight gradient.  ids (n,) integers in [0, num_rows), rows
    (n, dim) float."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    rows, = _floats("scatter_rows", rows=rows)
    if ids.ndim != 1 or rows.ndim != 2 or rows.shape[0] != ids.shape[0]:
        raise ValueError(f"scatter_rows: ids (n,) and rows (n, dim) expected, got "
                         f"ids {ids.shape}, rows {rows.shape}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= num_rows):
        raise IndexError(f"scatter_rows: ids must be in [0, {num_rows}), got values in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    return _impl(ids, rows).scatter_rows(ids, rows, int(num_rows))


# ----------------------------------------------------------------------------
# layer norm
# ----------------------------------------------------------------------------
def layer_norm(x, weight, bias, eps):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis.

    x (..., D) (handled as (N, D)); weight, bias (D,) or None.  Returns
    (y (..., D), mean (...), rstd (...))."""
    x, weight, bias = _floats("layer_norm", x=x, weight=weight, bias=bias)
    if x.ndim == 0:
        raise ValueError("layer_norm: x must have at least 1 dimension")
    D = x.shape[-1]
    if D == 0:
        raise ValueError(f"layer_norm: x {x.shape} has an empty normalised axis")
    for n, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (D,):
            raise ValueError(f"layer_norm: {n} {p.shape} must have shape ({D},) for x {x.shape}")
    lead = x.shape[:-1]
    x2 = x.reshape(-1, D)
    y, mean, rstd = _impl(x2).layer_norm(x2, weight, bias, float(eps))
    return y.reshape(x.shape), mean.reshape(lead), rstd.reshape(lead)


def layer_norm_backward(grad_y, x, weight, mean, rstd):
    """(grad_x, grad_weight, grad_bias); the last two are None when weight is None."""
    grad_y, x, weight, mean, rstd = _floats("layer_norm_backward", grad_y=grad_y, x=x,
                                            weight=weight, mean=mean, rstd=rstd)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"layer_norm_backward: x {x.shape} has no normalised axis")
    D = x.shape[-1]
    lead = x.shape[:-1]
    if grad_y.shape != x.shape or mean.shape != lead or rstd.shape != lead \
            or (weight is not None and weight.shape != (D,)):
        raise ValueError("layer_norm_backward: expected grad_y like x, mean and rstd "
                         f"{lead}, weight ({D},); got "
                         + _shapes(grad_y=grad_y, x=x, weight=weight, mean=mean, rstd=rstd))
    x2 = x.reshape(-1, D)
    gx, gw, gb = _impl(x2).layer_norm_backward(grad_y.reshape(-1, D), x2, weight,
                                               mean.reshape(-1), rstd.reshape(-1))
    return gx.reshape(x.shape), gw, gb


# ----------------------------------------------------------------------------
# GELU
# ----------------------------------------------------------------------------
def _check_approx(name, approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu(x, approximate="none"):
    """'none': x * Phi(x) (erf); 'tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    _check_approx("gelu", approximate)
    (x,) = _floats("gelu", x=x)
    return _impl(x).gelu(x, approximate)


def gelu_backward(x, grad_y, approximate="none", y=None):
    """grad_x = grad_y * gelu'(x). ``y`` (optional): the forward output
    gelu(x), from which the exact form reads Phi(x) = y / x (no erf)."""
    _check_approx("gelu_backward", approximate)
    x, grad_y, y = _floats("gelu_backward", x=x, grad_y=grad_y, y=y)
    _same_shape("gelu_backward", x, grad_y, "x", "grad_y")
    if y is not None:
        _same_shape("gelu_backward", x, y, "x", "y")
    return _impl(x).gelu_backward(x, grad_y, approximate, y)


# ----------------------------------------------------------------------------
# optimizer update
# ----------------------------------------------------------------------------
def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, lr, beta1, beta2, eps,
                step, weight_decay=0.0, decoupled=False):
    """One Adam/AdamW step, in place on ``param``, ``exp_avg``, ``exp_avg_sq``
    (and ``max_exp_avg_sq`` for AMSGrad); see ``reference.adam_update``.

    The state arrays must be C-contiguous, writeable and of ``param``'s shape
    and float dtype (the optimizer creates them so); ``grad`` may be any layout.
    """
    state = [param, exp_avg, exp_avg_sq] + ([] if max_exp_avg_sq is None else [max_exp_avg_sq])
    for a in state:
        if not isinstance(a, np.ndarray) or a.shape != param.shape or a.dtype != param.dtype \
                or a.dtype not in (np.float32, np.float64):
            raise ValueError(f"adam_update: state arrays must be float arrays of the parameter's shape "
                             f"{getattr(param, 'shape', None)} and dtype {getattr(param, 'dtype', None)}")
    grad = np.asarray(grad)
    if grad.shape != param.shape:
        raise ValueError(f"adam_update: grad {grad.shape} does not match the parameter {param.shape}")
    if grad.dtype != param.dtype:
        grad = grad.astype(param.dtype)
    fused = all(a.flags.c_contiguous and a.flags.writeable for a in state)
    mod = _impl(param) if fused else reference
    if mod is not reference:
        grad = np.ascontiguousarray(grad)
    mod.adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, step,
                    weight_decay, decoupled)
