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
