"""packed_self_attention: the fused split / heads / attention / merge op against
the composed path it replaces, gradcheck, bad inputs, and its use in GPT."""
import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet.models import GPT

# (B, T, nh, hs): odd sizes, T = 1, nh = 1, hs = 1, B = 1
SHAPES = [(2, 5, 3, 2), (1, 4, 2, 3), (2, 1, 2, 2), (1, 3, 1, 4), (3, 4, 3, 1), (1, 1, 1, 1)]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _composed(qkv, nh, is_causal=False, scale=None):
    """The lines the fused op replaces (models/gpt.py before it)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    q, k, v = qkv.split(3, axis=2)                                     # 3 x (B, T, C)
    q, k, v = (t.reshape(B, T, nh, C // nh).swapaxes(1, 2) for t in (q, k, v))   # (B, nh, T, hs)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal, scale=scale)
    return y.swapaxes(1, 2).reshape(B, T, C)                          # (B, nh, T, hs) -> (B, T, C)


def _value_and_grad(fn, a, g, **kw):
    x = sn.tensor(a, requires_grad=True)
    y = fn(x, **kw)
    y.backward(sn.tensor(g))
    return y, x.grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-nh{}-hs{}".format(*s))
def test_matches_composed_path(shape, is_causal, dtype):
    B, T, nh, hs = shape
    rng = np.random.default_rng(sum(shape) + is_causal)
    a = rng.standard_normal((B, T, 3 * nh * hs)).astype(dtype)
    g = rng.standard_normal((B, T, nh * hs)).astype(dtype)
    before = a.copy()
    y, gx = _value_and_grad(F.packed_self_attention, a, g, num_heads=nh, is_causal=is_causal)
    y_ref, gx_ref = _value_and_grad(_composed, a, g, nh=nh, is_causal=is_causal)
    assert y.shape == (B, T, nh * hs) and y.dtype == dtype and gx.dtype == dtype
    assert y.data.flags.c_contiguous
    np.testing.assert_allclose(y.data, y_ref.data, **TOL[dtype])
    np.testing.assert_allclose(gx, gx_ref, **TOL[dtype])
    np.testing.assert_array_equal(a, before)                         # input not mutated


@pytest.mark.parametrize("scale", [0.7, np.float32(2.0), 3])
def test_scale_matches_composed_path(scale):
    rng = np.random.default_rng(1)
    a, g = rng.standard_normal((2, 4, 12)), rng.standard_normal((2, 4, 4))
    y, gx = _value_and_grad(F.packed_self_attention, a, g, num_heads=2, is_causal=True, scale=scale)
    y_ref, gx_ref = _value_and_grad(_composed, a, g, nh=2, is_causal=True, scale=scale)
    np.testing.assert_allclose(y.data, y_ref.data, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-10, atol=1e-10)
    # and the scale is really used: the default 1/sqrt(2) gives another result
    assert not np.allclose(y.data, F.packed_self_attention(sn.tensor(a), 2, is_causal=True).data)


def test_head_layout_by_hand():
    """Head h of q/k/v is columns h*hs:(h+1)*hs of its block, and output head h lands at
    the same columns: a head computed alone, with plain NumPy, matches its slice."""
    rng = np.random.default_rng(2)
    B, T, nh, hs = 2, 4, 3, 2
    C = nh * hs
    a = rng.standard_normal((B, T, 3 * C))
    y = F.packed_self_attention(a, nh, is_causal=True).data
    for h in range(nh):
        cols = slice(h * hs, (h + 1) * hs)
        q, k, v = a[..., cols], a[..., C:][..., cols], a[..., 2 * C:][..., cols]      # (B, T, hs)
        s = q @ k.swapaxes(1, 2) / np.sqrt(hs) + np.triu(np.full((T, T), -np.inf), 1)
        p = np.exp(s - s.max(-1, keepdims=True))
        np.testing.assert_allclose(y[..., cols], (p / p.sum(-1, keepdims=True)) @ v, atol=1e-12)


def test_non_contiguous_input_and_no_graph_under_no_grad():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((12, 5, 2))
    a = base.transpose(2, 1, 0)                                       # (2, 5, 12), a strided view
    y, gx = _value_and_grad(F.packed_self_attention, a, np.ones((2, 5, 4)), num_heads=2)
    y_ref, gx_ref = _value_and_grad(_composed, np.ascontiguousarray(a), np.ones((2, 5, 4)), nh=2)
    np.testing.assert_allclose(y.data, y_ref.data, atol=1e-12)
    np.testing.assert_allclose(gx, gx_ref, atol=1e-12)
    with sn.no_grad():
        out = F.packed_self_attention(sn.tensor(a, requires_grad=True), 2)
    assert not out.requires_grad


@pytest.mark.parametrize("is_causal", [False, True])
def test_gradcheck_float64_random_cotangent(is_causal):
    rng = np.random.default_rng(4)
    x = sn.tensor(rng.uniform(-2, 2, size=(2, 3, 18)), requires_grad=True)     # nh 3, hs 2
    assert sn.gradcheck(lambda t: F.packed_self_attention(t, 3, is_causal=is_causal, scale=0.8), [x])
    # a random cotangent v: d/dx (v . f(x)) checked in one projection, and in full through the sum
    v = sn.tensor(rng.standard_normal((2, 3, 6)))
    assert sn.gradcheck(lambda t: (F.packed_self_attention(t, 3, is_causal=is_causal) * v).sum(), [x])
    assert sn.gradcheck(lambda t: F.packed_self_attention(t, 3, is_causal=is_causal), [x],
                        fast_mode=True, seed=7)


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    B, T, nh, hs = 2, 6, 3, 4
    a, g = rng.standard_normal((B, T, 3 * nh * hs)), rng.standard_normal((B, T, nh * hs))
    y, gx = _value_and_grad(F.packed_self_attention, a, g, num_heads=nh, is_causal=True)
    t = torch.tensor(a, requires_grad=True)
    q, k, v = (u.reshape(B, T, nh, hs).transpose(1, 2) for u in t.split(nh * hs, dim=2))
    ty = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    ty = ty.transpose(1, 2).reshape(B, T, nh * hs)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(gx, t.grad.numpy(), atol=1e-10)


# ---------------------------------------------------------------- bad inputs
QKV = np.zeros((2, 3, 12))


@pytest.mark.parametrize("args,kwargs,error", [
    ((QKV.astype(np.int64), 2), {}, TypeError),
    ((QKV.astype(bool), 2), {}, TypeError),
    ((sn.tensor(QKV.astype(np.int32)), 2), {}, TypeError),
    ((None, 2), {}, TypeError),
    (("qkv", 2), {}, TypeError),
    ((QKV[0], 2), {}, ValueError),                                  # 2 dims
    ((QKV[None], 2), {}, ValueError),                               # 4 dims
    ((sn.tensor(1.0), 2), {}, ValueError),                          # 0 dims
    ((QKV, 5), {}, ValueError),                                     # 12 not divisible by 15
    ((np.zeros((2, 3, 10)), 1), {}, ValueError),                    # 10 not divisible by 3
    ((QKV, 0), {}, ValueError),
    ((QKV, -2), {}, ValueError),
    ((QKV, 2.0), {}, TypeError),
    ((QKV, True), {}, TypeError),
    ((QKV, "2"), {}, TypeError),
    ((QKV, None), {}, TypeError),
    ((QKV, 2), {"scale": "big"}, TypeError),
    ((QKV, 2), {"scale": True}, TypeError),
    ((np.zeros((2, 3, 0)), 2), {}, ValueError),                     # hs = 0: no default scale
])
def test_bad_inputs_raise_naming_the_function(args, kwargs, error):
    with pytest.raises(error, match="packed_self_attention"):
        F.packed_self_attention(*args, **kwargs)


def test_numpy_integer_heads_and_explicit_scale_with_zero_head_size():
    y = F.packed_self_attention(np.ones((1, 2, 6), np.float32), np.int64(2))
    assert y.shape == (1, 2, 2) and y.dtype == np.float32
    assert F.packed_self_attention(np.zeros((1, 2, 0)), 2, scale=1.0).shape == (1, 2, 0)


# ---------------------------------------------------------------- in GPT
CFG = dict(vocab_size=13, block_size=8, n_layer=2, n_head=3, n_embd=12)


def _spy(monkeypatch):
    calls = []
    real = F.packed_self_attention

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "packed_self_attention", spy)
    return calls


def _loss_and_grads(model, x, caches=None):
    """Loss of GPT.forward, or of the same computation through fresh KV caches (the
    composed path: split, reshape, swapaxes, sdpa, swapaxes, reshape)."""
    model.zero_grad()
    if caches is None:
        logits, loss = model(x, x)
    else:
        logits = model.lm_head(model._hidden(x, 0, caches))
        B, T, V = logits.shape
        loss = F.cross_entropy(logits.reshape(B * T, V), x.reshape(B * T), ignore_index=-1)
    loss.backward()
    return logits.data, loss.item(), {n: p.grad.copy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpt_training_step_equals_composed_path(dtype, monkeypatch):
    sn.manual_seed(11)
    model = GPT(**CFG, dropout=0.0).to(dtype)
    model.train()
    x = np.random.default_rng(11).integers(0, 13, size=(2, 7))
    calls = _spy(monkeypatch)
    fused = _loss_and_grads(model, x)
    assert calls == [(2, 7, 36)] * 2                                  # the fused op ran, once per block
    composed = _loss_and_grads(model, x, caches=[{} for _ in model.transformer.h])
    assert len(calls) == 2                                            # ... and not on the cached path
    tol = TOL[dtype]
    np.testing.assert_allclose(fused[0], composed[0], **tol)
    np.testing.assert_allclose(fused[1], composed[1], **tol)
    assert fused[2].keys() == composed[2].keys()
    for name in fused[2]:
        assert fused[2][name].dtype == dtype
        np.testing.assert_allclose(fused[2][name], composed[2][name], err_msg=name, **tol)


def test_gpt_attention_dropout_keeps_the_composed_path_while_training(monkeypatch):
    sn.manual_seed(12)
    model = GPT(**CFG, dropout=0.1)
    x = np.random.default_rng(12).integers(0, 13, size=(1, 5))
    calls = _spy(monkeypatch)
    model.train()
    model(x, x)
    assert calls == []                                                # dropout on the weights: composed
    model.eval()
    with sn.no_grad():
        model(x, x)
    assert len(calls) == 2                                            # eval: no dropout, fused
