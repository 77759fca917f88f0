"""Scaled dot-product attention (fused and composed) and MultiheadAttention:
gradchecks, fused-vs-composed agreement, PyTorch parity, masks, errors."""
import zlib

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn
from scratchnet.ops.attention import ScaledDotProductAttention, attention_composed
from scratchnet.ops.registry import REGISTRY


def _t(rng, *shape, dtype=np.float64):
    return sn.tensor(rng.normal(size=shape).astype(dtype), requires_grad=True)


# --------------------------------------------------------------- SDPA
def _registry_samples():
    entry = REGISTRY[ScaledDotProductAttention.__name__]
    return entry, entry.make_samples(np.random.default_rng(zlib.crc32(b"sdpa")))


@pytest.mark.parametrize("index", range(len(_registry_samples()[1])))
def test_sdpa_registered_samples_gradcheck(index):
    entry, samples = _registry_samples()
    sample = samples[index]
    inputs = [sn.tensor(a, requires_grad=True) for a in sample.args]
    fn = lambda *ts: entry.call(*ts, **sample.kwargs)   # noqa: E731
    assert sn.gradcheck(fn, inputs)
    assert sn.gradcheck(fn, inputs, fast_mode=True)


def _mask_cases(rng, L, S):
    bool_mask = rng.random((L, S)) > 0.4
    bool_mask[:, 0] = True
    dead = bool_mask.copy()
    dead[1] = False
    return {
        "none": {},
        "causal": {"is_causal": True},
        "bool": {"attn_mask": bool_mask},
        "float": {"attn_mask": rng.normal(size=(L, S))},
        "bool broadcast over heads": {"attn_mask": rng.random((2, 1, L, S)) > 0.3},
        "float + causal": {"attn_mask": rng.normal(size=(1, L, S)), "is_causal": True},
        "fully masked row": {"attn_mask": dead},
        "float -inf row": {"attn_mask": np.where(dead, 0.0, -np.inf)},
        "key padding shape (B,1,1,S)": {"attn_mask": np.arange(S)[None, None, None, :] < np.array([S, 2])[:, None, None, None]},
    }


