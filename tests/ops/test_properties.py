"""Property tests: broadcasting, reductions over random axes, no mutation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import scratchnet as sn

BINARY = {
    "add": (sn.add, np.add), "sub": (sn.sub, np.subtract), "mul": (sn.mul, np.multiply),
    "div": (sn.div, np.divide), "maximum": (sn.maximum, np.maximum), "minimum": (sn.minimum, np.minimum),
}
settings_ = settings(max_examples=25, deadline=None)


@st.composite
def broadcastable_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
    a = draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=st.floats(0.5, 2.0)))
    b = draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=st.floats(0.5, 2.0)))
    return a, b


@pytest.mark.parametrize("name", BINARY)
@settings_
@given(pair=broadcastable_pair())
def test_binary_ops_broadcast_and_unbroadcast(name, pair):
    fn, ref = BINARY[name]
    a, b = pair
    ta, tb = sn.tensor(a, requires_grad=True), sn.tensor(b, requires_grad=True)
    a0, b0 = a.copy(), b.copy()
    out = fn(ta, tb)
    np.testing.assert_allclose(out.data, ref(a, b))
    g = np.random.default_rng(0).standard_normal(out.shape)
    g0 = g.copy()
    out.backward(g)
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(g, g0)
    if name in ("add", "sub", "mul", "div"):   # smooth: compare with finite differences
        sn.gradcheck(fn, (sn.tensor(a, requires_grad=True), sn.tensor(b, requires_grad=True)), fast_mode=True)


@st.composite
def array_and_axes(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    # distinct values at least 0.01 apart: max/min have no ties within eps
    x = draw(hnp.arrays(np.float64, shape, elements=st.integers(-300, 300).map(lambda i: i / 100), unique=True))
    axes = draw(st.one_of(st.none(), st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                                               max_size=len(shape), unique_by=lambda a: a % len(shape))))
    keepdims = draw(st.booleans())
    return x, (None if axes is None else tuple(axes)), keepdims


REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "var": np.var,
              "logsumexp": None}


@pytest.mark.parametrize("name", REDUCTIONS)
@settings_
@given(case=array_and_axes())
def test_reductions_over_random_axes(name, case):
    x, axes, keepdims = case
    t = sn.tensor(x, requires_grad=True)
    x0 = x.copy()
    out = getattr(t, name)(axis=axes, keepdims=keepdims)
    if REDUCTIONS[name] is not None:
        expected = REDUCTIONS[name](x, axis=axes, keepdims=keepdims)
    else:
        m = x.max(axis=axes, keepdims=True)
        expected = np.log(np.exp(x - m).sum(axis=axes, keepdims=True)) + m
        if not keepdims:
            expected = np.squeeze(expected, axis=axes if axes is not None else tuple(range(x.ndim)))
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    assert sn.gradcheck(lambda v: getattr(v, name)(axis=axes, keepdims=keepdims), (t,), fast_mode=True)
    np.testing.assert_array_equal(x, x0)


UNARY = ["exp", "tanh", "sigmoid", "relu", "abs", "neg", "log", "sqrt", "gelu", "softmax", "log_softmax"]


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=10, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.floats(0.1, 3)))
def test_unary_ops_do_not_mutate_input_or_incoming_gradient(name, x):
    t = sn.tensor(x, requires_grad=True)
    x0 = x.copy()
    out = getattr(sn, name)(t)
    g = np.ones(out.shape)
    out.backward(g)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, np.ones(out.shape))
    assert t.grad.shape == x.shape and t.grad.dtype == x.dtype


@settings_
@given(shape=hnp.array_shapes(min_dims=2, max_dims=4, max_side=4), data=st.data())
def test_matmul_batched_shapes(shape, data):
    k = data.draw(st.integers(1, 4))
    n = data.draw(st.integers(1, 4))
    a = np.random.default_rng(0).standard_normal(shape[:-1] + (k,))
    b = np.random.default_rng(1).standard_normal(shape[-3:-2] + (k, n)) if len(shape) > 2 else \
        np.random.default_rng(1).standard_normal((k, n))
    ta, tb = sn.tensor(a, requires_grad=True), sn.tensor(b, requires_grad=True)
    out = ta @ tb
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-10, atol=1e-12)
    assert sn.gradcheck(sn.matmul, (ta, tb), fast_mode=True)
