"""Evaluation metrics on NumPy arrays (Tensors are accepted via ``np.asarray``).

``accuracy``, ``perplexity``, ``bits_per_char``, ``bleu`` (corpus BLEU) and
``precision_recall_f1``. Scalar results are Python floats.
"""

import math
from collections import Counter

import numpy as np

__all__ = ["accuracy", "perplexity", "bits_per_char", "bleu", "precision_recall_f1"]


def _labels_from(preds, targets, where):
    """Return integer predictions shaped like ``targets``: argmax logits if needed.

    ``preds`` may have the shape of ``targets`` (labels), or one extra class
    axis: last (``(..., C)`` against ``(...)``, e.g. ``(B, T, V)`` logits) or
    second (PyTorch's ``(N, C, d1, ...)`` against ``(N, d1, ...)``). When both
    readings fit, the last axis wins.
    """
    preds, targets = np.asarray(preds), np.asarray(targets)
    if preds.shape == targets.shape:
        return preds, targets
    axis = None
    if preds.ndim == targets.ndim + 1:
        if preds.shape[:-1] == targets.shape:
            axis = -1
        elif preds.ndim >= 2 and preds.shape[:1] + preds.shape[2:] == targets.shape:
            axis = 1
    if axis is not None:
        if preds.shape[axis] == 1:  # argmax would say class 0 everywhere
            raise ValueError(
                f"{where}: predictions of shape {preds.shape} have a class axis of size 1 against targets of "
                f"shape {targets.shape}; for a single binary logit or probability, threshold it and drop that axis"
            )
        return preds.argmax(axis=axis), targets
    raise ValueError(
        f"{where}: predictions of shape {preds.shape} do not match targets of shape {targets.shape}; "
        "pass labels of the targets' shape or logits with one extra class axis (last, or second as in PyTorch)"
    )


def accuracy(logits_or_preds, targets, ignore_index=None):
    """Fraction of positions where the predicted class equals the target.

    ``logits_or_preds`` holds labels shaped like ``targets`` or logits /
    probabilities with an extra class axis (last, or PyTorch's axis 1), which
    are arg-maxed. Positions whose target equals ``ignore_index`` are left
    out. Returns ``nan`` when no position is counted. (For binary
    probabilities or logits of the targets' shape, threshold them first; a
    class axis of size 1 is an error, as its argmax is always 0.)
    """
    preds, targets = _labels_from(logits_or_preds, targets, "accuracy")
    keep = np.ones(targets.shape, dtype=bool) if ignore_index is None else targets != ignore_index
    n = int(keep.sum())
    if n == 0:
        return float("nan")
    return float((preds[keep] == targets[keep]).sum() / n)


def _loss_value(mean_loss_nats, where):
    loss = np.asarray(mean_loss_nats)
    if loss.dtype.kind not in "iuf":
        raise TypeError(f"{where}: expected a mean loss in nats (a number or an array of numbers), "
                        f"got {mean_loss_nats!r:.60}")
    loss = loss.astype(np.float64)
    return float(loss) if loss.ndim == 0 else loss


def perplexity(mean_loss_nats):
    """``exp(loss)`` for a mean cross-entropy in nats (``inf`` on overflow).

    A scalar (any float dtype, a 0-d array or Tensor) gives a Python float, an
    array a float64 array; values are not checked (``nan`` stays ``nan``).
    """
    loss = _loss_value(mean_loss_nats, "perplexity")
    with np.errstate(over="ignore"):
        out = np.exp(loss)
    return float(out) if np.ndim(out) == 0 else out


def bits_per_char(mean_loss_nats):
    """``loss / ln 2``: a per-character loss in nats expressed in bits.

    Types as in ``perplexity``: a Python float, or a float64 array.
    """
    loss = _loss_value(mean_loss_nats, "bits_per_char")
    out = np.asarray(loss) / math.log(2)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------
# BLEU
# ---------------------------------------------------------------------------

def _ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _as_tokens(seq, what):
    if isinstance(seq, str):
        raise TypeError(f"bleu: {what} is a str; pass a list of tokens (e.g. text.split())")
    return list(seq)


