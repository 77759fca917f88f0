"""Regression tests from an audit of scratchnet.models: PyTorch (nanoGPT) parity on
more shapes and options, nanoGPT checkpoints, argument checking, decoding edge
cases, float32 throughout, and save/load round trips."""
import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.models import GPT, CharRNN, GPTConfig, Seq2Seq, TransformerClassifier
from test_gpt import _torch_gpt     # nanoGPT's model in PyTorch (tests/models/test_gpt.py)


# ------------------------------------------------------------------ GPT parity
@pytest.mark.parametrize("cfg,B,T", [
    (GPTConfig(block_size=8, vocab_size=7, n_layer=1, n_head=1, n_embd=5, bias=True), 1, 1),
    (GPTConfig(block_size=8, vocab_size=7, n_layer=2, n_head=3, n_embd=9, bias=False), 2, 3),
    (GPTConfig(block_size=5, vocab_size=13, n_layer=3, n_head=2, n_embd=6, dropout=0.3), 4, 5),
])
def test_matches_nanogpt_on_other_shapes_and_in_eval_mode(cfg, B, T):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_gpt(torch, cfg)
    mine = GPT(cfg).eval()                                       # dropout > 0 is off in eval mode
    assert list(mine.state_dict()) == list(theirs.state_dict())
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.integers(0, cfg.vocab_size, (B, T))
    y = rng.integers(0, cfg.vocab_size, (B, T))
    y[-1, -1] = -1
    logits, loss = mine(x, y)
    tlogits, tloss = theirs(torch.tensor(x), torch.tensor(y))
    assert logits.dtype == np.float32 and loss.dtype == np.float32
    np.testing.assert_allclose(logits.data, tlogits.detach().numpy(), atol=2e-5, rtol=0)
    np.testing.assert_allclose(loss.item(), tloss.item(), atol=2e-5)
    loss.backward()
    tloss.backward()
    tparams = dict(theirs.named_parameters())
    for name, p in mine.named_parameters():
        assert p.grad.dtype == np.float32, name
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=2e-4, rtol=0, err_msg=name)
    n_theirs = sum(p.numel() for p in theirs.parameters()) - theirs.transformer.wpe.weight.numel()
    assert mine.get_num_params() == n_theirs


def test_loads_a_compiled_nanogpt_checkpoint_with_mask_buffers():
    """nanoGPT without flash attention keeps a causal-mask buffer ``attn.bias``
    per block, and a torch.compile'd model prefixes keys with ``_orig_mod.``."""
    torch = pytest.importorskip("torch")
    cfg = GPTConfig(block_size=6, vocab_size=9, n_layer=2, n_head=2, n_embd=4)
    torch.manual_seed(1)
    theirs = _torch_gpt(torch, cfg)
    state = {"_orig_mod." + k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    for i in range(cfg.n_layer):
        state[f"_orig_mod.transformer.h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 6, 6), np.float32))
    mine = GPT(cfg)
    mine.load_state_dict(state)
    assert mine.transformer.wte.weight is mine.lm_head.weight   # still tied after loading
    x = np.random.default_rng(2).integers(0, 9, (2, 6))
    tlogits, _ = theirs(torch.tensor(x), torch.tensor(x))
    np.testing.assert_allclose(mine(x)[0].data, tlogits.detach().numpy(), atol=2e-5, rtol=0)
    with pytest.raises(ValueError, match="unexpected keys"):
        mine.load_state_dict({**state, "transformer.h.0.attn.c_attn.extra": np.zeros(1)})


def test_gpt_with_no_layers_builds_and_runs():
    model = GPT(vocab_size=5, block_size=4, n_layer=0, n_head=1, n_embd=4)
    logits, loss = model(np.array([[1, 2, 3]]), np.array([[2, 3, 4]]))
    assert logits.shape == (1, 3, 5) and np.isfinite(loss.item())


# ------------------------------------------------------------ GPT bad inputs
@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(vocab_size=0), ValueError, "vocab_size must be >= 1"),
    (dict(block_size=0), ValueError, "block_size must be >= 1"),
    (dict(n_head=0), ValueError, "n_head must be >= 1"),
    (dict(n_layer=-1), ValueError, "n_layer must be >= 0"),
    (dict(n_embd=8.0), TypeError, "n_embd must be an int"),
    (dict(n_embd=6, n_head=4), ValueError, "multiple of n_head"),
    (dict(bias="no"), TypeError, "bias must be a bool"),
])
def test_gpt_config_errors(kwargs, exc, match):
    cfg = dict(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4)
    with pytest.raises(exc, match=match):
        GPT(**{**cfg, **kwargs})
    with pytest.raises(TypeError, match="n_layer must be an int, got None"):
        GPT(5, 4)                                                 # sizes missing


