"""scratchnet.metrics against hand-computed values (and sacreBLEU when installed)."""

import math

import numpy as np
import pytest

from scratchnet.metrics import accuracy, bits_per_char, bleu, perplexity, precision_recall_f1


class FakeTensor:
    def __init__(self, data):
        self.data = np.asarray(data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)


# --- accuracy -------------------------------------------------------------------

def test_accuracy_labels_and_logits():
    targets = np.array([0, 2, 1, 1])
    assert accuracy(np.array([0, 2, 0, 1]), targets) == 0.75
    logits = np.array([[5, 0, 0], [0, 0, 9], [3, 1, 0], [0, 2, 1]], dtype=np.float32)  # argmax 0 2 0 1
    assert accuracy(logits, targets) == 0.75
    assert accuracy(FakeTensor(logits), FakeTensor(targets)) == 0.75
    assert isinstance(accuracy(logits, targets), float)


def test_accuracy_sequence_layouts_and_ignore_index():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 5))  # (B, T, V)
    targets = logits.argmax(-1)
    targets[0, 0] = (targets[0, 0] + 1) % 5  # one wrong
    assert accuracy(logits, targets) == pytest.approx(5 / 6)
    # PyTorch layout (N, C, d1) against (N, d1)
    assert accuracy(np.moveaxis(logits, -1, 1), targets) == pytest.approx(5 / 6)
    # ignoring the wrong position and one padded position
    t = targets.copy()
    t[0, 0] = -100
    t[1, 2] = -100
    assert accuracy(logits, t, ignore_index=-100) == 1.0
    assert math.isnan(accuracy(logits, np.full((2, 3), -100), ignore_index=-100))


def test_accuracy_shape_mismatch():
    with pytest.raises(ValueError, match=r"accuracy.*\(4, 3\).*\(5,\)"):
        accuracy(np.zeros((4, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="accuracy"):
        accuracy(np.zeros(3), np.zeros(4))


# --- perplexity / bpc -----------------------------------------------------------

def test_perplexity_and_bpc():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(65)) == pytest.approx(65.0)
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(2.45) == pytest.approx(2.45 / math.log(2))
    assert perplexity(FakeTensor(np.float32(1.0))) == pytest.approx(math.e, rel=1e-6)
    assert isinstance(perplexity(1.0), float) and isinstance(bits_per_char(1.0), float)
    np.testing.assert_allclose(perplexity(np.array([0.0, 1.0])), [1.0, math.e])
    assert perplexity(1e4) == math.inf  # overflow is inf, not an error


# --- BLEU -------------------------------------------------------------------------

CAT = "the cat sat on the mat".split()
REF = "the cat is on the mat".split()


def test_bleu_hand_worked_example():
    # p1 = 5/6 (the x2, cat, on, mat), p2 = 3/5 (the cat, on the, the mat),
    # p3 = 1/4 (on the mat), p4 = 0/3; c = r = 6 so BP = 1.
    assert bleu([CAT], [REF]) == 0.0  # an order without matches zeroes BLEU
    assert bleu([CAT], [REF], max_n=3) == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))  # = 0.5
    assert bleu([CAT], [REF], max_n=3) == pytest.approx(0.5)
    assert bleu([CAT], [REF], max_n=1) == pytest.approx(5 / 6)
    # add-one smoothing: (6/7 * 4/6 * 2/5 * 1/4) ** (1/4) = (2/35) ** (1/4)
    assert bleu([CAT], [REF], smooth=True) == pytest.approx((2 / 35) ** 0.25)
    assert bleu([CAT], [REF], smooth="add1") == pytest.approx((2 / 35) ** 0.25)
    # exp smoothing: the first order without matches gets 1 / (2 * 3)
    assert bleu([CAT], [REF], smooth="exp") == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25)


def test_bleu_identical_is_one():
    assert bleu([CAT, REF], [CAT, [REF, CAT]]) == pytest.approx(1.0)


def test_bleu_brevity_penalty():
    # c = 2, r = 6: BP = exp(1 - 6/2); p1 = p2 = 1
    assert bleu([["the", "cat"]], [REF], max_n=2) == pytest.approx(math.exp(-2))


def test_bleu_clipping():
    # "the" appears 4 times but at most twice in the reference: p1 = 2/4; c=4 > r=3
    assert bleu([["the"] * 4], [["the", "cat", "the"]], max_n=1) == pytest.approx(0.5)


def test_bleu_closest_reference_length_ties_go_to_shorter():
    cand = ["a", "b", "c", "d"]
    refs = [["a", "b", "c"], ["a", "b", "c", "d", "e"]]  # lengths 3 and 5, both 1 away from 4
    assert bleu([cand], [refs], max_n=1) == pytest.approx(1.0)  # r = 3 < c = 4: no penalty
    # with only the long reference, BP = exp(1 - 5/4)
    assert bleu([cand], [[refs[1]]], max_n=1) == pytest.approx(math.exp(-0.25))


def test_bleu_is_corpus_level_not_sentence_average():
    cands = [["a", "b", "c"], ["d", "e"]]
    refs = [["a", "b", "c"], ["d", "x"]]
    # p1 = (3 + 1) / 5, p2 = (2 + 0) / (2 + 1); c = r = 5
    assert bleu(cands, refs, max_n=2) == pytest.approx(math.sqrt(4 / 5 * 2 / 3))


