"""Numba recurrences: the same functions and signatures as
``recurrent_reference.py`` (read that file for the equations).

The dispatcher (``recurrent.py``) imports this module only on the first call
that needs it, so ``import scratchnet`` never imports Numba.  Each compiled
loop runs the whole time loop of one layer and direction:

* the hidden projection of one step, ``h_{t-1} W_hh^T`` (B, G*H), is one BLAS
  call (``np.dot`` into a preallocated buffer);
* the gate nonlinearities and the cell update are one fused loop over
  (B, H) that reads each pre-activation once, with a vectorisable ``exp``;
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
def _rnn_fwd(xp, h0, w_hh_t, b_hh, relu, hs):
    T, B, H = xp.shape
    one, zero = _as(1.0, xp), _as(0.0, xp)
    a = np.empty((B, H), xp.dtype)
    for t in range(T):
        np.dot(h0 if t == 0 else hs[t - 1], w_hh_t, a)          # (B, H) @ (H, H)
        for b in range(B):
            for j in range(H):
                v = xp[t, b, j] + a[b, j] + b_hh[j]
                if relu:
                    hs[t, b, j] = v if v > zero else zero
                else:
                    hs[t, b, j] = _tanh(v, one)


@njit(**_JIT)
def _rnn_bwd(dhs, hs, w_hh, relu, dxp, dh):
    T, B, H = dhs.shape
    one, zero = _as(1.0, dhs), _as(0.0, dhs)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            for j in range(H):
                g = dh[b, j] + dhs[t, b, j]
                h = hs[t, b, j]
                if relu:
                    dxp[t, b, j] = g if h > zero else zero
                else:
                    dxp[t, b, j] = g * (one - h * h)
        np.dot(dxp[t], w_hh, dh)                                  # (B, H) @ (H, H)


def rnn_forward(xp, h0, w_hh, b_hh, relu):
    hs = np.empty_like(xp)
    _rnn_fwd(xp, h0, np.ascontiguousarray(w_hh.T), b_hh, bool(relu), hs)
    return hs


def rnn_backward(dhs, hs, h0, w_hh, relu):
    dxp = np.empty_like(dhs)
    dh = np.zeros_like(h0)
    _rnn_bwd(dhs, hs, w_hh, bool(relu), dxp, dh)
    return dxp, dh


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------
@njit(**_JIT)
def _lstm_fwd(xp, h0, c0, w_hh_t, b_hh, hs, cs, gates):
    T, B, G = xp.shape
    H = G // 4
    one = _as(1.0, xp)
    a = np.empty((B, G), xp.dtype)
    for t in range(T):
        np.dot(h0 if t == 0 else hs[t - 1], w_hh_t, a)          # (B, H) @ (H, 4H)
        c_prev = c0 if t == 0 else cs[t - 1]
        for b in range(B):
            for j in range(H):
                i = _sigmoid(xp[t, b, j] + a[b, j] + b_hh[j], one)
                f = _sigmoid(xp[t, b, H + j] + a[b, H + j] + b_hh[H + j], one)
                g = _tanh(xp[t, b, 2 * H + j] + a[b, 2 * H + j] + b_hh[2 * H + j], one)
                o = _sigmoid(xp[t, b, 3 * H + j] + a[b, 3 * H + j] + b_hh[3 * H + j], one)
                c = f * c_prev[b, j] + i * g
                cs[t, b, j] = c
                hs[t, b, j] = o * _tanh(c, one)
                gates[t, b, j] = i
                gates[t, b, H + j] = f
                gates[t, b, 2 * H + j] = g
                gates[t, b, 3 * H + j] = o


@njit(**_JIT)
def _lstm_bwd(dhs, cs, gates, c0, w_hh, dxp, dh, dc):
    T, B, G = gates.shape
    H = G // 4
    one = _as(1.0, gates)
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else cs[t - 1]
        for b in range(B):
            for j in range(H):
                gh = dh[b, j] + dhs[t, b, j]
                i = gates[t, b, j]
                f = gates[t, b, H + j]
                g = gates[t, b, 2 * H + j]
                o = gates[t, b, 3 * H + j]
                tc = _tanh(cs[t, b, j], one)
                gc = dc[b, j] + gh * o * (one - tc * tc)
                dxp[t, b, j] = gc * g * i * (one - i)
                dxp[t, b, H + j] = gc * c_prev[b, j] * f * (one - f)
                dxp[t, b, 2 * H + j] = gc * i * (one - g * g)
                dxp[t, b, 3 * H + j] = gh * tc * o * (one - o)
                dc[b, j] = gc * f
        np.dot(dxp[t], w_hh, dh)                                  # (B, 4H) @ (4H, H)


def lstm_forward(xp, h0, c0, w_hh, b_hh):
    T, B, G = xp.shape
    hs = np.empty((T, B, G // 4), xp.dtype)
    cs = np.empty_like(hs)
    gates = np.empty_like(xp)
    _lstm_fwd(xp, h0, c0, np.ascontiguousarray(w_hh.T), b_hh, hs, cs, gates)
    return hs, cs, gates


def lstm_backward(dhs, dcn, cs, gates, c0, w_hh):
    dxp = np.empty_like(gates)
    dh = np.zeros_like(c0)
    dc = dcn.copy()
    _lstm_bwd(dhs, cs, gates, c0, w_hh, dxp, dh, dc)
    return dxp, dh, dc


# ----------------------------------------------------------------------------
# GRU
# ----------------------------------------------------------------------------
@njit(**_JIT)
def _gru_fwd(xp, h0, w_hh_t, b_hh, hs, gates, ghn):
    T, B, G = xp.shape
    H = G // 3
    one = _as(1.0, xp)
    a = np.empty((B, G), xp.dtype)
    for t in range(T):
        h_prev = h0 if t == 0 else hs[t - 1]
        np.dot(h_prev, w_hh_t, a)                                 # (B, H) @ (H, 3H)
        for b in range(B):
            for j in range(H):
                r = _sigmoid(xp[t, b, j] + a[b, j] + b_hh[j], one)
                z = _sigmoid(xp[t, b, H + j] + a[b, H + j] + b_hh[H + j], one)
                hn = a[b, 2 * H + j] + b_hh[2 * H + j]
                n = _tanh(xp[t, b, 2 * H + j] + r * hn, one)
                hs[t, b, j] = (one - z) * n + z * h_prev[b, j]
                ghn[t, b, j] = hn
                gates[t, b, j] = r
                gates[t, b, H + j] = z
                gates[t, b, 2 * H + j] = n


@njit(**_JIT)
def _gru_bwd(dhs, hs, gates, ghn, h0, w_hh, dxp, dgh, dh):
    T, B, G = gates.shape
    H = G // 3
    one = _as(1.0, gates)
    direct = np.empty((B, H), gates.dtype)
    for t in range(T - 1, -1, -1):
        h_prev = h0 if t == 0 else hs[t - 1]
        for b in range(B):
            for j in range(H):
                gh = dh[b, j] + dhs[t, b, j]
                r = gates[t, b, j]
                z = gates[t, b, H + j]
                n = gates[t, b, 2 * H + j]
                dan = gh * (one - z) * (one - n * n)
                daz = gh * (h_prev[b, j] - n) * z * (one - z)
                dar = dan * ghn[t, b, j] * r * (one - r)
                dxp[t, b, j] = dar
                dxp[t, b, H + j] = daz
                dxp[t, b, 2 * H + j] = dan
                dgh[t, b, j] = dar
                dgh[t, b, H + j] = daz
                dgh[t, b, 2 * H + j] = dan * r
                direct[b, j] = gh * z
        np.dot(dgh[t], w_hh, dh)                                  # (B, 3H) @ (3H, H)
        for b in range(B):
            for j in range(H):
                dh[b, j] += direct[b, j]


def gru_forward(xp, h0, w_hh, b_hh):
    T, B, G = xp.shape
    hs = np.empty((T, B, G // 3), xp.dtype)
    ghn = np.empty_like(hs)
    gates = np.empty_like(xp)
    _gru_fwd(xp, h0, np.ascontiguousarray(w_hh.T), b_hh, hs, gates, ghn)
    return hs, gates, ghn


def gru_backward(dhs, hs, gates, ghn, h0, w_hh):
    dxp = np.empty_like(gates)
    dgh = np.empty_like(gates)
    dh = np.zeros_like(h0)
    _gru_bwd(dhs, hs, gates, ghn, h0, w_hh, dxp, dgh, dh)
    return dxp, dgh, dh
