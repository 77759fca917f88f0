"""Recurrent kernels: Numba against the NumPy reference, determinism, dtypes,
gradcheck of the fused Functions, input validation."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.kernels import recurrent as KR, use_backend
from scratchnet.ops import recurrent as R

pytest.importorskip("numba")


def _args(mode, dtype, rng, T=5, B=3, I=4, H=6, bias=True):
    G = KR.GATES[mode]

    def a(*s, scale=1.0):
        return (scale * rng.standard_normal(s)).astype(dtype)
    return (a(T, B, I), a(B, H), a(B, H) if mode == "lstm" else None, a(G * H, I, scale=0.5),
            a(G * H, H, scale=0.5), a(G * H) if bias else None, a(G * H) if bias else None)


def _run(mode, args, backend, reverse, dhs, dhn, dcn):
    with use_backend(backend):
        hs, hn, cn, saved = KR.recurrent_forward(mode, *args, reverse=reverse)
        grads = KR.recurrent_backward(saved, dhs, dhn, dcn)
    return [np.asarray(v) for v in (hs, hn, cn, *grads) if v is not None]


@pytest.mark.parametrize("mode", KR.MODES)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("reverse", [False, True])
def test_numba_matches_reference(mode, dtype, tol, reverse):
    rng = np.random.default_rng(0)
    args = _args(mode, dtype, rng)
    T, B, H = 5, 3, 6
    dhs, dhn, dcn = (rng.standard_normal(s).astype(dtype) for s in ((T, B, H), (B, H), (B, H)))
    dcn = dcn if mode == "lstm" else None
    ref = _run(mode, args, "numpy", reverse, dhs, dhn, dcn)
    fast = _run(mode, args, "numba", reverse, dhs, dhn, dcn)
    assert len(ref) == len(fast)
    for r, f in zip(ref, fast):
        assert f.dtype == dtype and f.shape == r.shape
        np.testing.assert_allclose(f, r, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", KR.MODES)
def test_numba_is_deterministic_and_leaves_inputs_alone(mode):
    rng = np.random.default_rng(1)
    args = _args(mode, np.float32, rng, T=7, B=4, I=5, H=33)
    copies = [None if a is None else a.copy() for a in args]
    dhs = rng.standard_normal((7, 4, 33)).astype(np.float32)
    first = _run(mode, args, "numba", False, dhs, None, None)
    second = _run(mode, args, "numba", False, dhs, None, None)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    for a, c in zip(args, copies):
        assert a is None or np.array_equal(a, c)


@pytest.mark.parametrize("mode", KR.MODES)
def test_no_bias_gives_no_bias_gradients(mode):
    args = _args(mode, np.float64, np.random.default_rng(2), bias=False)
    _, _, _, saved = KR.recurrent_forward(mode, *args)
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = KR.recurrent_backward(saved, np.ones((5, 3, 6)))
    assert db_ih is None and db_hh is None and dw_ih.shape == args[3].shape


def test_kernel_input_errors():
    args = list(_args("lstm", np.float64, np.random.default_rng(3)))
    with pytest.raises(ValueError, match="unknown mode"):
        KR.recurrent_forward("elman", *args)
    bad = list(args)
    bad[3] = bad[3][:, :2]
    with pytest.raises(ValueError, match="w_ih"):
        KR.recurrent_forward("lstm", *bad)
    bad = list(args)
    bad[1] = bad[1][:2]
    with pytest.raises(ValueError, match="h0"):
        KR.recurrent_forward("lstm", *bad)
    with pytest.raises(ValueError, match="T >= 1"):
        KR.recurrent_forward("lstm", args[0][:0], *args[1:])


# ----------------------------------------------------------------------------
# the fused Functions (also registered in the op registry)
# ----------------------------------------------------------------------------
_LAYERS = {"rnn_tanh": (R.rnn_layer, {"nonlinearity": "tanh"}),
           "rnn_relu": (R.rnn_layer, {"nonlinearity": "relu"}),
           "lstm": (R.lstm_layer, {}), "gru": (R.gru_layer, {})}


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("mode", KR.MODES)
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_function_gradcheck(mode, reverse, backend):
    """T=3, B=2, I=3, H=4, float64, random cotangents on every output."""
    rng = np.random.default_rng(4)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _args(mode, np.float64, rng, T=3, B=2, I=3, H=4)
    fn, kw = _LAYERS[mode]
    states = [h0, c0] if mode == "lstm" else [h0]
    tensors = [sn.Tensor(a, requires_grad=True) for a in (x, *states, w_ih, w_hh, b_ih, b_hh)]
    with use_backend(backend):
        assert sn.gradcheck(lambda *t: fn(*t, reverse=reverse, **kw), tensors)


def test_registry_entries_exist():
    from scratchnet.ops.registry import REGISTRY
    for name in ("FusedRNN", "FusedLSTM", "FusedGRU"):
        assert REGISTRY[name].make_samples(np.random.default_rng(0))