def test_gpt_bad_ids_and_targets():
    model = GPT(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4)
    x = np.array([[1, 2, 3], [0, 4, 1]])
    with pytest.raises(IndexError, match=r"Embedding\(5, 4\).*index 5"):
        model(np.array([[1, 5]]))
    with pytest.raises(IndexError, match=r"Embedding\(5, 4\).*index -1"):
        model(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="integers"):
        model(x.astype(np.float32))
    for bad in (x[0], x[None]):
        with pytest.raises(ValueError, match=r"GPT: idx must be \(B, T\)"):
            model(bad)
    for bad in (x[:, :2], x.reshape(-1), x.T):
        with pytest.raises(ValueError, match=r"GPT: targets must have the shape of idx \(2, 3\)"):
            model(x, bad)
    with pytest.raises(IndexError, match="target class 5"):
        model(x, np.full_like(x, 5))


def test_crop_block_size_checks_and_leaves_other_models_alone():
    cfg = GPTConfig(block_size=8, vocab_size=5, n_layer=1, n_head=2, n_embd=4)
    a, b = GPT(cfg), GPT(cfg)
    a.crop_block_size(3)
    assert a.transformer.wpe.weight.shape == (3, 4) and a(np.zeros((1, 3), np.int64))[0].shape == (1, 3, 5)
    assert cfg.block_size == 8 and b.config.block_size == 8
    assert b(np.zeros((1, 8), np.int64))[0].shape == (1, 8, 5)
    with pytest.raises(ValueError, match="block_size is only 3"):
        a(np.zeros((1, 4), np.int64))
    for bad, exc in ((0, ValueError), (-1, ValueError), (4, ValueError), (2.5, TypeError)):
        with pytest.raises(exc, match="GPT.crop_block_size"):
            a.crop_block_size(bad)
    assert a.config.block_size == 3


# ------------------------------------------------------------ GPT generation
def _sharp_gpt(seed, **kw):
    sn.manual_seed(seed)
    model = GPT(**{**dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8), **kw})
    for p in model.parameters():                                  # larger weights: less flat logits
        p.data *= 5
    return model


def test_generate_long_prompt_batch_cached_and_uncached_agree_when_sampling():
    model = _sharp_gpt(0)
    prompt = np.random.default_rng(0).integers(0, 11, (3, 12))    # longer than block_size = 8
    kw = dict(temperature=0.8, top_k=50, top_p=0.9, seed=1)
    cached = model.generate(prompt, 6, **kw).data
    uncached = model.generate(prompt, 6, use_cache=False, **kw).data
    assert cached.shape == (3, 18) and cached.dtype == np.int64
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[:, :12], prompt)


