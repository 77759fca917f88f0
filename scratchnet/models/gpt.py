"""A GPT language model in the style of nanoGPT (Karpathy), on scratchnet.

    x_0 = drop(wte[idx] + wpe[0..T-1])                       (B, T, C)
    x_l = x_{l-1} + attn(ln_1(x_{l-1}));  x_l = x_l + mlp(ln_2(x_l))   (pre-norm blocks)
    logits = ln_f(x_L) W_te^T                                 (B, T, V), lm_head tied to wte

attn is causal multi-head self-attention (``c_attn`` packs W_q, W_k, W_v as
(3C, C) Linear; ``c_proj`` (C, C)), mlp is ``c_proj(gelu(c_fc(x)))`` with a
4C hidden layer. Parameter names match nanoGPT's ``model.py``
(``transformer.wte.weight``, ``transformer.h.0.attn.c_attn.weight``, ...,
``lm_head.weight``) so its checkpoints map key for key.

Initialisation (nanoGPT): every Linear and Embedding weight ~ N(0, 0.02),
Linear biases 0, LayerNorm weight 1 / bias 0, and the residual projections
(``attn.c_proj``, ``mlp.c_proj``) ~ N(0, 0.02 / sqrt(2 n_layer)) (GPT-2).

Generation keeps a key/value cache: the prompt runs once, then every new
token costs one position's worth of work (attending to the cached keys and
values) instead of a pass over the whole context. When the context exceeds
``block_size`` the window slides and the cache is rebuilt from the last
``block_size`` tokens (absolute position embeddings change for every cached
token then), so cached and uncached generation agree exactly.
"""
import math
import re
from dataclasses import asdict, dataclass, replace

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd.grad_mode import no_grad
from ..dtypes import is_int
from ..ops._util import to_array
from ..ops.shape import cat
from ..random import default_generator
from ..sampling import check_sampling_args, check_seed, sample_next
from ..tensor import Tensor
from ._checks import probability, size


_MASK_BUFFER = re.compile(r"transformer\.h\.\d+\.attn\.(bias|masked_bias)")   # nanoGPT / GPT-2 causal masks


@dataclass
class GPTConfig:
    block_size: int = 1024      # longest context
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True           # biases in Linears and LayerNorms (False: a bit better and faster)


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: each position attends to itself and the past.

    c_attn: Linear(C, 3C) -> q, k, v; heads of size C / n_head; fused causal
    scaled-dot-product attention; c_proj: Linear(C, C); dropout on the output
    (and on the attention weights while training, through the composed path).
    Without a cache or attention dropout, the head split, attention and merge
    run as one op, ``F.packed_self_attention``, equal to the composed lines.
    """

    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"CausalSelfAttention: n_embd ({config.n_embd}) must be a multiple of "
                             f"n_head ({config.n_head})")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd = config.n_head, config.n_embd

    def forward(self, x, cache=None):
        """x (B, T, C) -> (B, T, C). ``cache``: None, or a dict holding this layer's
        past keys/values ``k``, ``v`` (B, nh, P, hs), extended in place (inference)."""
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        qkv = self.c_attn(x)                                 # (B, T, 3C)
        if cache is None and (not self.training or self.attn_dropout == 0):
            # one fused op computes exactly the lines below for this case (no cache, no
            # dropout on the weights): split, heads, causal attention, heads merged
            y = F.packed_self_attention(qkv, nh, is_causal=True)   # (B, T, 3C) -> (B, T, C)
            return self.resid_dropout(self.c_proj(y))
        q, k, v = qkv.split(3, axis=2)                       # (B, T, 3C) -> 3 x (B, T, C)
        q = q.reshape(B, T, nh, hs).swapaxes(1, 2)           # (B, T, C) -> (B, nh, T, hs)
        k = k.reshape(B, T, nh, hs).swapaxes(1, 2)           # (B, nh, T, hs)
        v = v.reshape(B, T, nh, hs).swapaxes(1, 2)           # (B, nh, T, hs)
        mask, causal = None, True
        if cache is not None and "k" in cache:
            P = cache["k"].shape[2]
            k = cat([cache["k"], k], axis=2)                 # (B, nh, P + T, hs)
            v = cat([cache["v"], v], axis=2)
            mask = np.tril(np.ones((T, P + T), dtype=bool), k=P)  # query i sees keys <= P + i
            causal = False
        if cache is not None:
            cache["k"], cache["v"] = k, v
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        y = y.swapaxes(1, 2).reshape(B, T, C)                # (B, nh, T, hs) -> (B, T, nh, hs) -> (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """x -> dropout(c_proj(gelu(c_fc(x)))), hidden size 4C."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


