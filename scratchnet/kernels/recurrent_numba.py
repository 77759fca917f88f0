"""Numba recurrences: the same functions and signatures as
``recurrent_reference.py`` (read that file for the equations).

The dispatcher (``recurrent.py``) imports this module only on the first call
that needs it, so ``import scratchnet`` never imports Numba.  Per time step:

* the hidden projection of one step, ``W_hh h_{t-1}`` (G*H, B) in the
  feature-major layout of ``recurrent_reference`` (measured ~1.5x faster in
  OpenBLAS than the (B, H) @ (H, G*H) form for B = 32), is one product into a
  preallocated buffer, run like the layers' products on the kernels' thread
  pool (``gemm_numba``: NumPy's OpenBLAS threads, once woken, keep spinning
  and would slow every parallel kernel that follows), or ``np.dot`` when
  small or single-threaded;
* the gate nonlinearities and the cell update of that step are compiled
  loops with the batch innermost (unit stride) and a vectorisable ``exp``;
* the backward does the same in reverse, and leaves the weight gradients to
  the dispatcher (one GEMM over all steps).

Deterministic: no ``prange`` and no reductions other than BLAS products
whose order does not depend on scheduling within one call.
float32 stays float32 (constants are cast with ``_as``).
"""
import contextlib

import numba
import numpy as np
from numba import njit

from . import gemm_numba
from .numba_cpu import POOL_GEMM_MIN_MNK, _as, _vexp

_JIT = dict(cache=True, error_model="numpy", fastmath={"nsz", "contract"})

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]


@njit(**_JIT)
def _sigmoid(x, one):
    """1 / (1 + e^{-x}); e^{-x} = inf for very negative x gives 0, as it should.
    ``one`` is 1 in the array dtype (keeps float32 arithmetic in float32)."""
    return one / (one + _vexp(-x))


@njit(**_JIT)
def _tanh(x, one):
    """tanh(x) = 1 - 2 / (e^{2x} + 1): exact limits +-1, vectorisable."""
    return one - (one + one) / (_vexp(x + x) + one)


# The step kernels take the whole (T, features, B) arrays and the step t and
# index them directly, ``x[t, r, k]`` with k (the batch) innermost: a
# unit-stride loop that LLVM vectorises, over one contiguous block per step.
# (Row slices like ``x[t, r]`` would cost a reference-counted view per row.)


# ----------------------------------------------------------------------------
# the time loops (Python: one BLAS call and one compiled step per t)
# ----------------------------------------------------------------------------
@contextlib.contextmanager
def _products(w_hh, B):
    """The per-step product ``dot(x, y, out)``: on the kernels' thread pool
    (gemm_numba, SciPy's BLAS on one thread for the whole loop) when it is
    large enough (POOL_GEMM_MIN_MNK), else NumPy's np.dot."""
    GH, H = w_hh.shape
    if GH * H * B < POOL_GEMM_MIN_MNK or numba.get_num_threads() == 1 or not gemm_numba.available():
        yield lambda x, y, out: np.dot(x, y, out=out)
        return
    with gemm_numba.pool_blas(w_hh.dtype):
        yield lambda x, y, out: gemm_numba.gemm_in_pool(x, y, out=out)


def _forward_loop(xp, h0, w_hh, hs, step):
    """For t = 0..T-1: a = W_hh h_{t-1} (G*H, B) by BLAS, then ``step(a, t)``
    fills hs[t] (and the cell's other arrays)."""
    a = np.empty(xp.shape[1:], xp.dtype)
    with _products(w_hh, xp.shape[2]) as dot:
        for t in range(xp.shape[0]):
            dot(w_hh, h0 if t == 0 else hs[t - 1], a)                 # (G*H, H) @ (H, B)
            step(a, t)


def _backward_loop(T, w_hh, dh, dgh, step, direct=None):
    """For t = T-1..0: ``step(t)`` fills dgh[t] (and the cell's other
    gradients), then dh = W_hh^T dgh[t] (+ ``direct``, the GRU's dh * z)."""
    w_hh_t = np.ascontiguousarray(w_hh.T)                             # (H, G*H)
    with _products(w_hh, dh.shape[1]) as dot:
        for t in range(T - 1, -1, -1):
            step(t)
            dot(w_hh_t, dgh[t], dh)                                   # (H, G*H) @ (G*H, B)
            if direct is not None:
                dh += direct