@pytest.mark.parametrize("case", list(_mask_cases(np.random.default_rng(0), 4, 4)))
def test_fused_and_composed_agree_float64(case):
    rng = np.random.default_rng(1)
    kw = _mask_cases(np.random.default_rng(0), 4, 4)[case]
    q, k, v = _t(rng, 2, 3, 4, 5), _t(rng, 2, 3, 4, 5), _t(rng, 2, 3, 4, 6)
    fused = F.scaled_dot_product_attention(q, k, v, **kw)
    composed, _ = attention_composed(q, k, v, **kw)
    np.testing.assert_allclose(fused.data, composed.data, rtol=0, atol=1e-10)
    g = rng.normal(size=fused.shape)
    for a, b in zip(sn.grad(fused, [q, k, v], g), sn.grad(composed, [q, k, v], g)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert np.isfinite(fused.data).all()


def test_sdpa_fully_masked_row_is_zero_with_zero_gradient():
    rng = np.random.default_rng(2)
    q, k, v = _t(rng, 1, 3, 4), _t(rng, 1, 5, 4), _t(rng, 1, 5, 2)
    mask = np.ones((3, 5), dtype=bool)
    mask[2] = False
    for fn in (F.scaled_dot_product_attention, lambda *a, **kw: attention_composed(*a, **kw)[0]):
        out = fn(q, k, v, attn_mask=mask)
        np.testing.assert_array_equal(out.data[0, 2], 0.0)
        gq, gk, gv = sn.grad(out, [q, k, v], np.ones(out.shape))
        np.testing.assert_array_equal(gq[0, 2], 0.0)
        assert all(np.isfinite(g).all() for g in (gq, gk, gv))


@pytest.mark.parametrize("dtype,atol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("case", ["none", "causal", "bool", "float", "bool broadcast over heads", "float + causal"])
def test_sdpa_matches_torch(case, dtype, atol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    kw = _mask_cases(np.random.default_rng(0), 4, 4)[case]
    arrays = [rng.normal(size=(2, 3, 4, 5)).astype(dtype) for _ in range(3)]
    q, k, v = (sn.tensor(a, requires_grad=True) for a in arrays)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in arrays)
    tkw = dict(kw)
    if "attn_mask" in kw:
        m = kw["attn_mask"]
        tkw["attn_mask"] = torch.tensor(m if m.dtype == bool else m.astype(dtype))
    if kw.get("is_causal") and "attn_mask" in kw:   # torch refuses both: fold causality into the mask
        causal = np.where(np.tril(np.ones((4, 4), dtype=bool)), 0.0, -np.inf).astype(dtype)
        tkw = {"attn_mask": tkw["attn_mask"] + torch.tensor(causal)}
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=atol, rtol=0)
    g = rng.normal(size=out.shape).astype(dtype)
    tout.backward(torch.tensor(g))
    for mine, theirs in zip(sn.grad(out, [q, k, v], g), (tq, tk, tv)):
        assert mine.dtype == dtype
        np.testing.assert_allclose(mine, theirs.grad.numpy(), atol=10 * atol, rtol=0)


@pytest.mark.parametrize("shape", [(4, 3), (2, 4, 3), (2, 2, 2, 4, 3)])
def test_sdpa_any_number_of_leading_dims(shape):
    rng = np.random.default_rng(4)
    q, k, v = _t(rng, *shape), _t(rng, *shape), _t(rng, *shape)
    mask = rng.random(shape[:-2] + (shape[-2], shape[-2])) > 0.3
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref, _ = attention_composed(q, k, v, attn_mask=mask)
    assert out.shape == shape
    np.testing.assert_allclose(out.data, ref.data, atol=1e-12)


@pytest.mark.parametrize("shapes, kwargs", [
    (((2, 3, 4, 5), (1, 3, 6, 5), (1, 3, 6, 7)), {}),
    (((1, 3, 4, 5), (2, 1, 6, 5), (2, 3, 6, 7)), {"is_causal": True}),
    (((3, 4, 5), (2, 3, 6, 5), (1, 6, 7)), {"attn_mask": "bool"}),
])
def test_sdpa_broadcasts_batch_dims_like_torch(shapes, kwargs):
    # was: "must share their leading (batch) dims"; PyTorch broadcasts them
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    arrays = [rng.normal(size=s) for s in shapes]
    if kwargs.get("attn_mask") == "bool":
        kwargs = {"attn_mask": rng.random((shapes[0][-2], shapes[1][-2])) > 0.3}
    mine = [sn.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    tkw = {k: torch.tensor(v) if k == "attn_mask" else v for k, v in kwargs.items()}
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, **tkw)
    g = rng.normal(size=tuple(ref.shape))
    ref.backward(torch.tensor(g))
    for path in (F.scaled_dot_product_attention, lambda *a, **kw: attention_composed(*a, **kw)[0]):
        out = path(*mine, **kwargs)
        np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-12)
        for m, t in zip(sn.grad(out, mine, g), theirs):
            assert m.shape == tuple(t.shape)
            np.testing.assert_allclose(m, t.grad.numpy(), atol=1e-12)


def test_sdpa_batch_dims_that_do_not_broadcast_name_the_shapes():
    q, k = sn.tensor(np.zeros((2, 3, 4))), sn.tensor(np.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*\(2, 3, 4\).*\(3, 5, 4\)"):
        F.scaled_dot_product_attention(q, k, k)


def test_sdpa_float_mask_that_requires_grad_gets_gradient():
    rng = np.random.default_rng(5)
    q, k, v = _t(rng, 2, 3, 4), _t(rng, 2, 3, 4), _t(rng, 2, 3, 4)
    bias = _t(rng, 3, 3)
    assert sn.gradcheck(lambda q, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), [q, bias])


