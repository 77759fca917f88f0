"""Transformer layers with PyTorch's arguments, defaults, masks and ``state_dict`` keys.

Encoder layer (``norm_first=False``, post-norm, "Attention Is All You Need")::

    x = norm1(x + dropout1(self_attn(x, x, x)))
    x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

``norm_first=True`` (pre-norm, as in GPT-2)::

    x = x + dropout1(self_attn(norm1(x)))
    x = x + dropout2(linear2(dropout(activation(linear1(norm2(x))))))

The decoder layer adds cross-attention on ``memory`` (the encoder's output)
between the two: ``multihead_attn(x, memory, memory)`` with ``norm2`` and
``dropout2``; its feed-forward block then uses ``norm3`` and ``dropout3``.

Keys (as PyTorch): ``self_attn.in_proj_weight``, ``self_attn.in_proj_bias``,
``self_attn.out_proj.weight/bias``, (decoder: ``multihead_attn.*``),
``linear1.weight/bias`` (dim_feedforward, d_model), ``linear2.weight/bias``
(d_model, dim_feedforward), ``norm1/2(/3).weight/bias``; stacks prefix
``layers.{i}.`` and add ``norm.*`` when given a final norm.

Masks follow ``MultiheadAttention`` (boolean True = masked out, float =
added): ``src_mask``/``tgt_mask``/``memory_mask`` (L, S) or (N*nhead, L, S),
``*_key_padding_mask`` (N, S). The layers check their inputs and masks before
any computation, so that a bad one is reported under the layer's own names
(``TransformerDecoderLayer: memory_mask of shape ...``) rather than by the
LayerNorm or MultiheadAttention it would reach. ``is_causal``/``tgt_is_causal`` apply the
causal mask (PyTorch wants the mask itself too and treats the flag as a hint;
here the flag alone is enough).
"""
import copy
import math

import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype
from ..ops._util import as_tensor, float_tensor
from ..ops.layers import check_p
from . import init
from .attention import MultiheadAttention, check_masks, check_sequences, mask_operand
from .dropout import Dropout
from .linear import Linear, layer_size
from .module import Module, ModuleList, Parameter
from .normalization import LayerNorm


def generate_square_subsequent_mask(sz, dtype=None):
    """The (sz, sz) float causal mask: 0 on and below the diagonal, -inf above
    (``nn.Transformer.generate_square_subsequent_mask``)."""
    dtype = np.dtype(dtype or get_default_dtype())
    return np.triu(np.full((sz, sz), -np.inf, dtype=dtype), k=1)


def _activation(activation, where):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise ValueError(f"{where}: activation should be 'relu', 'gelu' or a callable, got {activation!r}")


def _check_sizes(where, d_model, nhead, dim_feedforward, dropout):
    """A layer's sizes and dropout checked under the layer's names (else the
    MultiheadAttention or Linear built from them would report them as its own)."""
    d_model, nhead = layer_size(where, "d_model", d_model), layer_size(where, "nhead", nhead)
    if d_model <= 0 or nhead <= 0 or d_model % nhead:
        raise ValueError(f"{where}: d_model ({d_model}) must be a positive multiple of nhead ({nhead})")
    layer_size(where, "dim_feedforward", dim_feedforward)
    check_p(dropout, where)


def _checked_inputs(where, attn, seqs, blocks):
    """A layer's inputs and masks, checked under the layer's names (``where``).

    ``seqs``: name -> input ({"src": src}, or {"tgt": tgt, "memory": memory}),
    each (T, N, d_model) ((N, T, d_model) with batch_first) or (T, d_model).
    ``blocks``: per attention block, (query name, key name, (attn-mask name,
    mask), (padding-mask name, mask)); the masks must suit L = the query's and
    S = the key's length. Returns the inputs as Tensors and the masks, in order,
    as ``MultiheadAttention`` takes them (arrays, or Tensors that require grad).
    """
    tensors = dict((name, as_tensor(x, where=where)) for name, x in seqs.items())
    batched = check_sequences(where, [(name, t, "d_model", attn.embed_dim) for name, t in tensors.items()],
                              attn.batch_first)

    def batch_and_length(t):
        if not batched:
            return 1, t.shape[0]                                 # (T, E)
        return (t.shape[0], t.shape[1]) if attn.batch_first else (t.shape[1], t.shape[0])

    masks = []
    for query, key, (attn_name, attn_mask), (pad_name, pad_mask) in blocks:
        (N, L), S = batch_and_length(tensors[query]), batch_and_length(tensors[key])[1]
        attn_mask, pad_mask = mask_operand(attn_mask, attn_name, where), mask_operand(pad_mask, pad_name, where)
        check_masks(where, attn_mask, pad_mask, N, attn.num_heads, L, S, batched, names=(attn_name, pad_name))
        masks += [attn_mask, pad_mask]
    return list(tensors.values()), masks