# ----------------------------------------------------------------------------
# RNN
# ----------------------------------------------------------------------------
@njit(**_JIT)
def _rnn_fwd_step(a, xp, t, b_hh, relu, hs):
    """hs[t] = act(xp[t] + a + b_hh), a = W_hh h_{t-1} (H, B)."""
    _, H, B = hs.shape
    zero, one = _as(0.0, xp), _as(1.0, xp)
    for j in range(H):
        for k in range(B):
            v = xp[t, j, k] + a[j, k] + b_hh[j]
            if relu:
                hs[t, j, k] = zero if v <= zero else v           # NaN stays NaN (torch.relu)
            else:
                hs[t, j, k] = _tanh(v, one)


@njit(**_JIT)
def _rnn_bwd_step(dh, dhs, hs, t, relu, dxp):
    """dxp[t] = (dh + dhs[t]) * act'(a_t)."""
    _, H, B = hs.shape
    one, zero = _as(1.0, hs), _as(0.0, hs)
    for j in range(H):
        for k in range(B):
            g = dh[j, k] + dhs[t, j, k]
            h = hs[t, j, k]
            if relu:
                dxp[t, j, k] = zero if h <= zero else g          # torch: 0 where h <= 0, else g
            else:
                dxp[t, j, k] = g * (one - h * h)


def rnn_forward(xp, h0, w_hh, b_hh, relu):
    hs = np.empty_like(xp)
    _forward_loop(xp, h0, w_hh, hs, lambda a, t: _rnn_fwd_step(a, xp, t, b_hh, bool(relu), hs))
    return hs


def rnn_backward(dhs, hs, h0, w_hh, relu):
    dxp = np.empty_like(dhs)
    dh = np.zeros_like(h0)
    _backward_loop(dhs.shape[0], w_hh, dh, dxp, lambda t: _rnn_bwd_step(dh, dhs, hs, t, bool(relu), dxp))
    return dxp, dh


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------
@njit(**_JIT)
def _lstm_fwd_step(a, xp, t, b_hh, c0, cs, hs, gates):
    """gates[t] (4H, B), cs[t] and hs[t] (H, B) from xp + a + b_hh."""
    _, H, B = hs.shape
    one = _as(1.0, xp)
    for r in range(4 * H):
        bias = b_hh[r]
        if 2 * H <= r < 3 * H:                                        # g: tanh
            for k in range(B):
                gates[t, r, k] = _tanh(xp[t, r, k] + a[r, k] + bias, one)
        else:                                                         # i, f, o: sigmoid
            for k in range(B):
                gates[t, r, k] = _sigmoid(xp[t, r, k] + a[r, k] + bias, one)
    for j in range(H):
        if t == 0:
            for k in range(B):
                cs[t, j, k] = gates[t, H + j, k] * c0[j, k] + gates[t, j, k] * gates[t, 2 * H + j, k]
        else:
            for k in range(B):
                cs[t, j, k] = gates[t, H + j, k] * cs[t - 1, j, k] + gates[t, j, k] * gates[t, 2 * H + j, k]
        for k in range(B):
            hs[t, j, k] = gates[t, 3 * H + j, k] * _tanh(cs[t, j, k], one)


@njit(**_JIT)
def _lstm_bwd_step(dh, dhs, cs, c0, t, gates, dc, dxp, tc):
    """dxp[t] (4H, B) of one step; dc (H, B) becomes dc_{t-1}.
    tc: scratch of B values."""
    _, H, B = cs.shape
    one = _as(1.0, cs)
    for j in range(H):
        for k in range(B):
            tc[k] = _tanh(cs[t, j, k], one)
        for k in range(B):
            gh = dh[j, k] + dhs[t, j, k]
            o = gates[t, 3 * H + j, k]
            dxp[t, 3 * H + j, k] = gh * tc[k] * o * (one - o)
            dc[j, k] += gh * o * (one - tc[k] * tc[k])
        for k in range(B):
            i, g = gates[t, j, k], gates[t, 2 * H + j, k]
            dxp[t, j, k] = dc[j, k] * g * i * (one - i)
            dxp[t, 2 * H + j, k] = dc[j, k] * i * (one - g * g)
        for k in range(B):
            cp = c0[j, k] if t == 0 else cs[t - 1, j, k]
            f = gates[t, H + j, k]
            dxp[t, H + j, k] = dc[j, k] * cp * f * (one - f)
            dc[j, k] *= f