def _config_from(config, kwargs):
    """A checked copy of the configuration (a copy, so that ``crop_block_size``
    on one model never changes another model built from the same GPTConfig)."""
    if config is not None and kwargs:
        raise TypeError(f"GPT: pass either a GPTConfig or keyword arguments, not both (got {sorted(kwargs)})")
    if config is None:
        config = GPTConfig(**kwargs)
    elif isinstance(config, GPTConfig):
        config = replace(config)
    elif isinstance(config, dict):
        config = GPTConfig(**config)
    else:
        raise TypeError(f"GPT: config must be a GPTConfig or a dict, got {type(config).__name__}")
    _check_config(config)
    return config


def _check_config(config):
    """TypeError unless the sizes are ints, dropout a number and bias a bool;
    ValueError unless vocab_size, block_size, n_head, n_embd >= 1, n_layer >= 0,
    n_head divides n_embd and 0 <= dropout <= 1. NumPy scalars are stored as
    Python ``int``/``float``/``bool`` (so ``get_config()`` is plain JSON)."""
    for name, least in (("vocab_size", 1), ("block_size", 1), ("n_layer", 0), ("n_head", 1), ("n_embd", 1)):
        setattr(config, name, size("GPT", name, getattr(config, name), least))
    if config.n_embd % config.n_head:
        raise ValueError(f"GPT: n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head})")
    config.dropout = probability("GPT", "dropout", config.dropout)
    if not isinstance(config.bias, (bool, np.bool_)):
        raise TypeError(f"GPT: bias must be a bool, got {config.bias!r}")
    config.bias = bool(config.bias)


