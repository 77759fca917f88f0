"""Losses: gradchecks (registry samples and the composed paths), PyTorch
parity over every option, extreme logits, error messages, loss modules."""
import itertools
import zlib

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn
from scratchnet.ops import losses
from scratchnet.ops.registry import REGISTRY

LOSS_FUNCTIONS = ["MSE", "L1", "BinaryCrossEntropy", "BinaryCrossEntropyWithLogits",
                  "CrossEntropy", "NLL"]


def _t(a, grad=True):
    return sn.Tensor(np.array(a, dtype=np.float64), requires_grad=grad)


# ---------------------------------------------------------------- gradchecks
def _registry_cases():
    for name in LOSS_FUNCTIONS:
        entry = REGISTRY[name]
        for sample in entry.make_samples(np.random.default_rng(zlib.crc32(name.encode()))):
            yield pytest.param(entry, sample, id=f"{name}-{sample.name}")


@pytest.mark.parametrize("entry,sample", list(_registry_cases()))
def test_registry_samples_gradcheck(entry, sample):
    """Same check as tests/ops/test_registry.py, run here too so that the
    losses are covered even if scratchnet.ops does not import this module."""
    args = [_t(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in sample.args]
    tensors = [a for a in args if isinstance(a, sn.Tensor)]

    def fn(*ts):
        it = iter(ts)
        return entry.call(*[next(it) if isinstance(a, sn.Tensor) else a for a in args],
                          **sample.kwargs)

    assert sn.gradcheck(fn, tensors)
    assert sn.gradcheck(fn, tensors, fast_mode=True)


def test_every_loss_function_is_registered():
    for name in LOSS_FUNCTIONS:
        assert REGISTRY[name].function is getattr(losses, name)


PROB_SHAPES = [(3, 4), (2, 4, 3), (4,)]


@pytest.mark.parametrize("shape", PROB_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_probability_targets_random_cotangent(shape, reduction):
    r = np.random.default_rng(1)
    x, t = _t(r.normal(size=shape)), _t(r.uniform(0.1, 1.0, size=shape))
    w = r.uniform(0.5, 2.0, size=4)
    cot = r.normal(size=shape[:1] + shape[2:] if len(shape) > 1 else ())

    def fn(x, t):
        loss = F.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=0.1)
        return (loss * cot).sum() if reduction == "none" else loss

    assert sn.gradcheck(fn, [x, t])


@pytest.mark.parametrize("fn,make_target", [
    (F.cross_entropy, lambda r: r.integers(0, 4, size=(2, 3))),
    (F.nll_loss, lambda r: r.integers(0, 4, size=(2, 3))),
    (F.mse_loss, lambda r: r.normal(size=(2, 4, 3))),
    (F.binary_cross_entropy_with_logits, lambda r: r.uniform(size=(2, 4, 3))),
])
def test_gradcheck_none_reduction_random_cotangent(fn, make_target):
    r = np.random.default_rng(2)
    x, target = _t(r.normal(size=(2, 4, 3))), make_target(r)
    out_shape = fn(x, target, reduction="none").shape
    cot = r.normal(size=out_shape)
    assert sn.gradcheck(lambda x: (fn(x, target, reduction="none") * cot).sum(), [x])


# ----------------------------------------------------------- PyTorch parity
def _compare(ours, theirs, x, xt, extra=(), rtol=1e-10, atol=1e-12):
    """Loss value and gradients (x and the extra (ours, torch) pairs) agree."""
    torch = pytest.importorskip("torch")
    cot = np.random.default_rng(3).normal(size=ours.shape)
    (ours * cot).sum().backward()
    (theirs * torch.tensor(cot, dtype=theirs.dtype)).sum().backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=rtol, atol=atol)
    for a, b in [(x, xt), *extra]:
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=rtol, atol=atol)


def _pair(a, dtype=np.float64):
    torch = pytest.importorskip("torch")
    a = np.asarray(a, dtype=dtype)
    return sn.Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


CLASS_SHAPES = {"(N, C)": ((5, 4), (5,)), "(N, C, d)": ((3, 4, 2), (3, 2)),
                "(N, C, d1, d2)": ((2, 4, 2, 3), (2, 2, 3)), "(C,)": ((4,), ())}


def _class_case(shape_key, ignore, seed=0):
    r = np.random.default_rng(seed)
    xshape, tshape = CLASS_SHAPES[shape_key]
    t = r.integers(0, 4, size=tshape)
    if ignore == "some" and t.size > 1:
        t.flat[::2] = -100
    elif ignore == "all":
        t[...] = -100
    return r.normal(size=xshape), t, r.uniform(0.5, 2.0, size=4)