def test_generate_greedy_equals_argmax_and_temperature_zero():
    model = _sharp_gpt(1)
    prompt = np.array([[3, 1, 4, 1, 5, 9, 2, 6, 5]])              # 9 tokens: only the last 8 are seen
    model.eval()
    with sn.no_grad():
        expected = int(np.argmax(model(prompt[:, -8:])[0].data[0, -1]))
    for kw in (dict(greedy=True), dict(temperature=0), dict(top_k=1, seed=0), dict(top_p=1e-6, seed=0)):
        assert int(model.generate(prompt, 1, **kw).data[0, -1]) == expected, kw
    a = model.generate(prompt[0], 4, top_p=1.0, seed=3).data      # a 1-D prompt is one row
    assert a.shape == (1, 13)
    np.testing.assert_array_equal(a, model.generate(prompt, 4, seed=3).data)


@pytest.mark.parametrize("prompt,kwargs,exc,match", [
    (np.array([[1.0, 2.0]]), {}, TypeError, "integer token ids"),
    (np.zeros((1, 1, 2), np.int64), {}, ValueError, r"\(B, T\) or \(T,\)"),
    (np.array(3), {}, ValueError, r"\(B, T\) or \(T,\)"),
    (np.zeros((1, 0), np.int64), {}, ValueError, "prompt is empty"),
    (np.array([[11]]), {}, IndexError, r"Embedding\(11, 8\).*index 11"),
    (np.array([[1]]), dict(max_new_tokens=-1), ValueError, "max_new_tokens must be >= 0"),
    (np.array([[1]]), dict(max_new_tokens=2.0), TypeError, "max_new_tokens must be an int"),
    (np.array([[1]]), dict(max_new_tokens=True), TypeError, "max_new_tokens must be an int"),
    (np.array([[1]]), dict(seed=-1), ValueError, "seed must be a non-negative int"),
])
def test_generate_bad_inputs(prompt, kwargs, exc, match):
    model = _sharp_gpt(2)
    kwargs = {"max_new_tokens": 2, **kwargs}
    with pytest.raises(exc, match=match):
        model.generate(prompt, **kwargs)


def test_generate_ids_needs_a_token():
    """What ``scratchnet.generate`` calls; a tokenizer may encode a prompt to no ids."""
    with pytest.raises(ValueError, match="GPT.generate_ids: ids is empty"):
        _sharp_gpt(2).generate_ids([], 2, lambda logits: 0)


# ------------------------------------------------------------------ CharRNN
def _torch_char_rnn(torch, model, cell):
    cfg = model.config
    tnn = torch.nn
    rnn = {"lstm": tnn.LSTM, "gru": tnn.GRU, "rnn": tnn.RNN}[cell]

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = tnn.Embedding(cfg.vocab_size, cfg.embedding_dim)
            self.rnn = rnn(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, batch_first=True)
            self.head = tnn.Linear(cfg.hidden_size, cfg.vocab_size)

        def forward(self, ids, state=None):
            out, state = self.rnn(self.embedding(ids), state)
            return self.head(out), state

    twin = Twin()
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    return twin


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_char_rnn_matches_pytorch_with_carried_state(cell):
    torch = pytest.importorskip("torch")
    sn.manual_seed(3)
    model = CharRNN(9, cell, hidden_size=6, num_layers=2, embedding_dim=5, dropout=0.3).eval()
    twin = _torch_char_rnn(torch, model, cell)
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 9, (2, 4)), rng.integers(0, 9, (2, 3))
    logits, state = model(a)
    logits2, _ = model(b, CharRNN.detach_state(state))
    with torch.no_grad():
        tl, tstate = twin(torch.tensor(a))
        tl2, _ = twin(torch.tensor(b), tstate)
    for mine, theirs in ((logits, tl), (logits2, tl2)):
        assert mine.dtype == np.float32
        np.testing.assert_allclose(mine.data, theirs.numpy(), atol=1e-5, rtol=0)


def test_char_rnn_one_layer_dropout_does_not_warn_and_still_applies():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CharRNN(7, "gru", hidden_size=6, num_layers=1, embedding_dim=4, dropout=0.5)
    x = np.ones((2, 5), np.int64)
    sn.manual_seed(0)
    assert not np.array_equal(model(x)[0].data, model(x)[0].data)   # dropout before the head
    model.eval()
    np.testing.assert_array_equal(model(x)[0].data, model(x)[0].data)


