"""Fuzzing the public API with bad and odd input (issue 9).

Every call either returns the right answer (checked against a float64 NumPy
computation) or raises ValueError/TypeError/IndexError naming the op or
layer (``reliability_helpers.outcome``); any other exception fails. Inputs
vary in shape (0-d, size-0 axes), dtype (bool, int, float16/32/64, object),
values (NaN, inf), memory layout (transposed, strided, read-only and
broadcast views reach the Numba kernels) and argument types.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn

from reliability_helpers import LAYOUTS, Rejected, assert_close, layout, outcome

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
DTYPES = ("bool", "int64", "int32", "float16", "float32", "float64", "object")
FLOATS = ("float16", "float32", "float64")
JUNK = ("abc", None, {"a": 1}, object(), 1 + 2j, [[1.0], [2.0, 3.0]])


def make_array(rng, shape, dtype, special=False):
    """Random values of ``dtype`` (NaN/inf sprinkled in when ``special``)."""
    x = np.asarray(rng.standard_normal(shape) * 3)
    if special and x.size:
        flat = x.reshape(-1)
        idx = rng.integers(0, x.size, size=max(1, x.size // 4))
        flat[idx] = rng.choice([np.nan, np.inf, -np.inf], size=idx.size)
    if dtype == "bool":
        return x > 0
    if dtype.startswith("int"):
        return np.nan_to_num(x, posinf=5, neginf=-5).round().astype(dtype)
    return x.astype(dtype)


def is_float(dtype):
    return dtype in FLOATS


def out_dtype(dtype):
    return np.float64 if dtype == "float64" else np.float32


@st.composite
def arrays(draw, min_dims=0, max_dims=3, min_side=0, max_side=4, dtypes=DTYPES):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side))
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = make_array(rng, shape, dtype, special=draw(st.booleans()))
    return layout(x, draw(st.sampled_from(LAYOUTS))), dtype


def _ref_softmax(x):
    if x.size == 0:
        return x
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


def _ref_log_softmax(x):
    if x.size == 0:
        return x
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _ref_gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2))) if x.size else x


UNARY = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "tanh": (F.tanh, np.tanh),
    "sigmoid": (F.sigmoid, lambda x: 0.5 * (1 + np.tanh(x / 2))),
    "gelu": (F.gelu, _ref_gelu),
    "exp": (sn.exp, np.exp),
    "softmax": (F.softmax, _ref_softmax),
    "log_softmax": (F.log_softmax, _ref_log_softmax),
}


@FUZZ
@given(name=st.sampled_from(sorted(UNARY)), xd=arrays(), backward=st.booleans())
def test_unary_ops(name, xd, backward):
    x, dtype = xd
    fn, ref = UNARY[name]
    t = sn.tensor(x, requires_grad=True) if backward and is_float(dtype) and x.size else x
    out = outcome(name, fn, t)
    if isinstance(out, Rejected):
        assert not is_float(dtype) or (name in ("softmax", "log_softmax") and x.ndim == 0), out
        return
    assert dtype != "object", f"{name} accepted an object array"
    x64 = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        expected = ref(x64)
    if name in ("softmax", "log_softmax") and x.ndim:   # rows holding inf: any value, no crash
        finite_rows = np.isfinite(x64).all(axis=-1, keepdims=True) | np.isnan(x64).any(axis=-1, keepdims=True)
        expected = np.where(finite_rows, expected, out.data)
    assert out.shape == x.shape
    if is_float(dtype):
        assert out.dtype == out_dtype(dtype), f"{name}: {dtype} input gave {out.dtype}"
    assert_close(out.data, expected, out.dtype, name)
    if isinstance(t, sn.Tensor) and np.isfinite(x64).all():
        g = layout(np.ones(x.shape, dtype=out.dtype), "transposed")
        out.backward(g)
        assert t.grad.shape == x.shape and t.grad.dtype == t.dtype and np.isfinite(t.grad).all()


REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "var": np.var}


@FUZZ
@given(name=st.sampled_from(sorted(REDUCE)), xd=arrays(dtypes=("bool", "int64", "float32", "float64")),
       axis=st.one_of(st.none(), st.integers(-4, 4), st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
                      st.sampled_from(["x", 1.5, None])),
       keepdims=st.booleans())
def test_reductions(name, xd, axis, keepdims):
    x, dtype = xd
    t = sn.tensor(x)
    out = outcome(name, getattr(t, name), axis=axis, keepdims=keepdims)
    if isinstance(out, Rejected):
        return
    with np.errstate(all="ignore"):
        try:
            expected = REDUCE[name](np.asarray(x, dtype=np.float64), axis=None if x.ndim == 0 else axis,
                                    keepdims=keepdims and x.ndim > 0)
        except (ValueError, TypeError, np.exceptions.AxisError) as e:
            pytest.fail(f"{name}(axis={axis!r}) of shape {x.shape} returned although NumPy refuses: {e}")
    assert_close(out.data, expected, out.dtype if out.dtype.kind == "f" else np.float64, name)


BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.divide, "matmul": np.matmul}


@FUZZ
@given(name=st.sampled_from(sorted(BINARY)), ad=arrays(max_side=3), bd=arrays(max_side=3),
       junk=st.sampled_from((None,) + JUNK[:3]), use_junk=st.booleans())
def test_binary_ops(name, ad, bd, junk, use_junk):
    (a, da), (b, db) = ad, bd
    op = getattr(sn.Tensor, f"__{name}__")
    if da == "object":                       # an object array reaches the op as the other operand
        (a, da), (b, db) = (np.ones(np.shape(b)), "float64"), (a, da)
    other = junk if use_junk else b
    out = outcome((name, name.replace("true", "")), op, sn.tensor(a), other)
    if isinstance(out, Rejected):
        return
    assert not use_junk or isinstance(junk, (int, float)), f"{name} accepted {junk!r}"
    assert "object" not in (da, db)
    with np.errstate(all="ignore"):
        expected = BINARY[name](np.asarray(a, np.float64), np.asarray(b, np.float64))
    assert out.shape == np.shape(expected)
    if out.dtype.kind == "f":
        assert_close(out.data, expected, out.dtype, name)


@FUZZ
@given(num=st.integers(1, 6), dim=st.integers(1, 3), ids_shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=4, min_side=0),
       lo=st.integers(-3, 0), hi=st.integers(1, 9), dtype=st.sampled_from(["int64", "int32", "uint8", "float64", "bool", "object"]),
       kind=st.sampled_from(LAYOUTS), as_tensor=st.booleans(), padding=st.sampled_from([None, 0, -1, 7]))
def test_embedding_ids(num, dim, ids_shape, lo, hi, dtype, kind, as_tensor, padding):
    rng = np.random.default_rng(num * 100 + dim)
    ids = layout(rng.integers(lo, hi, size=ids_shape).astype(dtype), kind)
    layer = outcome("Embedding", nn.Embedding, num, dim, padding_idx=padding)
    if isinstance(layer, Rejected):
        assert padding is not None and not -num <= padding < num
        return
    arg = sn.tensor(ids) if as_tensor and dtype != "object" else ids
    out = outcome("Embedding", layer, arg)
    in_range = ids.size == 0 or (dtype not in ("float64", "bool", "object")
                                 and ids.min() >= 0 and ids.max() < num)
    if isinstance(out, Rejected):
        assert not in_range or dtype in ("float64", "bool", "object"), out
        if dtype.startswith(("int", "uint")) and ids.size and ids.min() < 0:
            assert isinstance(out.error, IndexError)               # negative ids never wrap
        return
    assert in_range and dtype not in ("float64", "bool", "object"), f"Embedding({num}) accepted ids {ids}"
    np.testing.assert_array_equal(out.data, layer.weight.data[ids.astype(np.int64)])


@FUZZ
@given(n=st.integers(0, 4), c=st.integers(0, 5), extra=st.sampled_from([(), (2,)]),
       lo=st.integers(-3, 0), hi=st.integers(1, 7), ignore=st.sampled_from([-100, -1, 2, "x", 1.5]),
       reduction=st.sampled_from(["mean", "sum", "none", "avg"]),
       smoothing=st.sampled_from([0.0, 0.1, 1.0, 1.5, "x"]),
       dtype=st.sampled_from(FLOATS + ("int64",)), kind=st.sampled_from(LAYOUTS), special=st.booleans())
def test_cross_entropy_targets(n, c, extra, lo, hi, ignore, reduction, smoothing, dtype, kind, special):
    rng = np.random.default_rng(n * 31 + c)
    x = layout(make_array(rng, (n, c) + extra, dtype, special), kind)
    t = rng.integers(lo, hi, size=(n,) + extra)
    out = outcome(("cross_entropy", "crossentropy"), F.cross_entropy, x, t, ignore_index=ignore,
                  reduction=reduction, label_smoothing=smoothing)
    valid = (t == ignore) | ((t >= 0) & (t < c)) if isinstance(ignore, int) else (t >= 0) & (t < c)
    if isinstance(out, Rejected):
        return
    assert is_float(dtype) and reduction != "avg" and isinstance(ignore, int), "bad argument accepted"
    assert isinstance(smoothing, float) and 0 <= smoothing <= 1 and valid.all(), "bad target accepted"
    x64 = np.moveaxis(np.asarray(x, np.float64), 1, -1).reshape(-1, c)           # (N*d, C)
    t1 = t.reshape(-1)
    with np.errstate(all="ignore"):
        logp = _ref_log_softmax(x64) if c else x64
    keep = t1 != ignore
    nll = np.where(keep, -logp[np.arange(len(t1)), np.where(keep, t1, 0)] if c else 0.0, 0.0)
    smooth = np.where(keep, -logp.mean(axis=1) if c else 0.0, 0.0)
    loss = (1 - smoothing) * nll + smoothing * smooth
    if reduction == "none":
        expected = loss.reshape(t.shape)
    elif reduction == "sum":
        expected = loss.sum()
    else:
        with np.errstate(all="ignore"):
            expected = loss.sum() / keep.sum()
    assert_close(out.data, expected, out.dtype, "cross_entropy")


@FUZZ
@given(xd=arrays(min_dims=1, max_dims=3, dtypes=DTYPES), in_f=st.integers(1, 4), out_f=st.integers(1, 3),
       bias=st.booleans(), model_dtype=st.sampled_from(["float32", "float64"]))
def test_linear(xd, in_f, out_f, bias, model_dtype):
    x, dtype = xd
    layer = nn.Linear(in_f, out_f, bias=bias)
    if model_dtype == "float64":
        layer.double()
    out = outcome(("Linear", "linear"), layer, x)
    if isinstance(out, Rejected):
        assert dtype == "object" or not is_float(dtype) or x.shape[-1] != in_f, out
        return
    assert is_float(dtype) and x.shape[-1] == in_f
    w = layer.weight.data.astype(np.float64)
    expected = np.asarray(x, np.float64) @ w.T + (layer.bias.data if bias else 0)
    assert_close(out.data, expected, out.dtype, "Linear")


@FUZZ
@given(xd=arrays(min_dims=1, max_dims=3, min_side=0, dtypes=DTYPES), d=st.integers(1, 4),
       affine=st.booleans(), eps=st.sampled_from([1e-5, 0.0, 1e-12]))
def test_layer_norm(xd, d, affine, eps):
    x, dtype = xd
    layer = nn.LayerNorm(d, eps=eps, elementwise_affine=affine)
    out = outcome(("LayerNorm", "layer_norm"), layer, x)
    if isinstance(out, Rejected):
        assert dtype == "object" or not is_float(dtype) or x.shape[-1] != d, out
        return
    assert is_float(dtype) and x.shape[-1] == d
    x64 = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        mu = x64.mean(axis=-1, keepdims=True)
        expected = (x64 - mu) / np.sqrt(((x64 - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    if eps == 0.0 or eps == 1e-12:      # zero variance rows: any value (documented 0/0), just no crash
        expected = np.where(np.isfinite(expected), expected, out.data)
    if affine:
        expected = expected * layer.weight.data + layer.bias.data
    if np.isfinite(x64).all() and eps == 1e-5:
        assert_close(out.data, expected, out.dtype, "LayerNorm")


@FUZZ
@given(xd=arrays(dtypes=DTYPES), p=st.sampled_from([0.0, 0.3, 1.0, -0.1, 1.5, "x", None]), training=st.booleans())
def test_dropout(xd, p, training):
    x, dtype = xd
    sn.manual_seed(0)
    out = outcome("dropout", F.dropout, x, p=p, training=training)
    if isinstance(out, Rejected):
        return
    assert isinstance(p, float) and 0 <= p <= 1, f"dropout accepted p={p!r}"
    assert dtype != "object" and out.shape == x.shape
    x64 = np.asarray(x, np.float64)
    if not training or p == 0.0:
        assert_close(out.data, x64, out.dtype if out.dtype.kind == "f" else np.float64, "dropout")
    elif p == 1.0:
        assert not np.any(out.data[np.isfinite(x64)])
    else:
        kept = (out.data != 0) & np.isfinite(x64)          # a dropped inf is 0 * inf = nan (as PyTorch)
        with np.errstate(all="ignore"):
            assert_close(out.data[kept], x64[kept] / (1 - p), out.dtype, "dropout")


LOSSES = {"mse_loss": (F.mse_loss, lambda x, y: (x - y) ** 2),
          "l1_loss": (F.l1_loss, lambda x, y: np.abs(x - y)),
          "binary_cross_entropy": (F.binary_cross_entropy,
                                   lambda x, y: -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))),
          # PyTorch's form (1 - y) x + max(-x, 0) + log1p(e^-|x|): inf for x = +inf and 0 < y < 1, as torch gives
          "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits,
                                               lambda x, y: (1 - y) * x + np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x))))}


@FUZZ
@given(name=st.sampled_from(sorted(LOSSES)), xd=arrays(max_side=3), same_shape=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]), probs=st.booleans())
def test_pointwise_losses(name, xd, same_shape, reduction, probs):
    x, dtype = xd
    if probs and is_float(dtype):
        x = layout(1 / (1 + np.exp(-np.nan_to_num(np.asarray(x, np.float64)))), "c").astype(dtype)
    y = np.random.default_rng(0).uniform(0, 1, size=x.shape if same_shape else x.shape + (2,))
    fn, ref = LOSSES[name]
    out = outcome(name, fn, x, y, reduction=reduction)
    if isinstance(out, Rejected):
        return
    assert same_shape and reduction != "batchmean" and dtype != "object" and is_float(dtype), "bad input accepted"
    with np.errstate(all="ignore"):
        loss = ref(np.asarray(x, np.float64), y)
    expected = {"none": loss, "sum": loss.sum(), "mean": loss.mean() if loss.size else np.nan}[reduction]
    assert_close(out.data, expected, out.dtype, name)


# ------------------------------------------------------------------ recurrent
def _ref_recurrent(mode, layer, x, h0, c0):
    """Single-layer unidirectional RNN/LSTM/GRU in float64 NumPy; x (T, B, I)."""
    w_ih, w_hh = layer.weight_ih_l0.data.astype(float), layer.weight_hh_l0.data.astype(float)
    b_ih, b_hh = layer.bias_ih_l0.data.astype(float), layer.bias_hh_l0.data.astype(float)
    sig = lambda a: 1 / (1 + np.exp(-a))                                      # noqa: E731
    h, c, outs = h0, c0, []
    for xt in x:
        xp, hp = xt @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if mode == "RNN":
            h = np.tanh(xp + hp)
        elif mode == "LSTM":
            i, f, g, o = np.split(xp + hp, 4, axis=-1)
            c = sig(f) * c + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(c)
        else:
            r, z, n = np.split(xp, 3, axis=-1)
            hr, hz, hn = np.split(hp, 3, axis=-1)
            r, z = sig(r + hr), sig(z + hz)
            h = (1 - z) * np.tanh(n + r * hn) + z * h
        outs.append(h)
    return np.stack(outs), h, c


@FUZZ
@given(mode=st.sampled_from(["LSTM", "GRU", "RNN"]), path=st.sampled_from(["fused", "composed"]),
       T=st.integers(0, 4), B=st.integers(0, 3), feat=st.sampled_from([3, 3, 3, 2]),
       dtype=st.sampled_from(FLOATS + ("int64", "object")), kind=st.sampled_from(LAYOUTS),
       hx=st.sampled_from(["none", "ok", "wrong_shape", "junk"]), backward=st.booleans())
def test_recurrent_layers(mode, path, T, B, feat, dtype, kind, hx, backward):
    H = 4
    layer = getattr(nn, mode)(3, H, path=path)
    rng = np.random.default_rng(T * 10 + B)
    x = layout(make_array(rng, (T, B, feat), dtype), kind)
    h0 = layout(rng.standard_normal((1, B, H)).astype(np.float32), kind)
    c0 = rng.standard_normal((1, B, H)).astype(np.float32)
    state = {"none": None, "ok": (h0, c0) if mode == "LSTM" else h0,
             "wrong_shape": (h0[:, :, :2], c0) if mode == "LSTM" else h0[:, :, :2], "junk": "junk"}[hx]
    inp = sn.tensor(x, requires_grad=True) if backward and is_float(dtype) and x.size else x
    out = outcome(mode, layer, inp, state)
    if isinstance(out, Rejected):
        assert T == 0 or feat != 3 or hx in ("wrong_shape", "junk") or dtype != "float32", out
        return
    assert T > 0 and feat == 3 and hx in ("none", "ok"), "bad input accepted"
    y, h_n = out[0], (out[1][0] if mode == "LSTM" else out[1])
    z = np.zeros((1, B, H))
    ref_y, ref_h, _ = _ref_recurrent(mode, layer, np.asarray(x, np.float64),
                                     z[0] if hx == "none" else h0[0].astype(float),
                                     z[0] if hx == "none" else c0[0].astype(float))
    assert_close(y.data, ref_y, np.float32, f"{mode} output")
    assert_close(h_n.data[0], ref_h, np.float32, f"{mode} h_n")
    if isinstance(inp, sn.Tensor):
        (y * layout(np.ones(y.shape, np.float32), kind)).sum().backward()
        assert inp.grad.shape == x.shape and np.isfinite(inp.grad).all()


# ------------------------------------------------------------------ attention
def _ref_attention(q, k, v, add_mask):
    """float64 attention; rows with every key masked give 0 (scratchnet's documented choice)."""
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]) + add_mask
    dead = np.isneginf(s).all(axis=-1, keepdims=True) if s.shape[-1] else np.ones(s.shape[:-1] + (1,), bool)
    s = np.where(dead, 0.0, s)
    p = np.where(dead, 0.0, _ref_softmax(s)) if s.shape[-1] else s
    return p @ v


