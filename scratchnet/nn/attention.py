"""``MultiheadAttention`` with PyTorch's arguments, masks, parameters and keys.

For a query x_q (L, E), keys x_k (S, kdim) and values x_v (S, vdim) (per batch
element) and h = num_heads heads of size d = E / h::

    q = x_q W_q^T + b_q,   k = x_k W_k^T + b_k,   v = x_v W_v^T + b_v     (L|S, E)
    head_i = softmax(q_i k_i^T / sqrt(d) + M) v_i       (q_i: columns i*d..(i+1)*d)
    out    = concat(head_1, ..., head_h) W_o^T + b_o                       (L, E)

Parameters (PyTorch's names, so ``state_dict`` keys match):
``in_proj_weight`` (3E, E) = [W_q; W_k; W_v] stacked (or ``q_proj_weight``
(E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when kdim or
vdim differ from E), ``in_proj_bias`` (3E,), ``out_proj.weight`` (E, E),
``out_proj.bias`` (E,). Init as PyTorch: xavier_uniform_ on the input
projection weights, zeros on both biases, out_proj.weight keeps Linear's
default U(-1/sqrt(E), 1/sqrt(E)).

Masks keep ``nn.MultiheadAttention``'s meaning, the opposite of
``F.scaled_dot_product_attention`` for booleans: a boolean True masks a
position OUT, a float mask is added to the scores. ``attn_mask`` is (L, S) or
(N * num_heads, L, S); ``key_padding_mask`` is (N, S) (True = padding).
A float mask passed as a Tensor that requires grad (a learned position bias,
say) is added as such and receives dL/dm, as in PyTorch; any other mask is a
constant. ``is_causal=True`` applies the causal mask: PyTorch requires ``attn_mask`` to
be that causal mask too and treats the flag as a hint; scratchnet uses
``attn_mask`` when given and builds the causal mask itself when not.

Fully masked query rows: PyTorch returns NaN there; scratchnet's attention
gives zeros for the row (so ``output`` = ``out_proj.bias`` and the weights are
0) and a zero gradient.

Two paths that agree (tests/nn/test_attention.py): the fused
scaled-dot-product-attention Function when no weights are needed (and no
dropout is active), and the composed matmul-mask-softmax-matmul
(``ops.attention.attention_composed``) when ``need_weights=True`` or dropout
is active in training.
"""
import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype
from ..ops._util import as_tensor
from ..ops.attention import attention_composed
from ..tensor import Tensor
from . import init
from .linear import Linear, layer_size
from .module import Module, Parameter


def _param(shape, dtype):
    return Parameter(np.zeros(shape, dtype=np.dtype(dtype or get_default_dtype())))


def mask_operand(mask, name, where="MultiheadAttention"):
    """``mask`` as an array, or as the Tensor itself when it is a float Tensor that
    requires grad (so that it gets its gradient); None stays None. ``name`` and
    ``where`` (the caller) go into the TypeError for a mask that is neither
    boolean nor float."""
    if mask is None:
        return None
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_ and m.dtype.kind != "f":
        raise TypeError(f"{where}: {name} must be boolean or float, got dtype {m.dtype}")
    return mask if isinstance(mask, Tensor) and mask.requires_grad else m