@pytest.mark.parametrize("shape_key,ignore,weighted,smoothing,reduction", [
    c for c in itertools.product(CLASS_SHAPES, ["none", "some", "all"], [False, True],
                                 [0.0, 0.15], ["mean", "sum", "none"])])
def test_cross_entropy_class_indices_matches_torch(shape_key, ignore, weighted, smoothing,
                                                   reduction):
    torch = pytest.importorskip("torch")
    x_np, t, w = _class_case(shape_key, ignore)
    x, xt = _pair(x_np)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    ours = F.cross_entropy(x, t, weight=w if weighted else None, **kw)
    theirs = torch.nn.functional.cross_entropy(
        xt, torch.tensor(t), weight=torch.tensor(w) if weighted else None, **kw)
    if ignore == "all" and reduction == "mean":   # 0/0: nan in both, zero gradient here
        assert np.isnan(ours.item()) and torch.isnan(theirs)
        ours.backward()
        assert np.all(x.grad == 0)
        return
    _compare(ours, theirs, x, xt)


@pytest.mark.parametrize("shape", PROB_SHAPES)
@pytest.mark.parametrize("weighted,smoothing,reduction", list(itertools.product(
    [False, True], [0.0, 0.2], ["mean", "sum", "none"])))
def test_cross_entropy_probabilities_matches_torch(shape, weighted, smoothing, reduction):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(4)
    p = r.uniform(size=shape)
    x, xt = _pair(r.normal(size=shape))
    t, tt = _pair(p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True))
    w = r.uniform(0.5, 2.0, size=4)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    ours = F.cross_entropy(x, t, weight=w if weighted else None, **kw)
    theirs = torch.nn.functional.cross_entropy(xt, tt, weight=torch.tensor(w) if weighted else None, **kw)
    _compare(ours, theirs, x, xt, extra=[(t, tt)])


@pytest.mark.parametrize("shape_key,ignore,weighted,reduction", list(itertools.product(
    CLASS_SHAPES, ["none", "some", "all"], [False, True], ["mean", "sum", "none"])))
def test_nll_loss_matches_torch(shape_key, ignore, weighted, reduction):
    torch = pytest.importorskip("torch")
    x_np, t, w = _class_case(shape_key, ignore, seed=5)
    x, xt = _pair(x_np)
    ours = F.nll_loss(x, t, weight=w if weighted else None, reduction=reduction)
    theirs = torch.nn.functional.nll_loss(xt, torch.tensor(t), reduction=reduction,
                                          weight=torch.tensor(w) if weighted else None)
    if ignore == "all" and reduction == "mean":
        assert np.isnan(ours.item()) and torch.isnan(theirs)
        return
    _compare(ours, theirs, x, xt)


WEIGHTS = {"none": None, "(C,)": (4,), "(N, 1)": (3, 1)}


@pytest.mark.parametrize("weight,reduction", list(itertools.product(WEIGHTS, ["mean", "sum", "none"])))
def test_binary_cross_entropy_matches_torch(weight, reduction):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(6)
    x_np = r.uniform(0.05, 0.95, size=(3, 4))
    x_np[0, :2] = [0.0, 1.0]                              # the log clamp at -100
    x, xt = _pair(x_np)
    y, yt = _pair(r.uniform(size=(3, 4)).round(1))
    w = None if WEIGHTS[weight] is None else r.uniform(0.5, 2, size=WEIGHTS[weight])
    ours = F.binary_cross_entropy(x, y, weight=w, reduction=reduction)
    theirs = torch.nn.functional.binary_cross_entropy(
        xt, yt, weight=None if w is None else torch.tensor(w), reduction=reduction)
    _compare(ours, theirs, x, xt)   # target grad differs at x in {0, 1} only: see below
    ok = (x_np > 0) & (x_np < 1)
    np.testing.assert_allclose(y.grad[ok], yt.grad.numpy()[ok], rtol=1e-10)


@pytest.mark.parametrize("weight,pos_weight,reduction", list(itertools.product(
    WEIGHTS, [False, True], ["mean", "sum", "none"])))
