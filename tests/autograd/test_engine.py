"""The autograd engine: accumulation, graph freeing, deep graphs, no_grad, sn.grad."""
import gc
import sys
import weakref

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.autograd.function import Node


def test_reused_node_gets_summed_gradient():
    a = sn.tensor([1.0, 2.0], requires_grad=True)
    b = a + a
    b.sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])


def test_diamond_graph():
    x = sn.tensor(3.0, requires_grad=True)
    y = x * x          # 2x
    z = y * x + y      # d/dx (x^3 + x^2) = 3x^2 + 2x
    z.backward()
    assert x.grad == pytest.approx(3 * 9 + 6)


def test_gradients_accumulate_until_zeroed():
    x = sn.tensor([1.0, -2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_second_backward_on_freed_graph_raises_clear_error():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(sn.GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_backward_of_non_scalar_needs_grad():
    x = sn.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, 2 * np.ones((2, 3)))


def test_backward_grad_shape_is_checked():
    y = sn.tensor(np.ones(3), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        y.backward(np.ones(2))


def test_chain_of_100k_ops_backpropagates_and_frees_without_recursion():
    limit = sys.getrecursionlimit()
    x = sn.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0
    assert sys.getrecursionlimit() == limit


def test_deep_graph_freed_without_backward_does_not_overflow():
    x = sn.tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    probe = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert probe() is None


def _live_nodes():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Node))


def test_graph_buffers_released_after_backward():
    w = sn.tensor(np.random.default_rng(0).standard_normal((8, 8)), requires_grad=True)
    x = sn.tensor(np.ones((4, 8)))
    h = (x @ w).tanh()
    loss = (h * h).mean()
    hidden = weakref.ref(h.grad_fn)
    saved = h.grad_fn.ctx.saved[0]
    saved_ref = weakref.ref(saved) if hasattr(saved, "__weakref__") else None
    del saved
    loss.backward()
    assert hidden().freed and hidden().ctx is None
    if saved_ref is not None:
        gc.collect()
        assert saved_ref() is None
    del h, loss
    gc.collect()
    assert hidden() is None


def test_no_live_nodes_after_step_and_del():
    before = _live_nodes()
    w = sn.tensor(np.ones((3, 3)), requires_grad=True)
    loss = ((sn.tensor(np.ones((2, 3))) @ w).relu() ** 2).sum()
    loss.backward()
    del loss
    assert _live_nodes() == before


def test_no_grad_records_nothing():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    with sn.no_grad():
        y = x * 2 + 1
    assert not y.requires_grad and y.grad_fn is None
    assert sn.is_grad_enabled()


def test_no_grad_as_decorator():
    @sn.no_grad()
    def f(t):
        return t * 2
    assert not f(sn.tensor([1.0], requires_grad=True)).requires_grad


def test_detach_cuts_the_graph():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad
    z = (x * y).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_sn_grad_returns_arrays_without_touching_dot_grad():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    w = sn.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = sn.grad(y, [x, w])
    np.testing.assert_array_equal(gx, [3.0, 4.0])
    np.testing.assert_array_equal(gw, [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_sn_grad_of_intermediate_tensor():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = sn.grad(y, [h])
    np.testing.assert_allclose(gh, 2 * 3 * np.array([1.0, 2.0]))


def test_sn_grad_unused_input():
    x = sn.tensor([1.0], requires_grad=True)
    u = sn.tensor([1.0], requires_grad=True)
    assert sn.grad((x * 2).sum(), [x, u], allow_unused=True)[1] is None
    with pytest.raises(ValueError, match="not used"):      # PyTorch's default: allow_unused=False
        sn.grad((x * 2).sum(), [x, u])


def test_unused_split_output_gets_zero_gradient():
    x = sn.tensor(np.arange(6.0), requires_grad=True)
    a, b = sn.split(x, 2)
    (a * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 2, 2, 0, 0, 0])


def test_custom_function():
    class Cube(sn.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return g * 3 * x ** 2

    x = sn.tensor([1.0, 2.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 12.0])


def test_wrong_gradient_shape_from_custom_backward_is_reported():
    class Bad(sn.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return np.ones(7)

    x = sn.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"Bad.backward.*\(7,\).*\(2, 3\)"):
        Bad.apply(x).sum().backward()
