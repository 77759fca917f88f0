"""Plain NumPy recurrences and their backward through time (BPTT).

The readable ground truth of the recurrent kernels; ``recurrent_numba.py``
has the same functions with the same signatures.  Arrays in, arrays out.

Shapes: T time steps, B batch rows, H hidden units, G gates (1 RNN, 4 LSTM,
3 GRU).  Within a step the kernels use a *feature-major* layout, the batch
last, so that each step's hidden projection is W_hh (G*H, H) @ h (H, B), the
shape OpenBLAS is fastest at for a small batch (~1.5x over (B, H) @ (H, G*H)
at B = 32):

    xp     (T, G*H, B)  input projections of all steps, W_ih x_t + b_ih,
                        computed by the dispatcher in one matrix product
    h0, c0 (H, B)       initial states
    hs, cs (T, H, B)    hidden / cell state of every step

Cells (gate order as in PyTorch; a_t = xp_t + W_hh h_{t-1} + b_hh):

* RNN:  h_t = act(a_t),  act = tanh or relu.
* LSTM: [i, f, g, o] = a_t;  i, f, o = sigmoid(.), g = tanh(.)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
* GRU:  gh = W_hh h_{t-1} + b_hh = [gh_r, gh_z, gh_n]
        r = sigmoid(xp_r + gh_r),  z = sigmoid(xp_z + gh_z)
        n = tanh(xp_n + r * gh_n),  h_t = (1 - z) * n + z * h_{t-1}

Backward kernels take ``dhs`` (T, H, B), the gradient reaching every output
h_t from above (the gradient of h_n is already added to ``dhs[-1]``), and
return the gradients of the pre-activations (T, G*H, B).  The gradient that
reaches the hidden projection ``dgh`` equals ``dxp`` for the RNN and the
LSTM; for the GRU it differs in the n block (``dgh_n = dxp_n * r``), so the
GRU returns both.  The weight gradients dW_hh = sum_t dgh_t h_{t-1}^T are
left to the dispatcher, which computes them with one matrix product over all
steps.
"""
import numpy as np

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]


