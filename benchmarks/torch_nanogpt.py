"""nanoGPT's model.py in a few lines of PyTorch, with nanoGPT's parameter names.

Its ``state_dict`` keys equal those of ``scratchnet.models.GPT``, so weights
copy across key for key. Used by ``benchmarks/gpt.py`` (the PyTorch side of
the step timing and of the training comparisons) and by
``tests/models/test_gpt.py`` (parity). Needs torch; scratchnet never imports it.
"""


def nanogpt_model(torch, cfg):
    """A PyTorch GPT for a ``GPTConfig`` (no dropout); forward(idx, targets) ->
    (logits (B, T, V), mean cross-entropy with targets of -1 ignored)."""
    tnn, TF = torch.nn, torch.nn.functional
    C, nh = cfg.n_embd, cfg.n_head

    class CausalSelfAttention(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = tnn.Linear(C, 3 * C, bias=cfg.bias)
            self.c_proj = tnn.Linear(C, C, bias=cfg.bias)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)
            q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))   # (B, nh, T, hs)
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))       # (B, T, C)

    class MLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = tnn.Linear(C, 4 * C, bias=cfg.bias)
            self.gelu = tnn.GELU()
            self.c_proj = tnn.Linear(4 * C, C, bias=cfg.bias)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn = tnn.LayerNorm(C, bias=cfg.bias), CausalSelfAttention()
            self.ln_2, self.mlp = tnn.LayerNorm(C, bias=cfg.bias), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class TorchGPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = tnn.ModuleDict(dict(
                wte=tnn.Embedding(cfg.vocab_size, C), wpe=tnn.Embedding(cfg.block_size, C),
                h=tnn.ModuleList([Block() for _ in range(cfg.n_layer)]), ln_f=tnn.LayerNorm(C, bias=cfg.bias)))
            self.lm_head = tnn.Linear(C, cfg.vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight                      # weight tying

        def forward(self, idx, targets):
            t = self.transformer
            x = t.wte(idx) + t.wpe(torch.arange(idx.shape[1]))
            for block in t.h:
                x = block(x)
            logits = self.lm_head(t.ln_f(x))                                         # (B, T, V)
            flat = logits.view(-1, logits.size(-1))                                  # (B*T, V)
            return logits, TF.cross_entropy(flat, targets.view(-1), ignore_index=-1)

    return TorchGPT()
