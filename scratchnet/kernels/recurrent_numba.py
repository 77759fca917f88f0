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
@njit(**_JIT)
def _lstm_fwd_step(a, xp, b_hh, c_prev, h, c, gates):
    """Gates, c and h of one step from the pre-activations xp + a + b_hh."""
    B, H = h.shape
    one = _as(1.0, xp)
    for b in range(B):
        for j in range(H):
            i = _sigmoid(xp[b, j] + a[b, j] + b_hh[j], one)
            f = _sigmoid(xp[b, H + j] + a[b, H + j] + b_hh[H + j], one)
            g = _tanh(xp[b, 2 * H + j] + a[b, 2 * H + j] + b_hh[2 * H + j], one)
            o = _sigmoid(xp[b, 3 * H + j] + a[b, 3 * H + j] + b_hh[3 * H + j], one)
            cv = f * c_prev[b, j] + i * g
            c[b, j] = cv
            h[b, j] = o * _tanh(cv, one)
            gates[b, j] = i
            gates[b, H + j] = f
            gates[b, 2 * H + j] = g
            gates[b, 3 * H + j] = o


@njit(**_JIT)
def _lstm_bwd_step(dh, dhs, c, c_prev, gates, dc, dxp):
    """Pre-activation gradients of one step; dc becomes dc_{t-1}."""
    B, H = c.shape
    one = _as(1.0, c)
    for b in range(B):
        for j in range(H):
            gh = dh[b, j] + dhs[b, j]
            i = gates[b, j]
            f = gates[b, H + j]
            g = gates[b, 2 * H + j]
            o = gates[b, 3 * H + j]
            tc = _tanh(c[b, j], one)
            gc = dc[b, j] + gh * o * (one - tc * tc)
            dxp[b, j] = gc * g * i * (one - i)
            dxp[b, H + j] = gc * c_prev[b, j] * f * (one - f)
            dxp[b, 2 * H + j] = gc * i * (one - g * g)
            dxp[b, 3 * H + j] = gh * tc * o * (one - o)
            dc[b, j] = gc * f


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
        for j in range(H):
            r = _sigmoid(xp[b, j] + a[b, j] + b_hh[j], one)
            z = _sigmoid(xp[b, H + j] + a[b, H + j] + b_hh[H + j], one)
            hn = a[b, 2 * H + j] + b_hh[2 * H + j]
            n = _tanh(xp[b, 2 * H + j] + r * hn, one)
            h[b, j] = (one - z) * n + z * h_prev[b, j]
            ghn[b, j] = hn
            gates[b, j] = r
            gates[b, H + j] = z
            gates[b, 2 * H + j] = n


@njit(**_JIT)
def _gru_bwd_step(dh, dhs, h_prev, gates, ghn, dxp, dgh, direct):
    """Pre-activation gradients of one step; direct = the part of dh_{t-1}
    that bypasses W_hh (dh * z)."""
    B, H = h_prev.shape
    one = _as(1.0, gates)
    for b in range(B):
        for j in range(H):
            gh = dh[b, j] + dhs[b, j]
            r = gates[b, j]
            z = gates[b, H + j]
            n = gates[b, 2 * H + j]
            dan = gh * (one - z) * (one - n * n)
            daz = gh * (h_prev[b, j] - n) * z * (one - z)
            dar = dan * ghn[b, j] * r * (one - r)
            dxp[b, j] = dar
            dxp[b, H + j] = daz
            dxp[b, 2 * H + j] = dan
            dgh[b, j] = dar
            dgh[b, H + j] = daz
            dgh[b, 2 * H + j] = dan * r
            direct[b, j] = gh * z


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