@FUZZ
@given(lead=st.sampled_from([(), (2,), (1, 2)]), L=st.integers(0, 3), S=st.integers(0, 3), E=st.integers(0, 3),
       mask=st.sampled_from(["none", "bool", "float", "int", "wrong_shape", "dead_rows", "junk"]),
       causal=st.booleans(), dtype=st.sampled_from(FLOATS + ("int64",)), kind=st.sampled_from(LAYOUTS),
       backward=st.booleans())
def test_sdpa(lead, L, S, E, mask, causal, dtype, kind, backward):
    assume(E > 0)                                         # E == 0: test_sdpa_zero_embedding
    rng = np.random.default_rng(L * 100 + S * 10 + E)
    q, k, v = (layout(make_array(rng, lead + (n, E), dtype), kind) for n in (L, S, S))
    m = {"none": None, "bool": rng.random((L, S)) > 0.3, "float": rng.standard_normal((L, S)),
         "int": np.ones((L, S), int), "wrong_shape": np.ones((L + 1, S + 2), bool),
         "dead_rows": np.zeros((L, S), bool), "junk": "junk"}[mask]
    qt = sn.tensor(q, requires_grad=True) if backward and is_float(dtype) and q.size else q
    out = outcome(("scaled_dot_product_attention", "attention"), F.scaled_dot_product_attention,
                  qt, k, v, attn_mask=m, is_causal=causal)
    if isinstance(out, Rejected):
        assert mask in ("int", "wrong_shape", "junk") or not is_float(dtype), out
        return
    assert mask not in ("int", "wrong_shape", "junk") and is_float(dtype), "bad input accepted"
    add = np.zeros((L, S))
    if m is not None:
        add = np.where(m, 0.0, -np.inf) if m.dtype == bool else m
    if causal:
        add = add + np.where(np.tril(np.ones((L, S), bool)), 0.0, -np.inf)
    expected = _ref_attention(*(np.asarray(t, np.float64) for t in (q, k, v)), add)
    assert_close(out.data, expected, out.dtype, "sdpa")
    if isinstance(qt, sn.Tensor):
        out.sum().backward()
        assert np.isfinite(qt.grad).all()


