"""The fused Numba Adam update against the NumPy reference (the optimizer's
PyTorch parity is tested in tests/optim)."""
import numpy as np
import pytest

from scratchnet import kernels as K
from scratchnet.kernels import reference


def _run(backend, dtype, amsgrad, decoupled, weight_decay, beta1, steps=5, shape=(7, 5)):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(shape).astype(dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    vmax = np.zeros_like(p) if amsgrad else None
    with K.use_backend(backend):
        for t in range(1, steps + 1):
            g = rng.standard_normal(p.shape).astype(dtype).T.copy().T     # a non-contiguous grad layout
            K.adam_update(p, g, m, v, vmax, lr=1e-2, beta1=beta1, beta2=0.99, eps=1e-8, step=t,
                          weight_decay=weight_decay, decoupled=decoupled)
    return p, m, v, vmax


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled,weight_decay", [(False, 0.0), (False, 0.1), (True, 0.1)])
@pytest.mark.parametrize("beta1", [0.9, 0.3])
@pytest.mark.parametrize("shape", [(7, 5), (300, 129)])       # serial; >= 32K elements: chunks on the pool
def test_numba_adam_matches_reference(dtype, tol, amsgrad, decoupled, weight_decay, beta1, shape):
    ours = _run("numba", dtype, amsgrad, decoupled, weight_decay, beta1, shape=shape)
    ref = _run("numpy", dtype, amsgrad, decoupled, weight_decay, beta1, shape=shape)
    for a, b in zip(ours, ref):
        if a is None:
            continue
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_adam_update_checks_state_arrays():
    p = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="adam_update"):
        K.adam_update(p, np.zeros(4, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32),
                      lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, step=1)
    with pytest.raises(ValueError, match="adam_update"):
        K.adam_update(p, np.zeros(3, np.float32), np.zeros(3, np.float64), np.zeros(3, np.float32),
                      lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, step=1)


def test_reference_lerp_is_torchs_two_sided_formula():
    a = np.array([1.0, 2.0])
    np.testing.assert_allclose(reference.lerp_(a.copy(), np.array([3.0, 6.0]), 0.25), [1.5, 3.0])
    np.testing.assert_allclose(reference.lerp_(a.copy(), np.array([3.0, 6.0]), 0.75), [2.5, 5.0])
