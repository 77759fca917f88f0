"""Diagnostics that make training dynamics visible.

``gradient_norms_through_time(model, inputs, targets=None)``: how much of a
loss at the *last* time step reaches each earlier hidden state, i.e.
||dL/dh_t|| for t = 0..T-1.  For a plain tanh RNN these norms shrink
geometrically toward early t (the product of T - t Jacobians
diag(1 - h^2) W_hh with norms below 1: vanishing gradients); the LSTM's
additive cell path c_t = f * c_{t-1} + i * g lets them fade more slowly
(especially with forget gates near 1).

    norms = gradient_norms_through_time(nn.RNN(8, 32), x)      # x (T, B, 8)
    plt.semilogy(norms)
"""
import numpy as np

from . import functional as F
from .nn.recurrent import _RNNBase
from .tensor import Tensor, grad

__all__ = ["gradient_norms_through_time"]


def _recurrent_layer(model):
    if isinstance(model, _RNNBase):
        return model
    for m in model.modules():
        if isinstance(m, _RNNBase):
            return m
    raise TypeError(f"gradient_norms_through_time: {type(model).__name__} contains no nn.RNN, "
                    "nn.LSTM or nn.GRU")


def _last_step(out, time_axis):
    """The output at the final time step."""
    index = [slice(None)] * out.ndim
    index[time_axis] = -1
    return out[tuple(index)]


def _loss(final, targets):
    """A scalar that depends on the last step only (see the public docstring)."""
    if targets is None:
        return final.sum()
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if t.dtype.kind in "iu":
        ids = t[..., -1] if t.ndim == final.ndim else t                # (B, T) -> (B,)
        return F.cross_entropy(final.reshape(-1, final.shape[-1]), ids.reshape(-1), reduction="sum")
    t = t[..., -1, :] if t.ndim > final.ndim else t
    diff = final - t.astype(final.dtype)
    return 0.5 * (diff * diff).sum()


def gradient_norms_through_time(model, inputs, targets=None):
    """||dL/dh_t|| (over batch and units) for every time step t, as a float64
    array of shape (T,).

    ``model`` is an ``nn.RNN``/``nn.LSTM``/``nn.GRU`` or a model that contains
    one (e.g. ``models.CharRNN``; its first recurrent layer is used).  h_t are
    the hidden states of that layer's last layer, forward direction.  The
    loss L depends on the model's output at the last time step only:

    * ``targets=None``: L = sum of the last output;
    * integer ``targets`` (class ids (B,) or (B, T), for logits):
      cross-entropy (summed) of the last step's logits against the last ids;
    * float ``targets``: 0.5 * squared error against the last step's target.

    The model runs once on its composed path (the fused path keeps no
    per-step tensors); its ``path`` is restored afterwards.
    """
    rnn = _recurrent_layer(model)
    captured = {}
    last_layer = rnn.num_layers - 1

    def hook(layer, direction, t, h):
        if layer == last_layer and direction == 0:
            captured[t] = h

    saved_path, saved_hook = rnn.path, rnn._step_hook
    rnn.path, rnn._step_hook = "composed", hook
    try:
        out = model(inputs)
    finally:
        rnn.path, rnn._step_hook = saved_path, saved_hook
    out = out[0] if isinstance(out, tuple) else out
    time_axis = 1 if (rnn.batch_first and out.ndim == 3) else 0
    loss = _loss(_last_step(out, time_axis), targets)
    hs = [captured[t] for t in range(len(captured))]
    grads = grad(loss, hs, allow_unused=True)
    return np.array([0.0 if g is None else float(np.linalg.norm(g.astype(np.float64))) for g in grads])
