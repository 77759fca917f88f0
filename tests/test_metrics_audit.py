"""Regression tests from an audit of scratchnet.metrics (each failed before its fix)."""

import numpy as np
import pytest

from scratchnet.metrics import accuracy, bleu, precision_recall_f1


# A class axis of size 1 (e.g. a binary classifier's single logit, shape (N, 1))
# was arg-maxed to all zeros, silently giving the accuracy of "always class 0".

@pytest.mark.parametrize("preds, targets", [
    (np.array([[2.0], [-1.0], [3.0]]), np.array([1, 0, 1])),  # (N, 1) against (N,)
    (np.ones((2, 1, 3)), np.ones((2, 3), dtype=int)),         # PyTorch layout (N, 1, T) against (N, T)
])
def test_class_axis_of_size_one_is_rejected(preds, targets):
    with pytest.raises(ValueError, match="accuracy.*class axis of size 1"):
        accuracy(preds, targets)
    with pytest.raises(ValueError, match="precision_recall_f1.*class axis of size 1"):
        precision_recall_f1(preds, targets, average="binary")


# Non-numeric labels failed inside NumPy ("ufunc 'rint' not supported ...").

def test_prf_string_labels_get_a_clear_error():
    with pytest.raises(ValueError, match="precision_recall_f1: preds must be integer class labels, got dtype <U1"):
        precision_recall_f1(["a", "b"], ["a", "a"])
    with pytest.raises(ValueError, match="targets must be integer class labels, got dtype object"):
        precision_recall_f1([0, 1], np.array([0, None], dtype=object))


# Several references of one candidate given as a 2-D array (or a list of 1-D
# arrays) were read as one reference whose tokens are arrays: TypeError
# "unhashable type: 'numpy.ndarray'".

def test_bleu_references_as_arrays():
    cand = [1, 2, 3, 4]
    refs = [[1, 2, 3], [1, 2, 3, 4, 9]]  # r = 3 (closest, tie to the shorter); p1 = 1, p2 = 1
    assert bleu([cand], [refs], max_n=2) == 1.0
    assert bleu([np.array(cand)], [[np.array(r) for r in refs]], max_n=2) == 1.0
    # equal-length references stacked into one (R, L) array; p1 = 3/4 (4 unmatched), p2 = 2/3
    stacked = np.array([[1, 2, 3, 5], [5, 2, 3, 1]])
    assert bleu([cand], [stacked], max_n=2) == pytest.approx((3 / 4 * 2 / 3) ** 0.5)
