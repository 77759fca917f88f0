"""Fused recurrent layers: one ``Function`` per layer and direction.

``FusedRNN``, ``FusedLSTM`` and ``FusedGRU`` run a whole sequence in one
autograd node: the input projection of all steps in one matmul, the
recurrence in a compiled kernel, and a hand-written backward through time
(``scratchnet.kernels.recurrent``; the equations are in
``kernels/recurrent_reference.py``).  ``nn.RNN/LSTM/GRU`` call them through
the lowercase functions below when ``path='fused'``; the composed path
(``nn.RNNCell`` & co.) computes the same numbers op by op.

Arguments (the same for all three):
    x (T, B, I), h0 (B, H) (None means zeros), [c0 (B, H) for the LSTM],
    w_ih (G*H, I), w_hh (G*H, H), b_ih, b_hh (G*H,) or None, ``reverse``.
Outputs: hs (T, B, H) in input order, h_n (B, H) [, c_n (B, H)].
"""
import numpy as np

from ..autograd.function import Function
from ..kernels import recurrent as KR
from .registry import Sample, register, rand
from ._util import as_tensor


class _FusedRecurrent(Function):
    """Shared forward/backward of the three layers (``mode`` picks the cell)."""

    @classmethod
    def _forward(cls, ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, mode):
        B, H = x.shape[1], w_hh.shape[1]
        h0 = np.zeros((B, H), x.dtype) if h0 is None else h0
        if mode == "lstm" and c0 is None:
            c0 = np.zeros((B, H), x.dtype)
        hs, h_n, c_n, saved = KR.recurrent_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh,
                                                   reverse=reverse)
        ctx.save_for_backward(saved)
        return (hs, h_n) if c_n is None else (hs, h_n, c_n)

    @staticmethod
    def _backward(ctx, dhs, dhn, dcn=None):
        (saved,) = ctx.saved
        need = ctx.needs_input_grad
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = KR.recurrent_backward(
            saved, dhs, dhn, dcn, need_x=need[0])
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh


class FusedRNN(_FusedRecurrent):
    """Elman RNN layer, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False):
        return FusedRNN._forward(ctx, x, h0, None, w_ih, w_hh, b_ih, b_hh, reverse,
                                 "rnn_" + nonlinearity)

    @staticmethod
    def backward(ctx, dhs, dhn):
        dx, dh0, _, *rest = FusedRNN._backward(ctx, dhs, dhn)
        return (dx, dh0, *rest)


class FusedLSTM(_FusedRecurrent):
    """LSTM layer (gate order i, f, g, o), outputs (hs, h_n, c_n)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        return FusedLSTM._forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, "lstm")

    @staticmethod
    def backward(ctx, dhs, dhn, dcn):
        return FusedLSTM._backward(ctx, dhs, dhn, dcn)


class FusedGRU(_FusedRecurrent):
    """GRU layer (gate order r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        return FusedGRU._forward(ctx, x, h0, None, w_ih, w_hh, b_ih, b_hh, reverse, "gru")

    @staticmethod
    def backward(ctx, dhs, dhn):
        dx, dh0, _, *rest = FusedGRU._backward(ctx, dhs, dhn)
        return (dx, dh0, *rest)


# ----------------------------------------------------------------------------
# public functions


# ----------------------------------------------------------------------------


def _tensors(where, *xs):
    return [None if x is None else as_tensor(x, where=where) for x in xs]


def rnn_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    """One fused RNN layer and direction: returns (hs (T, B, H), h_n (B, H))."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_layer: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    args = _tensors("rnn_layer", x, h0, w_ih, w_hh, b_ih, b_hh)
    return FusedRNN.apply(*args, nonlinearity=nonlinearity, reverse=bool(reverse))


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One fused LSTM layer and direction: returns (hs, h_n, c_n)."""
    args = _tensors("lstm_layer", x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return FusedLSTM.apply(*args, reverse=bool(reverse))


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One fused GRU layer and direction: returns (hs, h_n)."""
    args = _tensors("gru_layer", x, h0, w_ih, w_hh, b_ih, b_hh)
    return FusedGRU.apply(*args, reverse=bool(reverse))


# ----------------------------------------------------------------------------
# gradcheck samples (T=3, B=2, I=3, H=2)


# ----------------------------------------------------------------------------


def _weights(r, gates, I=3, H=2):
    return rand(r, gates * H, I, low=-1, high=1), rand(r, gates * H, H, low=-1, high=1), \
        rand(r, gates * H, low=-1, high=1), rand(r, gates * H, low=-1, high=1)


def _samples(gates, with_c):
    def make(r):
        w_ih, w_hh, b_ih, b_hh = _weights(r, gates)
        states = (rand(r, 2, 2), rand(r, 2, 2)) if with_c else (rand(r, 2, 2),)
        return [Sample("with state", (rand(r, 3, 2, 3), *states, w_ih, w_hh, b_ih, b_hh)),
                Sample("reverse, zero state", (rand(r, 3, 2, 3), *([None] * len(states)),
                                               w_ih, w_hh, b_ih, b_hh), {"reverse": True}),
                Sample("no bias", (rand(r, 3, 2, 3), *states, w_ih, w_hh, None, None))]
    return make


def _rnn_samples(r):
    relu = [Sample("relu", s.args, {"nonlinearity": "relu"}) for s in _samples(1, False)(r)[:1]]
    return _samples(1, False)(r) + relu


register(FusedRNN, rnn_layer, _rnn_samples)
register(FusedLSTM, lstm_layer, _samples(4, True))
register(FusedGRU, gru_layer, _samples(3, False))
