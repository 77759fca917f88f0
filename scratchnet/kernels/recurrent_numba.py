"""Numba recurrences: the same functions and signatures as
``recurrent_reference.py`` (read that file for the equations).

The dispatcher (``recurrent.py``) imports this module only on the first call
that needs it, so ``import scratchnet`` never imports Numba.  Per time step:

* the hidden projection of one step, ``h_{t-1} W_hh^T`` (B, G*H), is one BLAS
  call (NumPy's ``np.dot`` into a preallocated buffer, from Python: calling
  BLAS from inside Numba would use SciPy's copy of OpenBLAS, whose thread
  pool then fights NumPy's for the cores and makes every product erratic);
* the gate nonlinearities and the cell update of that step are one compiled
  loop over (B, H) that reads each pre-activation once, with a vectorisable
  ``exp``;
* the backward does the same in reverse, and leaves the weight gradients to
  the dispatcher (one GEMM over all steps).

Deterministic: no ``prange`` and no reductions other than BLAS products
whose order does not depend on scheduling within one call.
float32 stays float32 (constants are cast with ``_as``).
"""
import numpy as np
from numba import njit

from .numba_cpu import _as, _vexp

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


# ----------------------------------------------------------------------------
# RNN
# ----------------------------------------------------------------------------
@njit(**_JIT)
def _rnn_fwd_step(a, xp, b_hh, relu, h):
    """h = act(xp + a + b_hh), a = h_{t-1} W_hh^T."""
    B, H = h.shape
    one, zero = _as(1.0, xp), _as(0.0, xp)
    for b in range(B):
        for j in range(H):
            v = xp[b, j] + a[b, j] + b_hh[j]
            if relu:
                h[b, j] = v if v > zero else zero
            else:
                h[b, j] = _tanh(v, one)


@njit(**_JIT)
def _rnn_bwd_step(dh, dhs, h, relu, dxp):
    """dxp = (dh + dhs) * act'(a)."""
    B, H = h.shape
    one, zero = _as(1.0, h), _as(0.0, h)
    for b in range(B):
        for j in range(H):
            g = dh[b, j] + dhs[b, j]
            if relu:
                dxp[b, j] = g if h[b, j] > zero else zero
            else:
                dxp[b, j] = g * (one - h[b, j] * h[b, j])


def rnn_forward(xp, h0, w_hh, b_hh, relu):
    T, B, H = xp.shape
    hs = np.empty_like(xp)
    w_hh_t = np.ascontiguousarray(w_hh.T)                             # (H, H)
    a = np.empty((B, H), xp.dtype)
    for t in range(T):
        np.dot(h0 if t == 0 else hs[t - 1], w_hh_t, out=a)
        _rnn_fwd_step(a, xp[t], b_hh, bool(relu), hs[t])
    return hs


def rnn_backward(dhs, hs, h0, w_hh, relu):
    dxp = np.empty_like(dhs)
    dh = np.zeros_like(h0)
    for t in range(dhs.shape[0] - 1, -1, -1):
        _rnn_bwd_step(dh, dhs[t], hs[t], bool(relu), dxp[t])
        np.dot(dxp[t], w_hh, out=dh)                                  # (B, H) @ (H, H)
    return dxp, dh


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------
# The loops below work on one batch row and one gate block at a time, over
# contiguous 1-D slices, with few arrays per loop: that is what lets LLVM
# vectorise them (one loop over the whole row that reads and writes all four
# gate blocks stays scalar and is ~15x slower).
@njit(**_JIT)
def _gate(x, a, bias, out, tanh, one):
    """out = sigmoid(x + a + bias), or tanh(...) when ``tanh``; 1-D slices."""
    if tanh:
        for j in range(out.shape[0]):
            out[j] = _tanh(x[j] + a[j] + bias[j], one)
    else:
        for j in range(out.shape[0]):
            out[j] = _sigmoid(x[j] + a[j] + bias[j], one)


@njit(**_JIT)
def _lstm_fwd_step(a, xp, b_hh, c_prev, h, c, gates):
    """Gates, c and h of one step from the pre-activations xp + a + b_hh."""
    B, H = h.shape
    one = _as(1.0, xp)
    for b in range(B):
        x, ab, g = xp[b], a[b], gates[b]
        _gate(x[:2 * H], ab[:2 * H], b_hh[:2 * H], g[:2 * H], False, one)                  # i, f
        _gate(x[2 * H:3 * H], ab[2 * H:3 * H], b_hh[2 * H:3 * H], g[2 * H:3 * H], True, one)  # g
        _gate(x[3 * H:], ab[3 * H:], b_hh[3 * H:], g[3 * H:], False, one)                  # o
        i, f, gg, o = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
        cp, cb, hb = c_prev[b], c[b], h[b]
        for j in range(H):
            cb[j] = f[j] * cp[j] + i[j] * gg[j]
        for j in range(H):
            hb[j] = o[j] * _tanh(cb[j], one)