def _and_join(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_sequences(where, named, batch_first):
    """The input checks of MultiheadAttention, shared with the Transformer layers
    (``where`` names the caller in every error). ``named``: one
    ``(name, tensor, size_name, size)`` per input. Each must hold floats; all
    are 3-D (batched: (T, N, F), or (N, T, F) with ``batch_first``) or all 2-D
    (unbatched (T, F)), with F = ``size`` and, batched, one batch size N.
    Returns True when batched."""
    for name, t, _, _ in named:
        if t.dtype.kind != "f":
            raise TypeError(f"{where}: {name} must be a floating-point tensor, got dtype {t.dtype} "
                            f"(shape {t.shape})")
    names = [name for name, _, _, _ in named]
    got = ", ".join(f"{name} {t.shape}" for name, t, _, _ in named)
    ndim = named[0][1].ndim
    if ndim not in (2, 3) or any(t.ndim != ndim for _, t, _, _ in named):
        raise ValueError(f"{where}: {_and_join(names)} must {('', 'both ', 'all ')[min(len(named), 3) - 1]}be 3-D "
                         f"(batched) or 2-D (unbatched); got {got}")
    if any(t.shape[-1] != size for _, t, _, size in named):
        size_names = ", ".join(size_name for _, _, size_name, _ in named)
        sizes = ", ".join(str(size) for _, _, _, size in named)
        raise ValueError(f"{where}: expected feature sizes ({size_names}) = ({sizes}), got {got}")
    if ndim == 3:
        b = 0 if batch_first else 1
        first_name, first = named[0][:2]
        for name, t, _, _ in named[1:]:
            if t.shape[b] != first.shape[b]:
                raise ValueError(f"{where}: {first_name} {first.shape} and {name} {t.shape} have different "
                                 f"batch sizes (batch_first={batch_first})")
    return ndim == 3


def check_masks(where, attn_mask, key_padding_mask, N, H, L, S, batched,
                names=("attn_mask", "key_padding_mask")):
    """Shapes of MultiheadAttention's masks (also checked by the Transformer layers
    under their own ``where`` and mask ``names``): ``attn_mask`` (L, S) or
    (N * H, L, S), ``key_padding_mask`` (N, S), or (S,) unbatched."""
    if attn_mask is not None and attn_mask.shape not in ((L, S), (N * H, L, S)):
        raise ValueError(f"{where}: {names[0]} of shape {attn_mask.shape} must be (L, S) = {(L, S)} or "
                         f"(N * num_heads, L, S) = {(N * H, L, S)}")
    expected = (N, S) if batched else (S,)
    if key_padding_mask is not None and key_padding_mask.shape != expected:
        raise ValueError(f"{where}: {names[1]} of shape {key_padding_mask.shape} must be {expected} "
                         f"({'batch, ' if batched else ''}source length)")


def merge_masks(attn_mask, key_padding_mask, N, H, L, S, dtype):
    """PyTorch-meaning masks -> one SDPA-meaning mask broadcastable to (N, H, L, S), or None.

    attn_mask (L, S) -> (1, 1, L, S); (N*H, L, S) -> (N, H, L, S).
    key_padding_mask (N, S) -> (N, 1, 1, S). Booleans (True = masked out)
    become "True = may attend" (both boolean: a logical and); otherwise
    each becomes additive (True -> -inf) and the two are summed. A float
    mask that is a Tensor requiring grad stays one (the sum is then a Tensor
    too: m = m_attn + m_pad, so dL/dm_attn and dL/dm_pad are dL/dm summed
    over the broadcast axes).
    """
    masks = []
    if attn_mask is not None:
        masks.append(attn_mask.reshape((1, 1, L, S) if attn_mask.ndim == 2 else (N, H, L, S)))
    if key_padding_mask is not None:
        masks.append(key_padding_mask.reshape(N, 1, 1, S))                 # (N, S) -> (N, 1, 1, S)
    if not masks:
        return None
    if all(m.dtype == np.bool_ for m in masks):
        allowed = ~masks[0]
        for m in masks[1:]:
            allowed = allowed & ~m
        return allowed
    additive = [np.where(m, -np.inf, 0.0).astype(dtype) if m.dtype == np.bool_ else m.astype(dtype)
                for m in masks]
    return additive[0] if len(additive) == 1 else additive[0] + additive[1]


class MultiheadAttention(Module):
    """Multi-head attention (see module docstring for the math, masks and parameters).

    forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False) ->
    (output, weights or None). Shapes (batch_first=False): query (L, N, E),
    key (S, N, kdim), value (S, N, vdim), output (L, N, E); batch_first=True
    puts N first; unbatched query (L, E), key (S, kdim), value (S, vdim).
    weights: (N, L, S) averaged over heads, or (N, num_heads, L, S) with
    ``average_attn_weights=False`` (N dropped for unbatched input).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, dtype=None):
        super().__init__()
        if add_bias_kv or add_zero_attn:
            raise ValueError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        where = "MultiheadAttention"
        embed_dim, num_heads = layer_size(where, "embed_dim", embed_dim), layer_size(where, "num_heads", num_heads)
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple "
                             f"of num_heads ({num_heads})")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)):
            raise TypeError(f"MultiheadAttention: dropout must be a number in [0, 1], got {dropout!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout!r}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.kdim = embed_dim if kdim is None else layer_size(where, "kdim", kdim)
        self.vdim = embed_dim if vdim is None else layer_size(where, "vdim", vdim)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _param((3 * E, E), dtype)
        else:
            self.q_proj_weight = _param((E, E), dtype)
            self.k_proj_weight = _param((E, self.kdim), dtype)
            self.v_proj_weight = _param((E, self.vdim), dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _param((3 * E,), dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, " \
               f"batch_first={self.batch_first}"

    # ------------------------------------------------------------ projections
    def _bias(self, i):
        E = self.embed_dim
        return None if self.in_proj_bias is None else self.in_proj_bias[i * E:(i + 1) * E]

    def _in_projection(self, query, key, value):
        """q (N, L, E), k (N, S, E), v (N, S, E); one packed matmul for self-attention."""
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            if query is key and key is value:
                qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)   # (N, L, 3E)
                return qkv.split(3, axis=-1)
            weights = (self.in_proj_weight[:E], self.in_proj_weight[E:2 * E], self.in_proj_weight[2 * E:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, self._bias(i))
                     for i, (x, w) in enumerate(zip((query, key, value), weights)))

    # ---------------------------------------------------------------- checks
    def _check_inputs(self, query, key, value):
        batched = check_sequences("MultiheadAttention", [("query", query, "embed_dim", self.embed_dim),
                                                         ("key", key, "kdim", self.kdim),
                                                         ("value", value, "vdim", self.vdim)], self.batch_first)
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key {key.shape} and value {value.shape} must have "
                             "the same sequence length and batch size")
        return batched

    # --------------------------------------------------------------- forward
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        self_attention = query is key and key is value
        query, key, value = (as_tensor(x, where="MultiheadAttention") for x in (query, key, value))
        batched = self._check_inputs(query, key, value)
        if not batched:                                      # (L, E) -> (1, L, E)
            query, key, value = (x.unsqueeze(0) for x in (query, key, value))
        elif not self.batch_first:                           # (L, N, E) -> (N, L, E)
            query, key, value = (x.swapaxes(0, 1) for x in (query, key, value))
        if self_attention:
            key = value = query
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        attn_mask = mask_operand(attn_mask, "attn_mask")
        key_padding_mask = mask_operand(key_padding_mask, "key_padding_mask")
        check_masks("MultiheadAttention", attn_mask, key_padding_mask, N, self.num_heads, L, S, batched)
        causal = bool(is_causal) and attn_mask is None       # a given attn_mask is the causal mask
        mask = merge_masks(attn_mask, key_padding_mask, N, self.num_heads, L, S, query.dtype)
        out, weights = self._attend(query, key, value, mask, causal, need_weights)
        out = self.out_proj(out)                             # (N, L, E)
        if not batched:
            out = out.squeeze(0)                             # (1, L, E) -> (L, E)
        elif not self.batch_first:
            out = out.swapaxes(0, 1)                         # (N, L, E) -> (L, N, E)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(axis=1)               # (N, H, L, S) -> (N, L, S)
            if not batched:
                weights = weights.squeeze(0)                 # drop N
        return out, weights

    def _attend(self, query, key, value, mask, is_causal, need_weights):
        """Heads of attention: (N, L, E) inputs -> ((N, L, E), weights (N, H, L, S) or None)."""
        N, L, S, H, d = query.shape[0], query.shape[1], key.shape[1], self.num_heads, self.head_dim
        q, k, v = self._in_projection(query, key, value)
        q = q.reshape(N, L, H, d).swapaxes(1, 2)             # (N, L, E) -> (N, H, L, d)
        k = k.reshape(N, S, H, d).swapaxes(1, 2)             # (N, S, E) -> (N, H, S, d)
        v = v.reshape(N, S, H, d).swapaxes(1, 2)             # (N, S, E) -> (N, H, S, d)
        p = self.dropout if self.training else 0.0
        if need_weights or p > 0.0:
            out, weights = attention_composed(q, k, v, mask, p, is_causal)
        else:
            out, weights = F.scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal), None
        out = out.swapaxes(1, 2).reshape(N, L, self.embed_dim)  # (N, H, L, d) -> (N, L, H, d) -> (N, L, E)
        return out, (weights if need_weights else None)
