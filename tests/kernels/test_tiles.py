"""tiles.product, the float32 product with the 6 x 64 register tile
(kernels/tiles.py), against float64 products; and the pool GEMM that uses it.

The micro-kernel is LLVM vector IR: it compiles and is correct on any x86
CPU (without AVX-512 LLVM splits the 16-float vectors), so these tests run
everywhere; the pool uses it only where ``tiles.available()``.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import scratchnet.kernels as K

pytestmark = pytest.mark.skipif(not K._numba_importable(), reason="numba not installed")


def operands(rng, M, K_, N, trans_a, trans_b):
    """(a, b) float32 as stored, and op(a), op(b) in float64."""
    A = rng.standard_normal((M, K_)).astype(np.float32)
    B = rng.standard_normal((K_, N)).astype(np.float32)
    a = np.ascontiguousarray(A.T) if trans_a else A
    b = np.ascontiguousarray(B.T) if trans_b else B
    return a, b, A.astype(np.float64), B.astype(np.float64)


def close(got, exact, steps):
    """float32 sums of ``steps`` products of standard normals: error ~ sqrt(steps) * 2^-24 per term."""
    np.testing.assert_allclose(got, exact, rtol=0, atol=2e-5 * max(1.0, np.sqrt(steps)))


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 140), K_=st.integers(1, 300), N=st.integers(1, 140),
       trans_a=st.booleans(), trans_b=st.booleans(), cuts=st.lists(st.floats(0, 1), min_size=6, max_size=6),
       seed=st.integers(0, 2 ** 16))
def test_product_of_any_block_and_slice(M, K_, N, trans_a, trans_b, cuts, seed):
    """out[r0:r1, c0:c1] = op(a)[r0:r1, k0:k1] @ op(b)[k0:k1, c0:c1], for blocks
    with row groups of fewer than 6 and panels of fewer than 64 (or 16) columns,
    inner slices across the 128-step chunks; nothing outside the block is written."""
    from scratchnet.kernels import tiles
    r0, r1 = sorted(int(c * M) for c in cuts[:2])
    c0, c1 = sorted(int(c * N) for c in cuts[2:4])
    k0, k1 = sorted(int(c * K_) for c in cuts[4:])
    a, b, A, B = operands(np.random.default_rng(seed), M, K_, N, trans_a, trans_b)
    out = np.full((M, N), np.nan, np.float32)
    tiles.product(a, b, out, trans_a, trans_b, r0, r1, c0, c1, k0, k1)
    close(out[r0:r1, c0:c1], A[r0:r1, k0:k1] @ B[k0:k1, c0:c1], k1 - k0)   # an empty slice: zeros
    outside = np.ones((M, N), bool)
    outside[r0:r1, c0:c1] = False
    assert np.isnan(out[outside]).all()


@pytest.mark.parametrize("shape", [(768, 128, 384), (384, 768, 128), (65, 768, 128), (768, 128, 65), (7, 1, 200)])
@pytest.mark.parametrize("trans", [(False, False), (False, True), (True, False), (True, True)])
def test_product_of_the_baby_gpt_shapes(shape, trans):
    from scratchnet.kernels import tiles
    M, K_, N = shape
    a, b, A, B = operands(np.random.default_rng(2), M, K_, N, *trans)
    out = np.empty((M, N), np.float32)
    tiles.product(a, b, out, *trans, 0, M, 0, N, 0, K_)
    close(out, A @ B, K_)


@pytest.mark.parametrize("trans", [(False, True), (True, False)])
def test_pool_gemm_with_tiles(trans):
    """The pool GEMM computes the same product with tiles or BLAS (to float32
    rounding), and with tiles the output blocks give the one-block result bit
    for bit: the sum over k never depends on how the output is shared out."""
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count cannot be controlled here")
    a, b, A, B = operands(np.random.default_rng(3), 300, 200, 130, *trans)
    one = gemm_numba.gemm(a, b, *trans, nblocks=1, tiled=True)
    close(one, A @ B, 200)
    close(gemm_numba.gemm(a, b, *trans, nblocks=2, tiled=False), A @ B, 200)
    for nblocks in (2, 3, 5):
        np.testing.assert_array_equal(gemm_numba.gemm(a, b, *trans, nblocks=nblocks, split_k=False, tiled=True), one)
    close(gemm_numba.gemm(a, b, *trans, nblocks=3, split_k=True, tiled=True), A @ B, 200)


def test_which_products_take_the_tiles():
    """float32 products with at least 64 rows and columns and at most 2^28
    multiply-adds (where the CPU has AVX-512); never float64."""
    from scratchnet.kernels import gemm_numba
    tiles_here = gemm_numba._TILES
    assert not gemm_numba.use_tiles(np.float64, 768, 512, 128)
    assert gemm_numba.use_tiles(np.float32, 768, 512, 128) == tiles_here          # the baby GPT's products
    assert gemm_numba.use_tiles(np.float32, 64, 64, 2 ** 16) == tiles_here
    assert not gemm_numba.use_tiles(np.float32, 1024, 32, 256)                      # a recurrent step's
    assert not gemm_numba.use_tiles(np.float32, 63, 512, 128)
    assert not gemm_numba.use_tiles(np.float32, 2048, 1024, 256)                    # 2^29: BLAS
    if gemm_numba.available():
        a = np.random.default_rng(4).standard_normal((100, 80))
        np.testing.assert_allclose(gemm_numba.gemm(a, a.T.copy(), nblocks=2, tiled=True), a @ a.T, rtol=1e-12, atol=1e-12)


def test_tiles_follow_the_cpu_numba_compiles_for(monkeypatch):
    """A generic target (NUMBA_CPU_NAME) or features without AVX-512 turn the tiles off."""
    import numba
    from scratchnet.kernels import tiles
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+sse2,+avx2")
    assert not tiles.available()
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx2,+avx512f")
    assert tiles.available()
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "")
    monkeypatch.setattr(numba.config, "CPU_NAME", "generic")
    assert not tiles.available()
