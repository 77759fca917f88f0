"""Sequence-to-sequence model: a recurrent encoder, an attention decoder.

    src (B, S) -> Embedding -> encoder GRU/LSTM -> enc (B, S, H), state
    tgt_in (B, T) -> Embedding -> decoder GRU/LSTM (starts from the encoder's
        final state) -> dec (B, T, H)
    context, weights = attention(dec, enc, enc, mask=src != pad)  (B, T, H), (B, T, S)
    logits = out(tanh(combine([dec; context])))                    (B, T, V_tgt)

This is Luong et al.'s global attention (the attention reads the decoder's
output at each step; ``attention='additive'`` scores with Bahdanau's
v^T tanh(W_q q + W_k k), ``'dot'`` with a scaled dot product).  Because the
decoder's recurrence does not depend on the attention, training with teacher
forcing (``forward(src, tgt_in)``, the gold previous token as input) runs the
decoder over the whole target in one fused call.  Decoding feeds back its
own predictions one step at a time: ``greedy_decode`` and ``beam_search``;
both return the attention weights for plotting.

Token conventions: ``pad_id`` pads both sides (masked in the attention,
ignored in the loss via ``ignore_index=pad_id``), the decoder input starts
with ``bos_id`` and the target ends with ``eos_id``.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .. import nn
from .. import ops
from ..autograd.grad_mode import no_grad
from ..dtypes import is_int, is_real
from ..tensor import Tensor

__all__ = ["Seq2Seq", "Seq2SeqConfig"]

_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    embedding_dim: int = 64
    hidden_size: int = 128
    cell: str = "gru"               # 'gru' | 'lstm'
    num_layers: int = 1
    attention: str = "additive"     # 'additive' | 'dot'
    dropout: float = 0.0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2


class Seq2Seq(nn.Module):
    """Encoder-decoder with attention (see the module docstring).

    forward(src (B, S), tgt_in (B, T)) -> (logits (B, T, V), weights (B, T, S)).
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, embedding_dim=64, hidden_size=128, cell="gru",
                 num_layers=1, attention="additive", dropout=0.0, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"Seq2Seq: cell must be 'gru' or 'lstm', got {cell!r}")
        if attention not in ("additive", "dot"):
            raise ValueError(f"Seq2Seq: attention must be 'additive' or 'dot', got {attention!r}")
        self.config = Seq2SeqConfig(src_vocab_size, tgt_vocab_size, embedding_dim, hidden_size, cell,
                                    num_layers, attention, dropout, pad_id, bos_id, eos_id)
        E, H = embedding_dim, hidden_size
        self.src_embedding = nn.Embedding(src_vocab_size, E, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, E, padding_idx=pad_id)
        self.encoder = _CELLS[cell](E, H, num_layers, batch_first=True, dropout=dropout)
        self.decoder = _CELLS[cell](E, H, num_layers, batch_first=True, dropout=dropout)
        self.attention = nn.AdditiveAttention(H, H, H) if attention == "additive" \
            else nn.DotProductAttention(scaled=True)
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, tgt_vocab_size)

    @classmethod
    def from_config(cls, config):
        return cls(**asdict(config))

    # ------------------------------------------------------------ pieces
    def encode(self, src):
        """(enc (B, S, H), final encoder state, mask (B, S) True at real tokens).

        Padding does not change a row's result (what PyTorch gets with
        ``pack_padded_sequence``): the encoder reads only the real tokens of
        each row (rows grouped by their number of real tokens, n), so the
        final state is the one after the last real token, and ``enc`` holds
        each real token's output at its own position and zeros at padding."""
        src = _ids(src, "Seq2Seq.encode", "src")
        mask = src != self.config.pad_id                                # (B, S)
        if mask.all():                                                  # no padding: one pass
            enc, state = self.encoder(self.src_embedding(src))         # (B, S, H)
            return enc, state, mask
        B, S = src.shape
        lengths = mask.sum(axis=1)                                      # (B,)
        outputs, states, rows = [], [], []
        flat_index = np.zeros((B, S), dtype=np.int64)                   # row of ``flat`` per position
        offset = 0
        for n in np.unique(lengths[lengths > 0]):
            group = np.flatnonzero(lengths == n)                        # (G,)
            where = np.nonzero(mask[group])[1].reshape(len(group), n)   # (G, n) positions of real tokens
            out, state = self.encoder(self.src_embedding(src[group[:, None], where]))   # (G, n, H)
            outputs.append(out.reshape(len(group) * n, -1))             # (G*n, H)
            flat_index[group[:, None], where] = offset + np.arange(len(group) * n).reshape(len(group), n)
            offset += len(group) * n
            states.append(state)
            rows.append(group)
        H = self.config.hidden_size
        dtype = self.src_embedding.weight.dtype
        flat = ops.cat(outputs + [Tensor(np.zeros((1, H), dtype))], axis=0)   # (N_real + 1, H), last row 0
        flat_index[~mask] = offset
        enc = flat[flat_index]                                          # (B, S, H)
        empty = np.flatnonzero(lengths == 0)                            # all-padding rows: zero state
        order = np.argsort(np.concatenate(rows + [empty]), kind="stable")   # original row -> stacked row
        zeros = Tensor(np.zeros((self.config.num_layers, len(empty), H), dtype))   # (L, B_empty, H)
        if self.config.cell == "lstm":                                  # (h, c) pairs
            state = tuple(ops.cat([st[i] for st in states] + [zeros], axis=1)[:, order] for i in range(2))
        else:
            state = ops.cat(states + [zeros], axis=1)[:, order]         # (L, B, H)
        return enc, state, mask

    def decode(self, tgt_in, enc, state, mask):
        """Decoder steps for the ids tgt_in (B, T) from ``state``:
        (logits (B, T, V), new state, attention weights (B, T, S))."""
        dec, state = self.decoder(self.tgt_embedding(tgt_in), state)   # (B, T, H)
        context, weights = self.attention(dec, enc, enc, mask)          # (B, T, H), (B, T, S)
        h = self.combine(ops.cat([dec, context], axis=-1)).tanh()      # (B, T, 2H) -> (B, T, H)
        return self.out(h), state, weights                              # (B, T, V)

    def forward(self, src, tgt_in):
        """Teacher forcing: tgt_in is the gold target shifted right (bos first)."""
        src, tgt_in = _ids(src, "Seq2Seq", "src"), _ids(tgt_in, "Seq2Seq", "tgt_in")
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"Seq2Seq: src {src.shape} and tgt_in {tgt_in.shape} must have the same "
                             "batch size")
        enc, state, mask = self.encode(src)
        logits, _, weights = self.decode(tgt_in, enc, state, mask)
        return logits, weights

    # ------------------------------------------------------------ decoding
    @no_grad()
    def greedy_decode(self, src, max_len=50):
        """The most likely token at every step, fed back as the next input.

        Returns (tokens (B, L) int64 with ``eos_id`` included and ``pad_id``
        after it, weights (B, L, S), zero after eos); 1 <= L <= max_len (stops
        once every row has produced eos)."""
        _check_count(max_len, "Seq2Seq.greedy_decode", "max_len")
        enc, state, mask = self.encode(src)
        B = enc.shape[0]
        y = np.full((B, 1), self.config.bos_id, dtype=np.int64)
        tokens, weights = [], []
        done = np.zeros(B, dtype=bool)
        for _ in range(max_len):
            logits, state, w = self.decode(y, enc, state, mask)         # (B, 1, V)
            y = logits.data[:, -1].argmax(axis=-1)[:, None]             # (B, 1)
            tokens.append(np.where(done, self.config.pad_id, y[:, 0]))
            weights.append(np.where(done[:, None], 0, w.data[:, 0]))    # (B, S)
            done |= y[:, 0] == self.config.eos_id
            if done.all():
                break
        return np.stack(tokens, axis=1), np.stack(weights, axis=1)

    @no_grad()
    def beam_search(self, src, beam_size=4, max_len=50, length_penalty=1.0):
        """Beam search per source row: keep the ``beam_size`` best partial
        outputs by total log-probability; a hypothesis ends at eos; the final
        choice maximises logp / len**length_penalty.

        Returns (tokens (B, L) int64 padded with ``pad_id``, weights (B, L, S),
        zero at the padding) of the best hypothesis of each row; beam_size=1 is
        greedy_decode."""
        where = "Seq2Seq.beam_search"
        src = _ids(src, where, "src")
        _check_count(beam_size, where, "beam_size")
        _check_count(max_len, where, "max_len")
        if not is_real(length_penalty):
            raise TypeError(f"{where}: length_penalty must be a number, got {length_penalty!r}")
        if not np.isfinite(length_penalty):
            raise ValueError(f"{where}: length_penalty must be finite, got {length_penalty!r}")
        if src.shape[0] == 0:
            return np.zeros((0, 0), dtype=np.int64), np.zeros((0, 0, src.shape[1]), dtype=self.out.weight.dtype)
        results = [self._beam_one(src[b:b + 1], beam_size, max_len, length_penalty)
                   for b in range(src.shape[0])]
        L = max(len(t) for t, _ in results)
        S = src.shape[1]
        tokens = np.full((len(results), L), self.config.pad_id, dtype=np.int64)
        weights = np.zeros((len(results), L, S), dtype=results[0][1].dtype)
        for b, (t, w) in enumerate(results):
            tokens[b, :len(t)], weights[b, :len(t)] = t, w
        return tokens, weights

    def _beam_one(self, src, K, max_len, alpha):
        enc, state, mask = self.encode(src)                             # batch of 1
        enc, mask = _repeat(enc, K), np.repeat(mask, K, axis=0)         # (K, S, H), (K, S)
        state = _reorder(state, np.zeros(K, dtype=np.int64))            # K copies
        eos = self.config.eos_id
        beams = [([], [], 0.0)]                                         # (tokens, weights, logp)
        finished = []
        for _ in range(max_len):
            y = np.array([[b[0][-1] if b[0] else self.config.bos_id] for b in beams]
                         + [[self.config.bos_id]] * (K - len(beams)), dtype=np.int64)
            logits, state, w = self.decode(y, enc, state, mask)         # (K, 1, V)
            logp = logits.data[:, 0].astype(np.float64)
            logp = logp - np.logaddexp.reduce(logp, axis=-1, keepdims=True)   # log-softmax (K, V)
            total = np.array([b[2] for b in beams])[:, None] + logp[:len(beams)]
            order = np.argsort(-total, axis=None, kind="stable")[:K]
            origin, token = np.unravel_index(order, total.shape)
            beams_next, keep = [], []
            for o, t in zip(origin, token):
                hyp = (beams[o][0] + [int(t)], beams[o][1] + [w.data[o, 0]], float(total[o, t]))
                (finished if t == eos else beams_next).append(hyp)
                if t != eos:
                    keep.append(o)
            if not beams_next or len(finished) >= K:
                break
            beams = beams_next
            state = _reorder(state, np.array(keep + [keep[0]] * (K - len(keep))))
        finished = finished or beams
        best = max(finished, key=lambda h: h[2] / (len(h[0]) ** alpha))
        return np.array(best[0], dtype=np.int64), np.stack(best[1])


def _check_count(value, where, name):
    """TypeError unless ``value`` is an int (not a bool), ValueError unless >= 1."""
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be >= 1, got {value}")


def _ids(ids, where, what):
    """``ids`` as an integer array (B, T): TypeError for another dtype, ValueError for another rank."""
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{where}: {what} must hold integer ids, got dtype {ids.dtype} (shape {ids.shape})")
    if ids.ndim != 2:
        raise ValueError(f"{where}: {what} must be (B, T) integer ids, got shape {ids.shape}")
    return ids


def _repeat(t, K):
    return Tensor(np.repeat(t.data, K, axis=0))                         # (1, ...) -> (K, ...)


def _reorder(state, index):
    """Select batch rows ``index`` of a state (L, B, H) or an LSTM pair."""
    if isinstance(state, tuple):
        return tuple(_reorder(s, index) for s in state)
    return Tensor(state.data[:, index])
