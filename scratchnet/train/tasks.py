"""Tasks: how one batch becomes a loss, for each kind of model.

A task turns ``(model, batch)`` into ``(loss, stats)`` where ``loss`` is a
scalar Tensor and ``stats`` holds plain numbers summed over an evaluation
(``loss_sum`` in nats, ``tokens``, ``correct``). Tasks that carry state
between batches (truncated BPTT) expose it through ``state_dict`` so a
resumed run continues exactly.
"""
import numpy as np

from .. import functional as F
from ..tensor import Tensor


IGNORE_INDEX = -100     # cross_entropy's default: targets that are not predicted (padding)


def _lm_stats(logits, targets, loss):
    """Counted tokens (targets other than ``IGNORE_INDEX``), their summed loss
    in nats and their correct next-token predictions, as plain numbers."""
    counted = targets != IGNORE_INDEX                 # (B, T)
    pred = np.argmax(logits.data, axis=-1)           # (B, T)
    n = int(counted.sum())
    loss_sum = float(loss.item()) * n if n else 0.0  # the mean over no token is NaN
    return {"loss_sum": loss_sum, "tokens": n, "correct": int((pred == targets)[counted].sum())}


def lm_loss(logits, targets):
    """Mean next-token cross-entropy over the positions whose target is not
    ``IGNORE_INDEX``.

    logits (B, T, V), targets (B, T) int ->  scalar."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))  # (B*T, V), (B*T,)


class LanguageModelTask:
    """Stateless next-token prediction (GPT and friends): ``model(x)`` gives
    logits (B, T, V), or a tuple whose first item is the logits."""

    carries_state = False

    def loss(self, model, batch, training=True):
        x, y = batch
        out = model(Tensor(x))
        logits = out[0] if isinstance(out, tuple) else out
        loss = lm_loss(logits, y)
        return loss, _lm_stats(logits, y, loss)

    def reset(self):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class RecurrentLMTask(LanguageModelTask):
    """Next-token prediction with a hidden state carried from batch to batch
    (truncated backpropagation through time): ``model(x, state)`` gives
    ``(logits, state)``; the state is detached after every batch, so the
    gradient flows back ``seq_len`` steps but the memory reaches further."""

    carries_state = True

    def __init__(self):
        self.state = None

    def loss(self, model, batch, training=True):
        x, y = batch
        logits, state = model(Tensor(x), self.state)
        self.state = _detach(state)
        loss = lm_loss(logits, y)
        return loss, _lm_stats(logits, y, loss)

    def reset(self):
        self.state = None

    def state_dict(self):
        return {"state": _to_arrays(self.state)}

    def load_state_dict(self, state):
        self.state = _to_tensors(state.get("state"))


def _detach(state):
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(_detach(s) for s in state)


def _to_arrays(state):
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.data
    return [_to_arrays(s) for s in state]


def _to_tensors(state):
    if state is None:
        return None
    if isinstance(state, np.ndarray):
        return Tensor(state)
    return tuple(_to_tensors(s) for s in state)
