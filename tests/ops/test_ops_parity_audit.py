"""Regression tests from an audit of the Tensor / autograd / functional surface
against PyTorch (values, gradients, dtypes and errors on cases the other
tests did not reach). Each test names the bug it pins down."""
import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import kernels as K


class _Square(sn.Function):
    """y = x^2 with a correct backward (2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return 2 * x * g


class _NanBackward(sn.Function):
    """y = x with a broken backward that returns NaN."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g * np.nan


# ------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize("fast_mode", [False, True])
def test_gradcheck_perturbs_non_contiguous_inputs(fast_mode):
    # was: the numeric Jacobian of a transposed (strided) input was all zeros, because
    # the perturbation went into a reshaped copy; a correct backward was reported wrong
    x = sn.tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3).T, requires_grad=True)
    assert not x.data.flags.c_contiguous
    assert sn.gradcheck(_Square.apply, [x], fast_mode=fast_mode)
    np.testing.assert_array_equal(x.data, np.linspace(0.5, 2.0, 6).reshape(2, 3).T)


def test_gradcheck_reports_nan_gradients_instead_of_crashing():
    # was: ValueError "All-NaN slice encountered" from inside gradcheck
    x = sn.tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3), requires_grad=True)
    assert sn.gradcheck(_NanBackward.apply, [x], raise_exception=False) is False
    with pytest.raises(sn.GradcheckError, match=r"input 0 .*analytic nan.*worst error nan"):
        sn.gradcheck(_NanBackward.apply, [x])
    assert sn.gradcheck(_NanBackward.apply, [x], fast_mode=True, raise_exception=False) is False


# ------------------------------------------------------------- cross_entropy
def _torch_pair(a):
    torch = pytest.importorskip("torch")
    return sn.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_with_masked_logits_matches_torch(backend, reduction, weighted):
    # was: nan for every row once any logit is -inf (a masked class), with label_smoothing=0
    torch = pytest.importorskip("torch")
    x = np.array([[0.0, -np.inf, 1.0], [2.0, 1.0, -np.inf], [0.5, -0.5, 0.0]])
    t = np.array([0, 1, 2])
    w = np.array([0.5, 2.0, 1.5]) if weighted else None
    ours, theirs = _torch_pair(x)
    with K.use_backend(backend):
        loss = F.cross_entropy(ours, t, weight=w, reduction=reduction)
    ref = torch.nn.functional.cross_entropy(theirs, torch.tensor(t), reduction=reduction,
                                            weight=None if w is None else torch.tensor(w))
    np.testing.assert_allclose(loss.data, ref.detach().numpy(), rtol=1e-12)
    cot = np.arange(1.0, 1.0 + ref.numel()).reshape(ref.shape)
    with K.use_backend(backend):
        loss.backward(cot)
    ref.backward(torch.tensor(cot))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------- dtype and pow
FLOAT_RESULT_OF_INTEGERS = {
    "true division": lambda i: i / 2,
    "int / int tensor": lambda i: i / sn.tensor([2, 4, 8]),
    "exp": sn.exp, "log": sn.log, "sqrt": sn.sqrt, "tanh": sn.tanh, "sigmoid": sn.sigmoid,
    "gelu": F.gelu,
    "float power": lambda i: i ** 0.5,
    "NumPy float power": lambda i: i ** np.float64(1.5),
}


@pytest.mark.parametrize("name", FLOAT_RESULT_OF_INTEGERS)
def test_float_valued_ops_of_integer_tensors_give_the_default_dtype(name):
    # was float64 (NumPy's rule); PyTorch gives the default dtype (float32): torch.exp(int64) is float32
    fn = FLOAT_RESULT_OF_INTEGERS[name]
    i = sn.tensor([1, 2, 3])
    out = fn(i)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, fn(sn.tensor([1.0, 2.0, 3.0], dtype=np.float64)).data, rtol=1e-6)
    sn.set_default_dtype(np.float64)
    try:
        assert fn(i).dtype == np.float64
    finally:
        sn.set_default_dtype(np.float32)


def test_integer_powers_of_integer_tensors_stay_integer():
    i = sn.tensor([1, 2, 3])
    assert (i ** 2).dtype == np.int64 and (i ** np.int64(3)).dtype == np.int64
    np.testing.assert_array_equal((i ** 2).data, [1, 4, 9])


