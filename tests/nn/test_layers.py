"""Layers: gradchecks (float64), PyTorch parity (float32 and float64), errors,
initialisation, dtypes, dropout behaviour, repr."""
import math
import zlib

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
import scratchnet.ops.layers as layer_ops
from scratchnet import nn
from scratchnet.ops.registry import REGISTRY

RNG = np.random.default_rng(1234)
LAYER_FUNCTIONS = ["Linear", "Embedding", "Dropout", "LayerNorm"]


# ------------------------------------------------------------ registry samples
def _registry_cases():
    for name in LAYER_FUNCTIONS:
        entry = REGISTRY[name]
        assert entry.function.__module__ == layer_ops.__name__
        for sample in entry.make_samples(np.random.default_rng(zlib.crc32(name.encode()))):
            yield pytest.param(entry, sample, id=f"{name}-{sample.name}")


@pytest.mark.parametrize("entry,sample", list(_registry_cases()))
def test_layer_function_registry_samples_gradcheck(entry, sample):
    args = [sn.Tensor(a.astype(np.float64), requires_grad=True)
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in sample.args]
    tensors = [a for a in args if isinstance(a, sn.Tensor)]

    def fn(*ts):
        it = iter(ts)
        return entry.call(*[next(it) if isinstance(a, sn.Tensor) else a for a in args], **sample.kwargs)

    assert sn.gradcheck(fn, tensors)
    assert sn.gradcheck(fn, tensors, fast_mode=True)


# ------------------------------------------------------------ module gradchecks
def _gradcheck_module(module, x):
    """gradcheck of module(x) w.r.t. a float input x and every parameter (float64)."""
    module.double()
    params = list(module.parameters())
    inputs = ([sn.Tensor(x.astype(np.float64), requires_grad=True)] if x.dtype.kind == "f" else []) + params
    if x.dtype.kind == "f":
        return sn.gradcheck(lambda xx, *ps: module(xx), inputs)
    return sn.gradcheck(lambda *ps: module(x), inputs)


@pytest.mark.parametrize("make,x", [
    (lambda: nn.Linear(4, 3), RNG.standard_normal((2, 4))),
    (lambda: nn.Linear(4, 3, bias=False), RNG.standard_normal((2, 2, 4))),
    (lambda: nn.Embedding(5, 3), np.array([[0, 4, 4], [1, 2, 0]])),
    (lambda: nn.LayerNorm(4), RNG.standard_normal((3, 4))),
    (lambda: nn.LayerNorm((2, 3)), RNG.standard_normal((2, 2, 3))),
    (lambda: nn.LayerNorm(4, bias=False), RNG.standard_normal((3, 4))),
    (lambda: nn.LayerNorm(4, elementwise_affine=False), RNG.standard_normal((3, 4))),
    (lambda: nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.LayerNorm(5), nn.Tanh(), nn.Linear(5, 2),
                           nn.Sigmoid()), RNG.standard_normal((4, 3))),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU(approximate="tanh"), nn.Softmax(axis=0)),
     RNG.standard_normal((2, 3))),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.LogSoftmax()), RNG.standard_normal((2, 3))),
], ids=["linear", "linear-nobias-3d", "embedding", "layernorm", "layernorm-tuple", "layernorm-nobias",
        "layernorm-noaffine", "mlp-gelu-ln-tanh-sigmoid", "gelu-tanh-softmax0", "logsoftmax"])
def test_layer_gradcheck(make, x):
    sn.manual_seed(0)
    assert _gradcheck_module(make(), x)


def test_dropout_gradcheck_with_fixed_seed():
    x = sn.Tensor(RNG.standard_normal((3, 4)), requires_grad=True)

    def fn(t):
        sn.manual_seed(7)        # the same mask on every evaluation
        return F.dropout(t, 0.3)
    assert sn.gradcheck(fn, [x])


# ----------------------------------------------------------------- torch parity
def _torch():
    return pytest.importorskip("torch")


DTYPES = [(np.float32, 2e-5), (np.float64, 1e-10)]


