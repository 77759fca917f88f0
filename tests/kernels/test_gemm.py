"""K.gemm (the linear layer's products) and the thread-pool GEMM behind it.

The pool GEMM (kernels/gemm_numba.py) cuts the output into blocks and calls
BLAS once per block from Numba's threads; it must agree with np.matmul for
every transpose combination, block count and shape, run SciPy's BLAS on one
thread and restore its thread count, and give the linear layer the same values and gradients as the NumPy
reference.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import scratchnet as sn
import scratchnet.functional as F
import scratchnet.kernels as K
from scratchnet.kernels import reference as R

numba_only = pytest.mark.skipif(not K._numba_importable(), reason="numba not installed")
TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-12, atol=1e-12)}


def operands(rng, M, K_, N, dtype, trans_a, trans_b):
    """(a, b) as stored, and the logical (M, K) and (K, N) matrices."""
    A = rng.standard_normal((M, K_)).astype(dtype)
    B = rng.standard_normal((K_, N)).astype(dtype)
    a = np.ascontiguousarray(A.T) if trans_a else A
    b = np.ascontiguousarray(B.T) if trans_b else B
    return a, b, A, B


@contextlib.contextmanager
def pool_for_every_size():
    """Every K.gemm on the Numba backend takes the thread-pool path."""
    from scratchnet.kernels import numba_cpu
    previous = numba_cpu.POOL_GEMM_MIN_MNK
    numba_cpu.POOL_GEMM_MIN_MNK = 0
    try:
        yield
    finally:
        numba_cpu.POOL_GEMM_MIN_MNK = previous


@numba_only
@settings(max_examples=30, deadline=None)
@given(M=st.integers(1, 40), K_=st.integers(1, 40), N=st.integers(1, 40),
       dtype=st.sampled_from([np.float32, np.float64]), trans_a=st.booleans(), trans_b=st.booleans(),
       nblocks=st.integers(1, 5), split_k=st.sampled_from([None, True, False]), seed=st.integers(0, 2 ** 16))
def test_pool_gemm_matches_matmul(M, K_, N, dtype, trans_a, trans_b, nblocks, split_k, seed):
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count cannot be controlled here")
    a, b, A, B = operands(np.random.default_rng(seed), M, K_, N, dtype, trans_a, trans_b)
    out = gemm_numba.gemm(a, b, trans_a, trans_b, nblocks=nblocks, split_k=split_k)
    assert out.dtype == dtype and out.shape == (M, N)
    np.testing.assert_allclose(out, A @ B, **TOL[dtype])


@numba_only
@pytest.mark.parametrize("shape", [(768, 128, 384), (96, 700, 3), (2, 300, 500)])
@pytest.mark.parametrize("trans", [(False, False), (False, True), (True, False), (True, True)])
def test_pool_gemm_blocks_give_the_same_result(shape, trans):
    """Row blocks (tall output) and column blocks (wide output) of any count
    give the single call's result; every element is written."""
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count cannot be controlled here")
    M, K_, N = shape
    a, b, A, B = operands(np.random.default_rng(0), M, K_, N, np.float32, *trans)
    one = gemm_numba.gemm(a, b, *trans, nblocks=1)
    np.testing.assert_allclose(one, A.astype(np.float64) @ B.astype(np.float64), rtol=1e-4, atol=1e-3)
    for nblocks in (2, 3, 7):
        blocks = gemm_numba.gemm(a, b, *trans, nblocks=nblocks, split_k=False)
        np.testing.assert_allclose(blocks, one, rtol=1e-6, atol=1e-5)


