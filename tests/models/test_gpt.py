"""GPT: constructors, keys, init, PyTorch (nanoGPT) parity, training, generation."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.data import CharTokenizer, load_corpus, random_window_batches
from scratchnet.models import GPT, GPTConfig

TINY = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)


def _ids(rng, B, T, V=11):
    return rng.integers(0, V, size=(B, T))


def test_constructors_agree():
    configs = [GPT(11, 8, 2, 2, 8).config, GPT(GPTConfig(**TINY)).config, GPT(TINY).config,
               GPT(**TINY).config, GPT(11, 8, 2, 2, 8, dropout=0.0, bias=True).config]
    assert all(c == GPTConfig(**TINY) for c in configs)
    assert GPT(11, 8, 2, 2, 8, 0.1, False).config.bias is False
    with pytest.raises(TypeError):
        GPT(GPTConfig(**TINY), vocab_size=3)
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPT(11, 8, 1, 3, 8)


def test_keys_tying_and_init():
    sn.manual_seed(0)
    model = GPT(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=64, bias=False)
    keys = list(model.state_dict())
    assert keys[:3] == ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight"]
    assert "transformer.h.2.mlp.c_proj.weight" in keys and keys[-1] == "lm_head.weight"
    assert not any(k.endswith("bias") for k in keys)
    assert model.transformer.wte.weight is model.lm_head.weight
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names                       # tied: counted once
    std_proj = model.transformer.h[0].mlp.c_proj.weight.data.std()
    assert abs(std_proj - 0.02 / math.sqrt(6)) < 0.002
    assert abs(model.transformer.h[0].mlp.c_fc.weight.data.std() - 0.02) < 0.002
    assert model.get_num_params() == model.num_parameters() - 16 * 64
    assert model.get_num_params(non_embedding=False) == model.num_parameters()
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_tied_weight_gets_both_gradients():
    sn.manual_seed(1)
    model = GPT(**TINY)
    x = _ids(np.random.default_rng(0), 2, 5)
    _, loss = model(x, x)
    loss.backward()
    w = model.lm_head.weight
    assert w.grad is not None and w.grad.dtype == np.float32
    unused = np.setdiff1d(np.arange(11), x)
    assert np.abs(w.grad[unused]).sum() > 0                      # lm_head part reaches unused rows


def _torch_gpt(torch, cfg):
    """nanoGPT's model in PyTorch (same parameter names), shared with benchmarks/gpt.py."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "torch_nanogpt.py"
    spec = importlib.util.spec_from_file_location("torch_nanogpt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.nanogpt_model(torch, cfg)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype,atol", [(np.float32, 2e-5), (np.float64, 1e-11)])
def test_matches_nanogpt_in_torch(bias, dtype, atol):
    torch = pytest.importorskip("torch")
    cfg = GPTConfig(**TINY, bias=bias)
    theirs = _torch_gpt(torch, cfg).to(torch.float64 if dtype == np.float64 else torch.float32)
    mine = GPT(cfg).to(dtype)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(2)
    x, y = _ids(rng, 3, 8), _ids(rng, 3, 8)
    y[0, :2] = -1                                                # ignored targets
    logits, loss = mine(x, y)
    tlogits, tloss = theirs(torch.tensor(x), torch.tensor(y))
    assert logits.dtype == dtype and loss.dtype == dtype
    np.testing.assert_allclose(logits.data, tlogits.detach().numpy(), atol=atol, rtol=0)
    np.testing.assert_allclose(loss.item(), tloss.item(), atol=atol)
    loss.backward()
    tloss.backward()
    tparams = dict(theirs.named_parameters())
    for name, p in mine.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=10 * atol, rtol=0, err_msg=name)


def test_gradcheck_tiny_gpt():
    sn.manual_seed(3)
    model = GPT(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4).double()
    rng = np.random.default_rng(3)
    x, y = _ids(rng, 2, 4, 5), _ids(rng, 2, 4, 5)
    params = list(model.parameters())
    assert sn.gradcheck(lambda *ps: model(x, y)[1], params)


