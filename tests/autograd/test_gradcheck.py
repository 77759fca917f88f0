"""Tests of the tester: gradcheck passes correct gradients and catches wrong ones."""
import numpy as np
import pytest

import scratchnet as sn


def _wrong_op(backward):
    class Wrong(sn.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a @ b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved
            return backward(a, b, g)

    return Wrong


def _inputs():
    r = np.random.default_rng(1)
    return (sn.tensor(r.standard_normal((3, 3)), requires_grad=True),
            sn.tensor(r.standard_normal((3, 3)), requires_grad=True))


def test_correct_backward_passes():
    op = _wrong_op(lambda a, b, g: (g @ b.T, a.T @ g))
    assert sn.gradcheck(op.apply, _inputs())
    assert sn.gradcheck(op.apply, _inputs(), fast_mode=True)


WRONG = {
    "off by a factor": lambda a, b, g: (2 * (g @ b.T), a.T @ g),
    "transposed": lambda a, b, g: (g @ b.T, (a.T @ g).T),
    "missing the upstream gradient": lambda a, b, g: (np.ones_like(g) @ b.T, a.T @ g),
    "wrong sign on b": lambda a, b, g: (g @ b.T, -(a.T @ g)),
}


@pytest.mark.parametrize("name", WRONG)
def test_wrong_backward_fails_with_a_precise_message(name):
    op = _wrong_op(WRONG[name])
    with pytest.raises(sn.GradcheckError) as info:
        sn.gradcheck(op.apply, _inputs())
    message = str(info.value)
    assert "input" in message and "element" in message
    assert "numeric" in message and "analytic" in message and "worst error" in message
    assert sn.gradcheck(op.apply, _inputs(), raise_exception=False) is False


@pytest.mark.parametrize("name", WRONG)
def test_wrong_backward_fails_in_fast_mode(name):
    op = _wrong_op(WRONG[name])
    with pytest.raises(sn.GradcheckError, match="fast_mode"):
        sn.gradcheck(op.apply, _inputs(), fast_mode=True)


def test_message_points_at_the_wrong_entry():
    class OneWrongEntry(sn.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 3

        @staticmethod
        def backward(ctx, g):
            gx = g * 3
            gx = gx.copy()
            gx[1, 2] += 1.0
            return gx

    x = sn.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(sn.GradcheckError, match=r"input 0 \(shape \(2, 3\)\) at element \(1, 2\)"):
        sn.gradcheck(OneWrongEntry.apply, (x,))


def test_float32_inputs_are_refused():
    x = sn.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        sn.gradcheck(lambda t: t * 2, (x,))


def test_inputs_are_restored_after_check():
    x = sn.tensor(np.linspace(0.1, 1, 5), requires_grad=True)
    before = x.data.copy()
    sn.gradcheck(lambda t: t.exp(), (x,))
    sn.gradcheck(lambda t: t.exp(), (x,), fast_mode=True)
    np.testing.assert_array_equal(x.data, before)


def test_multiple_outputs_and_non_tensor_args():
    x = sn.tensor(np.random.default_rng(0).standard_normal((4, 2)), requires_grad=True)
    assert sn.gradcheck(lambda t, n: tuple(sn.split(t, n)), (x, 2))