@numba_only
@pytest.mark.parametrize("shape", [(128, 768, 512), (65, 768, 128), (3, 5, 2), (4, 1, 4)])
@pytest.mark.parametrize("trans", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_gemm_split_inner_dimension(shape, trans, dtype):
    """Slices of the inner dimension, one per block, added: the product to
    rounding, for any number of blocks (more blocks than K columns included),
    writing into a given ``out``."""
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count cannot be controlled here")
    M, K_, N = shape
    a, b, A, B = operands(np.random.default_rng(1), M, K_, N, dtype, *trans)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    scale = np.sqrt(K_)
    for nblocks in (2, 3, 5):
        out = np.full((M, N), np.nan, dtype)
        got = gemm_numba.gemm(a, b, *trans, nblocks=nblocks, out=out, split_k=True)
        assert got is out and got.dtype == dtype
        np.testing.assert_allclose(got, exact, rtol=0, atol=scale * (1e-5 if dtype == np.float32 else 1e-13))


def test_split_inner_rule():
    """The inner dimension is cut when it is at least 1.5 times the output's longer side."""
    from scratchnet.kernels.gemm_numba import split_inner
    assert split_inner(512, 128, 768) and split_inner(128, 512, 768) and split_inner(65, 128, 768)
    assert not split_inner(768, 512, 128) and not split_inner(768, 128, 512) and not split_inner(513, 128, 768)


@numba_only
def test_pool_gemm_restores_the_blas_thread_count():
    """SciPy's BLAS runs on one thread inside the pool's calls, restored after."""
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count cannot be controlled here")
    setter, getter = gemm_numba._set_threads
    before = getter()
    a = np.ones((64, 64), np.float32)
    np.testing.assert_array_equal(gemm_numba.gemm(a, a, nblocks=2), np.full((64, 64), 64, np.float32))
    assert getter() == before
    with pytest.raises(ZeroDivisionError):                # restored on an error inside the block too
        with gemm_numba.pool_blas(np.float32):
            assert getter() == 1
            1 / 0
    assert getter() == before


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_dispatch(backend, dtype):
    rng = np.random.default_rng(3)
    with K.use_backend(backend), pool_for_every_size() if K._numba_importable() else contextlib.nullcontext():
        for trans_a in (False, True):
            for trans_b in (False, True):
                a, b, A, B = operands(rng, 5, 4, 6, dtype, trans_a, trans_b)
                out = K.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
                assert out.dtype == dtype
                np.testing.assert_allclose(out, A @ B, **TOL[dtype])
        # strided and read-only operands, and mixed dtypes (-> float64)
        big = rng.standard_normal((5, 8)).astype(dtype)
        ro = rng.standard_normal((4, 3)).astype(dtype)
        ro.setflags(write=False)
        np.testing.assert_allclose(K.gemm(big[:, ::2], ro), big[:, ::2] @ ro, **TOL[dtype])
        mixed = K.gemm(big[:, ::2].astype(np.float32), ro.astype(np.float64))
        assert mixed.dtype == np.float64
        # empty inner dimension: zeros
        z = K.gemm(np.ones((3, 0), dtype), np.ones((0, 2), dtype))
        assert z.shape == (3, 2) and not z.any()


def test_gemm_errors_name_the_kernel_and_shapes():
    with pytest.raises(ValueError, match=r"gemm: inner dimensions differ.*\(2, 3\).*\(2, 4\)"):
        K.gemm(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"gemm: .*must be 2-D"):
        K.gemm(np.ones((2, 3, 4)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="trans_b=True"):
        K.gemm(np.ones((2, 3)), np.ones((4, 2)), trans_b=True)
    np.testing.assert_array_equal(K.gemm(np.ones((3, 2)), np.ones((4, 3)), trans_a=True, trans_b=True),
                                  R.gemm(np.ones((3, 2)), np.ones((4, 3)), True, True))


@numba_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_on_the_pool_matches_the_reference(dtype):
    """Values and all three gradients of F.linear, pool GEMM vs NumPy backend."""
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal((2, 33, 17)).astype(dtype)
    w0 = rng.standard_normal((29, 17)).astype(dtype)
    b0 = rng.standard_normal(29).astype(dtype)
    g = rng.standard_normal((2, 33, 29)).astype(dtype)
    results = []
    for backend in ("numba", "numpy"):
        x, w, b = (sn.tensor(t.copy(), requires_grad=True) for t in (x0, w0, b0))
        with K.use_backend(backend), pool_for_every_size():
            y = F.linear(x, w, b)
            y.backward(sn.tensor(g))
        results.append([y.data, x.grad, w.grad, b.grad])
    for got, want in zip(*results):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])


@numba_only
def test_linear_gradcheck_on_the_pool():
    rng = np.random.default_rng(5)
    x = sn.tensor(rng.standard_normal((7, 5)), requires_grad=True)
    w = sn.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    b = sn.tensor(rng.standard_normal(6), requires_grad=True)
    with K.use_backend("numba"), pool_for_every_size():
        assert sn.gradcheck(F.linear, (x, w, b))


@numba_only
@settings(max_examples=25, deadline=None)
@given(Ta=st.sampled_from([1, 3]), Tb=st.sampled_from([1, 3]), M=st.integers(1, 20), K_=st.integers(1, 20),
       N=st.integers(1, 20), dtype=st.sampled_from([np.float32, np.float64]), nblocks=st.integers(1, 4),
       seed=st.integers(0, 2 ** 16))
def test_pool_bmm_matches_matmul(Ta, Tb, M, K_, N, dtype, nblocks, seed):
    """Batched products on the pool; a batch of one is shared by every product."""
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count cannot be controlled here")
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((Ta, M, K_)).astype(dtype)
    b = rng.standard_normal((Tb, K_, N)).astype(dtype)
    out = gemm_numba.bmm(a, b, nblocks=nblocks)
    assert out.shape == (max(Ta, Tb), M, N) and out.dtype == dtype
    np.testing.assert_allclose(out, a @ b, **TOL[dtype])
    at, bt = np.ascontiguousarray(a.transpose(0, 2, 1)), np.ascontiguousarray(b.transpose(0, 2, 1))
    for trans_a, trans_b in ((True, False), (False, True), (True, True)):
        got = gemm_numba.bmm(at if trans_a else a, bt if trans_b else b, trans_a, trans_b, nblocks)
        np.testing.assert_allclose(got, a @ b, **TOL[dtype])


