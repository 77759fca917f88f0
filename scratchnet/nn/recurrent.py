"""Recurrent layers: ``RNNCell``, ``LSTMCell``, ``GRUCell`` and the sequence
layers ``RNN``, ``LSTM``, ``GRU`` (PyTorch's arguments, shapes, gate order and
``state_dict`` keys).

Every cell first projects its input, ``xp = x W_ih^T + b_ih``, then adds the
hidden projection ``h W_hh^T + b_hh`` (the split of the two biases is
PyTorch's; it matters for the GRU):

    RNN:   h' = tanh(xp + h W_hh^T + b_hh)            (or relu)
    LSTM:  i, f, g, o = split(xp + h W_hh^T + b_hh, 4)
           i, f, o = sigmoid(i), sigmoid(f), sigmoid(o);  g = tanh(g)
           c' = f * c + i * g;   h' = o * tanh(c')
    GRU:   r, z, n_x = split(xp, 3);  h_r, h_z, h_n = split(h W_hh^T + b_hh, 3)
           r = sigmoid(r + h_r);  z = sigmoid(z + h_z)
           n = tanh(n_x + r * h_n);   h' = (1 - z) * n + z * h

Parameters (G = 1, 4, 3 gates): weight_ih (G*H, I), weight_hh (G*H, H),
bias_ih and bias_hh (G*H,), all initialised U(-1/sqrt(H), 1/sqrt(H)).

The sequence layers have two execution paths that share the parameters and
the code that handles them (``_RNNBase._direction_weights``):

* ``path='fused'`` (default): one autograd node per layer and direction,
  the recurrence and its backward through time in compiled kernels
  (``scratchnet.ops.recurrent``);
* ``path='composed'``: a Python loop over time that calls the step functions
  below, op by op, exactly as the cells do.  This is the version to read.
Both give the same numbers (tested to 1e-10 in float64).
"""
import math
import warnings

import numpy as np

from .. import ops
from .. import functional as F
from ..dtypes import get_default_dtype, is_int
from ..ops import recurrent as fused
from ..ops._util import to_array
from ..random import default_generator
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


# ----------------------------------------------------------------------------
# one time step, composed from autograd ops (state is a tuple: (h,) or (h, c))
# ----------------------------------------------------------------------------
def _hidden(h, w_hh, b_hh):
    """h W_hh^T + b_hh: (B, H) -> (B, G*H) (one ``linear`` op: BLAS reads W_hh^T in place)."""
    return F.linear(h, w_hh, b_hh)


def rnn_step(xp, state, w_hh, b_hh, nonlinearity="tanh"):
    """h' = act(xp + h W_hh^T + b_hh)."""
    a = xp + _hidden(state[0], w_hh, b_hh)
    return (a.tanh() if nonlinearity == "tanh" else a.relu(),)


def lstm_step(xp, state, w_hh, b_hh):
    """(h', c') of the LSTM (gate order i, f, g, o)."""
    h, c = state
    i, f, g, o = ops.split(xp + _hidden(h, w_hh, b_hh), 4, axis=-1)   # 4 x (B, H)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def gru_step(xp, state, w_hh, b_hh):
    """h' of the GRU (gate order r, z, n)."""
    h = state[0]
    x_r, x_z, x_n = ops.split(xp, 3, axis=-1)                       # 3 x (B, H)
    h_r, h_z, h_n = ops.split(_hidden(h, w_hh, b_hh), 3, axis=-1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return ((1 - z) * n + z * h,)


def _step(mode):
    if mode == "lstm":
        return lstm_step
    if mode == "gru":
        return gru_step
    return lambda xp, s, w, b: rnn_step(xp, s, w, b, mode[4:])


def _project(x, w_ih, b_ih):
    """x W_ih^T + b_ih for x (..., I) -> (..., G*H): one matmul over every leading position."""
    return F.linear(x, w_ih, b_ih)


# ----------------------------------------------------------------------------
# parameters, input and state handling shared by the cells and the layers
# ----------------------------------------------------------------------------
def _add_parameters(module, suffix, input_size, hidden_size, gates, bias, proj_size=0):
    """Register weight_ih{suffix} (G*H, I), weight_hh{suffix} (G*H, H) and
    bias_ih{suffix}, bias_hh{suffix} (G*H,) (or None), all U(-1/sqrt(H), 1/sqrt(H));
    with a projection (LSTM, P = proj_size > 0) weight_hh is (G*H, P) and
    weight_hr{suffix} (P, H) follows the biases, as in PyTorch."""
    k = 1.0 / math.sqrt(hidden_size)
    shapes = {"weight_ih": (gates * hidden_size, input_size),
              "weight_hh": (gates * hidden_size, proj_size or hidden_size)}
    if bias:
        shapes.update(bias_ih=(gates * hidden_size,), bias_hh=(gates * hidden_size,))
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    if proj_size:
        shapes["weight_hr"] = (proj_size, hidden_size)
        names += ("weight_hr",)
    for name in names:
        value = None
        if name in shapes:
            data = default_generator().uniform(-k, k, size=shapes[name])
            value = Parameter(data.astype(get_default_dtype()))
        module.register_parameter(name + suffix, value)


def _reset_uniform(module):
    """Redraw every parameter of ``module`` in place from U(-1/sqrt(H), 1/sqrt(H)),
    H = hidden_size (PyTorch's ``reset_parameters`` of the cells and layers)."""
    k = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -k, k)