def test_bce_with_logits_matches_torch(weight, pos_weight, reduction):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(7)
    x, xt = _pair(r.normal(scale=3, size=(3, 4)))
    y, yt = _pair(r.uniform(size=(3, 4)))
    w = None if WEIGHTS[weight] is None else r.uniform(0.5, 2, size=WEIGHTS[weight])
    pw = r.uniform(0.5, 3, size=4) if pos_weight else None
    ours = F.binary_cross_entropy_with_logits(x, y, weight=w, reduction=reduction, pos_weight=pw)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, yt, weight=None if w is None else torch.tensor(w), reduction=reduction,
        pos_weight=None if pw is None else torch.tensor(pw))
    _compare(ours, theirs, x, xt, extra=[(y, yt)])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_match_torch(name, reduction):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(8)
    x, xt = _pair(r.normal(size=(3, 4)))
    y, yt = _pair(r.normal(size=(3, 4)))
    ours = getattr(F, name)(x, y, reduction=reduction)
    theirs = getattr(torch.nn.functional, name)(xt, yt, reduction=reduction)
    _compare(ours, theirs, x, xt, extra=[(y, yt)])


def test_float32_matches_torch_and_stays_float32():
    torch = pytest.importorskip("torch")
    x_np, t, w = _class_case("(N, C, d)", "some")
    x, xt = _pair(x_np, np.float32)
    ours = F.cross_entropy(x, t, weight=w, label_smoothing=0.1)
    theirs = torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1,
                                               weight=torch.tensor(w, dtype=torch.float32))
    _compare(ours, theirs, x, xt, rtol=1e-5, atol=1e-6)
    assert ours.dtype == np.float32 and x.grad.dtype == np.float32
    for fn, target in [(F.mse_loss, np.zeros((3, 4, 2))), (F.l1_loss, np.ones((3, 4, 2))),
                       (F.binary_cross_entropy_with_logits, np.ones((3, 4, 2))),
                       (F.cross_entropy, np.full((3, 4, 2), 0.25))]:
        x.grad = None
        loss = fn(x, target)
        loss.backward()
        assert loss.dtype == np.float32 and x.grad.dtype == np.float32, fn.__name__


# ----------------------------------------------------------- extreme values
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_give_finite_loss_and_gradient(dtype):
    x_np = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4]], dtype=dtype)
    probs = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    cases = [
        lambda x: F.cross_entropy(x, np.array([1, 0])),
        lambda x: F.cross_entropy(x, np.array([1, 0]), label_smoothing=0.1, weight=np.ones(3)),
        lambda x: F.cross_entropy(x, probs, label_smoothing=0.1),
        lambda x: F.cross_entropy(x.reshape(1, 2, 3), np.array([[0, 1, 1]])),
        lambda x: F.nll_loss(F.log_softmax(x, axis=1), np.array([1, 0])),
        lambda x: F.binary_cross_entropy_with_logits(x, np.ones((2, 3)), pos_weight=np.full(3, 2.0)),
        lambda x: F.binary_cross_entropy(F.sigmoid(x), np.zeros((2, 3))),
    ]
    for i, case in enumerate(cases):
        x = sn.Tensor(x_np, requires_grad=True)
        with np.errstate(invalid="raise"):     # no inf - inf, 0 * inf or 0 / 0 anywhere
            loss = case(x)
            loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad)), i


def test_extreme_logits_match_torch():
    torch = pytest.importorskip("torch")
    x_np = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4]])
    t = np.array([1, 0])
    x, xt = _pair(x_np)
    _compare(F.cross_entropy(x, t, label_smoothing=0.1),
             torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1), x, xt)
    x, xt = _pair(x_np)
    _compare(F.binary_cross_entropy_with_logits(x, np.eye(2, 3)),
             torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.eye(2, 3, dtype=torch.float64)),
             x, xt)


# ------------------------------------------------------------------- errors
def test_shape_errors_name_the_loss_and_both_shapes():
    x = sn.randn(3, 4)
    for call, name in [(lambda: F.cross_entropy(x, np.zeros(4, int)), "cross_entropy"),
                       (lambda: F.nll_loss(x, np.zeros((3, 2), int)), "nll_loss"),
                       (lambda: F.mse_loss(x, np.zeros(4)), "mse_loss"),
                       (lambda: F.l1_loss(x, np.zeros((4, 3))), "l1_loss"),
                       (lambda: F.binary_cross_entropy(F.sigmoid(x), np.zeros(4)), "binary_cross_entropy"),
                       (lambda: F.binary_cross_entropy_with_logits(x, np.zeros(4)),
                        "binary_cross_entropy_with_logits")]:
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith(name + ":") and "(3, 4)" in msg, msg
    with pytest.raises(ValueError, match=r"cross_entropy: weight of shape \(3,\)"):
        F.cross_entropy(x, np.zeros(3, int), weight=np.ones(3))