@numba_only
@pytest.mark.parametrize("shapes", [((2, 3, 5, 4), (2, 3, 4, 6)), ((5, 4), (3, 4, 6)), ((2, 1, 5, 4), (3, 4, 2)),
                                    ((7, 9), (9, 3)), ((2, 5, 4), (4, 6))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_on_the_pool_matches_the_reference(shapes, dtype):
    """K.matmul / matmul_backward with every product on the pool (broadcast
    batches, strided operands, bias) against the NumPy reference."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal(shapes[0]).astype(dtype)
    b = rng.standard_normal(shapes[1]).astype(dtype)[..., ::1]
    bias = rng.standard_normal(shapes[1][-1]).astype(dtype)
    bt = np.swapaxes(np.swapaxes(b, -1, -2).copy(), -1, -2)              # same values, strided
    g = rng.standard_normal(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])).astype(dtype)
    at = np.swapaxes(np.swapaxes(a, -1, -2).copy(), -1, -2)              # a transposed view
    with K.use_backend("numba"), pool_for_every_size():
        out = K.matmul(a, bt, bias)
        grads = K.matmul_backward(a, bt, g, True, True, True)
        np.testing.assert_allclose(K.matmul(at, b), R.matmul(a, b), **TOL[dtype])
    np.testing.assert_allclose(out, R.matmul(a, b, bias), **TOL[dtype])
    for got, want in zip(grads, R.matmul_backward(a, b, g, True, True, True)):
        assert got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])


@numba_only
def test_without_the_pool_products_kernels_stay_serial(monkeypatch):
    """Where SciPy's BLAS thread count is unknown, products stay in np.matmul
    (NumPy's BLAS pool), so mid-size kernels keep their serial build (two
    spinning pools would stall them) and results do not change."""
    from scratchnet.kernels import gemm_numba, numba_cpu
    x = np.random.default_rng(7).standard_normal((400, 128)).astype(np.float32)   # 51K elements
    with K.use_backend("numba"):
        expected = K.softmax(x)
        monkeypatch.setattr(gemm_numba, "_set_threads", False)
        assert not gemm_numba.available()
        assert not numba_cpu._parallel(x.size) and numba_cpu._parallel(1 << 25) == (numba_cpu.numba.get_num_threads() > 1)
        np.testing.assert_allclose(K.softmax(x), expected, rtol=1e-6, atol=1e-7)   # serial vs parallel build
        a = np.ones((600, 600), np.float32)
        np.testing.assert_array_equal(K.gemm(a, a), np.full((600, 600), 600, np.float32))


@numba_only
@pytest.mark.parametrize("shape", [(768, 128, 512), (700, 65, 128), (97, 5, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_linear_grads_in_one_region(shape, dtype):
    """gemm_numba.linear_grads: (g W, g^T x) for any block count, with tiles or
    BLAS, against float64 products."""
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count cannot be controlled here")
    N, O, I = shape
    rng = np.random.default_rng(5)
    g, w, x = (rng.standard_normal(s).astype(dtype) for s in ((N, O), (O, I), (N, I)))
    exact_x, exact_w = g.astype(np.float64) @ w, g.T.astype(np.float64) @ x
    tol = dict(rtol=0, atol=2e-5 * np.sqrt(N)) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for nblocks in (1, 2, 3):
        for tiled in (False, True):
            gx, gw = gemm_numba.linear_grads(g, w, x, nblocks=nblocks, tiled=tiled)
            assert gx.dtype == gw.dtype == dtype
            np.testing.assert_allclose(gx, exact_x, **tol)
            np.testing.assert_allclose(gw, exact_w, **tol)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("need", [(True, True), (True, False), (False, True)])
def test_linear_grads_dispatch(backend, need):
    """K.linear_grads = (g W, g^T x), None where not needed, on the pool or not
    (the baby GPT's 768-row gradients go to the paired region), and empty rows."""
    rng = np.random.default_rng(6)
    for N, O, I in ((768, 512, 128), (4, 3, 2), (0, 3, 2)):
        g, w, x = (rng.standard_normal(s).astype(np.float32) for s in ((N, O), (O, I), (N, I)))
        with K.use_backend(backend):
            gx, gw = K.linear_grads(g, w, x, *need)
        for got, want, needed in ((gx, g.astype(np.float64) @ w, need[0]), (gw, g.T.astype(np.float64) @ x, need[1])):
            if not needed:
                assert got is None
                continue
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.sqrt(max(N, 1)) + 1e-6)
    with pytest.raises(ValueError, match=r"linear_grads: expected g \(N, out\).*w \(4, 2\)"):
        K.linear_grads(np.ones((3, 3)), np.ones((4, 2)), np.ones((3, 2)))
