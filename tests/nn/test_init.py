"""nn.init (formulas, statistics, dtype, seeding, PyTorch agreement) and
nn.utils gradient clipping (PyTorch parity)."""
import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn
from scratchnet.nn import init
from scratchnet.nn.utils import clip_grad_norm_, clip_grad_value_


def _param(*shape, dtype=np.float32):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("nonlinearity,param,expected", [
    ("linear", None, 1.0), ("sigmoid", None, 1.0), ("conv2d", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", math.sqrt(5), math.sqrt(2 / 6)), ("selu", None, 0.75)])
def test_calculate_gain(nonlinearity, param, expected):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected)


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for nl in ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]:
        assert init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swishy")


@pytest.mark.parametrize("fn,kwargs", [
    (init.uniform_, {"a": -0.5, "b": 0.5}), (init.normal_, {"std": 0.1}), (init.xavier_uniform_, {}),
    (init.xavier_normal_, {}), (init.kaiming_uniform_, {"a": math.sqrt(5)}), (init.kaiming_normal_, {}),
    (init.orthogonal_, {}), (init.trunc_normal_, {"std": 0.02}), (init.zeros_, {}), (init.ones_, {}),
    (init.constant_, {"val": 0.3})])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inits_are_in_place_keep_dtype_and_repeat_with_seed(fn, kwargs, dtype):
    p = _param(6, 5, dtype=dtype)
    buf = p.data
    sn.manual_seed(11)
    assert fn(p, **kwargs) is p
    assert p.data is buf and p.dtype == dtype and p.requires_grad and p.is_leaf
    first = p.data.copy()
    sn.manual_seed(11)
    fn(p, **kwargs)
    np.testing.assert_array_equal(p.data, first)


def test_fans():
    assert init.calculate_fan_in_and_fan_out(_param(30, 20)) == (20, 30)
    assert init.calculate_fan_in_and_fan_out(_param(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="at least 2"):
        init.xavier_uniform_(_param(5))


def test_kaiming_and_xavier_bounds_and_std():
    sn.manual_seed(0)
    w = _param(400, 300, dtype=np.float64)
    init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(6 / 400)
    init.kaiming_normal_(w, nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2 / 300), rel=0.02)
    init.xavier_uniform_(w, gain=2.0)
    bound = 2 * math.sqrt(6 / 700)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(math.sqrt(2 / 700), rel=0.02)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_init_statistics_match_torch():
    torch = pytest.importorskip("torch")
    tinit = torch.nn.init
    torch.manual_seed(0)
    sn.manual_seed(0)
    cases = [(init.kaiming_uniform_, tinit.kaiming_uniform_, {"a": math.sqrt(5)}, True),
             (init.kaiming_normal_, tinit.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}, False),
             (init.xavier_uniform_, tinit.xavier_uniform_, {"gain": 1.5}, True),
             (init.xavier_normal_, tinit.xavier_normal_, {}, False),
             (init.trunc_normal_, tinit.trunc_normal_, {"std": 0.5, "a": -0.6, "b": 0.8}, True)]
    for ours, theirs, kw, bounded in cases:
        w, wt = _param(256, 128), torch.empty(256, 128)
        ours(w, **kw)
        theirs(wt, **kw)
        wt = wt.numpy()
        assert w.data.std() == pytest.approx(wt.std(), rel=0.03), ours.__name__
        assert w.data.mean() == pytest.approx(wt.mean(), abs=float(0.03 * wt.std())), ours.__name__
        if bounded:   # the same support: extremes agree within sampling error
            assert w.data.min() == pytest.approx(wt.min(), abs=float(0.02 * wt.std()))
            assert w.data.max() == pytest.approx(wt.max(), abs=float(0.02 * wt.std()))
    # default Linear init: same bounds as torch's
    lin, tlin = nn.Linear(200, 50), torch.nn.Linear(200, 50)
    for p, tp in [(lin.weight, tlin.weight), (lin.bias, tlin.bias)]:
        tb = tp.detach().abs().max().item()
        assert np.abs(p.data).max() <= 1 / math.sqrt(200) and tb <= 1 / math.sqrt(200)