@FUZZ
@given(L=st.integers(1, 3), S=st.integers(1, 3), N=st.integers(1, 2), batch_first=st.booleans(),
       attn=st.sampled_from(["none", "bool", "float", "3d", "wrong", "int", "all"]),
       kpm=st.sampled_from(["none", "ok", "wrong", "float", "all"]), kind=st.sampled_from(LAYOUTS),
       embed=st.sampled_from([4, 4, 3]))
def test_multihead_attention(L, S, N, batch_first, attn, kpm, kind, embed):
    E, H = 4, 2
    mha = nn.MultiheadAttention(E, H, batch_first=batch_first)
    rng = np.random.default_rng(L * 10 + S)
    shape = (lambda n: (N, n, embed)) if batch_first else (lambda n: (n, N, embed))
    q = layout(rng.standard_normal(shape(L)).astype(np.float32), kind)
    kv = layout(rng.standard_normal(shape(S)).astype(np.float32), kind)
    am = {"none": None, "bool": rng.random((L, S)) > 0.6, "float": rng.standard_normal((L, S)).astype(np.float32),
          "3d": rng.random((N * H, L, S)) > 0.6, "wrong": np.zeros((S + 1, L), bool), "int": np.zeros((L, S), int),
          "all": np.ones((L, S), bool)}[attn]
    km = {"none": None, "ok": rng.random((N, S)) > 0.6, "wrong": np.zeros((S, N + 1), bool),
          "float": np.zeros((N, S), np.float32), "all": np.ones((N, S), bool)}[kpm]
    out = outcome("MultiheadAttention", mha, q, kv, kv, key_padding_mask=km, attn_mask=am)
    if isinstance(out, Rejected):
        assert attn in ("wrong", "int") or kpm == "wrong" or embed != E, out
        return
    assert attn not in ("wrong", "int") and kpm != "wrong" and embed == E, "bad input accepted"
    # reference, float64: (N, L, E) layout, True in a bool mask = masked out
    qq, kk = (np.asarray(t, np.float64) for t in (q, kv))
    if not batch_first:
        qq, kk = qq.swapaxes(0, 1), kk.swapaxes(0, 1)
    w, b = mha.in_proj_weight.data.astype(float), mha.in_proj_bias.data.astype(float)
    heads = lambda t: t.reshape(t.shape[0], t.shape[1], H, E // H).swapaxes(1, 2)   # noqa: E731
    Q, K, V = heads(qq @ w[:E].T + b[:E]), heads(kk @ w[E:2 * E].T + b[E:2 * E]), heads(kk @ w[2 * E:].T + b[2 * E:])
    add = np.zeros((N, H, L, S))
    if am is not None:
        a = np.where(am, -np.inf, 0.0) if am.dtype == bool else am.astype(float)
        add = add + (a.reshape(N, H, L, S) if a.ndim == 3 else a)
    if km is not None:
        k_add = np.where(km, -np.inf, 0.0) if km.dtype == bool else km.astype(float)
        add = add + k_add[:, None, None, :]
    ctx = _ref_attention(Q, K, V, add).swapaxes(1, 2).reshape(N, L, E)               # (N, H, L, d) -> (N, L, E)
    expected = ctx @ mha.out_proj.weight.data.T.astype(float) + mha.out_proj.bias.data
    if not batch_first:
        expected = expected.swapaxes(0, 1)
    assert_close(out[0].data, expected, np.float32, "MultiheadAttention")


# ------------------------------------------------------------ wrong types
CALLS = {
    "softmax": lambda a: F.softmax(a),
    "linear": lambda a: F.linear(a, np.ones((2, 2), np.float32)),
    "embedding": lambda a: F.embedding(a, np.ones((3, 2), np.float32)),
    "layer_norm": lambda a: F.layer_norm(np.ones((2, 2), np.float32), a),
    "dropout": lambda a: F.dropout(np.ones(2, np.float32), p=a),
    "cross_entropy": lambda a: F.cross_entropy(np.ones((2, 3), np.float32), a),
    "mse_loss": lambda a: F.mse_loss(a, np.ones(2)),
    "sum": lambda a: sn.tensor(np.ones((2, 2))).sum(axis=a),
    "reshape": lambda a: sn.tensor(np.ones((2, 2))).reshape(a),
    "getitem": lambda a: sn.tensor(np.ones((2, 2)))[a],
    "masked_fill": lambda a: sn.tensor(np.ones((2, 2))).masked_fill(a, 0.0),
    "scaled_dot_product_attention": lambda a: F.scaled_dot_product_attention(a, np.ones((2, 2)), np.ones((2, 2))),
    "cat": lambda a: sn.cat(a),
    "matmul": lambda a: sn.matmul(np.ones((2, 2)), a),
}


@FUZZ
@given(name=st.sampled_from(sorted(CALLS)), junk=st.sampled_from(JUNK + ("", 2.5, -1, (1, "a"), np.array(["x"]))))
def test_wrong_argument_types(name, junk):
    outcome((name, name.replace("_", ""), "getitem", "tensor"), CALLS[name], junk)


# ------------------------------------------- known bugs in files being edited
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_composed_recurrent_empty_batch(mode):
    out = outcome(mode, getattr(nn, mode)(3, 4, path="composed"), np.zeros((2, 0, 3), np.float32))
    assert not isinstance(out, Rejected) and out[0].shape == (2, 0, 4)


def test_sdpa_zero_embedding():
    q = np.zeros((2, 0), np.float32)
    out = outcome("scaled_dot_product_attention", F.scaled_dot_product_attention, q, q, np.ones((2, 3), np.float32))
    assert isinstance(out, Rejected) and isinstance(out.error, ValueError)


def test_sdpa_zero_sizes():
    q = np.zeros((1, 2, 0, 3), np.float32)
    out = outcome("scaled_dot_product_attention", F.scaled_dot_product_attention, q, q, q)
    assert not isinstance(out, Rejected) and out.shape == (1, 2, 0, 3)


def test_layer_norm_none_shape():
    out = outcome("layer_norm", F.layer_norm, np.ones((2, 2), np.float32), None)
    assert isinstance(out, Rejected) and isinstance(out.error, TypeError)