@pytest.mark.parametrize("kwargs,exc", [
    (dict(vocab_size=7.5), TypeError), (dict(hidden_size=0), ValueError),
    (dict(num_layers=True), TypeError), (dict(embedding_dim=-2), ValueError),
])
def test_char_rnn_size_errors(kwargs, exc):
    with pytest.raises(exc, match="CharRNN: " + next(iter(kwargs))):
        CharRNN(**{"vocab_size": 7, **kwargs})


# ------------------------------------------------------------------ Seq2Seq
@pytest.mark.parametrize("cell,attention", [("gru", "additive"), ("lstm", "dot")])
def test_beam_of_one_is_greedy_including_attention_weights(cell, attention):
    for seed in range(3):
        sn.manual_seed(seed)
        model = Seq2Seq(7, 6, 4, 8, cell=cell, attention=attention, num_layers=2)
        for p in model.parameters():                              # sharper outputs: eos at various steps
            p.data *= 3
        src = np.random.default_rng(seed).integers(0, 7, (3, 5))
        src[:, 0] = 3
        tokens, weights = model.greedy_decode(src, 8)
        btokens, bweights = model.beam_search(src, 1, 8)
        np.testing.assert_array_equal(tokens, btokens)
        np.testing.assert_allclose(weights, bweights, atol=1e-6)
        after_eos = np.cumsum(tokens == model.config.eos_id, axis=1) - (tokens == model.config.eos_id) > 0
        assert (weights[after_eos] == 0).all()                    # padding carries no attention


def test_seq2seq_bad_inputs():
    model = Seq2Seq(7, 9, 4, 6)
    src = np.array([[3, 4, 5], [4, 5, 0]])
    with pytest.raises(ValueError, match=r"Seq2Seq: src \(2, 3\) and tgt_in \(1, 2\)"):
        model(src, src[:1, :2])
    with pytest.raises(TypeError, match="Seq2Seq: src must hold integer ids"):
        model(src.astype(float), src)
    with pytest.raises(ValueError, match=r"tgt_in must be \(B, T\)"):
        model(src, src[0])
    with pytest.raises(IndexError, match=r"Embedding\(9, 4"):
        model(src, src + 5)
    for call, match in ((lambda: model.greedy_decode(src, 0), "greedy_decode: max_len must be >= 1"),
                        (lambda: model.beam_search(src, 0), "beam_search: beam_size must be >= 1"),
                        (lambda: model.beam_search(src, 2, max_len=0), "beam_search: max_len must be >= 1")):
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(TypeError, match="beam_size must be an int"):
        model.beam_search(src, 2.0)
    with pytest.raises(ValueError, match="length_penalty must be finite"):
        model.beam_search(src, 2, length_penalty=float("nan"))
    with pytest.raises(TypeError, match="length_penalty must be a number"):
        model.beam_search(src, 2, length_penalty="1")


def test_seq2seq_empty_batch_decodes_to_empty():
    model = Seq2Seq(7, 9, 4, 6)
    tokens, weights = model.beam_search(np.zeros((0, 3), np.int64), 2, 4)
    assert tokens.shape == (0, 0) and weights.shape == (0, 0, 3) and weights.dtype == np.float32