def _check_sizes(where, **sizes):
    """TypeError for a size that is not an int, ValueError for one that is not positive."""
    for name, v in sizes.items():
        if not is_int(v):
            raise TypeError(f"{where}: {name} must be an int, got {type(v).__name__} {v!r}")
        if v <= 0:
            raise ValueError(f"{where}: {name} must be a positive int, got {v!r}")


def _as_float(x, dtype, where, what):
    """A Tensor of the parameters' dtype (float arrays and lists are converted; a
    Tensor of another float dtype is an error, as in PyTorch, and so is integer
    or boolean data, as in ``Linear``)."""
    if isinstance(x, Tensor):
        if x.dtype != dtype:
            raise TypeError(f"{where}: {what} has dtype {x.dtype} but the parameters are {dtype}; "
                            f"convert one of them (.astype / module.to)")
        return x
    if not isinstance(x, (np.ndarray, list, tuple, float, int)):
        raise TypeError(f"{where}: {what} must be a Tensor or an array, got {type(x).__name__}")
    arr = to_array(x, where, what)     # a Python float list stays float64 until cast to dtype
    if arr.dtype.kind != "f":
        raise TypeError(f"{where}: {what} must hold floating-point numbers, got dtype {arr.dtype} "
                        f"(shape {arr.shape})")
    return Tensor._wrap(arr if arr.dtype == dtype else arr.astype(dtype))


def _state_tuple(where, hx, n_state, pair):
    """hx as a tuple of states: (hx,), or the LSTM's pair, which must be a tuple or
    list (a single array would otherwise be split along its first axis)."""
    if n_state == 1:
        return (hx,)
    if not isinstance(hx, (tuple, list)):
        shape = f" of shape {np.shape(hx)}" if isinstance(hx, (Tensor, np.ndarray)) else ""
        raise TypeError(f"{where}: hx must be a pair {pair} (a tuple), got a single "
                        f"{type(hx).__name__}{shape}")
    if len(hx) != 2:
        raise ValueError(f"{where}: hx must be a pair {pair}, got {len(hx)} elements")
    return tuple(hx)


def _check_state(where, what, s, shape, part, layout):
    """s itself if its shape is ``shape``; else a ValueError naming the layer, the
    state (``part``: h / c, or h_0 / c_0 of a layer) and the expected ``layout``."""
    if s.shape != shape:
        raise ValueError(f"{where}: {what} has shape {s.shape}, expected {shape} for {part} "
                         f"= {layout}")
    return s


