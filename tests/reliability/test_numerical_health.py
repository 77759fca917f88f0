"""Numerical health at extreme inputs (issue 9): softmax, log-softmax,
cross-entropy, sigmoid, BCE (with logits), layer norm (tiny and zero variance)
and attention (scores of +-1e4, fully masked rows) give finite values and
correct gradients: compared with a stable float64 NumPy computation in
float32 and float64, and gradchecked in float64 where finite differences mean
something.
"""
import math

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn
from scratchnet.ops.attention import attention_composed

from reliability_helpers import assert_close

EXTREME = np.array([[1e4, -1e4, 0.0, 1.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -3.0, 2.0], [88.0, -104.0, 5e3, -5e3]])
DTYPES = [np.float32, np.float64]


def _softmax64(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _run(fn, x, dtype, g=None):
    """(output, gradient of sum(g * output)) as float64 arrays; both must be finite."""
    t = sn.tensor(x.astype(dtype), requires_grad=True)
    y = fn(t)
    g = np.ones(y.shape) if g is None else g
    (y * sn.tensor(g.astype(dtype))).sum().backward()
    assert y.dtype == dtype and t.grad.dtype == dtype
    assert np.isfinite(y.data).all() and np.isfinite(t.grad).all(), (y.data, t.grad)
    return y.data.astype(np.float64), t.grad.astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_log_softmax_sigmoid(dtype):
    g = np.random.default_rng(0).standard_normal(EXTREME.shape)
    p = _softmax64(EXTREME)
    y, gx = _run(F.softmax, EXTREME, dtype, g)
    assert_close(y, p, dtype)
    assert_close(gx, p * (g - (g * p).sum(-1, keepdims=True)), dtype)
    logp = EXTREME - EXTREME.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    y, gx = _run(F.log_softmax, EXTREME, dtype, g)
    assert_close(y, logp, dtype)
    assert_close(gx, g - p * g.sum(-1, keepdims=True), dtype)
    s = 0.5 * (1 + np.tanh(EXTREME / 2))
    y, gx = _run(F.sigmoid, EXTREME, dtype, g)
    assert_close(y, s, dtype)
    assert_close(gx, g * s * (1 - s), dtype)


def test_gradcheck_at_extremes():
    for fn in (F.softmax, F.log_softmax, F.sigmoid, lambda t: t.logsumexp(axis=-1)):
        x = sn.tensor(np.array([[30.0, -30.0, 0.5], [1e4, 1e4 - 1.0, -1e4]]), requires_grad=True)
        assert sn.gradcheck(fn, [x])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_extreme_logits(dtype, smoothing):
    target = np.array([1, 0, 2, 3])
    logp = EXTREME - EXTREME.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    C = EXTREME.shape[1]
    q = np.eye(C)[target] * (1 - smoothing) + smoothing / C
    y, gx = _run(lambda t: F.cross_entropy(t, target, label_smoothing=smoothing), EXTREME, dtype)
    assert_close(y, -(q * logp).sum(-1).mean(), dtype)
    assert_close(gx, (_softmax64(EXTREME) - q) / len(target), dtype)
    x = sn.tensor(np.array([[30.0, -30.0, 0.5], [-25.0, 25.0, 3.0]]), requires_grad=True)
    assert sn.gradcheck(lambda t: F.cross_entropy(t, np.array([1, 0]), label_smoothing=smoothing), [x])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_and_bce_extremes(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4, 100.0, -100.0, 0.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.5])
    expected = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    out, gx = _run(lambda t: F.binary_cross_entropy_with_logits(t, y, reduction="none"), x, dtype)
    assert_close(out, expected, dtype)
    assert_close(gx, 0.5 * (1 + np.tanh(x / 2)) - y, dtype)
    pw = np.full(7, 3.0)
    out, gx = _run(lambda t: F.binary_cross_entropy_with_logits(t, y, reduction="none", pos_weight=pw), x, dtype)
    lw = 1 + 2 * y
    assert_close(out, (1 - y) * x + lw * (np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))), dtype)
    # probabilities exactly 0 and 1: logs clamped at -100 (PyTorch), gradients finite
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5])
    out, gx = _run(lambda v: F.binary_cross_entropy(v, t, reduction="none"), p, dtype)
    assert_close(out[:4], [100.0, 100.0, 0.0, 0.0], dtype)
    s = sn.tensor(np.array([1e-8, 1 - 1e-8, 0.3]), requires_grad=True)
    assert sn.gradcheck(lambda v: F.binary_cross_entropy_with_logits(v * 1e4, np.array([1.0, 0.0, 1.0])), [s],
                        eps=1e-9, rtol=1e-2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_tiny_and_zero_variance(dtype):
    rng = np.random.default_rng(0)
    x = np.stack([3.0 + 1e-6 * rng.standard_normal(8), np.full(8, -7.0), 1e-20 * rng.standard_normal(8),
                  1e4 + rng.standard_normal(8)])
    xd = x.astype(dtype).astype(np.float64)                      # what the layer actually sees
    ln = nn.LayerNorm(8)
    if dtype == np.float64:
        ln.double()
    mu = xd.mean(-1, keepdims=True)
    expected = (xd - mu) / np.sqrt(((xd - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
    g = rng.standard_normal(x.shape)
    y, gx = _run(ln, x, dtype, g)
    assert_close(y[:3], expected[:3], dtype)
    # row 3 (mean 1e4, std 1) loses float32's relative precision times mean/std, as in PyTorch
    bound = 1e-9 if dtype == np.float64 else 8 * 1e4 * np.finfo(np.float32).eps
    np.testing.assert_allclose(y[3], expected[3], atol=bound)
    assert np.abs(y[1]).max() == 0.0                              # a constant row normalises to 0
    tiny = sn.tensor(x[:3], requires_grad=True)                 # finite differences as small as the spread
    assert sn.gradcheck(lambda t: F.layer_norm(t, 8), [tiny], eps=1e-9, atol=1e-4)
    big = sn.tensor(x[3:], requires_grad=True)
    assert sn.gradcheck(lambda t: F.layer_norm(t, 8), [big])
    small = sn.tensor(3.0 + 1e-3 * rng.standard_normal((2, 8)), requires_grad=True)
    assert sn.gradcheck(lambda t: F.layer_norm(t, 8, eps=1e-12), [small])


def _attention64(q, k, v, allowed):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    s = np.where(allowed, s, -np.inf)
    dead = ~allowed.any(-1, keepdims=True)
    p = np.where(dead, 0.0, _softmax64(np.where(dead, 0.0, s)))
    return p @ v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", ["fused", "composed"])
def test_attention_extreme_scores_and_fully_masked_rows(dtype, path):
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((3, 2, 5, 4)), rng.standard_normal((3, 2, 6, 4)), rng.standard_normal((3, 2, 6, 4))
    q[..., :2, :] *= 5e3                                          # scores of order +-1e4
    allowed = rng.random((5, 6)) > 0.4
    allowed[1] = False                                            # a fully masked row
    allowed[3] = True
    ts = [sn.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
    if path == "fused":
        out = F.scaled_dot_product_attention(*ts, attn_mask=allowed)
    else:
        out = attention_composed(*ts, attn_mask=allowed)[0]
    g = rng.standard_normal(out.shape)
    (out * sn.tensor(g.astype(dtype))).sum().backward()
    assert np.isfinite(out.data).all() and all(np.isfinite(t.grad).all() for t in ts)
    qd, kd, vd = (a.astype(dtype).astype(np.float64) for a in (q, k, v))
    expected = _attention64(qd, kd, vd, allowed)
    tol = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(out.data, expected, rtol=tol, atol=tol)
    assert not out.data[:, :, 1].any() and not ts[0].grad[:, :, 1].any()   # masked row: 0, no gradient
    # the gradient matches a float64 reference by central differences of the reference
    if dtype == np.float64:
        vv = sn.tensor(v, requires_grad=True)
        qq = sn.tensor(q[..., 2:, :], requires_grad=True)          # rows with finite-difference-friendly scores
        fn = ((lambda a, b: F.scaled_dot_product_attention(a, sn.tensor(k), b, attn_mask=allowed[2:]))
              if path == "fused" else (lambda a, b: attention_composed(a, sn.tensor(k), b, attn_mask=allowed[2:])[0]))
        assert sn.gradcheck(fn, [qq, vv], fast_mode=True)


def test_multihead_attention_fully_padded_sequence():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = sn.tensor(np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32) * 1e3,
                  requires_grad=True)
    pad = np.zeros((2, 5), bool)
    pad[1] = True                                                 # the second sequence is all padding
    out, w = mha(x, x, x, key_padding_mask=pad)
    out.sum().backward()
    assert np.isfinite(out.data).all() and np.isfinite(w.data).all() and np.isfinite(x.grad).all()
    np.testing.assert_allclose(out.data[1], np.broadcast_to(mha.out_proj.bias.data, (5, 8)), atol=1e-6)
    assert not w.data[1].any()
