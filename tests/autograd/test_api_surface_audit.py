"""Regression tests from an audit of the Tensor, autograd and nn.Module surfaces
against API.md and PyTorch (each test names the behaviour it pins)."""
import numpy as np
import pytest

import scratchnet as sn


# ------------------------------------------------ in-place change of a saved array
def test_modifying_a_saved_input_in_place_raises_at_backward():
    # d(sum(a * x))/dx = a: after a += 10 the gradient would silently be a + 10
    a = sn.tensor([1.0, 2.0])
    x = sn.tensor([3.0, 4.0], requires_grad=True)
    y = (a * x).sum()
    a += 10
    with pytest.raises(ValueError, match=r"Mul.*modified by an in-place operation"):
        y.backward()
    with pytest.raises(RuntimeError):          # PyTorch's exception type works too
        sn.grad(y, x)


def test_modifying_a_saved_output_through_detach_raises_at_backward():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    w = x.exp()                                 # Exp saves its output
    d = w.detach()                              # shares w's memory
    d[0] = 5.0
    with pytest.raises(ValueError, match="Exp"):
        w.sum().backward()


def test_inplace_changes_that_backward_does_not_read_are_allowed():
    a = sn.tensor([1.0, 2.0])
    x = sn.tensor([3.0, 4.0], requires_grad=True)
    b = sn.tensor([1.0, 2.0])
    y = (a + x).sum() + (b * x).sum()          # Add saves nothing
    a += 10
    sn.tensor([0.0]).__iadd__(1)               # an unrelated tensor
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])
    b += 1                                      # after backward: fine
    z = (b * x).sum()                           # a new forward sees the new b
    x.grad = None
    z.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


# ------------------------------------------------------------------- grad modes
def test_no_grad_decorates_without_parentheses_like_torch():
    x = sn.tensor(1.0, requires_grad=True)

    @sn.no_grad
    def double(t):
        return t * 2

    assert not double(x).requires_grad and double.__name__ == "double"
    assert sn.is_grad_enabled()


def test_no_grad_decorated_generator_runs_its_body_without_grad():
    x = sn.tensor(1.0, requires_grad=True)
    seen = []

    @sn.no_grad()
    def steps():
        for _ in range(2):
            received = yield (x * 2).requires_grad
            seen.append((received, sn.is_grad_enabled()))

    gen = steps()
    assert next(gen) is False
    assert sn.is_grad_enabled()                     # the caller's code keeps recording
    assert gen.send("a") is False
    with pytest.raises(StopIteration):
        gen.send("b")
    assert seen == [("a", False), ("b", False)] and sn.is_grad_enabled()


def test_set_grad_enabled_is_a_call_a_context_manager_and_a_decorator():
    x = sn.tensor(1.0, requires_grad=True)
    with sn.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert sn.is_grad_enabled()
    try:
        sn.set_grad_enabled(False)
        assert not sn.is_grad_enabled()
    finally:
        sn.set_grad_enabled(True)

    @sn.set_grad_enabled(False)
    def f():
        return (x * 2).requires_grad

    assert sn.is_grad_enabled() and f() is False and sn.is_grad_enabled()


# -------------------------------------------------------------------- sn.grad
def test_sn_grad_needs_one_grad_output_per_output():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    # the gradient of x * 3 would otherwise be silently left out
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        sn.grad([x * x, x * 3], x, grad_outputs=[np.ones(2)])


def test_sn_grad_several_outputs_and_inputs_match_torch():
    torch = pytest.importorskip("torch")
    xv, wv = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    x, w = sn.tensor(xv, requires_grad=True), sn.tensor(wv, requires_grad=True)
    u = sn.tensor([5.0], requires_grad=True)
    go = np.array([0.5, 2.0])
    outs = [(x * w).sum(), x * x]
    gx, gw = sn.grad(outs, [x, w], grad_outputs=[None, go], retain_graph=True)
    xt, wt = torch.tensor(xv, requires_grad=True), torch.tensor(wv, requires_grad=True)
    tx, tw = torch.autograd.grad([(xt * wt).sum(), xt * xt], [xt, wt],
                                 grad_outputs=[None, torch.tensor(go)])
    np.testing.assert_allclose(gx, tx.numpy())
    np.testing.assert_allclose(gw, tw.numpy())
    with pytest.raises(ValueError, match=r"input 2 \(shape \(1,\)\) was not used"):
        sn.grad(outs, [x, w, u], grad_outputs=[None, go], retain_graph=True)
    assert sn.grad(outs, [x, w, u], grad_outputs=[None, go], allow_unused=True)[2] is None
    assert x.grad is None and w.grad is None
