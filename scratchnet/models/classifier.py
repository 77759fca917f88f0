"""A Transformer encoder for sequence classification.

    h_0 = dropout(emb[ids] * sqrt(d_model) + PE[pos])            (B, T, d)  sinusoidal positions
    pos[b, t] = (number of real tokens in row b up to and including t) - 1
    h   = TransformerEncoder(h_0, key_padding_mask = padding)    (B, T, d)  (pre-norm layers + final LayerNorm)
    z   = mean of h over the real tokens          (pooling='mean')
        | h at a learned [CLS] vector prepended to every sequence  (pooling='cls')
    logits = head(dropout(z))                                    (B, num_classes)

Padding never influences a real token: padded keys are masked out of every
attention row, mean pooling averages real positions only, and positions
count real tokens only, so padding before, between or after the tokens
(``pad_sequences``' default is 'pre') gives the same logits as none (the
[CLS] vector, always real, is position 0). Parameters:
``embedding.weight`` (vocab_size, d) ~ N(0, 1) (Embedding's init) with the
padding row zero, ``cls_token`` (1, 1, d) ~ N(0, 0.02) (pooling='cls'),
``encoder.layers.{i}.*`` (TransformerEncoderLayer's keys), ``encoder.norm.*``,
``head.weight/bias``.
"""
import math
from dataclasses import dataclass

import numpy as np

from .. import nn
from ..ops.layers import check_ids
from ..ops.shape import cat
from ..tensor import Tensor
from ._checks import probability, size


@dataclass
class TransformerClassifierConfig:
    vocab_size: int
    num_classes: int
    d_model: int = 128
    nhead: int = 4
    num_layers: int = 2
    dim_feedforward: int = 256
    max_len: int = 512
    dropout: float = 0.1
    pooling: str = "mean"      # 'mean' | 'cls'
    pad_idx: int = 0           # the id of padding in ``ids`` (used when no mask is given)
    norm_first: bool = True


class TransformerClassifier(nn.Module):
    """Encoder + pooling + linear head (see module docstring).

    forward(ids (B, T) int, mask=None) -> logits (B, num_classes). ``mask`` (B, T)
    bool is True at real tokens (``data.ClassificationBatches``' mask); when
    omitted it is ``ids != pad_idx``.
    """

    def __init__(self, vocab_size, num_classes, d_model=128, nhead=4, num_layers=2, dim_feedforward=256,
                 max_len=512, dropout=0.1, pooling="mean", pad_idx=0, norm_first=True):
        super().__init__()
        where = "TransformerClassifier"
        vocab_size, num_classes, d_model, nhead, dim_feedforward, max_len = (
            size(where, name, value) for name, value in (
                ("vocab_size", vocab_size), ("num_classes", num_classes), ("d_model", d_model),
                ("nhead", nhead), ("dim_feedforward", dim_feedforward), ("max_len", max_len)))
        num_layers = size(where, "num_layers", num_layers, least=0)
        dropout = probability(where, "dropout", dropout)
        if pooling not in ("mean", "cls"):
            raise ValueError(f"TransformerClassifier: pooling must be 'mean' or 'cls', got {pooling!r}")
        self.config = TransformerClassifierConfig(vocab_size, num_classes, d_model, nhead, num_layers,
                                                  dim_feedforward, max_len, dropout, pooling, pad_idx,
                                                  norm_first)
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx)
        self.pad_id = self.embedding.padding_idx    # pad_idx -1 is the row vocab_size - 1, as in Embedding
        self.pos = nn.PositionalEncoding(d_model, max_len + 1, dropout, batch_first=True)
        if pooling == "cls":
            self.cls_token = nn.Parameter(np.zeros((1, 1, d_model), dtype=self.embedding.weight.dtype))
            nn.init.normal_(self.cls_token, 0.0, 0.02)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation="gelu",
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, ids, mask=None):
        ids = check_ids(ids, self.config.vocab_size, "TransformerClassifier")
        if ids.ndim != 2:
            raise ValueError(f"TransformerClassifier: ids must be (B, T), got shape {ids.shape}")
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"TransformerClassifier: sequence length {ids.shape[1]} exceeds "
                             f"max_len {self.config.max_len}")
        if mask is not None:
            real = _real_tokens(mask)
        else:
            real = np.ones(ids.shape, dtype=bool) if self.pad_id is None else ids != self.pad_id
        if real.shape != ids.shape:
            raise ValueError(f"TransformerClassifier: mask {real.shape} must match ids {ids.shape}")
        B, d = ids.shape[0], self.config.d_model
        x = self.embedding(ids) * math.sqrt(d)                     # (B, T, d)
        if self.config.pooling == "cls":
            cls = self.cls_token * np.ones((B, 1, 1), dtype=x.dtype)   # (1, 1, d) -> (B, 1, d)
            x = cat([cls, x], axis=1)                               # (B, 1 + T, d)
            real = np.concatenate([np.ones((B, 1), dtype=bool), real], axis=1)
        pos = np.maximum(np.cumsum(real, axis=1) - 1, 0)            # (B, T') rank among the row's real tokens
        pe = self.pos.pe[pos].astype(x.dtype, copy=False)           # (max_len + 1, d)[(B, T')] -> (B, T', d)
        h = self.encoder(self.pos.dropout(x + pe), src_key_padding_mask=~real)   # (B, T', d)
        if self.config.pooling == "cls":
            z = h[:, 0]                                             # (B, d)
        else:
            w = (real / np.maximum(real.sum(axis=1, keepdims=True), 1)).astype(h.dtype)  # (B, T)
            z = (h * w[:, :, None]).sum(axis=1)                     # (B, T, d) -> (B, d)
        return self.head(self.dropout(z))


def _real_tokens(mask):
    """A (B, T) mask (Tensor or array; bool, or numbers that are all 0 or 1, as
    an attention_mask) as a bool array True at real tokens; ValueError otherwise."""
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError(f"TransformerClassifier: mask must be boolean (True at real tokens) or hold only "
                         f"0 and 1, got values {np.unique(mask)[:5].tolist()} (dtype {mask.dtype})")
    return mask.astype(bool)