def _check_parity(sn_mod, t_mod, x_np, dtype, atol, torch_to_sn=False):
    """Copy weights (sn -> torch, or torch -> sn), compare outputs, input grads
    and parameter grads under a random cotangent."""
    torch = _torch()
    sn_mod.to(dtype)
    t_mod.to(getattr(torch, np.dtype(dtype).name))
    if torch_to_sn:
        sn_mod.load_state_dict({k: v.detach().numpy() for k, v in t_mod.state_dict().items()})
    else:
        t_mod.load_state_dict({k: torch.tensor(v) for k, v in sn_mod.state_dict().items()})
    assert list(sn_mod.state_dict()) == list(t_mod.state_dict())
    is_float = x_np.dtype.kind == "f"
    x = sn.Tensor(x_np.astype(dtype), requires_grad=True) if is_float else x_np
    xt = torch.tensor(x_np.astype(dtype), requires_grad=True) if is_float else torch.tensor(x_np)
    y, yt = sn_mod(x), t_mod(xt)
    assert y.dtype == dtype and y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=atol, rtol=1e-4)
    cot = RNG.standard_normal(y.shape).astype(dtype)
    y.backward(cot)
    yt.backward(torch.tensor(cot))
    if is_float:
        assert x.grad.dtype == dtype
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), atol=atol, rtol=1e-4)
    t_params = dict(t_mod.named_parameters())
    for name, p in sn_mod.named_parameters():
        assert p.grad.dtype == dtype, name
        np.testing.assert_allclose(p.grad, t_params[name].grad.numpy(), atol=atol * 10, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, atol, bias):
    torch = _torch()
    _check_parity(nn.Linear(6, 4, bias=bias), torch.nn.Linear(6, 4, bias=bias),
                  RNG.standard_normal((2, 3, 6)), dtype, atol)
    _check_parity(nn.Linear(6, 4, bias=bias), torch.nn.Linear(6, 4, bias=bias),
                  RNG.standard_normal((5, 6)), dtype, atol, torch_to_sn=True)


@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch(dtype, atol, padding_idx):
    torch = _torch()
    ids = np.array([[0, 3, 3, 6], [6, 1, 0, 0]])
    _check_parity(nn.Embedding(7, 3, padding_idx=padding_idx), torch.nn.Embedding(7, 3, padding_idx=padding_idx),
                  ids, dtype, atol)


@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize("shape,kwargs,x_shape", [
    (5, {}, (3, 5)),
    ((3, 4), {}, (2, 3, 4)),
    (4, {"elementwise_affine": False}, (2, 3, 4)),
    (4, {"bias": False}, (6, 4)),
    ((2, 4), {"eps": 1e-3}, (3, 2, 4)),
])
def test_layernorm_matches_torch(dtype, atol, shape, kwargs, x_shape):
    torch = _torch()
    sn_mod, t_mod = nn.LayerNorm(shape, **kwargs), torch.nn.LayerNorm(shape, **kwargs)
    with sn.no_grad():   # non-trivial affine parameters
        for p in sn_mod.parameters():
            p.data[...] = RNG.standard_normal(p.shape)
    _check_parity(sn_mod, t_mod, RNG.standard_normal(x_shape), dtype, atol)


@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "softmax", "softmax0",
                                  "logsoftmax", "logsoftmax1", "dropout_eval", "dropout_p0"])
def test_activations_match_torch(dtype, atol, name):
    torch = _torch()
    tnn = torch.nn
    pairs = {"relu": (nn.ReLU(), tnn.ReLU()), "gelu": (nn.GELU(), tnn.GELU()),
             "gelu_tanh": (nn.GELU("tanh"), tnn.GELU("tanh")), "tanh": (nn.Tanh(), tnn.Tanh()),
             "sigmoid": (nn.Sigmoid(), tnn.Sigmoid()), "softmax": (nn.Softmax(), tnn.Softmax(dim=-1)),
             "softmax0": (nn.Softmax(axis=0), tnn.Softmax(dim=0)),
             "logsoftmax": (nn.LogSoftmax(), tnn.LogSoftmax(dim=-1)),
             "logsoftmax1": (nn.LogSoftmax(axis=1), tnn.LogSoftmax(dim=1)),
             "dropout_eval": (nn.Dropout(0.5).eval(), tnn.Dropout(0.5).eval()),
             "dropout_p0": (nn.Dropout(0.0), tnn.Dropout(0.0))}
    sn_mod, t_mod = pairs[name]
    x = RNG.standard_normal((3, 4, 5)) * 2
    x[np.abs(x) < 1e-3] = 0.5      # away from relu's kink
    _check_parity(sn_mod, t_mod, x, dtype, atol)