def test_pow_gradients_at_zero_match_torch():
    # was nan where PyTorch defines 0: d(x^0)/dx at x = 0, d(a^b)/da where b = 0,
    # and d(a^b)/db at a = 0, b >= 0; a < 0 gives nan for d/db (log a), as in PyTorch
    torch = pytest.importorskip("torch")
    x, xt = _torch_pair(np.array([0.0, 2.0, -1.5]))
    (x ** 0).sum().backward()
    (xt ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    a0 = np.array([0.0, 0.0, 0.0, 2.0, -2.0, 3.0])
    b0 = np.array([0.0, 0.5, -1.0, 0.0, 2.0, 1.5])
    (a, at), (b, bt) = _torch_pair(a0), _torch_pair(b0)
    cot = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    with np.errstate(divide="ignore"):
        (a ** b).backward(cot)
    (at ** bt).backward(torch.tensor(cot))
    np.testing.assert_allclose(a.grad, at.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(b.grad, bt.grad.numpy(), rtol=1e-14)
    assert np.isnan(b.grad[4]) and b.grad[1] == 0 and b.grad[2] == -np.inf


# ------------------------------------------------------------- masked_fill
@pytest.mark.parametrize("value_dtype", [np.float32, np.float64])
def test_masked_fill_differentiates_a_tensor_value_like_torch(value_dtype):
    # was: value.item(), so a value that requires grad silently got no gradient
    torch = pytest.importorskip("torch")
    x0, mask = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.array([True, False, True])
    x, v = sn.tensor(x0, requires_grad=True), sn.tensor(value_dtype(-2.5), requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    vt = torch.tensor(value_dtype(-2.5), requires_grad=True)
    y, yt = x.masked_fill(sn.tensor(mask), v), xt.masked_fill(torch.tensor(mask), vt)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    cot = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    y.backward(cot)
    yt.backward(torch.tensor(cot))
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    assert v.grad.dtype == value_dtype and v.grad == vt.grad.item() == 1 + 3 + 4 + 6


def test_masked_fill_refuses_a_non_scalar_value_tensor():
    # was: "Tensor.item: only a tensor with one element ..." (did not name masked_fill)
    x = sn.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"masked_fill: value .* shape \(2,\)"):
        x.masked_fill(np.ones(3, bool), sn.tensor([1.0, 2.0]))


# --------------------------------------------------------------- bad inputs
def test_non_numeric_targets_masks_and_ids_are_type_errors():
    # was ValueError "target shape () does not match ..." for a string, and the like
    x = sn.tensor(np.ones((3, 4)))
    with pytest.raises(TypeError, match="cross_entropy: target"):
        F.cross_entropy(x, "abc")
    with pytest.raises(TypeError, match="nll_loss: target"):
        F.nll_loss(x, None)
    with pytest.raises(TypeError, match="masked_fill: mask"):
        x.masked_fill("a", 0.0)
    with pytest.raises(TypeError, match="where: cond"):
        sn.where(None, x, x)
    with pytest.raises(TypeError, match="embedding: ids"):
        F.embedding(["a", "b"], x)


def test_creation_argument_errors_name_the_function():
    # were ValueError for a float/str shape, ZeroDivisionError for arange's step 0,
    # and NumPy's unnamed ValueError for full("a") and for a ragged list
    with pytest.raises(TypeError, match="zeros: shape"):
        sn.zeros(2.5)
    with pytest.raises(TypeError, match="randn: shape"):
        sn.randn("a")
    with pytest.raises(ValueError, match="ones: shape"):
        sn.ones(2, -1)
    with pytest.raises(ValueError, match="arange: step"):
        sn.arange(0, 3, 0)
    with pytest.raises(TypeError, match="full: fill_value"):
        sn.full((2,), "a")
    with pytest.raises(ValueError, match="tensor: "):
        sn.tensor([[1.0, 2.0], [3.0]])
    assert sn.full((2,), sn.tensor(1.5)).data.tolist() == [1.5, 1.5]


# ------------------------------------------------------------------ sn.grad
def test_sn_grad_returns_fresh_writable_arrays():
    # was: the gradient of a sum came back as a read-only, stride-0 broadcast view, and
    # the gradient of an output w.r.t. itself aliased the caller's grad_outputs
    x = sn.tensor(np.ones((2, 3)), requires_grad=True)
    g = sn.grad(x.sum(), x)
    assert g.flags.writeable and g.flags.c_contiguous
    g += 1.0
    np.testing.assert_array_equal(g, np.full((2, 3), 2.0))
    go = np.arange(6.0).reshape(2, 3)
    g = sn.grad(x, x, grad_outputs=go)
    assert not np.shares_memory(g, go)
    np.testing.assert_array_equal(g, go)


# -------------------------------------------------------- Python conversions
def test_one_element_tensors_convert_to_python_numbers_like_torch():
    # were TypeErrors: float(loss), int(t), f"{loss:.3f}", list[t]
    loss = sn.tensor(np.float32(2.5))
    assert float(loss) == 2.5 and int(loss) == 2 and float(sn.tensor([[1.5]])) == 1.5
    assert f"{loss:.3f}" == "2.500"
    assert ["a", "b", "c"][sn.tensor(1)] == "b" and list(range(sn.tensor(3))) == [0, 1, 2]
    with pytest.raises(ValueError, match="shape"):
        float(sn.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="integer tensor"):
        ["a", "b"][sn.tensor(1.0)]


def test_cross_entropy_refuses_ignore_index_with_probability_targets():
    # was silently ignored; PyTorch refuses ("ignore_index is not supported for floating point target")
    x, probs = np.zeros((2, 3)), np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"cross_entropy: ignore_index=1 .*probabilities"):
        F.cross_entropy(x, probs, ignore_index=1)
    assert F.cross_entropy(x, probs).item() == pytest.approx(np.log(3))


# ------------------------------------------------------------------ getitem
INT_AND_ARRAY_INDICES = {
    "int, slice, array": lambda a: (0, slice(None), a([1, 0, 1])),
    "negative int after ellipsis": lambda a: (-1, Ellipsis, slice(None), a([2, 2])),
    "array, slice, int": lambda a: (a([1, 1, 0]), slice(None), 2),
    "array, int, array": lambda a: (a([0, 1]), 1, a([3, 3])),
    "list inside the tuple": lambda a: (1, slice(None, None, 2), [0, 3]),
    "None and a bool mask": lambda a: (None, 1, slice(None), a([True, False, True, True])),
}


@pytest.mark.parametrize("name", INT_AND_ARRAY_INDICES)
def test_int_and_array_indices_follow_torch_order(name):
    # was NumPy's order: x[0, :, idx] had idx's axis first, (len(idx), x.shape[1]); PyTorch
    # applies the int as a basic index, x[0][:, idx], shape (x.shape[1], len(idx))
    torch = pytest.importorskip("torch")
    make = INT_AND_ARRAY_INDICES[name]
    x0 = np.random.default_rng(3).standard_normal((2, 3, 4))
    x, xt = _torch_pair(x0)
    y = x[make(np.array)]
    yt = xt[make(torch.tensor)]
    assert y.shape == tuple(yt.shape)
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    cot = np.arange(1.0, 1.0 + y.size).reshape(y.shape)
    y.backward(cot)
    yt.backward(torch.tensor(cot))
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


def test_comparison_shape_errors_name_the_op_and_shapes():
    # was NumPy's bare "operands could not be broadcast together ..."
    x = sn.tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"greater: .*\(3, 4\) and \(3,\)"):
        x > sn.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"equal: .*\(3, 4\) and \(2, 4\)"):
        x == np.ones((2, 4))