def test_loss_falls_on_tiny_shakespeare():
    text = load_corpus("tinyshakespeare")[:20000]
    tok = CharTokenizer().fit(text)
    data = np.asarray(tok.encode(text))
    sn.manual_seed(0)
    model = GPT(tok.vocab_size, 32, 2, 2, 32, bias=False)
    opt = model.configure_optimizers(0.1, 3e-3, (0.9, 0.99))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(40):
        x, y = random_window_batches(data, 32, 8, rng)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        sn.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    assert losses[0] > math.log(tok.vocab_size) - 0.3
    assert np.mean(losses[-5:]) < losses[0] - 0.7             # 4.1 -> about 3.1 nats


def test_configure_optimizers_decays_only_matrices():
    model = GPT(**TINY)
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert opt.param_groups[0]["betas"] == (0.9, 0.95)
    with pytest.raises(TypeError, match=r"GPT.configure_optimizers: betas must be a pair \(beta1, beta2\), got 0.9"):
        model.configure_optimizers(0.1, 1e-3, 0.9)                 # was "'float' object is not iterable"


def test_configure_optimizers_matches_nanogpt_adamw_in_torch():
    """nanoGPT's groups (decay: every >= 2-D tensor, wte/wpe included; none for
    biases and LayerNorm weights) and torch's AdamW: same weights after 3 steps."""
    torch = pytest.importorskip("torch")
    cfg = GPTConfig(**TINY)
    theirs = _torch_gpt(torch, cfg).double()
    mine = GPT(cfg).double()
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    opt = mine.configure_optimizers(0.1, 1e-2, (0.9, 0.95), "cpu")
    params = list(theirs.parameters())
    topt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                             lr=1e-2, betas=(0.9, 0.95))
    rng = np.random.default_rng(11)
    for _ in range(3):
        x, y = _ids(rng, 2, 8), _ids(rng, 2, 8)
        _, loss = mine(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _, tloss = theirs(torch.tensor(x), torch.tensor(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
    tparams = dict(theirs.named_parameters())
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.data, tparams[name].detach().numpy(), atol=1e-10, rtol=0, err_msg=name)


def test_dropout_training_and_eval():
    sn.manual_seed(4)
    model = GPT(**TINY, dropout=0.2)
    x = _ids(np.random.default_rng(4), 2, 8)
    a, b = model(x)[0].data, model(x)[0].data
    assert not np.allclose(a, b)
    _, loss = model(x, x)
    loss.backward()
    model.eval()
    np.testing.assert_array_equal(model(x)[0].data, model(x)[0].data)


def test_too_long_sequence_raises():
    with pytest.raises(ValueError, match="block_size is only 8"):
        GPT(**TINY)(np.zeros((1, 9), dtype=np.int64))


# ---------------------------------------------------------------- generation
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cached_and_uncached_greedy_generation_agree(dtype):
    sn.manual_seed(5)
    model = GPT(**TINY).to(dtype)
    for p in model.parameters():                                # larger weights: less flat logits
        p.data *= 10
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    cached = model.generate(prompt, 20, greedy=True)             # runs past block_size = 8
    uncached = model.generate(prompt, 20, greedy=True, use_cache=False)
    assert cached.shape == (2, 23)
    np.testing.assert_array_equal(cached.data, uncached.data)
    np.testing.assert_array_equal(cached.data[:, :3], prompt)


def test_cached_logits_equal_full_forward():
    sn.manual_seed(6)
    model = GPT(**TINY).double()
    model.eval()
    x = _ids(np.random.default_rng(6), 2, 6)
    full = model(x)[0].data                                     # (2, 6, V)
    caches = [{} for _ in model.transformer.h]
    with sn.no_grad():
        first = model.lm_head(model._hidden(x[:, :4], 0, caches)).data
        rest = [model.lm_head(model._hidden(x[:, t:t + 1], t, caches)).data for t in (4, 5)]
    np.testing.assert_allclose(first, full[:, :4], atol=1e-12)
    np.testing.assert_allclose(np.concatenate(rest, axis=1), full[:, 4:], atol=1e-12)


def test_generation_is_reproducible_with_a_seed():
    sn.manual_seed(7)
    model = GPT(**TINY)
    prompt = np.array([[1, 2]])
    a = model.generate(prompt, 15, temperature=1.5, seed=123).data
    b = model.generate(prompt, 15, temperature=1.5, seed=123).data
    c = model.generate(prompt, 15, temperature=1.5, seed=124).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    sn.manual_seed(9)
    d = model.generate(prompt, 15, temperature=1.5).data
    sn.manual_seed(9)
    np.testing.assert_array_equal(d, model.generate(prompt, 15, temperature=1.5).data)
    assert model.training                                       # mode restored


def _next_token_logits(model, prompt):
    model.eval()
    with sn.no_grad():
        return model(prompt)[0].data[0, -1]


def test_top_k_and_top_p_restrict_the_support():
    sn.manual_seed(8)
    model = GPT(**TINY)
    for p in model.parameters():
        p.data *= 5
    prompt = np.array([[3, 1, 4]])
    logits = _next_token_logits(model, prompt)
    order = np.argsort(-logits)
    top3 = set(order[:3].tolist())
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    nucleus = set(order[:int(np.searchsorted(np.cumsum(probs[order]), 0.6) + 1)].tolist())
    rng = np.random.default_rng(0)
    seen_k, seen_p, seen_all = set(), set(), set()
    for _ in range(150):
        seen_k.add(int(model.generate(prompt, 1, temperature=2.0, top_k=3, rng=rng).data[0, -1]))
        seen_p.add(int(model.generate(prompt, 1, top_p=0.6, rng=rng).data[0, -1]))
        seen_all.add(int(model.generate(prompt, 1, temperature=2.0, rng=rng).data[0, -1]))
    assert seen_k <= top3 and len(seen_k) > 1
    assert seen_p <= nucleus
    assert len(seen_all) > 3
    greedy = int(order[0])
    assert int(model.generate(prompt, 1, top_k=1, rng=rng).data[0, -1]) == greedy
    assert int(model.generate(prompt, 1, top_p=1e-9, rng=rng).data[0, -1]) == greedy
    with pytest.raises(ValueError, match="top_k"):
        model.generate(prompt, 1, top_k=0)


def test_works_with_scratchnet_generate():
    from scratchnet import generate
    text = "hello world"
    tok = CharTokenizer().fit(text)
    sn.manual_seed(10)
    model = GPT(tok.vocab_size, 16, 1, 2, 8)
    out = generate(model, tok, "hel", 10, seed=0)
    assert out.startswith("hel") and len(out) == 13
    assert out == generate(model, tok, "hel", 10, seed=0)
    greedy = generate(model, tok, "hel", 10, greedy=True)
    ids = model.generate(np.array([tok.encode("hel")]), 10, greedy=True).data[0]
    assert greedy == tok.decode(ids.tolist())


# ------------------------------------------------------- argument checking
def test_bad_token_ids_name_gpt_and_the_id():
    model = GPT(**TINY)
    for bad, token in ((np.array([[1, 11]]), 11), (np.array([[-3, 1]]), -3)):
        with pytest.raises(IndexError, match=f"GPT: token id {token} in idx is out of range for vocab_size=11"):
            model(bad)
    big = np.array([[2 ** 63 + 1]], dtype=np.uint64)             # was reported as a wrapped negative id
    with pytest.raises(IndexError, match=r"GPT.generate: token id 9223372036854775809 in idx"):
        model.generate(big, 1)
    with pytest.raises(TypeError, match=r"GPT: idx must hold integer token ids.*dtype bool"):
        model(np.array([[True, False]]))
    with pytest.raises(ValueError, match="GPT.generate: idx is not a rectangular array"):
        model.generate([[1, 2], [3]], 1)
    with pytest.raises(ValueError, match="GPT: targets is not a rectangular array"):
        model(np.array([[1, 2]]), [[1], [2, 3]])


def test_config_values_are_checked_and_stored_as_python_scalars():
    cfg = GPT(np.int64(11), np.int64(8), np.int64(1), np.int64(2), np.int64(8), np.float32(0.5),
              np.bool_(False)).config
    assert [type(v) for v in sn.models.GPT(cfg).get_config().values()] == [int] * 5 + [float, bool]
    for dropout, exc in ((1.5, ValueError), (-0.1, ValueError), ("0.1", TypeError), (None, TypeError)):
        with pytest.raises(exc, match=r"GPT: dropout must be a number in \[0, 1\]"):
            GPT(**TINY, dropout=dropout)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(seed=1.5), TypeError, "seed must be a non-negative int or None, got 1.5"),
    (dict(seed=True), TypeError, "seed must be a non-negative int or None, got True"),
    (dict(rng=5), TypeError, "rng must be a numpy.random.Generator or None, got int"),
    (dict(seed=1, rng=np.random.default_rng(1)), ValueError, "pass seed or rng, not both"),
    (dict(greedy="no"), TypeError, "greedy must be a bool, got 'no'"),
])
def test_generate_checks_seed_rng_and_greedy(kwargs, exc, match):
    with pytest.raises(exc, match="GPT.generate: " + match):
        GPT(**TINY).generate(np.array([[1]]), 2, **kwargs)