def _reference_list(refs, i):
    """One candidate's references: a token list, or a list of token lists.

    Token lists may be lists, tuples or 1-D arrays, so a 2-D array is several
    references. An empty list is one empty reference.
    """
    if isinstance(refs, str):
        raise TypeError(f"bleu: references[{i}] is a str; pass a list of tokens (e.g. text.split())")
    refs = list(refs)
    if refs and all(isinstance(r, (list, tuple, np.ndarray)) for r in refs):
        return [_as_tokens(r, f"references[{i}]") for r in refs]
    return [refs]


def bleu(candidates, references, max_n=4, smooth=False):
    """Corpus BLEU (Papineni et al., 2002) of tokenized candidates, in ``[0, 1]``.

    ``candidates[i]`` is a list of tokens; ``references[i]`` is its reference
    (a list of tokens) or several references (a list of token lists, or a 2-D
    array). Tokens are compared with ``==`` (strings or integer ids).

    Definition: for ``n = 1..max_n``, the modified precision ``p_n = m_n /
    l_n`` where ``l_n`` counts the n-grams of all candidates and ``m_n`` their
    matches, each candidate n-gram count clipped to its largest count in any
    one reference of that candidate (sums over the corpus, not averages of
    sentence scores). With ``c`` the total candidate length and ``r`` the sum
    over candidates of the reference length closest to the candidate's
    (ties: the shorter), the brevity penalty is ``BP = 1`` if ``c > r`` else
    ``exp(1 - r / c)``, and ``BLEU = BP * exp(mean_n log p_n)``.

    ``smooth`` handles orders with no match (which make unsmoothed BLEU 0):
    ``False`` none; ``True`` or ``'add1'``: ``p_n = (m_n + 1) / (l_n + 1)`` for
    every order, unigrams included (the ``smooth=True`` of TensorFlow NMT's
    ``compute_bleu``; Lin & Och 2004, NLTK's ``method2`` and sacreBLEU's
    ``add-k`` leave ``p_1`` unsmoothed); ``'exp'``: sacreBLEU's default, the
    k-th order without matches gets ``p_n = 1 / (2**k * l_n)``. An empty
    candidate corpus, or an order with no candidate n-grams (all candidates
    shorter than ``n``) when not using ``'add1'``, gives 0.

    sacreBLEU's ``corpus_bleu`` (``tokenize='none'``, ``smooth_method`` 'none'
    or 'exp') gives this times 100. NLTK's ``corpus_bleu`` (``method0`` /
    ``method3``) agrees when every candidate has at least ``max_n`` tokens;
    otherwise it differs, as it counts at least one n-gram per candidate and
    order in ``l_n``.
    """
    if smooth not in (False, True, "add1", "exp"):
        raise ValueError(f"bleu: smooth must be False, True, 'add1' or 'exp', got {smooth!r}")
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"bleu: max_n must be a positive integer, got {max_n!r}")
    candidates, references = list(candidates), list(references)
    if len(candidates) != len(references):
        raise ValueError(
            f"bleu: {len(candidates)} candidates but {len(references)} references; give one entry "
            "(a reference or a list of references) per candidate"
        )
    matches, totals = [0] * max_n, [0] * max_n
    cand_len = ref_len = 0
    for i, (cand, refs) in enumerate(zip(candidates, references)):
        cand = _as_tokens(cand, f"candidates[{i}]")
        refs = _reference_list(refs, i)
        cand_len += len(cand)
        ref_len += min((len(r) for r in refs), key=lambda r: (abs(r - len(cand)), r))
        for n in range(1, max_n + 1):
            cand_counts = _ngrams(cand, n)
            max_ref = Counter()
            for r in refs:
                max_ref |= _ngrams(r, n)  # elementwise max of counts
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in cand_counts.items())
            totals[n - 1] += sum(cand_counts.values())

    if cand_len == 0:
        return 0.0
    if smooth in (True, "add1"):
        precisions = [(m + 1) / (t + 1) for m, t in zip(matches, totals)]
    else:
        if any(t == 0 for t in totals) or not any(matches):
            return 0.0
        precisions, k = [], 0
        for m, t in zip(matches, totals):
            if m > 0:
                precisions.append(m / t)
            elif smooth == "exp":
                k += 1
                precisions.append(1.0 / (2 ** k * t))
            else:
                return 0.0
    log_p = sum(math.log(p) for p in precisions) / max_n
    bp = 1.0 if cand_len > ref_len else math.exp(1 - ref_len / cand_len)
    return float(bp * math.exp(log_p))