@pytest.mark.parametrize("op", [lambda x, c: x + c, lambda x, c: c - x, lambda x, c: x * c,
                                lambda x, c: x / c, lambda x, c: sn.where(x.data > 0, x, c)])
def test_a_0d_float64_array_does_not_promote_a_float32_tensor(op):
    # was float64: a 0-d array promoted like a full array; PyTorch treats 0-d operands as scalars
    x = sn.tensor(np.array([0.5, -1.5, 2.0], dtype=np.float32), requires_grad=True)
    out = op(x, np.array(2.0))
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_a_0d_float64_tensor_takes_the_dtype_of_a_dimensioned_float32_tensor_like_torch():
    torch = pytest.importorskip("torch")
    x = sn.tensor(np.array([0.5, -1.5, 2.0], dtype=np.float32), requires_grad=True)
    c = sn.tensor(np.array(2.0), requires_grad=True)                 # 0-d float64
    tx = torch.tensor(x.data, requires_grad=True)
    tc = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    for op in (lambda u, v: u * v, lambda u, v: v - u, lambda u, v: u / v):
        out, ref = op(x, c), op(tx, tc)
        assert str(ref.dtype) == "torch." + str(out.dtype)
        out.sum().backward()
        ref.sum().backward()
    np.testing.assert_allclose(c.grad, tc.grad.numpy(), rtol=1e-6)
    assert x.grad.dtype == np.float32 and c.grad.dtype == np.float64
    two_0d = sn.tensor(np.array(1.0, dtype=np.float32)) + sn.tensor(np.array(2.0))
    assert two_0d.dtype == np.float64                                 # both 0-d: usual promotion


@pytest.mark.parametrize("shape, axis", [((2, 3), 0), ((2, 1, 3), (0, 1)), ((1, 3, 1), (-1, 1)),
                                         ((1, 1), None)])
def test_squeeze_keeps_given_axes_that_are_not_size_1_like_torch(shape, axis):
    # was: ValueError for a given axis of size != 1; PyTorch leaves such an axis alone
    torch = pytest.importorskip("torch")
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x = sn.tensor(a, requires_grad=True)
    out = x.squeeze() if axis is None else x.squeeze(axis)
    ref = torch.tensor(a).squeeze() if axis is None else torch.tensor(a).squeeze(axis)
    assert out.shape == tuple(ref.shape)
    out.backward(np.ones(out.shape))
    assert x.grad.shape == shape