def test_sdpa_dropout_is_seeded_and_scales():
    rng = np.random.default_rng(6)
    q, k, v = _t(rng, 2, 5, 4), _t(rng, 2, 5, 4), _t(rng, 2, 5, 4)
    sn.manual_seed(0)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    sn.manual_seed(0)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, F.scaled_dot_product_attention(q, k, v).data)
    _, w = attention_composed(q, k, v, dropout_p=0.5)
    _, w0 = attention_composed(q, k, v)
    kept = w.data != 0
    np.testing.assert_allclose(w.data[kept], 2 * w0.data[kept])    # survivors scaled by 1/(1-p)
    assert 0 < kept.mean() < 1


def test_sdpa_errors():
    q = sn.tensor(np.zeros((2, 3, 4)))
    k = sn.tensor(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="key"):
        F.scaled_dot_product_attention(q, sn.tensor(np.zeros((2, 5, 3))), k)
    with pytest.raises(TypeError, match="attn_mask"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=np.ones((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, k, dropout_p=1.5)


def test_sdpa_float32_stays_float32():
    rng = np.random.default_rng(7)
    q, k, v = (_t(rng, 2, 3, 4, dtype=np.float32) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=rng.normal(size=(3, 3)), is_causal=True)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    assert q.grad.dtype == np.float32


# ---------------------------------------------------------------- MHA
E, H, N, L, S = 8, 2, 3, 4, 5


def _bool_mask(rng, shape):
    """Random True (= masked out) entries; key 0 stays visible so no row is fully masked
    (PyTorch gives NaN for those; see test_mha_fully_masked_rows_give_finite_values)."""
    m = rng.random(shape) > 0.7
    m[..., 0] = False
    return m


def _mha_masks(rng, dtype):
    causal_bool = ~np.tril(np.ones((L, L), dtype=bool))            # True = masked out
    kpm = np.zeros((N, L), dtype=bool)
    kpm[0, -2:] = True
    return {
        "none": {},
        "bool 2-D": {"attn_mask": _bool_mask(rng, (L, L))},
        "float 2-D": {"attn_mask": rng.normal(size=(L, L)).astype(dtype)},
        "bool 3-D": {"attn_mask": _bool_mask(rng, (N * H, L, L))},
        "float 3-D": {"attn_mask": rng.normal(size=(N * H, L, L)).astype(dtype)},
        "key_padding_mask": {"key_padding_mask": kpm},
        "float key_padding_mask": {"key_padding_mask": np.where(kpm, -1e9, 0.0).astype(dtype)},
        "kpm + bool attn_mask": {"key_padding_mask": kpm, "attn_mask": _bool_mask(rng, (L, L))},
        "is_causal": {"attn_mask": causal_bool, "is_causal": True},
    }


MASK_NAMES = list(_mha_masks(np.random.default_rng(0), np.float64))
WEIGHT_MODES = [(True, True), (True, False), (False, True)]


def _torch_pair(torch, dtype, batch_first, **kw):
    tm = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, **kw).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    m = nn.MultiheadAttention(E, H, batch_first=batch_first, **kw).to(dtype)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return m, tm


def _torch_mask(torch, m):
    return None if m is None else torch.tensor(m)


def _compare_mha(torch, m, tm, arrays, kw, need_weights, avg, atol, self_attention):
    dtype = arrays[0].dtype
    tm.zero_grad()
    mine = [sn.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    if self_attention:
        mine, theirs = [mine[0]] * 3, [theirs[0]] * 3
    out, w = m(*mine, need_weights=need_weights, average_attn_weights=avg, **kw)
    tkw = {k: (_torch_mask(torch, v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    tout, tw = tm(*theirs, need_weights=need_weights, average_attn_weights=avg, **tkw)
    assert out.dtype == dtype and out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=atol, rtol=0)
    if need_weights:
        np.testing.assert_allclose(w.data, tw.detach().numpy(), atol=atol, rtol=0)
    else:
        assert w is None and tw is None
    g = np.random.default_rng(9).normal(size=out.shape).astype(dtype)
    loss_out = out if not need_weights else out
    tout.backward(torch.tensor(g))
    inputs = list({id(t): t for t in mine}.values())
    t_inputs = list({id(t): t for t in theirs}.values())
    params = [p for _, p in m.named_parameters()]
    t_params = [p for _, p in tm.named_parameters()]
    grads = sn.grad(loss_out, inputs + params, g)
    for mine_g, t in zip(grads, t_inputs + t_params):
        assert mine_g.dtype == dtype
        np.testing.assert_allclose(mine_g, t.grad.numpy(), atol=10 * atol, rtol=0)


@pytest.mark.parametrize("dtype,atol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("weights", WEIGHT_MODES, ids=["weights-avg", "weights-per-head", "no-weights"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mask", MASK_NAMES)
def test_mha_self_attention_matches_torch(mask, batch_first, weights, dtype, atol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(10)
    m, tm = _torch_pair(torch, dtype, batch_first)
    x = rng.normal(size=(N, L, E) if batch_first else (L, N, E)).astype(dtype)
    kw = _mha_masks(np.random.default_rng(11), dtype)[mask]
    _compare_mha(torch, m, tm, [x], kw, *weights, atol, self_attention=True)


@pytest.mark.parametrize("weights", WEIGHT_MODES, ids=["weights-avg", "weights-per-head", "no-weights"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_cross_attention_kdim_vdim_matches_torch(batch_first, weights):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    rng = np.random.default_rng(12)
    m, tm = _torch_pair(torch, np.float64, batch_first, kdim=3, vdim=6)
    shape = (lambda T, D: (N, T, D)) if batch_first else (lambda T, D: (T, N, D))
    arrays = [rng.normal(size=shape(L, E)), rng.normal(size=shape(S, 3)), rng.normal(size=shape(S, 6))]
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1, :2] = True
    kw = {"key_padding_mask": kpm, "attn_mask": rng.normal(size=(L, S))}
    _compare_mha(torch, m, tm, arrays, kw, *weights, 1e-12, self_attention=False)


def test_mha_cross_attention_same_dims_and_unbatched_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    rng = np.random.default_rng(13)
    m, tm = _torch_pair(torch, np.float64, False, bias=False)
    arrays = [rng.normal(size=(L, N, E)), rng.normal(size=(S, N, E)), rng.normal(size=(S, N, E))]
    _compare_mha(torch, m, tm, arrays, {}, True, True, 1e-12, self_attention=False)
    unbatched = [rng.normal(size=(L, E)), rng.normal(size=(S, E)), rng.normal(size=(S, E))]
    kw = {"key_padding_mask": np.array([False, True, False, False, True]),
          "attn_mask": _bool_mask(rng, (H, L, S))}
    _compare_mha(torch, m, tm, unbatched, kw, True, False, 1e-12, self_attention=False)
    _compare_mha(torch, m, tm, unbatched, kw, False, True, 1e-12, self_attention=False)


def test_mha_fused_and_composed_paths_agree():
    rng = np.random.default_rng(14)
    m = nn.MultiheadAttention(E, H, batch_first=True).double()
    x = _t(rng, N, L, E)
    kw = _mha_masks(np.random.default_rng(15), np.float64)["kpm + bool attn_mask"]
    fused, none = m(x, x, x, need_weights=False, **kw)
    composed, w = m(x, x, x, need_weights=True, **kw)
    assert none is None and w.shape == (N, L, L)
    np.testing.assert_allclose(fused.data, composed.data, atol=1e-10, rtol=0)
    g = rng.normal(size=fused.shape)
    params = list(m.parameters())
    for a, b in zip(sn.grad(fused, [x] + params, g), sn.grad(composed, [x] + params, g)):
        np.testing.assert_allclose(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_gradcheck(need_weights):
    rng = np.random.default_rng(16)
    m = nn.MultiheadAttention(4, 2, batch_first=True).double()
    q, kv = _t(rng, 2, 2, 4), _t(rng, 2, 3, 4)
    kpm = np.array([[False, False, True], [False, False, False]])
    params = list(m.parameters())

    def fn(q, kv, *ps):
        out, w = m(q, kv, kv, key_padding_mask=kpm, need_weights=need_weights)
        return (out, w) if need_weights else out

    assert sn.gradcheck(fn, [q, kv] + params)


def test_mha_fully_masked_rows_give_finite_values():
    """PyTorch returns NaN for a query row whose keys are all masked; scratchnet
    gives that row zero attention: output = out_proj.bias, weights 0, zero gradient."""
    rng = np.random.default_rng(17)
    m = nn.MultiheadAttention(E, H, batch_first=True).double()
    m.out_proj.bias.data[:] = rng.normal(size=E)
    x = _t(rng, 2, L, E)
    kpm = np.zeros((2, L), dtype=bool)
    kpm[1] = True                                      # batch element 1: every key is padding
    for need_weights in (False, True):
        out, w = m(x, x, x, key_padding_mask=kpm, need_weights=need_weights)
        assert np.isfinite(out.data).all()
        np.testing.assert_allclose(out.data[1], np.broadcast_to(m.out_proj.bias.data, (L, E)), atol=1e-12)
        if need_weights:
            np.testing.assert_array_equal(w.data[1], 0.0)
        gx = sn.grad(out, x, np.ones(out.shape))
        assert np.isfinite(gx).all()
        np.testing.assert_array_equal(gx[1], 0.0)


def test_mha_is_causal_without_mask_builds_it():
    rng = np.random.default_rng(18)
    m = nn.MultiheadAttention(E, H).double()
    x = _t(rng, L, N, E)
    mask = ~np.tril(np.ones((L, L), dtype=bool))
    a, _ = m(x, x, x, is_causal=True, need_weights=False)
    b, _ = m(x, x, x, attn_mask=mask, need_weights=False)
    c, _ = m(x, x, x, is_causal=True, need_weights=True)
    np.testing.assert_allclose(a.data, b.data, atol=1e-12)
    np.testing.assert_allclose(a.data, c.data, atol=1e-12)


def test_mha_init_and_keys():
    sn.manual_seed(0)
    m = nn.MultiheadAttention(16, 4)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert m.in_proj_weight.shape == (48, 16) and m.in_proj_weight.dtype == np.float32
    bound = np.sqrt(6.0 / (16 + 48))
    assert np.abs(m.in_proj_weight.data).max() <= bound and np.abs(m.in_proj_weight.data).max() > 0.8 * bound
    np.testing.assert_array_equal(m.in_proj_bias.data, 0)
    np.testing.assert_array_equal(m.out_proj.bias.data, 0)
    m2 = nn.MultiheadAttention(16, 4, kdim=8, vdim=6, bias=False)
    assert list(m2.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"]


def test_mha_dropout_in_training_only():
    rng = np.random.default_rng(19)
    m = nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True)
    x = sn.tensor(rng.normal(size=(N, L, E)).astype(np.float32))
    a = m(x, x, x, need_weights=False)[0]
    b = m(x, x, x, need_weights=False)[0]
    assert not np.allclose(a.data, b.data)
    m.eval()
    c = m(x, x, x, need_weights=False)[0]
    d = m(x, x, x, need_weights=True)[0]
    np.testing.assert_allclose(c.data, d.data, atol=1e-6)


def test_mha_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(E, H)
    x = sn.tensor(np.zeros((L, N, E), np.float32))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(3, 3\).*\(4, 4\)"):
        m(x, x, x, attn_mask=np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(4, 3\).*\(3, 4\)"):
        m(x, x, x, key_padding_mask=np.zeros((4, 3), dtype=bool))
    with pytest.raises(ValueError, match="feature sizes"):
        m(x, x, sn.tensor(np.zeros((L, N, 3), np.float32)))
    with pytest.raises(ValueError, match="batch sizes"):
        m(x, sn.tensor(np.zeros((L, 2, E), np.float32)), sn.tensor(np.zeros((L, 2, E), np.float32)))
    with pytest.raises(TypeError, match="attn_mask"):
        m(x, x, x, attn_mask=np.zeros((L, L), dtype=np.int64))


def test_mha_unbatched_numpy_inputs_match_torch():
    """(L, E) NumPy arrays (no batch axis) are accepted like Tensors, as in PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    m = nn.MultiheadAttention(8, 2)
    tm = torch.nn.MultiheadAttention(8, 2)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    q, kv = rng.standard_normal((5, 8), dtype=np.float32), rng.standard_normal((6, 8), dtype=np.float32)
    kpm = np.array([False, False, True, False, False, True])
    for args, kw in (((q, q, q), {}), ((q, kv, kv), {"key_padding_mask": kpm})):
        out, w = m(*args, **kw)
        tout, tw = tm(*map(torch.tensor, args), **{k: torch.tensor(v) for k, v in kw.items()})
        assert out.shape == tuple(tout.shape) and w.shape == tuple(tw.shape)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-6)
        np.testing.assert_allclose(w.data, tw.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"dropout_p": "a"}, {"dropout_p": None}, {"scale": "a"}, {"scale": True}])
def test_sdpa_number_arguments_of_the_wrong_type_are_type_errors(kwargs):
    q = sn.tensor(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match=f"scaled_dot_product_attention: {next(iter(kwargs))}"):
        F.scaled_dot_product_attention(q, q, q, **kwargs)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("case", ["float 2-D", "float 3-D + bool padding", "bool mask + float padding", "both float"])
def test_mha_float_masks_that_require_grad_get_torchs_gradient(case, need_weights):
    """A float attn_mask / key_padding_mask Tensor that requires grad (a learned
    position bias) is differentiated through, as in PyTorch (it was read as a
    constant array: sn.grad said the mask was unused)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    rng = np.random.default_rng(20)
    m, tm = _torch_pair(torch, np.float64, True)
    x = rng.normal(size=(N, L, E))
    kpm = np.zeros((N, L), dtype=bool)
    kpm[1, -1] = True
    masks = {"float 2-D": {"attn_mask": rng.normal(size=(L, L))},
             "float 3-D + bool padding": {"attn_mask": rng.normal(size=(N * H, L, L)), "key_padding_mask": kpm},
             "bool mask + float padding": {"attn_mask": _bool_mask(rng, (L, L)),
                                           "key_padding_mask": rng.normal(size=(N, L))},
             "both float": {"attn_mask": rng.normal(size=(L, L)), "key_padding_mask": rng.normal(size=(N, L))}}[case]
    grad_names = [k for k, v in masks.items() if v.dtype != np.bool_]
    mine = {k: sn.tensor(v, requires_grad=k in grad_names) for k, v in masks.items()}
    theirs = {k: torch.tensor(v, requires_grad=k in grad_names) for k, v in masks.items()}
    xs, txs = sn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, _ = m(xs, xs, xs, need_weights=need_weights, **mine)
    tout, _ = tm(txs, txs, txs, need_weights=need_weights, **theirs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-12, rtol=0)
    g = rng.normal(size=out.shape)
    tout.backward(torch.tensor(g))
    grads = sn.grad(out, [xs] + [mine[k] for k in grad_names], g)
    for a, t in zip(grads, [txs] + [theirs[k] for k in grad_names]):
        np.testing.assert_allclose(a, t.grad.numpy(), atol=1e-11, rtol=0)