# ---------------------------------------------------------------------------
# precision / recall / F1
# ---------------------------------------------------------------------------

def _safe_div(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_recall_f1(preds, targets, average="macro", num_classes=None):
    """Precision, recall and F1 of single-label classification, as ``(p, r, f1)``.

    ``preds`` are labels shaped like ``targets`` or logits with a class axis
    (see ``accuracy``). Per class ``c``: ``p = TP / (TP + FP)``, ``r = TP /
    (TP + FN)``, ``f1 = 2 p r / (p + r)``, each 0 when its denominator is 0
    (scikit-learn's ``zero_division=0``).

    ``average``: ``'macro'`` the unweighted mean of the per-class values over
    the classes ``0..num_classes-1`` when ``num_classes`` is given, otherwise
    over the classes that occur in ``preds`` or ``targets`` (scikit-learn's
    rule; macro F1 is the mean of per-class F1, not the F1 of the means);
    ``'micro'`` from the summed TP/FP/FN (equal to accuracy for single-label
    data); ``'binary'`` the values of class 1, labels must be 0 or 1; ``None``
    arrays of per-class values for classes ``0..C-1``.
    """
    if average not in ("macro", "micro", "binary", None):
        raise ValueError(f"precision_recall_f1: average must be 'macro', 'micro', 'binary' or None, got {average!r}")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"precision_recall_f1: num_classes must be a positive integer, got {num_classes!r}")
    preds, targets = _labels_from(preds, targets, "precision_recall_f1")
    preds, targets = preds.ravel(), targets.ravel()
    for name, arr in (("preds", preds), ("targets", targets)):
        if arr.size and arr.dtype.kind not in "biu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            raise ValueError(f"precision_recall_f1: {name} must be integer class labels, got dtype {arr.dtype}")
    preds, targets = preds.astype(np.int64), targets.astype(np.int64)
    if preds.size and min(preds.min(), targets.min()) < 0:
        raise ValueError("precision_recall_f1: class labels must be non-negative")
    if average == "binary":
        bad = np.setdiff1d(np.union1d(preds, targets), [0, 1])
        if bad.size:
            raise ValueError(f"precision_recall_f1: average='binary' needs labels 0/1, found {bad.tolist()}")
        num_classes = 2
    seen = int(max(preds.max(initial=-1), targets.max(initial=-1))) + 1
    all_classes = num_classes is not None
    if num_classes is None:
        num_classes = seen
    elif seen > num_classes:
        raise ValueError(f"precision_recall_f1: label {seen - 1} is out of range for num_classes={num_classes}")

    tp = np.bincount(targets[preds == targets], minlength=num_classes)
    pred_count = np.bincount(preds, minlength=num_classes)
    true_count = np.bincount(targets, minlength=num_classes)
    fp, fn = pred_count - tp, true_count - tp

    if average == "micro":
        p = _safe_div(tp.sum(), tp.sum() + fp.sum())
        r = _safe_div(tp.sum(), tp.sum() + fn.sum())
        f = _safe_div(2 * p * r, p + r)
        return float(p), float(r), float(f)
    p = _safe_div(tp, tp + fp)
    r = _safe_div(tp, tp + fn)
    f = _safe_div(2 * p * r, p + r)
    if average is None:
        return p, r, f
    if average == "binary":
        return float(p[1]), float(r[1]), float(f[1])
    classes = np.arange(num_classes) if all_classes else np.union1d(preds, targets)
    if classes.size == 0:
        return float("nan"), float("nan"), float("nan")
    return float(p[classes].mean()), float(r[classes].mean()), float(f[classes].mean())
