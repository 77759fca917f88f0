"""Tensor construction, dtypes, operators and errors."""
import numpy as np
import pytest

import scratchnet as sn


def test_float_defaults_to_float32_and_float64_is_kept():
    assert sn.tensor([1.0, 2.0]).dtype == np.float32
    assert sn.tensor(1.5).dtype == np.float32
    assert sn.tensor(np.ones(3)).dtype == np.float64
    assert sn.tensor(np.ones(3, np.float16)).dtype == np.float32
    assert sn.tensor([1, 2]).dtype.kind == "i"
    assert sn.tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_set_default_dtype():
    try:
        sn.set_default_dtype(np.float64)
        assert sn.tensor([1.0]).dtype == np.float64
        assert sn.zeros(2).dtype == np.float64
    finally:
        sn.set_default_dtype(np.float32)
    with pytest.raises(TypeError):
        sn.set_default_dtype(np.int32)


def test_integers_cannot_require_grad():
    with pytest.raises(TypeError, match="int64"):
        sn.tensor([1, 2], requires_grad=True)
    t = sn.tensor([1, 2])
    with pytest.raises(TypeError, match="floating"):
        t.requires_grad = True


def test_unsupported_dtypes_are_refused():
    with pytest.raises(TypeError, match="object"):
        sn.tensor(np.array([object()]))
    with pytest.raises(TypeError):
        sn.tensor("hello")


@pytest.mark.parametrize("scalar", [2, 2.0, np.float64(2.0), np.int64(2), True])
def test_python_and_numpy_scalars_never_promote_float32(scalar):
    x = sn.tensor(np.ones(3, np.float32), requires_grad=True)
    for y in (x + scalar, scalar + x, x * scalar, x / scalar, scalar / x, x - scalar, x ** scalar,
              sn.maximum(x, scalar), sn.where(np.array([True, False, True]), x, scalar)):
        assert y.dtype == np.float32
    (x * scalar).sum().backward()
    assert x.grad.dtype == np.float32


def test_int_and_float_tensors_give_the_float_dtype():
    f = sn.tensor(np.ones(2, np.float32), requires_grad=True)
    i = sn.tensor(np.array([1, 2]))
    assert (f * i).dtype == np.float32
    assert (i + f).dtype == np.float32
    (f * i).sum().backward()
    np.testing.assert_array_equal(f.grad, [1, 2])


def test_gradient_dtype_follows_each_input_when_mixing_precisions():
    a = sn.tensor(np.ones(2, np.float32), requires_grad=True)
    b = sn.tensor(np.ones(2, np.float64), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_gradient_shape_matches_broadcast_input():
    a = sn.tensor(np.ones((3, 1), np.float32), requires_grad=True)
    b = sn.tensor(np.ones((2, 1, 4), np.float32), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (2, 1, 4)
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 8.0))
    np.testing.assert_array_equal(b.grad, np.full((2, 1, 4), 3.0))


def test_attributes_and_methods():
    t = sn.tensor(np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.T.shape == (3, 2)
    assert np.asarray(t) is t.data
    assert t.numpy() is t.data
    assert sn.tensor([[4.0]]).item() == 4.0
    assert t.sum().item() == 15.0
    assert t.var().item() == pytest.approx(np.var(np.arange(6.0)))
    assert t.var(ddof=1).item() == pytest.approx(np.var(np.arange(6.0), ddof=1))
    assert t.unsqueeze(0).shape == (1, 2, 3)
    assert t.unsqueeze(-1).shape == (2, 3, 1)
    assert t.swapaxes(0, 1).shape == (3, 2)
    assert t.reshape(3, 2).shape == (3, 2) and t.reshape((6,)).shape == (6,)


def test_item_of_non_scalar_names_the_shape():
    with pytest.raises(ValueError, match=r"\(2,\)"):
        sn.tensor([1.0, 2.0]).item()


def test_comparisons_are_boolean_and_not_differentiable():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal(m.data, [False, True])


def test_inplace_only_without_grad():
    t = sn.tensor([1.0, 2.0])
    data = t.data
    t += 1
    t *= 2.0
    assert t.data is data and t.dtype == np.float32
    np.testing.assert_array_equal(t.data, [4.0, 6.0])
    x = sn.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="in-place"):
        x += 1
    with pytest.raises(ValueError, match="in-place"):
        x[0] = 3.0