@pytest.mark.parametrize("shape", [(6, 6), (4, 10), (10, 4), (3, 2, 2)])
def test_orthogonal(shape):
    torch = pytest.importorskip("torch")
    w = _param(*shape, dtype=np.float64)
    init.orthogonal_(w, gain=2.0)
    m = w.data.reshape(shape[0], -1)
    small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(small, 4 * np.eye(small.shape[0]), atol=1e-10)
    wt = torch.empty(*shape, dtype=torch.float64)
    torch.nn.init.orthogonal_(wt, gain=2.0)
    mt = wt.numpy().reshape(shape[0], -1)
    small_t = mt @ mt.T if mt.shape[0] <= mt.shape[1] else mt.T @ mt
    np.testing.assert_allclose(small, small_t, atol=1e-10)


def test_trunc_normal_respects_bounds():
    sn.manual_seed(0)
    w = _param(100, 100)
    init.trunc_normal_(w, mean=1.0, std=2.0, a=0.0, b=1.5)
    assert w.data.min() >= 0 and w.data.max() <= 1.5
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(w, a=1.0, b=1.0)


def test_init_records_no_graph_and_works_on_tensors_and_arrays():
    p = _param(3, 4)
    init.normal_(p)
    assert p.grad_fn is None and p.grad is None
    arr = np.zeros((3, 4), dtype=np.float32)
    init.ones_(arr)
    assert np.all(arr == 1)
    with pytest.raises(TypeError):
        init.zeros_([1.0, 2.0])


# -------------------------------------------------------------------- clipping
def _params_with_grads(rng, dtype=np.float32):
    shapes = [(4, 3), (3,), (2, 2, 2)]
    params = [nn.Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]
    for p in params:
        p.grad = (rng.standard_normal(p.shape) * 3).astype(dtype)
    params.append(nn.Parameter(np.zeros(2, dtype=dtype)))       # grad None: skipped
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    torch = pytest.importorskip("torch")
    params = _params_with_grads(np.random.default_rng(0), dtype)
    tparams = [torch.tensor(p.data, requires_grad=True) for p in params]
    for p, tp in zip(params, tparams):
        tp.grad = None if p.grad is None else torch.tensor(p.grad.copy())
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm,
                                            norm_type=math.inf if norm_type == "inf" else norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(ttotal.item(), rel=1e-5)
    for p, tp in zip(params, tparams):
        if p.grad is None:
            assert tp.grad is None
            continue
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_formula_and_edge_cases():
    p = nn.Parameter(np.zeros(2, dtype=np.float64))
    p.grad = np.array([3.0, 4.0])
    assert clip_grad_norm_(p, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad, np.array([3.0, 4.0]) / (5 + 1e-6))
    assert clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0) == 0.0     # no grads
    p.grad = np.array([np.nan, 1.0])
    with pytest.raises(ValueError, match="nan"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_float32_large_and_nonfinite_gradients():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    p.grad = np.array([3e20, 4e20, 0.0], dtype=np.float32)        # squares overflow float32
    assert clip_grad_norm_(p, 1.0) == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(p.grad, np.array([0.6, 0.8, 0.0], dtype=np.float32), rtol=1e-5)
    assert p.grad.dtype == np.float32
    for bad, expected in ((np.inf, math.inf), (np.nan, None)):
        p.grad = np.array([bad, 1.0, 2.0], dtype=np.float32)
        total = clip_grad_norm_(p, 1.0)
        assert math.isinf(total) if expected else math.isnan(total)
        with pytest.raises(ValueError, match="clip_grad_norm_"):
            clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    params = _params_with_grads(np.random.default_rng(1))
    tparams = [torch.tensor(p.data, requires_grad=True) for p in params[:-1]]
    for p, tp in zip(params, tparams):
        tp.grad = torch.tensor(p.grad.copy())
    clip_grad_value_(params, 0.7)
    torch.nn.utils.clip_grad_value_(tparams, 0.7)
    for p, tp in zip(params, tparams):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    assert params[-1].grad is None