@pytest.mark.parametrize("dtype,atol", DTYPES)
def test_mlp_with_all_layers_matches_torch(dtype, atol):
    torch = _torch()
    tnn = torch.nn
    sn_mod = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.LayerNorm(8), nn.Dropout(0.2), nn.Linear(8, 3)).eval()
    t_mod = tnn.Sequential(tnn.Linear(5, 8), tnn.GELU(), tnn.LayerNorm(8), tnn.Dropout(0.2), tnn.Linear(8, 3)).eval()
    _check_parity(sn_mod, t_mod, RNG.standard_normal((4, 5)), dtype, atol)


# ------------------------------------------------------------------------ Linear
def test_linear_shapes_keys_and_init():
    sn.manual_seed(0)
    lin = nn.Linear(100, 30)
    assert lin.weight.shape == (30, 100) and lin.bias.shape == (30,)
    assert list(lin.state_dict()) == ["weight", "bias"]
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    bound = 1 / math.sqrt(100)
    for p in (lin.weight, lin.bias):
        assert np.abs(p.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.9 * bound         # fills the range
    assert abs(lin.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound * 10
    assert nn.Linear(3, 2, bias=False).bias is None
    assert list(nn.Linear(3, 2, bias=False).state_dict()) == ["weight"]
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64


def test_linear_1d_input_and_leading_dims():
    lin = nn.Linear(4, 2)
    assert lin(sn.randn(4)).shape == (2,)
    assert lin(sn.randn(2, 3, 5, 4)).shape == (2, 3, 5, 2)
    assert lin(np.ones((3, 4), dtype=np.float32)).shape == (3, 2)


def test_linear_wrong_features_names_layer_and_numbers():
    lin = nn.Linear(4, 2)
    with pytest.raises(ValueError) as e:
        lin(sn.randn(2, 5))
    msg = str(e.value)
    assert "Linear(in_features=4, out_features=2" in msg and "5" in msg and "4" in msg and "(2, 5)" in msg
    with pytest.raises(ValueError, match="linear: input has 3 features"):
        F.linear(sn.randn(2, 3), sn.randn(2, 4))
    with pytest.raises(ValueError, match="bias"):
        F.linear(sn.randn(2, 4), sn.randn(2, 4), sn.randn(3))
    with pytest.raises(TypeError, match="floating-point"):
        lin(sn.Tensor(np.ones((2, 4), dtype=np.int64)))


def test_linear_dtype_rules():
    lin = nn.Linear(4, 3)
    x32 = sn.Tensor(RNG.standard_normal((2, 4)).astype(np.float32), requires_grad=True)
    y = lin(x32)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x32.grad.dtype == lin.weight.grad.dtype == lin.bias.grad.dtype == np.float32
    # float64 input to a float32 layer: computed in the promoted dtype; grads keep each input's dtype
    lin.zero_grad()
    x64 = sn.Tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    y = lin(x64)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x64.grad.dtype == np.float64 and lin.weight.grad.dtype == np.float32


def test_functional_linear_matches_composed():
    x, w, b = (sn.Tensor(RNG.standard_normal(s), requires_grad=True) for s in [(3, 4), (2, 4), (2,)])
    fused = F.linear(x, w, b)
    composed = x @ w.T + b
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12)
    g = RNG.standard_normal((3, 2))
    np.testing.assert_allclose(sn.grad(fused, [x, w, b], g)[1], sn.grad(composed, [x, w, b], g)[1], rtol=1e-12)


# --------------------------------------------------------------------- Embedding
def test_embedding_init_padding_and_shapes():
    sn.manual_seed(0)
    emb = nn.Embedding(1000, 8, padding_idx=3)
    assert emb.weight.shape == (1000, 8) and list(emb.state_dict()) == ["weight"]
    assert np.all(emb.weight.data[3] == 0)
    w = np.delete(emb.weight.data, 3, axis=0)
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05       # N(0, 1)
    assert emb(np.zeros((2, 3, 4), dtype=np.int64)).shape == (2, 3, 4, 8)
    assert emb(sn.Tensor(np.array([5, 6]))).shape == (2, 8)
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_embedding_grad_accumulates_and_padding_gets_zero():
    emb = nn.Embedding(5, 2, padding_idx=0)
    out = emb(np.array([[1, 1, 0], [1, 4, 0]]))
    out.backward(np.ones(out.shape, dtype=np.float32))
    expected = np.zeros((5, 2), dtype=np.float32)
    expected[1] = 3
    expected[4] = 1
    np.testing.assert_array_equal(emb.weight.grad, expected)


@pytest.mark.parametrize("bad", [-1, 5, 100])
def test_embedding_out_of_range_ids_raise_indexerror(bad):
    emb = nn.Embedding(5, 2)
    with pytest.raises(IndexError) as e:
        emb(np.array([0, bad, 1]))
    assert str(bad) in str(e.value) and "num_embeddings=5" in str(e.value)
    with pytest.raises(IndexError, match=str(bad)):
        F.embedding(sn.Tensor(np.array([[bad]])), emb.weight)


def test_embedding_float_ids_raise_typeerror():
    with pytest.raises(TypeError, match="integers"):
        nn.Embedding(5, 2)(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 2, padding_idx=5)


# ----------------------------------------------------------------------- Dropout
def test_dropout_scales_kept_elements_and_repeats_with_seed():
    x = sn.ones(200, 300)
    sn.manual_seed(3)
    y1 = F.dropout(x, 0.25)
    sn.manual_seed(3)
    y2 = nn.Dropout(0.25)(x)
    np.testing.assert_array_equal(y1.data, y2.data)
    vals = np.unique(y1.data)
    np.testing.assert_allclose(vals, [0, 1 / 0.75], rtol=1e-6)
    assert abs((y1.data == 0).mean() - 0.25) < 0.01
    assert y1.dtype == np.float32


def test_dropout_gradient_uses_the_same_mask():
    x = sn.Tensor(RNG.standard_normal((50, 40)).astype(np.float32), requires_grad=True)
    y = F.dropout(x, 0.5)
    y.backward(np.ones(y.shape, dtype=np.float32))
    np.testing.assert_array_equal(x.grad, (y.data != 0) * np.float32(2))
    assert x.grad.dtype == np.float32


def test_dropout_eval_p0_and_p1():
    x = sn.Tensor(RNG.standard_normal((4, 5)), requires_grad=True)
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    y = nn.Dropout(1.0)(x)
    assert np.all(y.data == 0)
    y.sum().backward()
    assert np.all(x.grad == 0)


@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.5, ValueError), ("0.5", TypeError),
                                      (True, TypeError)])