def lstm_forward(xp, h0, c0, w_hh, b_hh):
    T, G, B = xp.shape
    hs = np.empty((T, G // 4, B), xp.dtype)
    cs = np.empty_like(hs)
    gates = np.empty_like(xp)
    _forward_loop(xp, h0, w_hh, hs, lambda a, t: _lstm_fwd_step(a, xp, t, b_hh, c0, cs, hs, gates))
    return hs, cs, gates


def lstm_backward(dhs, dcn, cs, gates, c0, w_hh):
    dxp = np.empty_like(gates)
    dh = np.zeros_like(c0)
    dc = dcn.copy()
    tc = np.empty(c0.shape[1], c0.dtype)
    _backward_loop(gates.shape[0], w_hh, dh, dxp,
                   lambda t: _lstm_bwd_step(dh, dhs, cs, c0, t, gates, dc, dxp, tc))
    return dxp, dh, dc


# ----------------------------------------------------------------------------
# GRU
# ----------------------------------------------------------------------------
@njit(**_JIT)
def _gru_fwd_step(a, xp, t, b_hh, h0, hs, gates, ghn):
    """r, z, n (gates[t], 3H x B) and hs[t] (H, B); a = W_hh h_{t-1}
    (b_hh added here)."""
    _, H, B = hs.shape
    one = _as(1.0, xp)
    for r in range(2 * H):                                            # r, z: sigmoid
        bias = b_hh[r]
        for k in range(B):
            gates[t, r, k] = _sigmoid(xp[t, r, k] + a[r, k] + bias, one)
    for j in range(H):
        bias = b_hh[2 * H + j]
        for k in range(B):
            hn = a[2 * H + j, k] + bias
            ghn[t, j, k] = hn
            gates[t, 2 * H + j, k] = _tanh(xp[t, 2 * H + j, k] + gates[t, j, k] * hn, one)
        for k in range(B):
            hp = h0[j, k] if t == 0 else hs[t - 1, j, k]
            z = gates[t, H + j, k]
            hs[t, j, k] = (one - z) * gates[t, 2 * H + j, k] + z * hp


@njit(**_JIT)
def _gru_bwd_step(dh, dhs, hs, h0, t, gates, ghn, dxp, dgh, direct):
    """dxp[t] and dgh[t] (3H, B) of one step; direct = the part of
    dh_{t-1} that bypasses W_hh (dh * z)."""
    _, H, B = hs.shape
    one = _as(1.0, gates)
    for j in range(H):
        for k in range(B):
            gh = dh[j, k] + dhs[t, j, k]
            z, n = gates[t, H + j, k], gates[t, 2 * H + j, k]
            hp = h0[j, k] if t == 0 else hs[t - 1, j, k]
            dn = gh * (one - z) * (one - n * n)
            dz = gh * (hp - n) * z * (one - z)
            dxp[t, 2 * H + j, k] = dn
            dxp[t, H + j, k] = dz
            dgh[t, H + j, k] = dz
            direct[j, k] = gh * z
        for k in range(B):
            r, dn = gates[t, j, k], dxp[t, 2 * H + j, k]
            dr = dn * ghn[t, j, k] * r * (one - r)
            dxp[t, j, k] = dr
            dgh[t, j, k] = dr
            dgh[t, 2 * H + j, k] = dn * r


def gru_forward(xp, h0, w_hh, b_hh):
    T, G, B = xp.shape
    hs = np.empty((T, G // 3, B), xp.dtype)
    ghn = np.empty_like(hs)
    gates = np.empty_like(xp)
    _forward_loop(xp, h0, w_hh, hs, lambda a, t: _gru_fwd_step(a, xp, t, b_hh, h0, hs, gates, ghn))
    return hs, gates, ghn


def gru_backward(dhs, hs, gates, ghn, h0, w_hh):
    dxp = np.empty_like(gates)
    dgh = np.empty_like(gates)
    dh = np.zeros_like(h0)
    direct = np.empty_like(h0)
    _backward_loop(gates.shape[0], w_hh, dh, dgh,
                   lambda t: _gru_bwd_step(dh, dhs, hs, h0, t, gates, ghn, dxp, dgh, direct), direct)
    return dxp, dgh, dh
