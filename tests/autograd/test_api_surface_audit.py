"""Regression tests from an audit of the Tensor, autograd and nn.Module surfaces
against API.md and PyTorch (each test names the behaviour it pins)."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn


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


# -------------------------------------------------------------------- nn.Module
class _Shared(nn.Module):
    """``c`` is the same module as ``a``; torch's twin is built by ``_torch_shared``."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 3)
        self.b = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
        self.c = self.a

    def forward(self, x):
        return self.b(self.a(x))


def _torch_shared(torch):
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(2, 3)
            self.b = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
            self.c = self.a
    return Shared()


def test_children_skip_a_shared_module_and_apply_visits_in_torch_order():
    torch = pytest.importorskip("torch")
    ours, theirs = _Shared(), _torch_shared(torch)
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()] == ["a", "b"]
    assert len(list(ours.children())) == 2
    order, torch_order = [], []
    assert ours.apply(lambda m: order.append(type(m).__name__)) is ours
    theirs.apply(lambda m: torch_order.append(type(m).__name__))
    # children before their parent, the shared ``c`` not visited twice
    assert torch_order == ["Linear", "Linear", "ReLU", "Sequential", "Shared"]
    assert order == ["Linear", "Linear", "ReLU", "Sequential", "_Shared"]
    assert "(c): Linear" in repr(ours)            # repr still shows every name, like torch's


def test_assigning_a_non_parameter_to_a_parameter_name_is_a_type_error():
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        lin.weight = sn.zeros(3, 2)                # would silently drop the weight from parameters()
    with pytest.raises(TypeError, match="parameter 'weight'"):
        lin.weight = np.zeros((3, 2), np.float32)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    lin.bias = None                                # None keeps the name, as an absent parameter
    assert list(lin.state_dict()) == ["weight"] and lin.bias is None
    assert lin(sn.ones(1, 2)).shape == (1, 3)
    with pytest.raises(TypeError, match="parameter 'bias'"):
        lin.bias = sn.zeros(3)
    lin.bias = nn.Parameter(np.zeros(3, np.float32))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    seq = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="child module '0'"):
        setattr(seq, "0", 3)
    setattr(seq, "0", None)
    assert list(seq.children()) == [] and list(seq.state_dict()) == []


def test_register_buffer_again_as_persistent_puts_it_in_the_state_dict():
    m = nn.Module()
    m.register_buffer("x", np.zeros(2), persistent=False)
    m.x = np.ones(2)                               # assignment keeps it non-persistent
    assert list(m.state_dict()) == []
    m.register_buffer("x", np.zeros(2))            # persistent=True (torch discards the flag)
    assert list(m.state_dict()) == ["x"]
    m.register_buffer("y", [1.0, 2.0])             # a list follows the default dtype, like sn.tensor
    assert m.y.dtype == np.float32


def test_to_keeps_gradients_converted_and_refuses_float16():
    lin = nn.Linear(2, 3)
    lin(sn.ones(1, 2)).sum().backward()
    grad = lin.weight.grad.copy()
    assert lin.double() is lin
    assert lin.weight.dtype == lin.weight.grad.dtype == np.float64    # torch converts .grad too
    np.testing.assert_array_equal(lin.weight.grad, grad)
    with pytest.raises(TypeError, match="float16"):
        lin.to(np.float16)
    assert lin.weight.dtype == np.float64


# ------------------------------------------------------------ .grad and backward
def test_assigning_grad_checks_shape_and_dtype_like_torch():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(2,\)"):
        x.grad = np.ones(3, np.float32)            # the next backward would broadcast into it
    with pytest.raises(TypeError, match="float64.*float32"):
        x.grad = np.ones(2)
    with pytest.raises(TypeError, match="list"):
        x.grad = [1.0, 1.0]
    x.grad = np.full(2, 0.5, np.float32)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.5, 3.5])
    x.grad = None
    assert x.grad is None


def test_backward_grad_must_be_numeric():
    x = sn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"Tensor.backward: grad must be a real numeric.*complex"):
        (x * 2).backward(np.ones(2, complex))      # the imaginary part was silently dropped
    with pytest.raises(TypeError, match="Tensor.backward"):
        (x * 2).backward(np.array(["a", "b"]))


# ------------------------------------------------------------ creation functions
@pytest.mark.parametrize("make", [sn.randn, sn.rand])
def test_random_floats_refuse_an_integer_dtype(make):
    with pytest.raises(TypeError, match="floating-point"):
        make(3, dtype=np.int64)                    # normal samples were truncated to ints


def test_arange_takes_requires_grad_and_like_functions_follow_the_default_dtype():
    t = sn.arange(3.0, requires_grad=True)
    assert t.requires_grad and t.dtype == np.float32
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 2.0, 4.0])
    with pytest.raises(TypeError):
        sn.arange(3, requires_grad=True)           # int64 cannot require grad
    assert sn.zeros_like([1.0, 2.0]).dtype == np.float32
    assert sn.ones_like([[1, 2]]).dtype == np.int64
    try:
        sn.set_default_dtype(np.float64)
        assert sn.zeros_like([1.0]).dtype == sn.arange(2.0).dtype == np.float64
    finally:
        sn.set_default_dtype(np.float32)


# ------------------------------------------------------------ in-place operators
def test_inplace_with_an_operand_that_requires_grad_raises_instead_of_dropping_its_gradient():
    total = sn.zeros(2)
    w = sn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"__iadd__.*operand that requires grad"):
        total += w                                 # torch records it; here w's gradient was lost
    with pytest.raises(ValueError, match=r"__setitem__.*operand that requires grad"):
        total[0] = w[1]
    np.testing.assert_array_equal(total.data, [0.0, 0.0])
    with sn.no_grad():                             # nothing is recorded anyway: allowed
        total += w
    np.testing.assert_array_equal(total.data, [1.0, 2.0])


def test_inplace_errors_name_the_operator_and_shapes():
    with pytest.raises(TypeError, match=r"__iadd__.*int64"):
        t = sn.tensor([1, 2])
        t += 1.5
    with pytest.raises(ValueError, match=r"__imul__.*\(2,\) and \(3, 2\)"):
        t = sn.ones(2)
        t *= sn.ones(3, 2)


def test_load_state_dict_refuses_non_numeric_values_by_name_and_changes_nothing():
    seq = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    before = seq.state_dict()
    state = seq.state_dict()
    state["0.weight"] = state["0.weight"] + 1
    state["1.weight"] = np.full((2, 2), "x")       # NumPy's "could not convert" after 0.weight was written
    with pytest.raises(ValueError, match=r"load_state_dict.*1\.weight: dtype <U1"):
        seq.load_state_dict(state)
    for k, v in seq.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    state["1.weight"] = before["1.weight"].astype(np.float64)   # cast to the parameter's float32
    result = seq.load_state_dict(state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert seq[1].weight.dtype == np.float32
    np.testing.assert_array_equal(seq[0].weight.data, before["0.weight"] + 1)


def test_summary_of_a_shape_does_not_consume_the_seeded_random_stream():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5))
    sn.manual_seed(0)
    expected = sn.randn(4).data
    sn.manual_seed(0)
    text = model.summary((4, 2), print_fn=None)
    assert "(4, 3)" in text and model.training
    np.testing.assert_array_equal(sn.randn(4).data, expected)
