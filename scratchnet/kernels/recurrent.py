"""Dispatch of the recurrent kernels: one layer and one direction of an RNN,
LSTM or GRU, forward and backward through time.  NumPy arrays in and out.

``recurrent_forward`` and ``recurrent_backward`` do the BLAS-heavy parts
themselves, the same for every backend:

* the input projection of all steps in one (batched) product:
  xp_t = W_ih x_t^T + b_ih,  (G*H, I) @ (T, I, B) -> (T, G*H, B);
* the weight gradients in one GEMM each, over all steps at once:
  dW_ih = dxp x,  dW_hh = sum_t dgh_t h_{t-1}^T,  db = sums of dxp / dgh;
* dx = dxp^T W_ih, one GEMM;
* the change between the callers' layout (T, B, features) and the kernels'
  feature-major layout (T, features, B) (see ``recurrent_reference``).

The recurrence itself (the sequential part) runs in ``recurrent_reference``
(plain NumPy) or ``recurrent_numba`` (compiled, imported on first use), as
chosen by ``backend()`` of ``scratchnet.kernels`` (``SCRATCHNET_KERNELS=numpy``
or ``use_backend('numpy')`` select the reference).

Modes: ``'rnn_tanh'``, ``'rnn_relu'``, ``'lstm'``, ``'gru'`` with G = 1, 1, 4, 3
gates.  ``reverse=True`` runs the sequence from t = T-1 down to 0 (the
backward direction of a bidirectional layer); outputs stay in input order.
"""
import numpy as np

from . import backend, gemm, matmul, _floats, _numba
from . import recurrent_reference

__all__ = ["MODES", "GATES", "recurrent_forward", "recurrent_backward"]

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
MODES = tuple(GATES)
_numba_recurrent = []        # the recurrent_numba module once imported


def _impl(size):
    """recurrent_numba, or the reference for the NumPy backend / empty inputs."""
    if backend() == "numpy" or size == 0 or _numba() is None:
        return recurrent_reference
    if not _numba_recurrent:
        from . import recurrent_numba
        _numba_recurrent.append(recurrent_numba)
    return _numba_recurrent[0]


def _check(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    name = f"recurrent_forward({mode!r})"
    if mode not in GATES:
        raise ValueError(f"recurrent_forward: unknown mode {mode!r}; expected one of {MODES}")
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"{name}: x {x.shape} must be (T, B, I) with T >= 1")
    T, B, I = x.shape
    GH, H = w_hh.shape if w_hh.ndim == 2 else (None, None)
    if GH != GATES[mode] * (H or 0) or w_ih.shape != (GH, I):
        raise ValueError(f"{name}: expected w_ih ({GATES[mode]}*H, {I}) and w_hh ({GATES[mode]}*H, H); "
                         f"got w_ih {w_ih.shape}, w_hh {w_hh.shape}")
    for n, s in (("h0", h0), ("c0", c0)):
        if s is not None and s.shape != (B, H):
            raise ValueError(f"{name}: {n} {s.shape} must be (B, H) = {(B, H)}")
    for n, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and b.shape != (GH,):
            raise ValueError(f"{name}: {n} {b.shape} must be ({GH},)")
    if mode == "lstm" and c0 is None:
        raise ValueError(f"{name}: the LSTM needs c0")
    return T, B, I, H