def test_dropout_p_validated(p, error):
    with pytest.raises(error, match="p"):
        nn.Dropout(p)
    with pytest.raises(error, match="p"):
        F.dropout(sn.ones(2), p)


# --------------------------------------------------------------------- LayerNorm
def test_layernorm_params_and_normalisation():
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.shape == ln.bias.shape == (2, 3)
    assert np.all(ln.weight.data == 1) and np.all(ln.bias.data == 0)
    assert list(ln.state_dict()) == ["weight", "bias"]
    y = ln(sn.Tensor(RNG.standard_normal((4, 2, 3)).astype(np.float32) * 5 + 3)).data
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.reshape(4, -1).mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(y.reshape(4, -1).var(1), 1, atol=1e-3)
    assert list(nn.LayerNorm(3, elementwise_affine=False).state_dict()) == []
    assert list(nn.LayerNorm(3, bias=False).state_dict()) == ["weight"]


def test_layernorm_shape_errors():
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(4)(sn.randn(2, 5))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match="weight"):
        F.layer_norm(sn.randn(2, 4), 4, weight=sn.randn(3))


# -------------------------------------------------------------------------- repr
def test_extra_repr_like_pytorch():
    assert repr(nn.Linear(4, 2)) == "Linear(in_features=4, out_features=2, bias=True)"
    assert repr(nn.Linear(4, 2, bias=False)) == "Linear(in_features=4, out_features=2, bias=False)"
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1, inplace=False)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softmax(axis=1)) == "Softmax(axis=1)"
    assert repr(nn.Tanh()) == "Tanh()" and repr(nn.Sigmoid()) == "Sigmoid()"


def test_layer_reprs_equal_torch():
    torch = _torch()
    for ours, theirs in [(nn.Linear(4, 2), torch.nn.Linear(4, 2)), (nn.Embedding(10, 3, padding_idx=1),
                         torch.nn.Embedding(10, 3, padding_idx=1)), (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3))),
                         (nn.LayerNorm(3, bias=False), torch.nn.LayerNorm(3, bias=False)),
                         (nn.LayerNorm(3, elementwise_affine=False), torch.nn.LayerNorm(3, elementwise_affine=False)),
                         (nn.Dropout(0.3), torch.nn.Dropout(0.3)), (nn.GELU(), torch.nn.GELU())]:
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("max_norm,norm_type,by_freq", [(None, 2.0, True), (1.0, 2.0, False), (0.5, 1.0, True)])
def test_embedding_max_norm_and_scale_grad_by_freq_match_torch(max_norm, norm_type, by_freq):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    ids = np.array([[0, 2, 2], [5, 2, 1]])
    ours = nn.Embedding(6, 4, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=by_freq)
    ours.load_state_dict({"weight": w})
    theirs = torch.nn.Embedding(6, 4, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=by_freq)
    theirs.load_state_dict({"weight": torch.tensor(w)})
    g = rng.standard_normal((2, 3, 4)).astype(np.float32)
    out = ours(ids)
    out.backward(g)
    tout = theirs(torch.tensor(ids))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert repr(ours) == repr(theirs)