class _CellBase(Module):
    """Parameters and forward shared by RNNCell, LSTMCell and GRUCell."""

    mode = None

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        _check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        _add_parameters(self, "", self.input_size, self.hidden_size, GATES[self.mode], self.bias)

    def reset_parameters(self):
        _reset_uniform(self)

    def _run(self, input, hx):
        """Validate, run one step, return (state tuple, batched)."""
        where = type(self).__name__
        dtype = self.weight_ih.dtype
        x = _as_float(input, dtype, where, "input")
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{where}: input must be (B, {self.input_size}) or ({self.input_size},), "
                             f"got shape {x.shape}")
        batched = x.ndim == 2
        x = x if batched else x.unsqueeze(0)                          # (I,) -> (1, I)
        n_state = 2 if self.mode == "lstm" else 1
        shape = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if hx is None:
            state = tuple(Tensor._wrap(np.zeros(shape, dtype)) for _ in range(n_state))
        else:
            hx = _state_tuple(where, hx, n_state, "(h, c)")
            layout = "(batch, hidden_size)" if batched else "(hidden_size,) for a 1-D input"
            state = tuple(_check_state(where, "hx", _as_float(s, dtype, where, "hx"), shape, part, layout)
                          for s, part in zip(hx, ("h", "c")))
        state = state if batched else tuple(s.unsqueeze(0) for s in state)  # (H,) -> (1, H)
        xp = _project(x, self.weight_ih, self.bias_ih)                 # (B, G*H)
        new = _step(self.mode)(xp, state, self.weight_hh, self.bias_hh)
        return new if batched else tuple(s.squeeze(0) for s in new)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """Elman cell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    input (B, I) or (I,), hx (B, H) / (H,) or None (zeros) -> h' (B, H) / (H,).
    weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H,); all
    U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        object.__setattr__(self, "mode", "rnn_" + nonlinearity)
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._run(input, hx)[0]


class LSTMCell(_CellBase):
    """LSTM cell (gate order i, f, g, o):

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     f = sigmoid(W_if x + ... )
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)        o = sigmoid(W_io x + ... )
        c' = f * c + i * g                             h' = o * tanh(c')

    input (B, I) or (I,), hx = (h, c) each (B, H) / (H,), or None (zeros)
    -> (h', c').  weight_ih (4H, I) = [W_ii; W_if; W_ig; W_io], weight_hh
    (4H, H), bias_ih, bias_hh (4H,); all U(-1/sqrt(H), 1/sqrt(H)).
    """

    mode = "lstm"

    def forward(self, input, hx=None):
        return self._run(input, hx)


class GRUCell(_CellBase):
    """GRU cell (gate order r, z, n):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    input (B, I) or (I,), hx (B, H) / (H,) or None -> h'.  weight_ih (3H, I),
    weight_hh (3H, H), bias_ih, bias_hh (3H,); all U(-1/sqrt(H), 1/sqrt(H)).
    """

    mode = "gru"

    def forward(self, input, hx=None):
        return self._run(input, hx)[0]


# ----------------------------------------------------------------------------
# multi-layer, optionally bidirectional sequence layers
# ----------------------------------------------------------------------------
class _RNNBase(Module):
    """RNN / LSTM / GRU over whole sequences.

    input (T, B, I) (``batch_first``: (B, T, I)) or unbatched (T, I) (whatever ``batch_first``);
    hx: (L*D, B, H) (LSTM: a pair (h_0, c_0)) or None for zeros, D = 2 if
    bidirectional.  Returns (output (T, B, D*H), h_n (L*D, B, H)); the LSTM
    returns (output, (h_n, c_n)).  Layer k > 0 reads the D*H outputs of layer
    k-1, after dropout (training only, not after the last layer).

    LSTM with ``proj_size`` P > 0 (PyTorch's LSTMP): h_t = W_hr (o_t * tanh(c_t)),
    so h_0, h_n, the outputs (D*P) and the input of layer k > 0 have size P, while
    c stays H; it runs on the composed path.
    """

    mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, path="fused", proj_size=0):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if proj_size:
            if self.mode != "lstm":
                raise ValueError(f"{name}: proj_size is only supported by LSTM, got proj_size={proj_size!r}")
            _check_sizes(name, proj_size=proj_size)
            if proj_size >= hidden_size:
                raise ValueError(f"{name}: proj_size ({proj_size}) must be smaller than hidden_size "
                                 f"({hidden_size})")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout is applied between layers (not after the last), so "
                          f"dropout={dropout} with num_layers=1 has no effect", UserWarning, stacklevel=2)
        if path not in ("fused", "composed"):
            raise ValueError(f"{name}: path must be 'fused' or 'composed', got {path!r}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.path, self.proj_size = bool(bidirectional), path, int(proj_size)
        self._step_hook = None      # diagnostics: called (layer, direction, t, h) on the composed path
        D = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else D * self._h_size
            for d in range(D):
                _add_parameters(self, self._suffix(layer, d), layer_input, self.hidden_size,
                                GATES[self.mode], self.bias, self.proj_size)

    @property
    def _h_size(self):
        """The size of h (and of each direction's output): proj_size if set, else hidden_size."""
        return self.proj_size or self.hidden_size

    @staticmethod
    def _suffix(layer, direction):
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _direction_weights(self, layer, direction):
        """(w_ih, w_hh, b_ih, b_hh) of one layer and direction (biases may be None)."""
        s = self._suffix(layer, direction)
        return tuple(getattr(self, n + s) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    @property
    def all_weights(self):
        """PyTorch's ``all_weights``: one list per layer and direction (forward, then
        ``_reverse``) of the parameters present, in state_dict order: weight_ih,
        weight_hh[, bias_ih, bias_hh][, weight_hr]."""
        D = 2 if self.bidirectional else 1
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        return [[p for p in (getattr(self, n + self._suffix(layer, d), None) for n in names) if p is not None]
                for layer in range(self.num_layers) for d in range(D)]

    def reset_parameters(self):
        _reset_uniform(self)

    def flatten_parameters(self):
        """No-op, as PyTorch's on the CPU (it packs the weights for cuDNN): code that
        calls it after ``to()`` or ``load_state_dict`` runs unchanged."""

    # -------------------------------------------------------------- inputs
    def _prepare_input(self, input):
        """(x (T, B, I), batched)."""
        where = type(self).__name__
        x = _as_float(input, self.weight_ih_l0.dtype, where, "input")
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{where}: input must be 3-D {'(B, T, I)' if self.batch_first else '(T, B, I)'} "
                             f"or 2-D (T, I) with I = {self.input_size}, got shape {x.shape}")
        if x.shape[-2 if x.ndim == 2 else (1 if self.batch_first else 0)] == 0:
            raise ValueError(f"{where}: the input sequence is empty (shape {x.shape})")
        if x.ndim == 2:
            return x.unsqueeze(1), False                                # (T, I) -> (T, 1, I)
        return (x.swapaxes(0, 1) if self.batch_first else x), True     # (B, T, I) -> (T, B, I)

    def _initial_states(self, hx, batch, batched):
        """A list of L*D state tuples ((h,) or (h, c), each (B, H) or None)."""
        where = type(self).__name__
        D = 2 if self.bidirectional else 1
        n = self.num_layers * D
        n_state = 2 if self.mode == "lstm" else 1
        if hx is None:
            return [(None,) * n_state] * n
        hx = _state_tuple(where, hx, n_state, "(h_0, c_0)")
        sizes = (self._h_size, self.hidden_size)                        # h, c
        dtype = self.weight_ih_l0.dtype
        h_name = "proj_size" if self.proj_size else "hidden_size"
        layouts = [f"(num_layers * num_directions, {'batch, ' if batched else ''}{name})"
                   + ("" if batched else " for a 2-D (unbatched) input")
                   for name in (h_name, "hidden_size")]
        states = [_check_state(where, "hx", _as_float(s, dtype, where, "hx"),
                               (n, batch, size) if batched else (n, size), part, layout)
                  for s, size, part, layout in zip(hx, sizes, ("h_0", "c_0"), layouts)]
        states = states if batched else [s.unsqueeze(1) for s in states]  # (n, H) -> (n, 1, H)
        return [tuple(s[k] for s in states) for k in range(n)]

    # ------------------------------------------------------------- forward
    def forward(self, input, hx=None):
        x, batched = self._prepare_input(input)
        states = self._initial_states(hx, x.shape[1], batched)
        D = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                hs, state = self._run_direction(x, states[layer * D + d], layer, d)
                outs.append(hs)
                finals.append(state)
            x = outs[0] if D == 1 else ops.cat(outs, axis=2)            # (T, B, D*H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        output = x.swapaxes(0, 1) if self.batch_first and batched else x  # (T, B, .) -> (B, T, .)
        final = [ops.stack([s[k] for s in finals], axis=0) for k in range(len(finals[0]))]  # (L*D, B, H)
        if not batched:
            output = output.squeeze(1)                                  # (T, 1, .) -> (T, .)
            final = [s.squeeze(1) for s in final]
        return output, (tuple(final) if self.mode == "lstm" else final[0])

    def _run_direction(self, x, state, layer, direction):
        """(hs (T, B, H), final state tuple) of one layer and direction."""
        weights = self._direction_weights(layer, direction)
        if self.path == "fused" and not self.proj_size:
            return self._run_fused(x, state, weights, direction == 1)
        return self._run_composed(x, state, weights, layer, direction)

    def _run_fused(self, x, state, weights, reverse):
        if self.mode == "lstm":
            hs, h, c = fused.lstm_layer(x, *state, *weights, reverse=reverse)
            return hs, (h, c)
        if self.mode == "gru":
            hs, h = fused.gru_layer(x, *state, *weights, reverse=reverse)
        else:
            hs, h = fused.rnn_layer(x, *state, *weights, nonlinearity=self.mode[4:], reverse=reverse)
        return hs, (h,)

    def _run_composed(self, x, state, weights, layer, direction):
        w_ih, w_hh, b_ih, b_hh = weights
        w_hr = getattr(self, "weight_hr" + self._suffix(layer, direction)) if self.proj_size else None
        T, B = x.shape[:2]
        sizes = (self._h_size, self.hidden_size)                        # h, c
        state = tuple(Tensor._wrap(np.zeros((B, size), x.dtype)) if s is None else s
                      for s, size in zip(state, sizes))
        xp = _project(x, w_ih, b_ih)                                    # (T, B, G*H)
        # one split for all steps (indexing xp[t] T times would scatter T full-size gradients)
        xps = [p.reshape(B, xp.shape[-1]) for p in ops.split(xp, T, axis=0)]  # T x (1, B, G*H) -> (B, G*H)
        step = _step(self.mode)
        hs = [None] * T
        for t in (range(T - 1, -1, -1) if direction else range(T)):
            state = step(xps[t], state, w_hh, b_hh)
            if w_hr is not None:
                state = (F.linear(state[0], w_hr), state[1])              # h = W_hr h: (B, H) -> (B, P)
            hs[t] = state[0]
            if self._step_hook is not None:
                self._step_hook(layer, direction, t, state[0])
        return ops.stack(hs, axis=0), state                            # (T, B, H)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0), ("path", "fused")):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu),
    layer by layer.  ``RNN(input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, path='fused')``.  Parameters weight_ih_l{k} (H, I_k),
    weight_hh_l{k} (H, H), bias_ih_l{k}, bias_hh_l{k} (H,) (+ ``_reverse``),
    U(-1/sqrt(H), 1/sqrt(H)).  See ``_RNNBase`` for the shapes."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, path="fused"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        object.__setattr__(self, "mode", "rnn_" + nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, path)
        self.nonlinearity = nonlinearity


class LSTM(_RNNBase):
    """Long short-term memory (equations in ``LSTMCell``; gate order i, f, g, o),
    layer by layer.  ``LSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
    path='fused')``.  Returns (output, (h_n, c_n)).  Parameters weight_ih_l{k}
    (4H, I_k), weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H,)
    (+ ``_reverse``), U(-1/sqrt(H), 1/sqrt(H)); with ``proj_size`` P > 0 also
    weight_hr_l{k} (P, H), and weight_hh_l{k} is (4H, P) (see ``_RNNBase``)."""

    mode = "lstm"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, path="fused"):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, path, proj_size)


class GRU(_RNNBase):
    """Gated recurrent unit (equations in ``GRUCell``; gate order r, z, n),
    layer by layer.  Parameters weight_ih_l{k} (3H, I_k), weight_hh_l{k}
    (3H, H), bias_ih_l{k}, bias_hh_l{k} (3H,) (+ ``_reverse``),
    U(-1/sqrt(H), 1/sqrt(H))."""

    mode = "gru"