def test_bleu_papineni_nltk_example():
    # The example of Papineni et al. (2002) as in NLTK's sentence_bleu docstring: 0.5045...
    hyp = ("It is a guide to action which ensures that the military always obeys the commands of the party").split()
    r1 = "It is a guide to action that ensures that the military will forever heed Party commands".split()
    r2 = ("It is the guiding principle which guarantees the military forces always being under the "
          "command of the Party").split()
    r3 = "It is the practical guide for the army always to heed the directions of the party".split()
    assert bleu([hyp], [[r1, r2, r3]]) == pytest.approx(0.5045666840058485, abs=1e-12)


def test_bleu_edge_cases_and_errors():
    assert bleu([[]], [REF]) == 0.0
    assert bleu([["a"]], [["a"]]) == 0.0  # no 2-grams at all
    assert bleu([], []) == 0.0
    with pytest.raises(ValueError, match="2 candidates but 1 references"):
        bleu([CAT, CAT], [REF])
    with pytest.raises(TypeError, match="str"):
        bleu(["the cat sat"], [REF])
    with pytest.raises(ValueError, match="smooth"):
        bleu([CAT], [REF], smooth="magic")
    with pytest.raises(ValueError, match="max_n"):
        bleu([CAT], [REF], max_n=0)


@pytest.mark.parametrize("smooth, method", [(False, "none"), ("exp", "exp")])
def test_bleu_matches_sacrebleu(smooth, method):
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = np.random.default_rng(1)
    words = list("abcdefg")
    cands, refs_a, refs_b = [], [], []
    for _ in range(20):
        ref = list(rng.choice(words, rng.integers(1, 15)))
        # the candidate: the reference with some tokens replaced and a random length change
        cand = [w if rng.random() < 0.8 else str(rng.choice(words)) for w in ref][: rng.integers(1, 16)]
        cands.append(cand)
        refs_a.append(ref)
        refs_b.append(list(rng.choice(words, rng.integers(1, 12))))
    ours = bleu(cands, [[a, b] for a, b in zip(refs_a, refs_b)], smooth=smooth)
    theirs = sacrebleu.corpus_bleu(
        [" ".join(c) for c in cands],
        [[" ".join(r) for r in refs_a], [" ".join(r) for r in refs_b]],
        tokenize="none", smooth_method=method, force=True,
    ).score
    assert ours * 100 == pytest.approx(theirs, abs=1e-9)
    assert ours > 0


# --- precision / recall / F1 -------------------------------------------------------

TARGETS = np.array([0, 0, 1, 1, 2, 2])
PREDS = np.array([0, 1, 1, 1, 2, 0])
# class 0: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F 1/2
# class 1: TP 2, FP 1, FN 0 -> P 2/3, R 1,   F 4/5
# class 2: TP 1, FP 0, FN 1 -> P 1,   R 1/2, F 2/3


def test_prf_macro_micro_per_class():
    p, r, f = precision_recall_f1(PREDS, TARGETS, average="macro")
    assert (p, r, f) == pytest.approx((13 / 18, 2 / 3, 59 / 90))
    assert precision_recall_f1(PREDS, TARGETS, average="micro") == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    p, r, f = precision_recall_f1(PREDS, TARGETS, average=None)
    np.testing.assert_allclose(p, [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(r, [1 / 2, 1, 1 / 2])
    np.testing.assert_allclose(f, [1 / 2, 4 / 5, 2 / 3])
    # an extra class that never occurs counts as zeros when num_classes says so
    p4, r4, f4 = precision_recall_f1(PREDS, TARGETS, num_classes=4)
    assert (p4, r4, f4) == pytest.approx((13 / 24, 1 / 2, 59 / 120))


def test_prf_from_logits_and_tensors():
    logits = np.eye(3)[PREDS] * 3.0  # argmax gives PREDS
    assert precision_recall_f1(FakeTensor(logits), FakeTensor(TARGETS)) == pytest.approx((13 / 18, 2 / 3, 59 / 90))


def test_prf_binary_and_zero_division():
    t = np.array([0, 1, 1, 0, 1])
    assert precision_recall_f1(np.array([1, 1, 1, 0, 1]), t, average="binary") == pytest.approx((3 / 4, 1, 6 / 7))
    assert precision_recall_f1(np.zeros(5, int), t, average="binary") == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="binary.*2"):
        precision_recall_f1(np.array([0, 2]), np.array([0, 1]), average="binary")


def test_prf_errors():
    with pytest.raises(ValueError, match="average"):
        precision_recall_f1(PREDS, TARGETS, average="weighted")
    with pytest.raises(ValueError, match=r"\(6,\).*\(5,\)"):
        precision_recall_f1(PREDS, TARGETS[:5])
    with pytest.raises(ValueError, match="num_classes=2"):
        precision_recall_f1(PREDS, TARGETS, num_classes=2)


def test_bleu_exp_smoothing_matches_sacrebleu_on_zero_order():
    sacrebleu = pytest.importorskip("sacrebleu")
    theirs = sacrebleu.corpus_bleu([" ".join(CAT)], [[" ".join(REF)]], tokenize="none", smooth_method="exp").score
    assert bleu([CAT], [REF], smooth="exp") * 100 == pytest.approx(theirs, abs=1e-9)