@njit(**_JIT)
def _lstm_bwd_step(dh, dhs, c, c_prev, gates, dc, dxp):
    """Pre-activation gradients of one step; dc becomes dc_{t-1}."""
    B, H = c.shape
    one = _as(1.0, c)
    tc = np.empty(H, c.dtype)
    for b in range(B):
        g, d = gates[b], dxp[b]
        i, f, gg, o = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
        di, df, dg, do = d[:H], d[H:2 * H], d[2 * H:3 * H], d[3 * H:]
        cb, cp, dcb, dhb, dsb = c[b], c_prev[b], dc[b], dh[b], dhs[b]
        for j in range(H):
            tc[j] = _tanh(cb[j], one)
        for j in range(H):
            gh = dhb[j] + dsb[j]
            do[j] = gh * tc[j] * o[j] * (one - o[j])
            dcb[j] += gh * o[j] * (one - tc[j] * tc[j])
        for j in range(H):
            di[j] = dcb[j] * gg[j] * i[j] * (one - i[j])
        for j in range(H):
            df[j] = dcb[j] * cp[j] * f[j] * (one - f[j])
        for j in range(H):
            dg[j] = dcb[j] * i[j] * (one - gg[j] * gg[j])
        for j in range(H):
            dcb[j] *= f[j]


def lstm_forward(xp, h0, c0, w_hh, b_hh):
    T, B, G = xp.shape
    hs = np.empty((T, B, G // 4), xp.dtype)
    cs = np.empty_like(hs)
    gates = np.empty_like(xp)
    w_hh_t = np.ascontiguousarray(w_hh.T)                             # (H, 4H)
    a = np.empty((B, G), xp.dtype)
    for t in range(T):
        np.dot(h0 if t == 0 else hs[t - 1], w_hh_t, out=a)            # (B, H) @ (H, 4H)
        _lstm_fwd_step(a, xp[t], b_hh, c0 if t == 0 else cs[t - 1], hs[t], cs[t], gates[t])
    return hs, cs, gates


def lstm_backward(dhs, dcn, cs, gates, c0, w_hh):
    dxp = np.empty_like(gates)
    dh = np.zeros_like(c0)
    dc = dcn.copy()
    for t in range(gates.shape[0] - 1, -1, -1):
        _lstm_bwd_step(dh, dhs[t], cs[t], c0 if t == 0 else cs[t - 1], gates[t], dc, dxp[t])
        np.dot(dxp[t], w_hh, out=dh)                                  # (B, 4H) @ (4H, H)
    return dxp, dh, dc


# ----------------------------------------------------------------------------
# GRU
# ----------------------------------------------------------------------------
@njit(**_JIT)
def _gru_fwd_step(a, xp, b_hh, h_prev, h, gates, ghn):
    """r, z, n and h of one step; a = h_{t-1} W_hh^T (b_hh added here)."""
    B, H = h.shape
    one = _as(1.0, xp)
    for b in range(B):
        x, ab, g, hn, hp, hb = xp[b], a[b], gates[b], ghn[b], h_prev[b], h[b]
        _gate(x[:2 * H], ab[:2 * H], b_hh[:2 * H], g[:2 * H], False, one)                  # r, z
        r, z, n = g[:H], g[H:2 * H], g[2 * H:]
        for j in range(H):
            hn[j] = ab[2 * H + j] + b_hh[2 * H + j]
        for j in range(H):
            n[j] = _tanh(x[2 * H + j] + r[j] * hn[j], one)
        for j in range(H):
            hb[j] = (one - z[j]) * n[j] + z[j] * hp[j]


@njit(**_JIT)
def _gru_bwd_step(dh, dhs, h_prev, gates, ghn, dxp, dgh, direct):
    """Pre-activation gradients of one step; direct = the part of dh_{t-1}
    that bypasses W_hh (dh * z)."""
    B, H = h_prev.shape
    one = _as(1.0, gates)
    for b in range(B):
        g, d, e = gates[b], dxp[b], dgh[b]
        r, z, n = g[:H], g[H:2 * H], g[2 * H:]
        dr, dz, dn = d[:H], d[H:2 * H], d[2 * H:]
        dhb, dsb, hp, hn, db = dh[b], dhs[b], h_prev[b], ghn[b], direct[b]
        for j in range(H):
            gh = dhb[j] + dsb[j]
            dn[j] = gh * (one - z[j]) * (one - n[j] * n[j])
            dz[j] = gh * (hp[j] - n[j]) * z[j] * (one - z[j])
            db[j] = gh * z[j]
        for j in range(H):
            dr[j] = dn[j] * hn[j] * r[j] * (one - r[j])
        for j in range(2 * H):
            e[j] = d[j]
        for j in range(H):
            e[2 * H + j] = dn[j] * r[j]


def gru_forward(xp, h0, w_hh, b_hh):
    T, B, G = xp.shape
    hs = np.empty((T, B, G // 3), xp.dtype)
    ghn = np.empty_like(hs)
    gates = np.empty_like(xp)
    w_hh_t = np.ascontiguousarray(w_hh.T)                             # (H, 3H)
    a = np.empty((B, G), xp.dtype)
    for t in range(T):
        h_prev = h0 if t == 0 else hs[t - 1]
        np.dot(h_prev, w_hh_t, out=a)                                 # (B, H) @ (H, 3H)
        _gru_fwd_step(a, xp[t], b_hh, h_prev, hs[t], gates[t], ghn[t])
    return hs, gates, ghn


def gru_backward(dhs, hs, gates, ghn, h0, w_hh):
    dxp = np.empty_like(gates)
    dgh = np.empty_like(gates)
    dh = np.zeros_like(h0)
    direct = np.empty_like(h0)
    for t in range(gates.shape[0] - 1, -1, -1):
        _gru_bwd_step(dh, dhs[t], h0 if t == 0 else hs[t - 1], gates[t], ghn[t], dxp[t], dgh[t], direct)
        np.dot(dgh[t], w_hh, out=dh)                                  # (B, 3H) @ (3H, H)
        dh += direct
    return dxp, dgh, dh
