"""Non-finite and extreme inputs: forward values and gradients against PyTorch,
on both kernel backends, float32 and float64 (NaN where torch has NaN, the
same infinities, finite values close)."""
import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
import scratchnet.kernels as K
from scratchnet.ops import elementwise as E
from scratchnet.ops import recurrent as R

torch = pytest.importorskip("torch")
TF = torch.nn.functional

BACKENDS = ["numba", "numpy"]
DTYPES = [np.float32, np.float64]


def assert_like_torch(ours, ref, dtype):
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(ref))
    fin = np.isfinite(ref)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=tol, atol=tol)


def check(backend, dtype, ours_fn, torch_fn, arrays, grads=True):
    """Forward and (grads=True) every input gradient (upstream gradient in [0.5, 1.5])."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    with K.use_backend(backend), np.errstate(all="ignore"):
        ts = [sn.Tensor(a.copy(), requires_grad=True) for a in arrays]
        y = ours_fn(*ts)
        g = np.random.default_rng(1).uniform(0.5, 1.5, size=y.shape).astype(dtype)
        y.backward(g)
    tts = [torch.tensor(a, requires_grad=True) for a in arrays]
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        yt = torch_fn(*tts)
    gts = torch.autograd.grad(yt, tts, torch.tensor(g))
    assert_like_torch(y.data, yt.detach().numpy(), dtype)
    for t, gt in zip(ts, gts if grads else ()):
        assert_like_torch(t.grad, gt.numpy(), dtype)


def base(dtype, shape=(3, 5), seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(dtype)


# ------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_row_of_huge_equal_logits(backend, dtype, eps):
    # the Numba kernel reassociated log_s - (x_y - m) into (log_s + m) - x_y: loss 0, not log C
    x = base(dtype)
    x[1] = 1e30
    t = np.array([0, 2, 4])
    check(backend, dtype, lambda x: F.cross_entropy(x, t, reduction="none", label_smoothing=eps),
          lambda x: TF.cross_entropy(x, torch.tensor(t), reduction="none", label_smoothing=eps), [x])


# ----------------------------------------------------------------- attention
def _qkv(dtype):
    rng = np.random.default_rng(7)
    return [rng.standard_normal(s).astype(dtype) for s in ((1, 2, 3, 5), (1, 2, 4, 5), (1, 2, 4, 5))]


def _sdpa(causal):
    return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
            lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=causal))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("value", [1e30, np.nan, np.inf, -np.inf])
def test_attention_extreme_query_element(backend, dtype, causal, value):
    # 1e30: the Numba exp pass fused sc * s + mk - m into one fma, whose rounding
    # error (~1e13) overflowed exp: NaN rows.  NaN / inf: a row of NaN scores was
    # taken for a fully masked row (out 0) by Numba; the reference backward
    # zeroed the gradient of rows with a NaN or +inf log-sum-exp
    # (1e30: forward only; its gradients carry 1e30 times the rounding of
    # delta = dout . out, which torch's softmax backward does not have)
    q, k, v = _qkv(dtype)
    q[0, 0, 1, 2] = value
    check(backend, dtype, *_sdpa(causal), [q, k, v], grads=not np.isfinite(value))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_huge_key_element(backend, dtype):
    q, k, v = _qkv(dtype)
    k[0, 0, 1, 2] = 1e30
    check(backend, dtype, *_sdpa(False), [q, k, v], grads=False)


# ---------------------------------------------------------------------- GELU
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [-1e30, 1e30, -np.inf, np.inf, np.nan, -30.0])
def test_gelu_tanh_extreme(backend, dtype, value):
    # Numba clamped 2u to [-80, 80]: gelu(-1e30) = -1.8e-5 (torch -0), gelu(-inf) = -inf
    # (torch NaN), and x^3 exp(-80) in the gradient gave 3.5e54 at x = 1e30
    x = base(dtype)
    x[1, 2] = value
    check(backend, dtype, lambda x: F.gelu(x, approximate="tanh"),
          lambda x: TF.gelu(x, approximate="tanh"), [x])


# ------------------------------------------------------------------ RNN relu
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_rnn_relu_nonfinite_input(backend, dtype, value):
    # Numba's relu step mapped NaN to 0; both backward steps used g * (h > 0)
    # (NaN h: 0 instead of g; inf g at h <= 0: NaN instead of 0)
    T, B, I, H = 3, 2, 5, 4
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (T, B, I))
    x[1, 1, 2] = value
    w = [rng.uniform(-.5, .5, s) for s in ((H, I), (H, H), (H,), (H,))]

    def theirs(x, wih, whh, bih, bhh):
        m = torch.nn.RNN(I, H, nonlinearity="relu").to(x.dtype)
        return torch.func.functional_call(m, {"weight_ih_l0": wih, "weight_hh_l0": whh,
                                              "bias_ih_l0": bih, "bias_hh_l0": bhh}, (x,))[0]

    check(backend, dtype, lambda x, *w: R.rnn_layer(x, None, *w, nonlinearity="relu")[0],
          theirs, [x, *w])


# --------------------------------------------------------- elementwise grads
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "abs", "l1", "maximum", "minimum"])
@pytest.mark.parametrize("value", [np.nan, np.inf, 0.0])
def test_elementwise_grad_at_nonfinite(dtype, name, value):
    # relu passed 0 at NaN (torch: g); abs and l1 had sign(NaN) = NaN (torch: 0);
    # maximum / minimum gave the NaN operand no gradient (torch: both get g)
    x = base(dtype)
    x[1, 2] = value
    x[0, 1] = value
    other = base(dtype, seed=5)
    other[2, 3] = np.nan
    ours, theirs = {
        "relu": (F.relu, torch.relu),
        "abs": (F.abs, torch.abs),
        "l1": (lambda a: F.l1_loss(a, sn.Tensor(other), reduction="none"),
               lambda a: TF.l1_loss(a, torch.tensor(other), reduction="none")),
        "maximum": (lambda a, b: E.maximum(a, b), torch.maximum),
        "minimum": (lambda a, b: E.minimum(a, b), torch.minimum),
    }[name]
    arrays = [x, other] if name in ("maximum", "minimum") else [x]
    check("numpy", dtype, ours, theirs, arrays)