def test_linear_with_zero_features_matches_torch():
    # was: "cannot reshape array of size 0" for in_features = 0
    torch = pytest.importorskip("torch")
    for fin, fout in ((0, 3), (3, 0)):
        mine = nn.Linear(fin, fout)
        theirs = torch.nn.Linear(fin, fout)
        theirs.load_state_dict({k: torch.tensor(v) for k, v in mine.state_dict().items()})
        x = np.ones((2, 4, fin), dtype=np.float32)
        out = mine(sn.tensor(x))
        ref = theirs(torch.tensor(x))
        np.testing.assert_array_equal(out.data, ref.detach().numpy())
        out.sum().backward()
        ref.sum().backward()
        np.testing.assert_array_equal(mine.bias.grad, theirs.bias.grad.numpy())
        assert mine.weight.grad.shape == (fout, fin)


@pytest.mark.parametrize("make", [lambda v: nn.Linear(v, 3), lambda v: nn.Linear(3, v),
                                  lambda v: nn.Embedding(v, 4), lambda v: nn.Embedding(5, v)])
def test_layer_sizes_must_be_ints(make):
    # was: 7.5 silently became 7
    with pytest.raises(TypeError, match="must be an int"):
        make(7.5)
    with pytest.raises(TypeError, match="must be an int"):
        make("7")
    with pytest.raises(ValueError, match=">= 0"):
        make(-1)
    make(np.int64(2))


def test_layer_norm_eps_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="layer_norm: eps"):
        F.layer_norm(sn.ones((2, 4)), 4, eps="x")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_of_a_0d_tensor_matches_torch(name, axis):
    """PyTorch treats a 0-d tensor as one class: softmax 1, log_softmax 0, gradient 0."""
    torch = _torch()
    x = sn.Tensor(np.array(0.7), requires_grad=True)
    xt = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y, yt = getattr(F, name)(x, axis=axis), getattr(torch, name)(xt, axis)
    (y * 3.0).backward()
    (yt * 3.0).backward()
    assert y.shape == () and y.item() == yt.item() and x.grad == xt.grad.item()
    module = nn.Softmax(axis) if name == "softmax" else nn.LogSoftmax(axis)
    assert module(np.float32(2.0)).dtype == np.float32
    with pytest.raises(ValueError, match=f"{name}: axis 1 is out of range for a 0-d tensor"):
        getattr(F, name)(x, axis=1)


@pytest.mark.parametrize("x_shape,bias_shape", [((3, 4), ()), ((3, 4), (1,)), ((3, 4), (3, 5)),
                                                ((2, 3, 4), (3, 5)), ((4,), ())])
def test_functional_linear_bias_broadcasts_to_the_output_like_torch(x_shape, bias_shape):
    torch = _torch()
    r = np.random.default_rng(5)
    arrays = [r.standard_normal(x_shape), r.standard_normal((5, 4)), r.standard_normal(bias_shape)]
    ours = [sn.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = F.linear(*ours), torch.nn.functional.linear(*theirs)
    cot = r.standard_normal(y.shape)
    (y * cot).sum().backward()
    (yt * torch.tensor(cot)).sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(5,\) or broadcast to the "
                                         r"output shape \(3, 5\), got \(4,\)"):
        F.linear(np.ones((3, 4)), np.ones((5, 4)), np.ones(4))


def test_layernorm_input_errors_name_the_layer_and_shapes():
    ln = nn.LayerNorm((2, 3))
    with pytest.raises(ValueError, match=r"^LayerNorm\(\(2, 3\), eps=1e-05.*\): input shape \(4, 3, 3\) does not "
                                         r"end with normalized_shape \(2, 3\) \(expected \(\*, 2, 3\)\)"):
        ln(sn.randn(4, 3, 3))
    with pytest.raises(TypeError, match=r"^LayerNorm\(.*\): input must be a floating-point tensor, got dtype int64"):
        ln(np.ones((4, 2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"^layer_norm: input shape \(3,\) does not end with normalized_shape"):
        F.layer_norm(sn.randn(3), (2, 3))