class _FeedForwardMixin:
    """The position-wise feed-forward block shared by the encoder and decoder layers."""

    def _init_ff(self, d_model, dim_feedforward, dropout, activation, bias, dtype):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.activation = _activation(activation, type(self).__name__)

    def _ff_block(self, x, out_dropout):
        return out_dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_FeedForwardMixin, Module):
    """Self-attention + feed-forward, each with a residual connection and LayerNorm
    (see module docstring). Input (S, N, E), or (N, S, E) with batch_first, or (S, E).

    activation: 'relu' | 'gelu' | a callable. Linear layers use Linear's init;
    the attention uses MultiheadAttention's.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, dtype=None):
        super().__init__()
        _check_sizes("TransformerEncoderLayer", d_model, nhead, dim_feedforward, dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self._init_ff(d_model, dim_feedforward, dropout, activation, bias, dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        (x,), (src_mask, src_key_padding_mask) = _checked_inputs(
            "TransformerEncoderLayer", self.self_attn, {"src": src},
            [("src", "src", ("src_mask", src_mask), ("src_key_padding_mask", src_key_padding_mask))])
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x), self.dropout2)
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x, self.dropout2))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)


class TransformerDecoderLayer(_FeedForwardMixin, Module):
    """Self-attention, cross-attention on ``memory``, feed-forward; residuals and
    LayerNorms norm1/norm2/norm3 (see module docstring).

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, dtype=None):
        super().__init__()
        _check_sizes("TransformerDecoderLayer", d_model, nhead, dim_feedforward, dropout)
        mha = dict(dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, **mha)
        self.multihead_attn = MultiheadAttention(d_model, nhead, **mha)
        self._init_ff(d_model, dim_feedforward, dropout, activation, bias, dtype)
        self.norm_first = bool(norm_first)
        for i in (1, 2, 3):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for i in (1, 2, 3):
            setattr(self, f"dropout{i}", Dropout(dropout))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        (x, memory), (tgt_mask, tgt_key_padding_mask, memory_mask, memory_key_padding_mask) = _checked_inputs(
            "TransformerDecoderLayer", self.self_attn, {"tgt": tgt, "memory": memory},
            [("tgt", "tgt", ("tgt_mask", tgt_mask), ("tgt_key_padding_mask", tgt_key_padding_mask)),
             ("tgt", "memory", ("memory_mask", memory_mask), ("memory_key_padding_mask", memory_key_padding_mask))])
        sa = (tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        ca = (memory, memory_mask, memory_key_padding_mask, memory_is_causal)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), *sa)
            x = x + self._mha_block(self.norm2(x), *ca)
            return x + self._ff_block(self.norm3(x), self.dropout3)
        x = self.norm1(x + self._sa_block(x, *sa))
        x = self.norm2(x + self._mha_block(x, *ca))
        return self.norm3(x + self._ff_block(x, self.dropout3))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)


def _clones(layer, n, where, what):
    """n independent deep copies of ``layer`` (PyTorch's ``_get_clones``); n = 0 gives none."""
    if not isinstance(layer, Module):
        raise TypeError(f"{where}: {what} must be a Module, got {type(layer).__name__}")
    return ModuleList([copy.deepcopy(layer) for _ in range(layer_size(where, "num_layers", n))])


