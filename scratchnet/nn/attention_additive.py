"""Attention for encoder-decoder models: ``AdditiveAttention`` (Bahdanau) and
``DotProductAttention`` (Luong), with masks for padded positions.

Both take a query per decoder position and a sequence of keys and values:

    query  (B, Dq) or (B, L, Dq)     one or L decoder positions
    keys   (B, S, Dk)                encoder positions
    values (B, S, Dv)
    mask   (B, S) or (B, L, S) bool, **True marks a valid position** (one that
           may be attended to; padding is False), or None

and return ``(context, weights)``: context (B, Dv) or (B, L, Dv), the weighted
sum of the values, and weights (B, S) or (B, L, S), the attention
distribution (for plotting).  Masked positions get weight exactly 0; a row
whose positions are all masked gets all-zero weights and a zero context
(not NaN).

(The mask meaning follows ``scaled_dot_product_attention``, where True
attends; ``MultiheadAttention``'s ``key_padding_mask`` uses PyTorch's
opposite convention, True = padding.)
"""
import math

import numpy as np

from ..ops._util import as_tensor, to_array
from .linear import Linear, layer_size
from .module import Module

__all__ = ["AdditiveAttention", "DotProductAttention", "masked_attention"]

_MASKED = -1e30       # added to the scores of masked positions (finite: no inf - inf)


def masked_attention(scores, values, mask=None, where="attention"):
    """weights = softmax(scores) over the last axis with masked positions
    removed, context = weights @ values.

    scores (B, S) or (B, L, S); values (B, S, Dv); mask bool broadcastable to
    scores (True = valid).  A fully masked row gets zero weights: its scores
    are all -1e30, the softmax is uniform, and the multiplication by the mask
    zeroes it (the same multiplication leaves other rows unchanged, since
    e^{-1e30} is exactly 0).
    """
    single = scores.ndim == 2
    if mask is not None:
        mask = to_array(mask, where, "mask")
        if mask.dtype != np.bool_:
            raise TypeError(f"{where}: mask must be boolean (True = valid position), got dtype {mask.dtype}")
        if single or mask.ndim == 2:
            mask = mask if single else mask[:, None, :]                 # (B, S) -> (B, 1, S)
        try:
            np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            raise ValueError(f"{where}: mask of shape {mask.shape} does not match the scores "
                             f"{scores.shape} (expected (B, S) or (B, L, S))") from None
        scores = scores.masked_fill(~mask, _MASKED)
    weights = scores.softmax(axis=-1)
    if mask is not None:
        weights = weights * mask.astype(weights.dtype)
    if single:
        context = (weights.unsqueeze(1) @ values).squeeze(1)           # (B, 1, S) @ (B, S, Dv) -> (B, Dv)
    else:
        context = weights @ values                                      # (B, L, S) @ (B, S, Dv)
    return context, weights


def _check_qkv(where, query, keys, values):
    """The three as Tensors, after a shape check."""
    query, keys, values = (as_tensor(t, where=where) for t in (query, keys, values))
    for name, t in (("query", query), ("keys", keys), ("values", values)):
        if t.dtype.kind != "f":
            raise TypeError(f"{where}: {name} must be a floating-point tensor, got dtype {t.dtype} "
                            f"(shape {t.shape})")
    if query.ndim not in (2, 3) or keys.ndim != 3 or values.ndim != 3:
        raise ValueError(f"{where}: expected query (B, Dq) or (B, L, Dq), keys (B, S, Dk), values "
                         f"(B, S, Dv); got {query.shape}, {keys.shape}, {values.shape}")
    if keys.shape[:2] != values.shape[:2] or query.shape[0] != keys.shape[0]:
        raise ValueError(f"{where}: batch or length mismatch between query {query.shape}, keys "
                         f"{keys.shape} and values {values.shape}")
    return query, keys, values


class AdditiveAttention(Module):
    """Bahdanau attention: score(q, k_s) = v^T tanh(W_q q + W_k k_s).

    ``AdditiveAttention(query_size, key_size, hidden_size)``; parameters
    ``query_proj.weight`` (hidden, query_size), ``key_proj.weight`` (hidden,
    key_size), ``v.weight`` (1, hidden), no biases, initialised like
    ``Linear`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
    forward(query, keys, values, mask=None) -> (context, weights), shapes in
    the module docstring; mask True = valid position.  ``projected_keys``
    (the result of ``project_keys(keys)``) may be passed to reuse W_k k
    across decoder steps.
    """

    def __init__(self, query_size, key_size, hidden_size):
        super().__init__()
        for name, size in (("query_size", query_size), ("key_size", key_size), ("hidden_size", hidden_size)):
            layer_size("AdditiveAttention", name, size)
        self.query_proj = Linear(query_size, hidden_size, bias=False)
        self.key_proj = Linear(key_size, hidden_size, bias=False)
        self.v = Linear(hidden_size, 1, bias=False)

    def project_keys(self, keys):
        return self.key_proj(keys)                                      # (B, S, hidden)

    def forward(self, query, keys, values, mask=None, projected_keys=None):
        query, keys, values = _check_qkv("AdditiveAttention", query, keys, values)
        sizes = (self.query_proj.in_features, self.key_proj.in_features)
        if (query.shape[-1], keys.shape[-1]) != sizes:
            raise ValueError(f"AdditiveAttention: expected query (..., {sizes[0]}) and keys (B, S, {sizes[1]}) "
                             f"(query_size, key_size = {sizes}); got query {query.shape}, keys {keys.shape}")
        if projected_keys is None:
            kp = self.project_keys(keys)                                # (B, S, hidden)
        else:
            kp = as_tensor(projected_keys, where="AdditiveAttention")
            expected = keys.shape[:2] + (self.key_proj.out_features,)
            if kp.shape != expected:
                raise ValueError(f"AdditiveAttention: projected_keys has shape {kp.shape}, expected "
                                 f"(B, S, hidden_size) = {expected} for keys {keys.shape}")
        qp = self.query_proj(query)                                     # (B, [L,] hidden)
        if query.ndim == 2:
            e = (qp.unsqueeze(1) + kp).tanh()                           # (B, S, hidden)
        else:
            e = (qp.unsqueeze(2) + kp.unsqueeze(1)).tanh()              # (B, L, S, hidden)
        scores = self.v(e).squeeze(-1)                                  # (B, [L,] S)
        return masked_attention(scores, values, mask, "AdditiveAttention")


class DotProductAttention(Module):
    """Luong attention: score(q, k_s) = q . k_s / sqrt(D) (``scaled=True``) or
    q . k_s.  No parameters; query and keys must have the same size D.
    forward(query, keys, values, mask=None) -> (context, weights), shapes in
    the module docstring; mask True = valid position."""

    def __init__(self, scaled=True):
        super().__init__()
        self.scaled = bool(scaled)

    def forward(self, query, keys, values, mask=None):
        query, keys, values = _check_qkv("DotProductAttention", query, keys, values)
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(f"DotProductAttention: query size {query.shape[-1]} differs from key size "
                             f"{keys.shape[-1]} (query {query.shape}, keys {keys.shape})")
        q = query.unsqueeze(1) if query.ndim == 2 else query            # (B, L, D)
        scores = q @ keys.swapaxes(1, 2)                                # (B, L, D) @ (B, D, S)
        if self.scaled:
            scores = scores * (1.0 / math.sqrt(query.shape[-1]))
        scores = scores.squeeze(1) if query.ndim == 2 else scores       # (B, [L,] S)
        return masked_attention(scores, values, mask, "DotProductAttention")

    def extra_repr(self):
        return f"scaled={self.scaled}"