def test_index_and_type_errors():
    x = sn.randn(3, 4)
    with pytest.raises(IndexError, match="cross_entropy: target class 4 .* 4 classes"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="nll_loss: target class -1 .* 4 classes"):
        F.nll_loss(x, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="cross_entropy: class-index target must hold integers"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="probabilities and must be floating-point"):
        F.cross_entropy(x, np.zeros((3, 4), int))
    with pytest.raises(TypeError, match="nll_loss"):
        F.nll_loss(x, np.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input values must be in \[0, 1\]"):
        F.binary_cross_entropy(x * 0 + 2, np.ones((3, 4)))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.zeros(3, int), label_smoothing=1.5)
    assert np.isfinite(F.cross_entropy(x, np.array([0, -100, 1])).item())


def test_targets_as_tensor_or_array_agree():
    x = sn.randn(3, 4)
    t = np.array([0, 3, 1])
    assert F.cross_entropy(x, t).item() == F.cross_entropy(x, sn.tensor(t)).item()
    y = np.random.default_rng(0).uniform(size=(3, 4))
    assert F.mse_loss(x, y).item() == F.mse_loss(x, sn.tensor(y)).item()


def test_inputs_are_not_modified():
    x_np = np.random.default_rng(0).normal(size=(3, 4))
    x = sn.Tensor(x_np.copy(), requires_grad=True)
    F.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=0.1).backward()
    F.binary_cross_entropy_with_logits(x, np.ones((3, 4))).backward()
    np.testing.assert_array_equal(x.data, x_np)


# ------------------------------------------------------------------ modules
def test_loss_modules_match_torch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(9)
    w, pw = r.uniform(0.5, 2, 4), r.uniform(0.5, 2, 4)
    x_np, idx = r.normal(size=(5, 4)), np.array([0, 3, -1, 2, 1])
    y_np = r.uniform(size=(5, 4))
    cases = [
        (nn.CrossEntropyLoss(weight=w, ignore_index=-1, label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=-1, label_smoothing=0.1), idx),
        (nn.NLLLoss(weight=w, ignore_index=-1, reduction="sum"),
         torch.nn.NLLLoss(weight=torch.tensor(w), ignore_index=-1, reduction="sum"), idx),
        (nn.BCEWithLogitsLoss(pos_weight=pw), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw)), y_np),
        (nn.MSELoss(reduction="none"), torch.nn.MSELoss(reduction="none"), y_np),
        (nn.L1Loss(), torch.nn.L1Loss(), y_np),
    ]
    for ours, theirs, target in cases:
        x, xt = _pair(x_np)
        _compare(ours(x, target), theirs(xt, torch.tensor(target)), x, xt)
    x, xt = _pair(1 / (1 + np.exp(-x_np)))
    _compare(nn.BCELoss(weight=w)(x, y_np),
             torch.nn.BCELoss(weight=torch.tensor(w))(xt, torch.tensor(y_np)), x, xt)


def test_loss_module_arguments_and_state():
    m = nn.CrossEntropyLoss(np.ones(3), None, 7, None, "sum", 0.2)   # PyTorch's positional order
    assert (m.ignore_index, m.reduction, m.label_smoothing) == (7, "sum", 0.2)
    assert list(m.state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=np.ones(2)).state_dict()) == ["pos_weight"]
    assert nn.MSELoss().state_dict() == {}
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.L1Loss(reduce=False).reduction == "none"
    assert "reduction='mean'" in repr(nn.L1Loss())


@pytest.mark.parametrize("shape", [(0, 3), (2, 3, 0)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_probability_targets_on_an_empty_batch_match_torch(shape, reduction):
    """'mean' over no rows is 0 / 0 = nan, as in PyTorch (it was 0)."""
    torch = pytest.importorskip("torch")
    x, xt = _pair(np.zeros(shape))
    ours = F.cross_entropy(x, np.zeros(shape), reduction=reduction)
    theirs = torch.nn.functional.cross_entropy(xt, torch.zeros(shape, dtype=torch.float64),
                                               reduction=reduction)
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    assert ours.shape == tuple(theirs.shape)
    ours.sum().backward()
    assert x.grad.shape == shape


def test_binary_cross_entropy_refuses_nan_input_like_torch():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input values must be in \[0, 1\], found nan"):
        F.binary_cross_entropy(np.array([0.5, np.nan]), np.array([1.0, 0.0]))