def test_scratchnet_generate_checks_greedy():
    from scratchnet import generate
    tok = CharTokenizer().fit("abc")
    with pytest.raises(TypeError, match="generate: greedy must be a bool, got 1"):
        generate(GPT(tok.vocab_size, 4, 1, 1, 4), tok, "a", 2, greedy=1)


def test_matches_nanogpt_on_random_configs():
    """Hypothesis over the shapes a config allows (no layers, head size 1, a
    one-token vocabulary, T from 1 to block_size, bias on/off): float64 logits,
    loss with ignored targets and every parameter's gradient equal torch's."""
    torch = pytest.importorskip("torch")
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=8, deadline=None, derandomize=True)
    @hypothesis.given(n_layer=st.integers(0, 2), n_head=st.integers(1, 3), head_size=st.integers(1, 3),
                      vocab_size=st.integers(1, 13), block_size=st.integers(1, 6), bias=st.booleans(),
                      B=st.integers(1, 3), data=st.data())
    def check(n_layer, n_head, head_size, vocab_size, block_size, bias, B, data):
        cfg = GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=n_layer, n_head=n_head,
                        n_embd=n_head * head_size, bias=bias)
        T = data.draw(st.integers(1, block_size))
        torch.manual_seed(0)
        theirs = _torch_gpt(torch, cfg).double()
        mine = GPT(cfg).double()
        mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        rng = np.random.default_rng(T)
        x, y = _ids(rng, B, T, vocab_size), _ids(rng, B, T, vocab_size)
        y[0, 0] = -1
        logits, loss = mine(x, y)
        tlogits, tloss = theirs(torch.tensor(x), torch.tensor(y))
        np.testing.assert_allclose(logits.data, tlogits.detach().numpy(), atol=1e-12, rtol=0)
        if B * T > 1:                                             # one ignored target only: both NaN
            np.testing.assert_allclose(loss.item(), tloss.item(), atol=1e-12)
            loss.backward()
            tloss.backward()
            tparams = dict(theirs.named_parameters())
            for name, p in mine.named_parameters():
                np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), atol=1e-10, rtol=0, err_msg=name)
        else:
            assert np.isnan(loss.item()) and np.isnan(tloss.item())

    check()