class GPT(nn.Module):
    """nanoGPT's GPT (see module docstring).

    ``GPT(GPTConfig(...))``, ``GPT(vocab_size, block_size, n_layer, n_head,
    n_embd, dropout=0.0, bias=True)`` or ``GPT(config_dict)``.
    forward(idx (B, T) int, targets=None (B, T) int) -> (logits (B, T, V), loss or None);
    the loss is the mean cross-entropy, targets of -1 are ignored.
    """

    def __init__(self, config=None, block_size=None, n_layer=None, n_head=None, n_embd=None,
                 dropout=0.0, bias=True, **kwargs):
        super().__init__()
        if isinstance(config, (int, np.integer)):              # GPT(vocab_size, block_size, ...)
            kwargs.update(vocab_size=int(config), block_size=block_size, n_layer=n_layer,
                          n_head=n_head, n_embd=n_embd, dropout=dropout, bias=bias)
            config = None
        elif config is None and kwargs:
            named = dict(block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
            kwargs.update({k: v for k, v in named.items() if v is not None}, dropout=dropout, bias=bias)
        self.config = config = _config_from(config, kwargs)
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight     # weight tying
        self._init_weights()

    def _init_weights(self):
        for name, m in self.named_modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):                # c_proj exists only if n_layer >= 1
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj") else 0.02
                nn.init.normal_(m.weight, 0.0, std)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)

    def get_num_params(self, non_embedding=True):
        """nanoGPT's count: by default without the position embeddings (the token
        embeddings count, being the tied lm_head). ``num_parameters()`` counts all."""
        n = self.num_parameters()
        return n - self.transformer.wpe.weight.size if non_embedding else n

    def load_state_dict(self, state_dict, strict=True):
        """``Module.load_state_dict``, also for nanoGPT checkpoints as saved:
        the ``_orig_mod.`` prefix of a ``torch.compile``d model is stripped
        (as nanoGPT's train.py does), and the constant causal-mask buffers
        ``transformer.h.{i}.attn.bias`` (nanoGPT without flash attention) and
        ``attn.masked_bias`` (GPT-2) are dropped: this model builds its mask."""
        prefix = "_orig_mod."
        cleaned = {}
        for key, value in state_dict.items():
            key = key[len(prefix):] if key.startswith(prefix) else key
            if not _MASK_BUFFER.fullmatch(key):
                cleaned[key] = value
        return super().load_state_dict(cleaned, strict=strict)

    # ---------------------------------------------------------------- forward
    def _hidden(self, idx, start=0, caches=None):
        """Final hidden states (B, T, C) of tokens idx (B, T) at positions start..start+T-1."""
        idx = _token_ids(idx, self.config, "GPT")
        if idx.ndim != 2:
            raise ValueError(f"GPT: idx must be (B, T) token ids, got shape {idx.shape}")
        T = idx.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"GPT: cannot forward a sequence of length {start + T}, "
                             f"block_size is only {self.config.block_size}")
        pos = np.arange(start, start + T)                      # (T,)
        tok_emb = self.transformer.wte(idx)                    # (B, T, C)
        pos_emb = self.transformer.wpe(pos)                    # (T, C)
        x = self.transformer.drop(tok_emb + pos_emb)
        for i, block in enumerate(self.transformer.h):
            x = block(x, None if caches is None else caches[i])
        return self.transformer.ln_f(x)

    def forward(self, idx, targets=None):
        x = self._hidden(idx)
        logits = self.lm_head(x)                               # (B, T, V)
        if targets is None:
            return logits, None
        targets = to_array(targets, "GPT", "targets")
        B, T, V = logits.shape
        if targets.shape != (B, T):
            raise ValueError(f"GPT: targets must have the shape of idx {(B, T)}, got {targets.shape}")
        loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T),   # (B*T, V), (B*T,)
                               ignore_index=-1)
        return logits, loss

    # -------------------------------------------------------------- training
    def configure_optimizers(self, weight_decay, learning_rate, betas=(0.9, 0.95), device_type=None, eps=1e-8):
        """AdamW with weight decay on every >= 2-D parameter (matmul weights and
        embeddings) and none on biases and LayerNorm weights (nanoGPT's rule).
        ``device_type`` is accepted for nanoGPT's call signature and ignored (CPU only)."""
        from .. import optim
        if not isinstance(betas, (tuple, list)):
            raise TypeError(f"GPT.configure_optimizers: betas must be a pair (beta1, beta2), got {betas!r}")
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return optim.AdamW(groups, lr=learning_rate, betas=tuple(betas), eps=eps)

    def crop_block_size(self, block_size):
        """Shrink the context (model surgery, as nanoGPT): keep the first block_size positions.
        ``block_size`` is an int in [1, current block_size]."""
        if not is_int(block_size):
            raise TypeError(f"GPT.crop_block_size: block_size must be an int, got {block_size!r}")
        if not 1 <= block_size <= self.config.block_size:
            raise ValueError(f"GPT.crop_block_size: block_size must be in [1, {self.config.block_size}] "
                             f"(the current block_size), got {block_size}")
        block_size = int(block_size)
        self.config.block_size = block_size
        wpe = self.transformer.wpe
        wpe.weight = nn.Parameter(wpe.weight.data[:block_size].copy())
        wpe.num_embeddings = block_size

    # ------------------------------------------------------------ generation
    def generate_ids(self, ids, max_new_tokens, choose, use_cache=True):
        """The hook ``scratchnet.generate`` uses: continue the list ``ids`` by
        ``max_new_tokens`` tokens, ``choose(logits (V,)) -> int`` picking each."""
        if len(ids) == 0:
            raise ValueError("GPT.generate_ids: ids is empty; the model needs at least one token to continue")
        idx = np.asarray([ids], dtype=np.int64)                # (1, T)
        step = self._step_fn(use_cache)
        new = []
        for _ in range(max_new_tokens):
            token = int(choose(step(idx)[0]))
            new.append(token)
            idx = np.concatenate([idx, [[token]]], axis=1)     # (1, T + 1)
        return new

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, greedy=False,
                 seed=None, rng=None, use_cache=True):
        """Extend idx (B, T) by max_new_tokens sampled tokens -> (B, T + max_new_tokens).

        Each token is drawn from softmax(logits / temperature) restricted to the
        top_k most likely tokens and/or the top_p nucleus (``greedy`` or
        temperature 0: argmax). Randomness from ``rng`` (a ``np.random.Generator``)
        or a generator seeded with ``seed`` (not both), else scratchnet's default
        generator. Runs in eval mode
        without recording a graph; ``use_cache=False`` recomputes the whole
        context each step (the reference the cache is tested against).
        """
        check_sampling_args(temperature, top_k, top_p, where="GPT.generate", greedy=greedy)
        if not is_int(max_new_tokens):
            raise TypeError(f"GPT.generate: max_new_tokens must be an int, got {max_new_tokens!r}")
        if max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be >= 0, got {max_new_tokens}")
        rng = _generator(seed, rng)
        idx = _prompt_ids(idx, self.config)
        was_training = self.training
        self.eval()
        try:
            step = self._step_fn(use_cache)
            for _ in range(max_new_tokens):
                logits = step(idx)                             # (B, V)
                nxt = sample_next(logits.astype(np.float64), rng, temperature, top_k, top_p, greedy)
                idx = np.concatenate([idx, nxt[:, None]], axis=1)   # (B, T + 1)
        finally:
            self.train(was_training)
        return Tensor._wrap(idx)

    def _step_fn(self, use_cache):
        """A function idx (B, T) -> logits of the next token (B, V), with or without a cache."""
        block = self.config.block_size
        state = {"caches": None, "length": 0}

        def uncached(idx):
            with no_grad():
                x = self._hidden(idx[:, -block:])                # (B, T', C)
                return self.lm_head(x[:, -1]).data             # (B, V)

        def cached(idx):
            T = idx.shape[1]
            with no_grad():
                if state["caches"] is None or T > block:        # (re)fill from the last window
                    state["caches"] = [{} for _ in self.transformer.h]
                    window = idx[:, -block:]
                    x = self._hidden(window, 0, state["caches"])
                else:                                           # one new token at position T - 1
                    x = self._hidden(idx[:, -1:], T - 1, state["caches"])
                return self.lm_head(x[:, -1]).data             # (B, V)

        return cached if use_cache else uncached

    def get_config(self):
        return asdict(self.config)


