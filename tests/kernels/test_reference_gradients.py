"""The reference backward functions against central finite differences (float64)."""
import numpy as np
import pytest

from scratchnet.kernels import reference as R


def numeric_vjp(f, x, cot, eps=1e-6):
    """d(sum(f(x) * cot))/dx by central differences, entry by entry."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = np.sum(f(x) * cot)
        x[i] = old - eps
        fm = np.sum(f(x) * cot)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def check(analytic, numeric, atol=1e-6, rtol=1e-5):
    np.testing.assert_allclose(analytic, numeric, atol=atol, rtol=rtol)


rng = np.random.default_rng(0)


def test_softmax_grads():
    x = rng.standard_normal((3, 5))
    cot = rng.standard_normal((3, 5))
    check(R.softmax_backward(R.softmax(x), cot), numeric_vjp(R.softmax, x, cot))
    check(R.log_softmax_backward(R.log_softmax(x), cot), numeric_vjp(R.log_softmax, x, cot))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.15])
def test_cross_entropy_grad(reduction, weighted, eps):
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, -100, 1, 3])
    w = rng.random(4) + 0.5 if weighted else None
    loss, grad = R.cross_entropy(x, t, w, label_smoothing=eps, reduction=reduction)
    cot = np.ones_like(loss)
    num = numeric_vjp(lambda z: R.cross_entropy(z, t, w, label_smoothing=eps,
                                                reduction=reduction)[0], x, cot)
    check(grad, num)
    assert not grad[2].any()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
def test_attention_grads(causal, mask_kind):
    q = rng.standard_normal((1, 2, 3, 4))
    k = rng.standard_normal((1, 2, 5, 4))
    v = rng.standard_normal((1, 2, 5, 2))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((3, 5)) > 0.3
        mask[1] = False                                   # fully masked row
    elif mask_kind == "float":
        mask = rng.standard_normal((2, 3, 5))
    out, lse = R.attention(q, k, v, mask, causal, 0.7)
    cot = rng.standard_normal(out.shape)
    gq, gk, gv = R.attention_backward(q, k, v, mask, causal, 0.7, out, lse, cot)
    f = lambda q_, k_, v_: R.attention(q_, k_, v_, mask, causal, 0.7)[0]  # noqa: E731
    check(gq, numeric_vjp(lambda z: f(z, k, v), q, cot))
    check(gk, numeric_vjp(lambda z: f(q, z, v), k, cot))
    check(gv, numeric_vjp(lambda z: f(q, k, z), v, cot))


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_grads(affine):
    x = rng.standard_normal((4, 6))
    w = rng.standard_normal(6) if affine else None
    b = rng.standard_normal(6) if affine else None
    cot = rng.standard_normal((4, 6))
    y, mean, rstd = R.layer_norm(x, w, b, 1e-5)
    gx, gw, gb = R.layer_norm_backward(cot, x, w, mean, rstd)
    check(gx, numeric_vjp(lambda z: R.layer_norm(z, w, b, 1e-5)[0], x, cot))
    if affine:
        check(gw, numeric_vjp(lambda z: R.layer_norm(x, z, b, 1e-5)[0], w, cot))
        check(gb, numeric_vjp(lambda z: R.layer_norm(x, w, z, 1e-5)[0], b, cot))
    else:
        assert gw is None and gb is None


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_grad(approximate):
    x = rng.standard_normal((3, 7)) * 2
    cot = rng.standard_normal((3, 7))
    check(R.gelu_backward(x, cot, approximate),
          numeric_vjp(lambda z: R.gelu(z, approximate), x, cot))


def test_matmul_grads():
    a = rng.standard_normal((2, 1, 3, 4))
    b = rng.standard_normal((3, 4, 2))
    bias = rng.standard_normal(2)
    out = R.matmul(a, b, bias)
    cot = rng.standard_normal(out.shape)
    ga, gb, gbias = R.matmul_backward(a, b, cot, has_bias=True)
    assert ga.shape == (2, 3, 3, 4) and gb.shape == (2, 3, 4, 2)
    check(ga.sum(axis=1, keepdims=True), numeric_vjp(lambda z: R.matmul(z, b, bias), a, cot))
    check(gb.sum(axis=0), numeric_vjp(lambda z: R.matmul(a, z, bias), b, cot))
    check(gbias, numeric_vjp(lambda z: R.matmul(a, b, z), bias, cot))