def _final_norm(norm, where):
    """The optional final norm of a stack: None or a callable (a LayerNorm, usually)."""
    if norm is not None and not callable(norm):
        raise TypeError(f"{where}: norm must be a Module such as LayerNorm(d_model), or None; "
                        f"got {type(norm).__name__} {norm!r}")
    return norm


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn, then ``norm``
    if given. Keys ``layers.{i}.*`` and ``norm.*``. ``enable_nested_tensor`` and
    ``mask_check`` are accepted for PyTorch's signature and ignored."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder", "encoder_layer")
        self.num_layers = len(self.layers)
        self.norm = _final_norm(norm, "TransformerEncoder")

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer``, each attending to ``memory``,
    then ``norm`` if given. Keys ``layers.{i}.*`` and ``norm.*``."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder", "decoder_layer")
        self.num_layers = len(self.layers)
        self.norm = _final_norm(norm, "TransformerDecoder")

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


# ------------------------------------------------------------ positions
def _add_positions(x, table, batch_first, where):
    """x (S, N, E) or (N, S, E) (batch_first) or (S, E) plus table[:S] (S, E)."""
    x = float_tensor(x, where)
    if x.ndim not in (2, 3):
        raise ValueError(f"{where}: input must be {'(N, S, E)' if batch_first else '(S, N, E)'} or (S, E), "
                         f"got shape {x.shape}")
    S = x.shape[1] if (batch_first and x.ndim == 3) else x.shape[0]
    if S > table.shape[0]:
        raise ValueError(f"{where}: sequence length {S} exceeds max_len {table.shape[0]} (input shape {x.shape})")
    if x.shape[-1] != table.shape[1]:
        raise ValueError(f"{where}: input has {x.shape[-1]} features, expected d_model={table.shape[1]} "
                         f"(input shape {x.shape})")
    pos = table[:S]                                          # (S, E)
    if x.ndim == 3 and not batch_first:
        pos = pos.reshape(S, 1, table.shape[1]) if isinstance(pos, np.ndarray) else pos.unsqueeze(1)  # (S, 1, E)
    if isinstance(pos, np.ndarray):
        pos = pos.astype(x.dtype, copy=False)
    return x + pos


class PositionalEncoding(Module):
    """Sinusoidal positions added to the input, then dropout (the PyTorch tutorial's module)::

        pe[pos, 2i]   = sin(pos / 10000^(2i / d_model))
        pe[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

    Input (S, N, E) (seq-first, as the tutorial), (N, S, E) with
    ``batch_first=True``, or (S, E). The table is the buffer ``pe``
    (max_len, d_model), registered non-persistent: it is a fixed function of
    (max_len, d_model), so it is not saved in ``state_dict`` (the tutorial's
    persistent (max_len, 1, d_model) ``pe`` would be an unexpected key).
    """

    def __init__(self, d_model, max_len=5000, dropout=0.1, batch_first=False):
        super().__init__()
        d_model = layer_size("PositionalEncoding", "d_model", d_model)
        max_len = layer_size("PositionalEncoding", "max_len", max_len)
        self.d_model, self.max_len, self.batch_first = d_model, max_len, bool(batch_first)
        position = np.arange(max_len, dtype=np.float64)[:, None]                        # (max_len, 1)
        div_term = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))   # (ceil(d/2),)
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(position * div_term)
        pe[:, 1::2] = np.cos(position * div_term[: d_model // 2])
        self.register_buffer("pe", pe.astype(get_default_dtype()), persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        return self.dropout(_add_positions(x, self.pe, self.batch_first, "PositionalEncoding"))

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEmbedding(Module):
    """Trained positions: y = x + weight[:S], then dropout (GPT-2's ``wpe`` as an add-on module).

    ``weight`` (max_len, d_model) ~ N(0, 0.02). Input layouts as PositionalEncoding.
    """

    def __init__(self, max_len, d_model, dropout=0.0, batch_first=False, dtype=None):
        super().__init__()
        self.max_len = layer_size("LearnedPositionalEmbedding", "max_len", max_len)
        self.d_model = layer_size("LearnedPositionalEmbedding", "d_model", d_model)
        self.batch_first = bool(batch_first)
        self.weight = Parameter(np.zeros((self.max_len, self.d_model), dtype=np.dtype(dtype or get_default_dtype())))
        init.normal_(self.weight, 0.0, 0.02)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        return self.dropout(_add_positions(x, self.weight, self.batch_first, "LearnedPositionalEmbedding"))

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"
