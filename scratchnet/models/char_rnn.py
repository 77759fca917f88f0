"""A character-level recurrent language model (Karpathy's char-rnn).

    ids (B, T) -> Embedding (B, T, E) -> RNN/LSTM/GRU (B, T, H)
               -> Dropout -> Linear (B, T, V) logits of the next character

The hidden state is returned with the logits and can be passed back in, so
a long text is read in consecutive windows with the memory carried over
(truncated backpropagation through time: ``detach_state`` between batches
cuts the gradient at the window boundary but keeps the values).  ``step``
feeds one character per sequence and costs O(1) per generated character.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .. import nn
from ..tensor import Tensor

__all__ = ["CharRNN", "CharRNNConfig"]

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass
class CharRNNConfig:
    vocab_size: int
    cell: str = "lstm"             # 'lstm' | 'gru' | 'rnn' (tanh)
    hidden_size: int = 256
    num_layers: int = 1
    embedding_dim: int = 64
    dropout: float = 0.0           # between recurrent layers and before the head
    path: str = "fused"            # 'fused' | 'composed' (see nn.recurrent)


class CharRNN(nn.Module):
    """``CharRNN(vocab_size, cell='lstm', hidden_size=256, num_layers=1,
    embedding_dim=64, dropout=0.0, path='fused')``.

    forward(ids (B, T) int, state=None) -> (logits (B, T, V), state); the
    state is h_n (L, B, H) for 'rnn'/'gru' and (h_n, c_n) for 'lstm' (Tensors
    or arrays accepted).  Parameters: ``embedding.weight`` (V, E),
    ``rnn.*`` (PyTorch's keys, batch_first), ``head.weight`` (V, H),
    ``head.bias`` (V,).
    """

    def __init__(self, vocab_size, cell="lstm", hidden_size=256, num_layers=1, embedding_dim=64,
                 dropout=0.0, path="fused"):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"CharRNN: cell must be one of {sorted(_CELLS)}, got {cell!r}")
        sizes = dict(vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                     embedding_dim=embedding_dim)
        for name, value in sizes.items():
            if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
                raise TypeError(f"CharRNN: {name} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"CharRNN: {name} must be >= 1, got {value}")
        self.config = CharRNNConfig(int(vocab_size), cell, int(hidden_size), int(num_layers),
                                    int(embedding_dim), float(dropout), path)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        # dropout between recurrent layers only when there are several (one layer:
        # self.drop below still applies it, so the recurrent layer's warning would mislead)
        self.rnn = _CELLS[cell](embedding_dim, hidden_size, num_layers, batch_first=True,
                                dropout=dropout if num_layers > 1 else 0.0, path=path)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    @classmethod
    def from_config(cls, config):
        return cls(**asdict(config))

    def forward(self, ids, state=None):
        ids = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"CharRNN: ids must be (B, T) integer ids, got shape {ids.shape}")
        x = self.embedding(ids)                                         # (B, T, E)
        out, state = self.rnn(x, state)                                 # (B, T, H)
        return self.head(self.drop(out)), state                         # (B, T, V)

    def step(self, token_id, state=None):
        """Logits of the next character after ``token_id`` (an int, or ids of
        shape (B,)), and the new state: one recurrent step, O(1) per token.
        Returns logits (V,) for an int, (B, V) for an array."""
        ids = np.asarray(token_id.data if isinstance(token_id, Tensor) else token_id)
        logits, state = self(ids.reshape(-1, 1), state)                 # (B, 1, V)
        logits = logits.squeeze(1)                                      # (B, V)
        return (logits.squeeze(0) if ids.ndim == 0 else logits), state

    def init_state(self, batch_size):
        """Zeros of the right shape (what ``state=None`` means)."""
        L, H = self.config.num_layers, self.config.hidden_size
        dtype = self.head.weight.dtype
        zeros = lambda: Tensor(np.zeros((L, batch_size, H), dtype))    # noqa: E731
        return (zeros(), zeros()) if self.config.cell == "lstm" else zeros()

    @staticmethod
    def detach_state(state):
        """The same state values cut off from the graph (truncated BPTT)."""
        if state is None:
            return None
        if isinstance(state, Tensor):
            return state.detach()
        return tuple(CharRNN.detach_state(s) for s in state)
