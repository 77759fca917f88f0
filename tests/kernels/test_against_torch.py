"""Kernels (through the dispatcher, default backend) against PyTorch, when installed."""
import numpy as np
import pytest

import scratchnet.kernels as K

torch = pytest.importorskip("torch")
F = torch.nn.functional

BACKENDS = ["numba", "numpy"]


def t64(x, grad=False):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_vs_torch(backend, weighted, eps, reduction):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 7)) * 3
    x[0, 2] = 1e4
    x[1] = -1e4
    t = rng.integers(0, 7, 9)
    t[[2, 5]] = -100
    w = rng.random(7) + 0.2 if weighted else None
    with K.use_backend(backend):
        loss, grad = K.cross_entropy(x, t, w, label_smoothing=eps, reduction=reduction)
    tx = t64(x, True)
    tl = F.cross_entropy(tx, torch.tensor(t), weight=None if w is None else t64(w),
                         label_smoothing=eps, reduction=reduction)
    tl.sum().backward()
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_all_ignored_vs_torch(backend):
    x = np.ones((3, 4))
    t = np.full(3, -100)
    with K.use_backend(backend):
        loss, _ = K.cross_entropy(x, t)
    assert np.isnan(loss) and torch.isnan(F.cross_entropy(t64(x), torch.tensor(t)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
def test_attention_vs_torch(backend, causal, mask_kind):
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 5, 4))
    k = rng.standard_normal((2, 3, 6, 4))
    v = rng.standard_normal((2, 3, 6, 3))
    g = rng.standard_normal((2, 3, 5, 3))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((2, 1, 5, 6)) > 0.3
        mask[..., 0] = True                    # torch gives NaN for fully masked rows
    elif mask_kind == "float":
        mask = rng.standard_normal((5, 6))
    with K.use_backend(backend):
        out, lse = K.attention(q, k, v, mask, causal)
        gq, gk, gv = K.attention_backward(q, k, v, mask, causal, None, out, lse, g)
    tq, tk, tv = t64(q, True), t64(k, True), t64(v, True)
    tm = None if mask is None else torch.tensor(mask) if mask.dtype == bool else t64(mask)
    to = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal) \
        if not (causal and tm is not None) else _sdpa_causal_and_mask(tq, tk, tv, tm)
    to.backward(t64(g))
    np.testing.assert_allclose(out, to.detach().numpy(), rtol=1e-9, atol=1e-10)
    for a, b in ((gq, tq), (gk, tk), (gv, tv)):
        np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-9, atol=1e-10)


def _sdpa_causal_and_mask(q, k, v, mask):
    """torch refuses is_causal together with attn_mask: combine them by hand."""
    L, S = q.shape[-2], k.shape[-2]
    causal = torch.ones(L, S, dtype=torch.bool).tril()
    if mask.dtype == torch.bool:
        combined = mask & causal
    else:
        combined = mask.masked_fill(~causal, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=combined)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_vs_torch(backend, dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, 4, 10)) * 2 + 1).astype(dtype)
    w, b = rng.standard_normal(10).astype(dtype), rng.standard_normal(10).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    with K.use_backend(backend):
        y, mean, rstd = K.layer_norm(x, w, b, 1e-5)
        gx, gw, gb = K.layer_norm_backward(g, x, w, mean, rstd)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.layer_norm(tx, (10,), tw, tb, 1e-5)
    ty.backward(torch.tensor(g))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    for a, t in ((gx, tx), (gw, tw), (gb, tb)):
        np.testing.assert_allclose(a, t.grad.numpy(), **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_vs_torch(backend, log):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 9)) * 5
    x[0, 0, 0] = 1e4
    g = rng.standard_normal(x.shape)
    fwd, bwd = (K.log_softmax, K.log_softmax_backward) if log else (K.softmax, K.softmax_backward)
    with K.use_backend(backend):
        y = fwd(x)
        gx = bwd(y, g)
    tx = t64(x, True)
    ty = (torch.log_softmax if log else torch.softmax)(tx, -1)
    ty.backward(t64(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_vs_torch(backend, approximate):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 8)) * 3
    g = rng.standard_normal(x.shape)
    with K.use_backend(backend):
        y = K.gelu(x, approximate)
        gx = K.gelu_backward(x, g, approximate)
    tx = t64(x, True)
    ty = F.gelu(tx, approximate=approximate)
    ty.backward(t64(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