# ------------------------------------------------------- TransformerClassifier
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_classifier_all_padding_rows_masks_and_eval_determinism(pooling):
    sn.manual_seed(4)
    model = TransformerClassifier(7, 3, d_model=8, nhead=2, num_layers=1, dim_feedforward=16,
                                  max_len=6, pooling=pooling, dropout=0.1)
    ids = np.array([[1, 2, 3, 0], [0, 0, 0, 0]])
    out = model(ids)                                              # training mode, one row all padding
    assert out.dtype == np.float32 and np.isfinite(out.data).all()
    out.sum().backward()
    for p in model.parameters():
        assert p.grad is None or (p.grad.dtype == np.float32 and np.isfinite(p.grad).all())
    model.eval()
    ref = model(ids).data
    np.testing.assert_array_equal(ref, model(ids).data)
    real = ids != 0
    for mask in (real, sn.tensor(real), real.astype(np.int64), real.astype(np.float32)):
        np.testing.assert_array_equal(model(ids, mask).data, ref)
    with pytest.raises(ValueError, match="mask must be boolean"):
        model(ids, np.full(ids.shape, 0.5))
    with pytest.raises(ValueError, match="exceeds max_len 6"):
        model(np.ones((1, 7), np.int64))


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_classifier_matches_a_pytorch_encoder_twin(pooling):
    """Same weights in torch.nn.TransformerEncoder (pre-norm, gelu, final LayerNorm),
    sinusoidal positions and the same pooling: same logits on padded rows."""
    torch = pytest.importorskip("torch")
    V, C, d, nh, L, ff = 9, 3, 8, 2, 2, 16
    sn.manual_seed(7)
    model = TransformerClassifier(V, C, d, nh, L, ff, max_len=6, pooling=pooling).eval()
    layer = torch.nn.TransformerEncoderLayer(d, nh, ff, 0.1, activation="gelu", batch_first=True,
                                             norm_first=True)
    twin = torch.nn.ModuleDict(dict(
        embedding=torch.nn.Embedding(V, d, padding_idx=0), head=torch.nn.Linear(d, C),
        encoder=torch.nn.TransformerEncoder(layer, L, norm=torch.nn.LayerNorm(d), enable_nested_tensor=False)))
    state = {k: torch.tensor(v) for k, v in model.state_dict().items()}
    cls = state.pop("cls_token", None)
    twin.load_state_dict(state)
    twin.eval()
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    real = torch.tensor(ids != 0)
    with torch.no_grad():
        x = twin["embedding"](torch.tensor(ids)) * d ** 0.5               # (B, T, d)
        if pooling == "cls":
            x = torch.cat([cls.expand(2, 1, d), x], dim=1)               # (B, 1 + T, d)
            real = torch.cat([torch.ones(2, 1, dtype=torch.bool), real], dim=1)
        pos = torch.arange(x.shape[1], dtype=torch.float64)[:, None]
        angle = pos * torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-np.log(10000.0) / d))
        pe = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).reshape(x.shape[1], d)
        h = twin["encoder"](x + pe.float(), src_key_padding_mask=~real)
        z = h[:, 0] if pooling == "cls" else (h * real[..., None]).sum(1) / real.sum(1, keepdim=True)
        expected = twin["head"](z).numpy()
    np.testing.assert_allclose(model(ids).data, expected, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- save / load
@pytest.mark.parametrize("make,inputs", [
    (lambda: GPT(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8, bias=False), 1),
    (lambda: CharRNN(7, "lstm", 6, 2, 4), 1),
    (lambda: Seq2Seq(7, 9, 4, 6, cell="lstm", attention="dot"), 2),
    (lambda: TransformerClassifier(7, 3, 8, 2, 1, 16, max_len=6, pooling="cls"), 1),
])
def test_save_load_round_trip_reproduces_outputs(tmp_path, make, inputs):
    x = np.random.default_rng(5).integers(1, 7, (2, 5))
    sn.manual_seed(5)
    a = make().eval()
    sn.save(a.state_dict(), tmp_path / "model.npz")
    sn.manual_seed(6)
    b = make().eval()
    b.load_state_dict(sn.load(tmp_path / "model.npz"))
    first = lambda out: out[0] if isinstance(out, tuple) else out   # noqa: E731
    out_a, out_b = first(a(*[x] * inputs)), first(b(*[x] * inputs))
    assert out_b.dtype == np.float32
    assert all(v.dtype == np.float32 for v in b.state_dict().values())
    np.testing.assert_array_equal(out_a.data, out_b.data)