def _sigmoid(x):
    """sigmoid(x) = 1 / (1 + e^{-x}) without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _previous(hs, h0, t):
    """h_{t-1} (H, B): the initial state at t = 0."""
    return h0 if t == 0 else hs[t - 1]


# ----------------------------------------------------------------------------
# RNN (tanh / relu)
# ----------------------------------------------------------------------------
def rnn_forward(xp, h0, w_hh, b_hh, relu):
    """hs (T, H, B) of h_t = act(xp_t + W_hh h_{t-1} + b_hh)."""
    hs = np.empty_like(xp)
    for t in range(xp.shape[0]):
        a = xp[t] + w_hh @ _previous(hs, h0, t) + b_hh[:, None]
        hs[t] = np.maximum(a, 0) if relu else np.tanh(a)
    return hs


def rnn_backward(dhs, hs, h0, w_hh, relu):
    """(dxp (T, H, B), dh0 (H, B)).

    dh = dhs_t + dh_{from t+1};  da_t = dh * act'(a_t) with tanh' = 1 - h_t^2
    and relu' = [h_t > 0];  dh_{t-1} = W_hh^T da_t.
    """
    dxp = np.empty_like(dhs)
    dh = np.zeros_like(h0)
    for t in range(dhs.shape[0] - 1, -1, -1):
        dh = dh + dhs[t]
        dxp[t] = np.where(hs[t] <= 0, 0, dh) if relu else dh * (1 - hs[t] * hs[t])
        dh = w_hh.T @ dxp[t]
    return dxp, dh


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------
def lstm_forward(xp, h0, c0, w_hh, b_hh):
    """(hs (T, H, B), cs (T, H, B), gates (T, 4H, B)); gates holds the
    activated i, f, g, o of every step (saved for the backward)."""
    T, G, B = xp.shape
    H = G // 4
    hs = np.empty((T, H, B), xp.dtype)
    cs = np.empty_like(hs)
    gates = np.empty_like(xp)
    for t in range(T):
        a = xp[t] + w_hh @ _previous(hs, h0, t) + b_hh[:, None]   # (4H, B)
        i, f, o = _sigmoid(a[:H]), _sigmoid(a[H:2 * H]), _sigmoid(a[3 * H:])
        g = np.tanh(a[2 * H:3 * H])
        cs[t] = f * _previous(cs, c0, t) + i * g
        hs[t] = o * np.tanh(cs[t])
        gates[t] = np.concatenate([i, f, g, o], axis=0)
    return hs, cs, gates


def lstm_backward(dhs, dcn, cs, gates, c0, w_hh):
    """(dxp (T, 4H, B), dh0, dc0).

    With dh and dc the gradients reaching h_t and c_t:
      dc += dh * o * (1 - tanh(c_t)^2)
      d a_i = dc * g * i (1 - i),      d a_f = dc * c_{t-1} * f (1 - f)
      d a_g = dc * i * (1 - g^2),      d a_o = dh * tanh(c_t) * o (1 - o)
      dc_{t-1} = dc * f,               dh_{t-1} = W_hh^T d a
    """
    T, G, B = gates.shape
    H = G // 4
    dxp = np.empty_like(gates)
    dh = np.zeros((H, B), gates.dtype)
    dc = dcn.copy()
    for t in range(T - 1, -1, -1):
        dh = dh + dhs[t]
        i, f, g, o = (gates[t, k * H:(k + 1) * H] for k in range(4))
        tc = np.tanh(cs[t])
        dc = dc + dh * o * (1 - tc * tc)
        dxp[t] = np.concatenate([dc * g * i * (1 - i),
                                    dc * _previous(cs, c0, t) * f * (1 - f),
                                    dc * i * (1 - g * g),
                                    dh * tc * o * (1 - o)], axis=0)
        dc = dc * f
        dh = w_hh.T @ dxp[t]
    return dxp, dh, dc


# ----------------------------------------------------------------------------
# GRU
# ----------------------------------------------------------------------------
def gru_forward(xp, h0, w_hh, b_hh):
    """(hs (T, H, B), gates (T, 3H, B), ghn (T, H, B)); gates holds the
    activated r, z, n of every step and ghn the hidden part W_hn h + b_hn."""
    T, G, B = xp.shape
    H = G // 3
    hs = np.empty((T, H, B), xp.dtype)
    ghn = np.empty_like(hs)
    gates = np.empty_like(xp)
    for t in range(T):
        h_prev = _previous(hs, h0, t)
        gh = w_hh @ h_prev + b_hh[:, None]                            # (3H, B)
        x = xp[t]
        r = _sigmoid(x[:H] + gh[:H])
        z = _sigmoid(x[H:2 * H] + gh[H:2 * H])
        n = np.tanh(x[2 * H:] + r * gh[2 * H:])
        hs[t] = (1 - z) * n + z * h_prev
        ghn[t] = gh[2 * H:]
        gates[t] = np.concatenate([r, z, n], axis=0)
    return hs, gates, ghn


def gru_backward(dhs, hs, gates, ghn, h0, w_hh):
    """(dxp (T, 3H, B), dgh (T, 3H, B), dh0).

    d a_n = dh (1 - z)(1 - n^2),   d a_z = dh (h_{t-1} - n) z (1 - z),
    d a_r = d a_n * gh_n * r (1 - r);
    dxp = [d a_r, d a_z, d a_n],   dgh = [d a_r, d a_z, d a_n * r],
    dh_{t-1} = W_hh^T dgh + dh * z.
    """
    T, G, B = gates.shape
    H = G // 3
    dxp = np.empty_like(gates)
    dgh = np.empty_like(gates)
    dh = np.zeros((H, B), gates.dtype)
    for t in range(T - 1, -1, -1):
        dh = dh + dhs[t]
        r, z, n = (gates[t, k * H:(k + 1) * H] for k in range(3))
        dan = dh * (1 - z) * (1 - n * n)
        daz = dh * (_previous(hs, h0, t) - n) * z * (1 - z)
        dar = dan * ghn[t] * r * (1 - r)
        dxp[t] = np.concatenate([dar, daz, dan], axis=0)
        dgh[t] = np.concatenate([dar, daz, dan * r], axis=0)
        dh = w_hh.T @ dgh[t] + dh * z
    return dxp, dgh, dh