def test_ndarray_on_the_left_defers_to_tensor():
    x = sn.tensor(np.ones(2, np.float32), requires_grad=True)
    y = np.array([2.0, 3.0], np.float32) * x
    assert isinstance(y, sn.Tensor) and y.requires_grad


def test_matmul_shape_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        sn.tensor(np.ones((2, 3))) @ sn.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*batch"):
        sn.matmul(sn.tensor(np.ones((2, 2, 3))), sn.tensor(np.ones((3, 3, 4))))


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(4,\)"):
        sn.tensor(np.ones((2, 3))) + sn.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"mul.*\(2, 3\).*\(4,\)"):
        sn.tensor(np.ones((2, 3))) * np.ones(4)


def test_reduction_axis_errors():
    t = sn.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range"):
        t.sum(axis=2)
    with pytest.raises(TypeError, match="axis"):
        t.sum(axis=1.5)


def test_shape_op_errors():
    t = sn.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        t.reshape(4, 2)
    with pytest.raises(ValueError, match="squeeze"):
        t.squeeze(2)                                  # out of range
    with pytest.raises(ValueError, match="cat"):
        sn.cat([t, sn.tensor(np.ones((2, 4)))], axis=0)
    with pytest.raises(ValueError, match="stack"):
        sn.stack([t, sn.tensor(np.ones((2, 4)))])
    with pytest.raises(ValueError, match="split"):
        sn.split(t, 4, axis=1)
    with pytest.raises(IndexError, match=r"getitem.*\(2, 3\)"):
        t[5]
    with pytest.raises(ValueError, match="masked_fill"):
        t.masked_fill(np.ones((3, 3), bool), 0.0)
    with pytest.raises(TypeError, match="masked_fill"):
        t.masked_fill(np.ones((2, 3)), 0.0)


def test_getitem_repeated_indices_accumulate():
    x = sn.tensor(np.arange(4.0), requires_grad=True)
    x[np.array([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 3, 0, 1])
    y = sn.tensor(np.arange(4.0), requires_grad=True)
    y[sn.tensor(np.array([0, 0]))].sum().backward()
    np.testing.assert_array_equal(y.grad, [2, 0, 0, 0])


def test_softmax_stable_for_huge_logits():
    for dtype in (np.float32, np.float64):
        x = sn.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype), requires_grad=True)
        p = x.softmax(-1)
        lp = x.log_softmax(-1)
        assert np.isfinite(p.data).all() and np.isfinite(lp.data).all()
        np.testing.assert_allclose(p.data.sum(-1), 1.0, rtol=1e-6)
        (lp * sn.tensor(np.ones((2, 3), dtype))).sum().backward()
        assert np.isfinite(x.grad).all() and x.grad.dtype == dtype


def test_creation_functions_and_seed():
    sn.manual_seed(3)
    a = sn.randn(2, 3).data.copy()
    sn.manual_seed(3)
    b = sn.randn(2, 3).data
    np.testing.assert_array_equal(a, b)
    assert sn.zeros(2, 3).dtype == np.float32 and sn.ones((2,)).shape == (2,)
    assert sn.full((2, 2), 7.0).data.sum() == 28.0
    assert sn.full((2, 2), 7.0).dtype == np.float32                  # PyTorch's inference from the value
    assert sn.full((2,), 7).dtype == np.int64 and sn.full((2,), True).dtype == np.bool_
    assert sn.full((2,), 7, dtype=np.float64).dtype == np.float64
    assert sn.arange(5).dtype == np.int64 and sn.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert sn.zeros_like(sn.tensor(np.ones((2, 2)))).dtype == np.float64
    assert 0 <= sn.rand(10).data.min() and sn.rand(10).data.max() < 1


def test_gelu_and_clip_values():
    x = sn.tensor(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_allclose(sn.gelu(x).data, [-0.15865525, 0.0, 1.95449974], rtol=1e-6)
    np.testing.assert_allclose(sn.gelu(x, approximate="tanh").data, [-0.15880801, 0.0, 1.95459769], rtol=1e-6)
    np.testing.assert_array_equal(sn.clip(x, -0.5, 1.0).data, [-0.5, 0.0, 1.0])
    with pytest.raises(ValueError, match="gelu"):
        sn.gelu(x, approximate="fast")
