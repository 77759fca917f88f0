"""Every Numba kernel against its NumPy reference, on Hypothesis-drawn shapes.

Inputs come in three layouts (C-contiguous, strided views, read-only) and
both float dtypes; the Numba side runs through the dispatcher with
``use_backend('numba')``, the reference is called directly.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import scratchnet.kernels as K
from scratchnet.kernels import reference as R

pytestmark = pytest.mark.skipif(not K._numba_importable(),
                                reason="numba not installed")

SETTINGS = settings(max_examples=20, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])
LAYOUTS = st.sampled_from(["c", "strided", "readonly"])
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
dim = st.integers(1, 9)


def make(rng, shape, dtype, layout="c", scale=1.0):
    """A random array of `shape`: contiguous, a strided view, or read-only."""
    if layout == "strided" and len(shape) > 0:
        big = rng.standard_normal(tuple(shape[:-1]) + (2 * shape[-1],)) * scale
        x = big.astype(dtype)[..., ::2]
        assert not x.flags.c_contiguous or shape[-1] <= 1
    else:
        x = (rng.standard_normal(shape) * scale).astype(dtype)
        if layout == "readonly":
            x.setflags(write=False)
    return x


def close(actual, expected, dtype, factor=1.0):
    assert actual.dtype == dtype, (actual.dtype, dtype)
    assert actual.shape == expected.shape
    tol = TOL[dtype]
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"] * factor,
                               atol=tol["atol"] * factor)


def snapshot(*arrays):
    return [None if a is None else a.copy() for a in arrays]


def unchanged(before, *arrays):
    for b, a in zip(before, arrays):
        if b is not None:
            np.testing.assert_array_equal(a, b)


@SETTINGS
@given(shape=st.lists(dim, min_size=1, max_size=3), dtype=DTYPES, layout=LAYOUTS,
       seed=st.integers(0, 2**16), log=st.booleans())
def test_softmax(shape, dtype, layout, seed, log):
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, layout, scale=3.0)
    g = make(rng, shape, dtype, layout)
    before = snapshot(x, g)
    fwd, bwd = ("log_softmax", "log_softmax_backward") if log else ("softmax", "softmax_backward")
    with K.use_backend("numba"):
        y = getattr(K, fwd)(x)
        gx = getattr(K, bwd)(y, g)
    y_ref = getattr(R, fwd)(x)
    close(y, y_ref, dtype)
    close(gx, getattr(R, bwd)(y_ref, g), dtype, factor=2)
    unchanged(before, x, g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_extreme(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -3.0]], dtype=dtype)
    with K.use_backend("numba"):
        y = K.softmax(x)
        ly = K.log_softmax(x)
    assert np.isfinite(y).all() and np.isfinite(ly).all()
    close(y, R.softmax(x), dtype)
    close(ly, R.log_softmax(x), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vexp_accuracy(dtype):
    """The vectorised exp used by the kernels, over its whole range and at inf/nan.

    log_softmax_backward computes gx = gy - exp(y) * sum(gy); with rows
    y = [x, 0] and gy = [0, -1] that is gx[:, 0] = exp(x) exactly.
    """
    from scratchnet.kernels import numba_cpu
    x = np.concatenate([np.linspace(-120, 100, 22001), [-np.inf, np.inf, np.nan, 0.0, -750.0]])
    x = x.astype(dtype)
    y = np.stack([x, np.zeros_like(x)], axis=1)
    gy = np.tile(np.array([0, -1], dtype=dtype), (len(x), 1))
    out = np.empty_like(y)
    numba_cpu._softmax_bwd_rows(y, gy, out, True)
    got = out[:, 0]
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64))
    normal = (want > (1e-37 if dtype == np.float32 else 1e-300)) & np.isfinite(want) \
        & (want < np.finfo(dtype).max)
    rel = np.abs(got[normal] - want[normal]) / want[normal]
    assert rel.max() < (4e-7 if dtype == np.float32 else 2e-14), rel.max()
    assert got[-5] == 0 and got[-4] == np.inf and np.isnan(got[-3]) and got[-2] == 1 and got[-1] == 0
    assert (got >= 0)[~np.isnan(got)].all()


@SETTINGS
@given(N=st.integers(1, 12), C=st.integers(1, 9), dtype=DTYPES, layout=LAYOUTS,
       seed=st.integers(0, 2**16), weighted=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]),
       eps=st.sampled_from([0.0, 0.1]), n_ignored=st.integers(0, 3))
def test_cross_entropy(N, C, dtype, layout, seed, weighted, reduction, eps, n_ignored):
    rng = np.random.default_rng(seed)
    x = make(rng, (N, C), dtype, layout, scale=4.0)
    t = rng.integers(0, C, N)
    t[:min(n_ignored, N)] = -100
    w = rng.random(C).astype(dtype) + 0.1 if weighted else None
    before = snapshot(x, t, w)
    with K.use_backend("numba"):
        loss, grad = K.cross_entropy(x, t, w, label_smoothing=eps, reduction=reduction)
    loss_ref, grad_ref = R.cross_entropy(x, t, w, label_smoothing=eps, reduction=reduction)
    assert loss.shape == ((N,) if reduction == "none" else ())
    if n_ignored >= N and reduction == "mean":
        assert np.isnan(loss) and np.isnan(loss_ref)
        assert not grad.any()
    else:
        close(loss, loss_ref, dtype, factor=5)
    close(grad, grad_ref, dtype)
    assert np.isfinite(grad).all()
    unchanged(before, x, t, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_extreme_logits(dtype, reduction):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype=dtype)
    t = np.array([1, 2, -100])
    for backend in ("numba", "numpy"):
        with K.use_backend(backend):
            loss, grad = K.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1)
        assert np.isfinite(loss).all() and np.isfinite(grad).all()
        assert not grad[2].any()                                   # ignored row
    loss_ref, _ = R.cross_entropy(x.astype(np.float64), t, reduction="none", label_smoothing=0.1)
    assert loss_ref[0] > 1e4 * 0.9 * 2 - 1                         # -logp = 2e4 for row 0


@SETTINGS
@given(B=st.integers(1, 2), H=st.integers(1, 3), L=st.integers(1, 7), S=st.integers(1, 7),
       D=st.integers(1, 5), Dv=st.integers(1, 4), dtype=DTYPES, layout=LAYOUTS,
       seed=st.integers(0, 2**16), causal=st.booleans(),
       mask_kind=st.sampled_from([None, "bool", "float", "bool2d"]),
       path=st.sampled_from(["small", "parallel", "large"]))
def test_attention(B, H, L, S, D, Dv, dtype, layout, seed, causal, mask_kind, path):
    """Both size classes: 'small' runs the fused per-head kernels, 'large'
    (forced by a zero size threshold) the batched-matmul + parallel kernels."""
    rng = np.random.default_rng(seed)
    q = make(rng, (B, H, L, D), dtype, layout)
    k = make(rng, (B, H, S, D), dtype, layout)
    v = make(rng, (B, H, S, Dv), dtype, layout)
    g = make(rng, (B, H, L, Dv), dtype, layout)
    mask = None
    if mask_kind == "bool":
        mask = rng.random((B, 1, L, S)) > 0.4
        mask[0, 0, 0, :] = False                        # one fully masked row
    elif mask_kind == "bool2d":
        mask = rng.random((L, S)) > 0.3
    elif mask_kind == "float":
        mask = np.where(rng.random((H, L, S)) > 0.3, rng.standard_normal((H, L, S)), -np.inf)
    before = snapshot(q, k, v, g, mask)
    with K.use_backend("numba"), size_class(path):
        out, lse = K.attention(q, k, v, mask, causal)
        grads = K.attention_backward(q, k, v, mask, causal, None, out, lse, g)
    out_ref, lse_ref = R.attention(q, k, v, mask, causal)
    grads_ref = R.attention_backward(q, k, v, mask, causal, None, out_ref, lse_ref, g)
    assert np.isfinite(out).all() and all(np.isfinite(x).all() for x in grads)
    close(out, out_ref, dtype, factor=2)
    np.testing.assert_array_equal(np.isinf(lse), np.isinf(lse_ref))
    close(np.where(np.isinf(lse), 0, lse), np.where(np.isinf(lse_ref), 0, lse_ref), dtype)
    for a, b in zip(grads, grads_ref):
        close(a, b, dtype, factor=5)
    unchanged(before, q, k, v, g, mask)


@contextlib.contextmanager
def size_class(path):
    """'small': serial builds, fused attention; 'parallel': every kernel call
    runs its parallel build (attention fused, heads in parallel); 'large':
    parallel builds and batched attention."""
    from scratchnet.kernels import numba_cpu
    previous = numba_cpu.PARALLEL_MIN_ELEMENTS, numba_cpu.FUSED_MAX_ELEMENTS
    numba_cpu.PARALLEL_MIN_ELEMENTS = 1 << 62 if path == "small" else 0
    if path == "large":
        numba_cpu.FUSED_MAX_ELEMENTS = 0
    try:
        yield
    finally:
        numba_cpu.PARALLEL_MIN_ELEMENTS, numba_cpu.FUSED_MAX_ELEMENTS = previous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("path", ["small", "parallel", "large"])
def test_attention_fully_masked_rows(dtype, backend, path):
    rng = np.random.default_rng(1)
    q, k, v, g = (rng.standard_normal((1, 2, 4, 3)).astype(dtype) for _ in range(4))
    mask = np.ones((4, 4), dtype=bool)
    mask[1] = False                       # row 1 attends to nothing
    mask[:, 0] = False                    # with causal: row 0 attends to nothing either
    with K.use_backend(backend), size_class(path):
        out, lse = K.attention(q, k, v, mask, is_causal=True)
        gq, gk, gv = K.attention_backward(q, k, v, mask, True, None, out, lse, g)
    assert not np.isnan(out).any()
    assert (out[:, :, :2] == 0).all() and np.isneginf(lse[:, :, :2]).all()
    assert np.isfinite(lse[:, :, 2:]).all()
    assert (gq[:, :, :2] == 0).all()
    for x in (gq, gk, gv):
        assert np.isfinite(x).all() and x.dtype == dtype


@SETTINGS
@given(lead=st.lists(dim, min_size=1, max_size=2), D=st.integers(1, 17), dtype=DTYPES,
       layout=LAYOUTS, seed=st.integers(0, 2**16), affine=st.sampled_from(["both", "weight", "none"]))
def test_layer_norm(lead, D, dtype, layout, seed, affine):
    rng = np.random.default_rng(seed)
    x = make(rng, tuple(lead) + (D,), dtype, layout, scale=2.0) + dtype(0.5)
    gy = make(rng, x.shape, dtype, layout)
    w = make(rng, (D,), dtype) if affine != "none" else None
    b = make(rng, (D,), dtype) if affine == "both" else None
    before = snapshot(x, gy, w, b)
    with K.use_backend("numba"):
        y, mean, rstd = K.layer_norm(x, w, b, 1e-5)
        gx, gw, gb = K.layer_norm_backward(gy, x, w, mean, rstd)
    x2, gy2 = x.reshape(-1, D), gy.reshape(-1, D)
    y_r, mean_r, rstd_r = R.layer_norm(x2, w, b, 1e-5)
    close(y.reshape(-1, D), y_r, dtype, factor=5)
    close(mean.reshape(-1), mean_r, dtype)
    close(rstd.reshape(-1), rstd_r, dtype, factor=5)
    gx_r, gw_r, gb_r = R.layer_norm_backward(gy2, x2, w, mean_r, rstd_r)
    close(gx.reshape(-1, D), gx_r, dtype, factor=50)
    if w is None:
        assert gw is None and gb is None
    else:
        close(gw, gw_r, dtype, factor=10)
        close(gb, gb_r, dtype, factor=10)
    unchanged(before, x, gy, w, b)


def test_layer_norm_many_rows_chunks():
    """More rows than one chunk of the grad_weight partial sums."""
    rng = np.random.default_rng(0)
    x, gy = rng.standard_normal((2, 300, 5))
    w = rng.standard_normal(5)
    with K.use_backend("numba"):
        y, mean, rstd = K.layer_norm(x, w, None, 1e-5)
        gx, gw, gb = K.layer_norm_backward(gy, x, w, mean, rstd)
    ref = R.layer_norm_backward(gy, x, w, *R.layer_norm(x, w, None, 1e-5)[1:])
    for a, b in zip((gx, gw, gb), ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(shape=st.lists(st.integers(1, 40), min_size=1, max_size=3), dtype=DTYPES, layout=LAYOUTS,
       seed=st.integers(0, 2**16), approximate=st.sampled_from(["none", "tanh"]))
def test_gelu(shape, dtype, layout, seed, approximate):
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, layout, scale=3.0)
    g = make(rng, shape, dtype, layout)
    before = snapshot(x, g)
    with K.use_backend("numba"):
        y = K.gelu(x, approximate)
        gx = K.gelu_backward(x, g, approximate)
        gx_from_y = K.gelu_backward(x, g, approximate, y=y)
    close(y, R.gelu(x, approximate), dtype)
    close(gx, R.gelu_backward(x, g, approximate), dtype, factor=2)
    close(gx_from_y, R.gelu_backward(x, g, approximate), dtype, factor=2)
    unchanged(before, x, g)


@st.composite
def matmul_shapes(draw):
    nb = draw(st.integers(0, 2))
    batch = draw(st.lists(st.integers(1, 4), min_size=nb, max_size=nb))
    a_batch = [d if draw(st.booleans()) else 1 for d in batch]
    b_batch = [d if draw(st.booleans()) else 1 for d in batch]
    M, Kd, N = draw(dim), draw(dim), draw(dim)
    return tuple(a_batch) + (M, Kd), tuple(b_batch) + (Kd, N)


@SETTINGS
@given(shapes=matmul_shapes(), dtype=DTYPES, layout=LAYOUTS, seed=st.integers(0, 2**16),
       with_bias=st.booleans())
def test_matmul_numba_kernel(shapes, dtype, layout, seed, with_bias):
    """The compiled batched loop itself (the dispatcher may prefer BLAS)."""
    from scratchnet.kernels import numba_cpu
    rng = np.random.default_rng(seed)
    a = make(rng, shapes[0], dtype, layout)
    b = make(rng, shapes[1], dtype, layout)
    bias = make(rng, (shapes[1][-1],), dtype) if with_bias else None
    ac, bc = np.ascontiguousarray(a), np.ascontiguousarray(b)
    out = numba_cpu.matmul(ac, bc, bias)
    close(out, R.matmul(a, b, bias), dtype)
    g = make(rng, out.shape, dtype)
    for x, y in zip(numba_cpu.matmul_backward(ac, bc, g, has_bias=with_bias),
                    R.matmul_backward(a, b, g, has_bias=with_bias)):
        if y is None:
            assert x is None
        else:
            close(x, y, dtype)
    # and through the dispatcher
    with K.use_backend("numba"):
        close(K.matmul(a, b, bias), R.matmul(a, b, bias), dtype)
        for x, y in zip(K.matmul_backward(a, b, g, need_a=True, need_b=False, has_bias=with_bias),
                        R.matmul_backward(a, b, g, need_b=False, has_bias=with_bias)):
            assert (x is None) == (y is None)
            if x is not None:
                close(x, y, dtype)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_size_zero(backend):
    with K.use_backend(backend):
        assert K.softmax(np.zeros((0, 3), np.float32)).shape == (0, 3)
        assert K.log_softmax(np.zeros((2, 0))).shape == (2, 0)
        loss, grad = K.cross_entropy(np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                                     reduction="sum")
        assert loss == 0 and grad.shape == (0, 4) and loss.dtype == np.float32
        loss, grad = K.cross_entropy(np.zeros((0, 4)), np.zeros(0, np.int64))
        assert np.isnan(loss)
        out, lse = K.attention(np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 0, 3)), np.zeros((1, 1, 0, 5)))
        assert out.shape == (1, 1, 2, 5) and not out.any() and np.isneginf(lse).all()
        y, mean, rstd = K.layer_norm(np.zeros((0, 4), np.float32), None, None, 1e-5)
        assert y.shape == (0, 4) and mean.shape == (0,)
        assert K.gelu(np.zeros((3, 0))).shape == (3, 0)
        assert K.matmul(np.zeros((2, 0)), np.zeros((0, 3))).shape == (2, 3)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_approximations(approximate):
    """float32 GELU uses vectorised erf / sigmoid approximations (numba_cpu):
    within a few float32 ulps of the float64 function, on a dense grid, with
    inf / nan behaving like the reference."""
    x = np.concatenate([np.linspace(-12, 12, 200001), [0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0]])
    x32 = x.astype(np.float32)
    x64 = x32.astype(np.float64)
    g = np.ones_like(x32)
    with K.use_backend("numba"):
        y = K.gelu(x32, approximate)
        gx = K.gelu_backward(x32, g, approximate)
        gx_from_y = K.gelu_backward(x32, g, approximate, y=y)      # Phi = y / x, no erf
    y_ref = R.gelu(x64, approximate)
    gx_ref = R.gelu_backward(x64, np.ones_like(x64), approximate)
    eps32 = np.finfo(np.float32).eps
    # relative to |x| (GELU ~ x Phi(x)): absolute error below a few ulps of x
    scale = np.maximum(np.abs(x64), 1e-30)
    assert (np.abs(y - y_ref) / scale).max() < 4 * eps32
    assert np.abs(gx - gx_ref).max() < 8 * eps32
    assert np.abs(gx_from_y - gx_ref).max() < 8 * eps32
    # the erf itself: y / x = Phi(x) = (1 + erf) / 2 to ~1 ulp of 1
    big = np.abs(x64) > 1e-3
    phi, phi_ref = y[big] / x32[big], y_ref[big] / x64[big]
    assert np.abs(phi - phi_ref).max() < 2 * eps32
    with K.use_backend("numba"):
        got = K.gelu(np.array([np.inf, np.nan], dtype=np.float32), approximate)
    assert got[0] == np.inf and np.isnan(got[1])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float64_exact(approximate):
    """float64 GELU: math.erf and the float64 exp, to ~1e-14 relative (the
    reference's 1 + tanh(u) cancels for x << 0, hence the atol)."""
    x = np.linspace(-8, 8, 20001)
    x = np.concatenate([x, [0.0, 1e-300, -1e-12, 5e-4, -9.99e-4, 1.001e-3, -40.0, 40.0]])
    with K.use_backend("numba"):
        y = K.gelu(x, approximate)
        gx = K.gelu_backward(x, np.ones_like(x), approximate)
        gx_from_y = K.gelu_backward(x, np.ones_like(x), approximate, y=y)
    np.testing.assert_allclose(y, R.gelu(x, approximate), rtol=1e-13, atol=1e-15)
    for got in (gx, gx_from_y):
        np.testing.assert_allclose(got, R.gelu_backward(x, np.ones_like(x), approximate),
                                   rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("path", ["small", "parallel", "large"])
@pytest.mark.parametrize("L, S", [(150, 150), (70, 130), (130, 70)])
def test_attention_long_rows(path, L, S):
    """Rows longer than one 64-column step (causal rows are processed up to a
    multiple of 64), with a float mask on top of causal."""
    rng = np.random.default_rng(L * S)
    q, g = (rng.standard_normal((1, 2, L, 5)) for _ in range(2))
    k, v = (rng.standard_normal((1, 2, S, 5)) for _ in range(2))
    mask = rng.standard_normal((L, S))
    with K.use_backend("numba"), size_class(path):
        out, lse = K.attention(q, k, v, mask, True)
        grads = K.attention_backward(q, k, v, mask, True, None, out, lse, g)
    out_ref, lse_ref = R.attention(q, k, v, mask, True)
    grads_ref = R.attention_backward(q, k, v, mask, True, None, out_ref, lse_ref, g)
    close(out, out_ref, np.float64)
    np.testing.assert_array_equal(np.isinf(lse), np.isinf(lse_ref))
    for a, b in zip(grads, grads_ref):
        close(a, b, np.float64, factor=5)


# ----------------------------------------------------------------------------
# packed attention: heads read from / written to the (B, T, 3C) layout in place
# ----------------------------------------------------------------------------
@SETTINGS
@given(B=st.integers(1, 3), T=st.integers(1, 9), nh=st.integers(1, 3), hs=st.integers(1, 5),
       causal=st.booleans(), dtype=DTYPES, layout=LAYOUTS,
       path=st.sampled_from(["small", "parallel", "large"]), seed=st.integers(0, 2 ** 16))
def test_packed_attention(B, T, nh, hs, causal, dtype, layout, path, seed):
    rng = np.random.default_rng(seed)
    qkv = make(rng, (B, T, 3 * nh * hs), dtype, layout)
    g = make(rng, (B, T, nh * hs), dtype, layout)
    before = [x.copy() for x in (qkv, g)]
    out_ref, lse_ref = R.packed_attention(qkv, nh, causal, 1.0 / np.sqrt(hs))
    grad_ref = R.packed_attention_backward(qkv, nh, causal, 1.0 / np.sqrt(hs), out_ref, lse_ref, g)
    with K.use_backend("numba"), size_class(path):
        out, lse = K.packed_attention(qkv, nh, is_causal=causal)
        grad = K.packed_attention_backward(qkv, nh, causal, None, out, lse, g)
    close(out, out_ref, dtype, factor=2)
    close(lse, lse_ref, dtype)
    close(grad, grad_ref, dtype, factor=5)
    assert grad.shape == qkv.shape and out.shape == g.shape
    for x, b in zip((qkv, g), before):
        np.testing.assert_array_equal(x, b)


def test_packed_attention_is_attention_on_the_heads():
    """The reference's head layout, checked by hand: head h of q is columns h*hs:(h+1)*hs."""
    rng = np.random.default_rng(0)
    B, T, nh, hs = 2, 5, 3, 4
    C = nh * hs
    qkv = rng.standard_normal((B, T, 3 * C))
    for backend in ("numba", "numpy"):
        with K.use_backend(backend):
            out, lse = K.packed_attention(qkv, nh, is_causal=True)
        for h in range(nh):
            cols = slice(h * hs, (h + 1) * hs)
            q, k, v = (qkv[:, None, :, i * C:(i + 1) * C][..., cols] for i in range(3))
            o, l_ = R.attention(np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v),
                                None, True, 1 / np.sqrt(hs))
            np.testing.assert_allclose(out[:, :, cols], o[:, 0], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(lse[:, h], l_[:, 0], rtol=1e-12, atol=1e-12)


def test_packed_attention_errors():
    with pytest.raises(ValueError, match=r"packed_attention: the last dim of qkv \(1, 2, 10\)"):
        K.packed_attention(np.ones((1, 2, 10)), 2)
    with pytest.raises(ValueError, match="packed_attention: qkv must be 3-D"):
        K.packed_attention(np.ones((2, 12)), 2)
    qkv = np.ones((1, 2, 12))
    out, lse = K.packed_attention(qkv, 2)
    with pytest.raises(ValueError, match=r"packed_attention_backward: grad_out \(1, 2, 5\) must have shape \(1, 2, 4\)"):
        K.packed_attention_backward(qkv, 2, False, None, out, lse, np.ones((1, 2, 5)))


@SETTINGS
@given(n=st.integers(1, 40), num_rows=st.integers(1, 9), dim=st.integers(1, 7), dtype=DTYPES,
       layout=LAYOUTS, seed=st.integers(0, 2 ** 16))
def test_scatter_rows(n, num_rows, dim, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, num_rows, size=n)
    rows = make(rng, (n, dim), dtype, layout)
    expected = np.zeros((num_rows, dim), np.float64)
    np.add.at(expected, ids, rows.astype(np.float64))
    with K.use_backend("numba"):
        out = K.scatter_rows(ids, rows, num_rows)
    close(out, R.scatter_rows(ids, rows, num_rows), dtype)
    close(out, expected.astype(dtype), dtype)


def test_scatter_rows_errors():
    with pytest.raises(IndexError, match=r"scatter_rows: ids must be in \[0, 3\)"):
        K.scatter_rows(np.array([0, 3]), np.ones((2, 4)), 3)
    with pytest.raises(ValueError, match=r"scatter_rows: ids \(n,\) and rows \(n, dim\) expected"):
        K.scatter_rows(np.array([0, 1]), np.ones((3, 4)), 3)
    empty = K.scatter_rows(np.array([], np.int64), np.ones((0, 4), np.float32), 3)
    assert empty.shape == (3, 4) and empty.dtype == np.float32 and not empty.any()
