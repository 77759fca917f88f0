"""One test per bug fixed while fuzzing (issue 9)."""
import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F


def test_ragged_list_names_the_op():
    with pytest.raises(ValueError, match="linear"):
        F.linear([[1.0], [2.0, 3.0]], np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="cross_entropy"):
        F.cross_entropy(np.ones((2, 3), np.float32), [[1], [2, 0]])
    with pytest.raises(IndexError, match="getitem"):
        sn.tensor(np.ones((2, 2)))[[[0], [1, 0]]]


def test_cat_stack_of_a_non_sequence():
    for fn in (sn.cat, sn.stack):
        with pytest.raises(TypeError, match=fn.__name__):
            fn(None)


def test_cross_entropy_argument_types():
    x, t = np.ones((2, 3), np.float32), np.array([0, 1])
    with pytest.raises(TypeError, match="cross_entropy: label_smoothing"):
        F.cross_entropy(x, t, label_smoothing="x")
    with pytest.raises(TypeError, match="cross_entropy: ignore_index"):
        F.cross_entropy(x, t, ignore_index="x")


def test_cross_entropy_no_classes_with_extra_dims():
    # was a bare "reshape: cannot reshape ... into shape (-1, 0)"; now the kernel's clear refusal, named once
    with pytest.raises(ValueError, match=r"^cross_entropy: logits \(0, 0\) has 0 classes"):
        F.cross_entropy(np.zeros((0, 0, 2), np.float32), np.zeros((0, 2), int), reduction="none")


@pytest.mark.parametrize("name", ["mean", "max", "min", "logsumexp"])
def test_reductions_of_empty_tensors(name):
    t = sn.tensor(np.ones((2, 2, 0, 0)), requires_grad=True)
    y = getattr(t, name)(axis=1)                  # nothing is reduced over an empty axis: empty result
    assert y.shape == (2, 0, 0)
    y.sum().backward()
    assert t.grad.shape == (2, 2, 0, 0)
    with pytest.raises(ValueError, match=f"{name}: reduction over an empty axis"):
        getattr(sn.tensor(np.ones((0, 3))), name)(axis=0)


def test_sigmoid_of_integers_is_not_truncated():
    out = F.sigmoid(np.array([0, 1, -2]))               # was int64 [0, 0, 0]
    assert out.dtype.kind == "f"
    np.testing.assert_allclose(out.data, 1 / (1 + np.exp(-np.array([0.0, 1.0, -2.0]))))