def _generator(seed, rng):
    """``GPT.generate``'s source of randomness: ``rng`` (a ``np.random.Generator``),
    else a generator seeded with ``seed`` (an int >= 0), else scratchnet's default
    generator. TypeError for a seed that is not an int (1.5, True) or an rng that
    is not a Generator; ValueError for a negative seed or for both at once."""
    if seed is not None:
        check_seed(seed, "GPT.generate")
        if rng is not None:
            raise ValueError("GPT.generate: pass seed or rng, not both (the seed would be ignored)")
        return np.random.default_rng(int(seed))
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"GPT.generate: rng must be a numpy.random.Generator or None, "
                            f"got {type(rng).__name__}")
        return rng
    return default_generator()


def _token_ids(idx, config, where):
    """``idx`` (Tensor, array or rectangular nested list) as an integer array with
    every id in [0, vocab_size): TypeError for non-integer ids, IndexError naming
    ``where``, the id and the vocabulary (the token embedding wte) otherwise."""
    idx = to_array(idx, where, "idx")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{where}: idx must hold integer token ids (integers in [0, vocab_size="
                        f"{config.vocab_size})), got dtype {idx.dtype} (shape {idx.shape})")
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())                # Python ints: a uint64 id is not wrapped
        bad = lo if lo < 0 else hi if hi >= config.vocab_size else None
        if bad is not None:
            raise IndexError(f"{where}: token id {bad} in idx is out of range for vocab_size={config.vocab_size} "
                             f"(the token embedding Embedding({config.vocab_size}, {config.n_embd}) has no "
                             f"index {bad}; ids must be in [0, {config.vocab_size}))")
    return idx


def _prompt_ids(idx, config):
    """``GPT.generate``'s prompt as an int64 array (B, T): integer ids in
    [0, vocab_size), (B, T), or (T,) for one prompt, with T >= 1 (a Tensor,
    array or nested list)."""
    idx = _token_ids(idx, config, "GPT.generate")
    if idx.ndim not in (1, 2):
        raise ValueError(f"GPT.generate: idx must be (B, T) or (T,) token ids, got shape {idx.shape}")
    idx = idx.astype(np.int64)[None] if idx.ndim == 1 else idx.astype(np.int64)
    if idx.shape[1] == 0:
        raise ValueError(f"GPT.generate: the prompt is empty (idx shape {idx.shape}); "
                         "give at least one token per row")
    return idx