def recurrent_forward(mode, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """Run one layer and direction over a whole sequence.

    x (T, B, I), h0 and c0 (B, H) (c0 only for 'lstm', else None), w_ih
    (G*H, I), w_hh (G*H, H), b_ih / b_hh (G*H,) or None.
    Returns ``(hs, h_n, c_n, saved)``: hs (T, B, H) in input order, the last
    hidden (and for the LSTM cell) state, and the arrays the backward needs.
    """
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _floats(
        "recurrent_forward", x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    T, B, I, H = _check(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    xk = np.ascontiguousarray(x[::-1] if reverse else x)            # kernel (time) order
    GH = w_ih.shape[0]
    xp = matmul(w_ih, xk.transpose(0, 2, 1))                          # (G*H, I) @ (T, I, B) -> (T, G*H, B)
    if b_ih is not None:
        xp += b_ih[:, None]
    bh = np.zeros(GH, x.dtype) if b_hh is None else b_hh
    h0, c0 = (None if s is None else np.ascontiguousarray(s.T) for s in (h0, c0))   # (B, H) -> (H, B)
    kern = _impl(x.size * H)
    extra = ()
    c_n = None
    if mode == "lstm":
        hs, cs, gates = kern.lstm_forward(xp, h0, c0, w_hh, bh)
        extra, c_n = (cs, gates), cs[-1].T.copy()
    elif mode == "gru":
        hs, gates, ghn = kern.gru_forward(xp, h0, w_hh, bh)
        extra = (gates, ghn)
    else:
        hs = kern.rnn_forward(xp, h0, w_hh, bh, mode == "rnn_relu")
    saved = dict(mode=mode, reverse=reverse, x=xk, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh,
                 hs=hs, extra=extra, has_b_ih=b_ih is not None, has_b_hh=b_hh is not None)
    out = np.ascontiguousarray(hs.transpose(0, 2, 1))                 # (T, H, B) -> (T, B, H)
    return (out[::-1] if reverse else out), out[-1].copy(), c_n, saved


def recurrent_backward(saved, dhs, dhn=None, dcn=None, need_x=True):
    """Backward through time of ``recurrent_forward``.

    dhs (T, B, H): gradient of the outputs (input order); dhn, dcn (B, H) or
    None: gradients of h_n and c_n.  Returns ``(dx, dh0, dc0, dw_ih, dw_hh,
    db_ih, db_hh)``; dx is None unless ``need_x``, dc0 None unless LSTM, the
    bias gradients None for absent biases.
    """
    mode, x, h0, c0, w_hh, hs = (saved[k] for k in ("mode", "x", "h0", "c0", "w_hh", "hs"))
    T, H, B = hs.shape
    dt = hs.dtype
    dhs = dhs[::-1] if saved["reverse"] else dhs
    # (T, B, H) -> (T, H, B), always a fresh array: dhn is added into it below, and
    # ascontiguousarray would return the caller's gradient itself when the transpose is
    # already contiguous (B = 1, or an empty batch), which may be read-only or shared
    dhs = np.asarray(dhs, dtype=dt).transpose(0, 2, 1).copy()
    if dhn is not None:
        dhs[-1] += dhn.T
    kern = _impl(x.size * H)
    dc0 = None
    if mode == "lstm":
        cs, gates = saved["extra"]
        dcn = np.zeros((H, B), dt) if dcn is None else np.ascontiguousarray(dcn.T, dtype=dt)
        dxp, dh0, dc0 = kern.lstm_backward(dhs, dcn, cs, gates, c0, w_hh)
        dgh, dc0 = dxp, dc0.T
    elif mode == "gru":
        gates, ghn = saved["extra"]
        dxp, dgh, dh0 = kern.gru_backward(dhs, hs, gates, ghn, h0, w_hh)
    else:
        dxp, dh0 = kern.rnn_backward(dhs, hs, h0, w_hh, mode == "rnn_relu")
        dgh = dxp
    GH = dxp.shape[1]
    dxp2 = dxp.transpose(1, 0, 2).reshape(GH, T * B)                 # (T, G*H, B) -> (G*H, T*B), a copy
    dgh2 = dxp2 if dgh is dxp else dgh.transpose(1, 0, 2).reshape(GH, T * B)
    h_prev = np.empty((H, T, B), dt)                                  # the state each step saw:
    h_prev[:, 0] = h0                                                 # h0 at step 0,
    h_prev[:, 1:] = hs[:-1].transpose(1, 0, 2)                        # then hs[t-1]: (T-1, H, B) -> (H, T-1, B)
    dx = None
    if need_x:
        dx = gemm(dxp2, saved["w_ih"], trans_a=True).reshape(T, B, x.shape[-1])   # (T*B, I) -> (T, B, I); I explicit for B = 0
        dx = dx[::-1] if saved["reverse"] else dx
    dw_ih = gemm(dxp2, x.reshape(T * B, x.shape[-1]))                  # (G*H, T*B) @ (T*B, I)
    dw_hh = gemm(dgh2, h_prev.reshape(H, T * B), trans_b=True)        # (G*H, T*B) @ (T*B, H)
    db_ih = dxp2.sum(axis=1) if saved["has_b_ih"] else None
    db_hh = None
    if saved["has_b_hh"]:
        same = dgh is dxp and db_ih is not None        # RNN / LSTM: d b_hh = d b_ih
        db_hh = db_ih.copy() if same else dgh2.sum(axis=1)
    return dx, dh0.T, dc0, dw_ih, dw_hh, db_ih, db_hh
