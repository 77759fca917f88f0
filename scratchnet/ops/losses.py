"""Loss functions with PyTorch's math, defaults and reductions.

Every loss ends in a reduction: ``'none'`` keeps the per-element losses,
``'sum'`` adds them, ``'mean'`` divides the sum by a count (or, for the
weighted class losses, by the total weight of the counted targets).

cross_entropy (class indices y, logits x of shape (N, C), weights w,
label smoothing eps, fused kernel ``K.cross_entropy``; see its docstring):
    logp   = log_softmax(x)
    loss_i = (1 - eps) * (-w[y_i] logp[i, y_i]) + eps / C * (-sum_c w[c] logp[i, c])
    'mean' divides by sum_i w[y_i] over the rows that are not ignore_index
cross_entropy (class probabilities t, same shape as x):
    t'     = t (1 - eps) + eps / C
    loss_i = -sum_c w[c] t'[i, c] logp[i, c];   'mean' divides by N
nll_loss (log-probabilities x):
    loss_i = -w[y_i] x[i, y_i] (0 where y_i == ignore_index);  'mean' / sum_i w[y_i]
binary_cross_entropy (probabilities x in [0, 1]):
    loss   = -w (y max(log x, -100) + (1 - y) max(log(1 - x), -100))
    dL/dx  = w (x - y) / max(x (1 - x), 1e-12)                  (PyTorch's)
binary_cross_entropy_with_logits (pos_weight p, l_w = 1 + (p - 1) y):
    loss   = (1 - y) x + l_w (max(-x, 0) + log(1 + e^{-|x|}))  = (1 - y) x - l_w logsigmoid(x)
           = max(x, 0) - x y + log(1 + e^{-|x|})                when p is None
    dL/dx  = l_w sigmoid(x) - p y,   dL/dy = -x - (p - 1) logsigmoid(x)
mse_loss:  (x - y)^2;   l1_loss: |x - y| (gradient sign(x - y), 0 at 0 and at NaN)

Class losses accept (N, C) inputs with (N,) targets, (N, C, d1, ...) inputs
with (N, d1, ...) targets (the class axis is moved last and flattened), and
(C,) inputs with a 0-d target.
"""
import numpy as np

from .. import kernels as K
from ..autograd.function import Function
from .elementwise import _sign
from .nn_ops import log_softmax
from .registry import Sample, register, rand, positive, away_from_zero
from ._util import as_tensor, broadcasts_to, float_tensor, to_array

_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------- helpers
def _check_reduction(reduction, where):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss, reduction):
    """Per-element losses -> the requested reduction (an array)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / loss.dtype.type(loss.size), dtype=loss.dtype)


def _upstream(g, reduction, n):
    """The gradient reaching each element: g itself, or the scalar g (/ n for 'mean')."""
    if reduction == "mean":
        return g / n if n else g * 0
    return g


def _weight_array(weight, like, shape, where, what="weight"):
    """An optional weight as an array of ``like``'s dtype, broadcastable to ``shape``."""
    if weight is None:
        return None
    w = to_array(weight, where, what).astype(like.dtype, copy=False)
    if not broadcasts_to(w.shape, shape):
        raise ValueError(f"{where}: {what} of shape {w.shape} does not broadcast to the "
                         f"input shape {tuple(shape)}")
    return w


# ------------------------------------------------------------ pointwise losses
class _PointwiseLoss(Function):
    """reduce(w * l(x, y)) for an elementwise l; subclasses define
    ``terms(x, y, **kw) -> (l, dl/dx, dl/dy)``."""

    @classmethod
    def forward(cls, ctx, x, y, weight=None, reduction="mean", **kw):
        loss, dx, dy = cls.terms(x, y, **kw)
        if weight is not None:
            loss, dx, dy = loss * weight, dx * weight, dy * weight
        ctx.save_for_backward(dx, dy)
        ctx.reduction, ctx.n = reduction, loss.size
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        dx, dy = ctx.saved
        g = _upstream(g, ctx.reduction, ctx.n)
        return g * dx, g * dy


class MSE(_PointwiseLoss):
    """l = (x - y)^2;  dl/dx = 2 (x - y) = -dl/dy."""

    @staticmethod
    def terms(x, y):
        d = x - y
        return d * d, 2 * d, -2 * d


class L1(_PointwiseLoss):
    """l = |x - y|;  dl/dx = sign(x - y) = -dl/dy (0 at 0 and at NaN, as PyTorch)."""

    @staticmethod
    def terms(x, y):
        d = x - y
        s = _sign(d)
        return np.abs(d), s, -s


class BinaryCrossEntropy(_PointwiseLoss):
    """l = -(y log x + (1 - y) log(1 - x)), each log clamped at -100 (PyTorch)."""

    @staticmethod
    def terms(x, y):
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        loss = -(y * log_x + (1 - y) * log_1mx)
        dx = (x - y) / np.maximum(x * (1 - x), x.dtype.type(1e-12))
        return loss, dx, log_1mx - log_x


class BinaryCrossEntropyWithLogits(_PointwiseLoss):
    """l = (1 - y) x - l_w logsigmoid(x), l_w = 1 + (p - 1) y (stable form)."""

    @staticmethod
    def terms(x, y, pos_weight=None):
        log_sig = -np.logaddexp(0, -x)           # logsigmoid(x) = -(max(-x,0) + log1p(e^-|x|))
        sig = np.exp(log_sig)
        if pos_weight is None:
            return (1 - y) * x - log_sig, sig - y, -x
        lw = 1 + (pos_weight - 1) * y
        loss = (1 - y) * x - lw * log_sig
        return loss, lw * sig - pos_weight * y, -x - (pos_weight - 1) * log_sig


def _pointwise(cls, where, input, target, reduction, weight=None, **kw):
    """Validate (input, target) of the same shape and apply a pointwise loss."""
    _check_reduction(reduction, where)
    x = float_tensor(input, where)
    y = as_tensor(target, like=x, where=where)
    if y.shape != x.shape:
        raise ValueError(f"{where}: target shape {y.shape} must equal the input shape {x.shape}")
    if y.dtype != x.dtype:
        y = y.astype(x.dtype)
    w = _weight_array(weight, x, x.shape, where)
    return cls.apply(x, y, weight=w, reduction=reduction, **kw)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: reduce((input - target)^2)."""
    return _pointwise(MSE, "mse_loss", input, target, reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error: reduce(|input - target|)."""
    return _pointwise(L1, "l1_loss", input, target, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCE on probabilities in [0, 1] (logs clamped at -100, as PyTorch)."""
    x = float_tensor(input, "binary_cross_entropy")
    outside = ~((x.data >= 0) & (x.data <= 1))          # NaN is outside too (PyTorch refuses it)
    if outside.any():
        bad = x.data[outside].flat[0]
        raise ValueError(f"binary_cross_entropy: input values must be in [0, 1], found {bad} "
                         f"(input shape {x.shape}); use binary_cross_entropy_with_logits for logits")
    return _pointwise(BinaryCrossEntropy, "binary_cross_entropy", x, target, reduction, weight)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + BCE in one stable formula; ``pos_weight`` (broadcast along the
    last axis, shape (C,)) weighs the positive term."""
    where = "binary_cross_entropy_with_logits"
    x = float_tensor(input, where)
    pw = _weight_array(pos_weight, x, x.shape, where, "pos_weight")
    return _pointwise(BinaryCrossEntropyWithLogits, where, x, target, reduction, weight,
                      pos_weight=pw)


# --------------------------------------------------------------- class losses
class CrossEntropy(Function):
    """Fused log-softmax + cross-entropy on (N, C) logits and (N,) class indices
    (``K.cross_entropy``; see the module docstring)."""

    @staticmethod
    def forward(ctx, x, target, weight=None, ignore_index=-100, label_smoothing=0.0,
                reduction="mean"):
        loss, grad = K.cross_entropy(x, target, weight, ignore_index, label_smoothing, reduction)
        ctx.save_for_backward(grad)
        ctx.reduction = reduction
        return loss

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved
        return (g[:, None] if ctx.reduction == "none" else g) * grad, None


class NLL(Function):
    """Negative log-likelihood on (N, C) log-probabilities and (N,) class indices."""

    @staticmethod
    def forward(ctx, x, target, weight=None, ignore_index=-100, reduction="mean"):
        n, c = x.shape
        valid = target != ignore_index
        safe = np.where(valid, target, 0)                       # (N,) any in-range index
        w = np.ones(c, x.dtype) if weight is None else weight
        w_t = np.where(valid, w[safe], 0).astype(x.dtype)       # (N,) w[y_i] or 0
        loss = -w_t * x[np.arange(n), safe]                     # (N,)
        scale = w_t
        if reduction == "mean":
            total = w_t.sum(dtype=x.dtype)
            with np.errstate(invalid="ignore", divide="ignore"):
                out = np.asarray(loss.sum(dtype=x.dtype) / total, dtype=x.dtype)
            scale = w_t / total if total != 0 else w_t * 0
        else:
            out = _reduce(loss, reduction)
        ctx.save_for_backward(safe, scale)
        ctx.shape, ctx.reduction = x.shape, reduction
        return out

    @staticmethod
    def backward(ctx, g):
        safe, scale = ctx.saved
        gx = np.zeros(ctx.shape, dtype=scale.dtype)
        gx[np.arange(len(safe)), safe] = -scale * g
        return gx, None


def _class_layout(x, t, where):
    """Flatten (input, class-index target) to (M, C) and (M,).

    (C,) with a 0-d target, (N, C) with (N,), (N, C, d1..dk) with (N, d1..dk).
    Returns the (M, C) Tensor, the (M,) int64 targets and the shape of the
    unreduced loss.
    """
    expected = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if t.shape != expected:
        probs = " or class probabilities of the input shape" if where == "cross_entropy" else ""
        raise ValueError(f"{where}: target shape {t.shape} does not match input shape {x.shape} "
                         f"(expected class indices of shape {expected}{probs})")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{where}: class-index target must hold integers, got dtype {t.dtype} "
                        f"(target shape {t.shape}, input shape {x.shape})")
    c = x.shape[0 if x.ndim == 1 else 1]
    if x.ndim == 1:
        x2 = x.reshape(1, c)                                  # (C,) -> (1, C)
    elif x.ndim == 2:
        x2 = x
    else:
        perm = (0,) + tuple(range(2, x.ndim)) + (1,)
        m = x.shape[0] * int(np.prod(x.shape[2:]))
        x2 = x.transpose(*perm).reshape(m, c)                 # (N, C, d..) -> (N, d.., C) -> (N*d.., C)
    return x2, t.reshape(-1).astype(np.int64), expected


def _class_checks(x, target, weight, ignore_index, reduction, where):
    """Common validation of the class losses; returns (target array, weight array, C)."""
    _check_reduction(reduction, where)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{where}: ignore_index must be an int, got {ignore_index!r}")
    if x.ndim == 0:
        raise ValueError(f"{where}: input must have a class axis, got a 0-d tensor")
    c = x.shape[0 if x.ndim == 1 else 1]
    w = None
    if weight is not None:
        w = to_array(weight, where, "weight").astype(x.dtype, copy=False)
        if w.shape != (c,):
            raise ValueError(f"{where}: weight of shape {w.shape} must have shape ({c},) "
                             f"for input shape {x.shape}")
    return to_array(target, where, "target"), w, c


def _check_indices(t, c, ignore_index, where):
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"{where}: target class {int(t[np.argmax(bad)])} is out of range for "
                         f"{c} classes (valid: 0..{c - 1}, or ignore_index={ignore_index})")


def _class_loss(fn, x, t, where, reduction, ignore_index, **kw):
    x2, t1, out_shape = _class_layout(x, t, where)
    _check_indices(t1, x2.shape[1], ignore_index, where)
    loss = fn.apply(x2, t1, ignore_index=ignore_index, reduction=reduction, **kw)
    return loss.reshape(*out_shape) if reduction == "none" else loss


def _soft_cross_entropy(x, target, w, c, reduction, label_smoothing):
    """Cross-entropy against class probabilities (composed from log_softmax)."""
    axis = 0 if x.ndim == 1 else 1
    t = as_tensor(target, like=x, where="cross_entropy")
    if t.dtype != x.dtype:
        t = t.astype(x.dtype)
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / c
    term = log_softmax(x, axis=axis) * t
    if w is not None:
        shape = [1] * x.ndim
        shape[axis] = c
        term = term * w.reshape(shape)                          # (C,) -> broadcast on the class axis
    loss = -term.sum(axis=axis)                                 # (N, d..) or ()
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if loss.size == 0:      # 'mean' of no rows: 0 / 0 = nan, as PyTorch (and no 1/0 in backward)
        return loss.sum() * float("nan")
    return loss.sum() / loss.size                               # over the N * d.. rows


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """PyTorch's ``F.cross_entropy`` on logits (see the module docstring).

    ``target`` holds class indices (integers, shape (N,), (N, d..) or 0-d) or
    class probabilities (floats with the input's shape).
    """
    where = "cross_entropy"
    x = float_tensor(input, where)
    t, w, c = _class_checks(x, target, weight, ignore_index, reduction, where)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{where}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if t.shape == x.shape and t.dtype.kind != "f":
        raise TypeError(f"{where}: a target with the input's shape {x.shape} holds class "
                        f"probabilities and must be floating-point, got dtype {t.dtype}")
    if t.shape == x.shape:
        if ignore_index != -100:
            raise ValueError(f"{where}: ignore_index={ignore_index} applies to class-index targets; "
                             f"the target of shape {t.shape} holds class probabilities (as in PyTorch)")
        return _soft_cross_entropy(x, target, w, c, reduction, label_smoothing)
    return _class_loss(CrossEntropy, x, t, where, reduction, ignore_index, weight=w,
                       label_smoothing=float(label_smoothing))


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """PyTorch's ``F.nll_loss`` on log-probabilities (see the module docstring)."""
    where = "nll_loss"
    x = float_tensor(input, where)
    t, w, _ = _class_checks(x, target, weight, ignore_index, reduction, where)
    return _class_loss(NLL, x, t, where, reduction, ignore_index, weight=w)


# ------------------------------------------------------------------ samples
def _targets(r, c, shape, ignore=False):
    t = r.integers(0, c, size=shape)
    if ignore:
        t.flat[0] = -100
    return t


def _class_samples(r):
    w = positive(r, 4)
    return [
        Sample("mean", (rand(r, 3, 4), _targets(r, 4, (3,)))),
        Sample("sum weight", (rand(r, 3, 4), _targets(r, 4, (3,))), {"weight": w, "reduction": "sum"}),
        Sample("none ignore", (rand(r, 3, 4), _targets(r, 4, (3,), True)), {"reduction": "none"}),
        Sample("mean weight ignore", (rand(r, 3, 4), _targets(r, 4, (3,), True)), {"weight": w}),
        Sample("(N, C, d)", (rand(r, 2, 4, 3), _targets(r, 4, (2, 3))), {"reduction": "none"}),
        Sample("1-d", (rand(r, 4), np.array(2))),
    ]


def _cross_entropy_samples(r):
    probs = positive(r, 3, 4)
    return _class_samples(r) + [
        Sample("smoothing weight", (rand(r, 3, 4), _targets(r, 4, (3,))),
               {"label_smoothing": 0.2, "weight": positive(r, 4)}),
        Sample("smoothing none", (rand(r, 3, 4), _targets(r, 4, (3,), True)),
               {"label_smoothing": 0.1, "reduction": "none"}),
        Sample("probabilities", (rand(r, 3, 4), probs / probs.sum(1, keepdims=True)),
               {"label_smoothing": 0.1, "weight": positive(r, 4)}),
    ]


def _pair(make_x, make_y=rand):
    def samples(r):
        return [Sample("mean", (make_x(r, 3, 4), make_y(r, 3, 4))),
                Sample("sum", (make_x(r, 2, 3), make_y(r, 2, 3)), {"reduction": "sum"}),
                Sample("none", (make_x(r, 2, 3), make_y(r, 2, 3)), {"reduction": "none"}),
                Sample("0-d", (make_x(r), make_y(r)))]
    return samples


def _unit(r, *shape):
    return np.asarray(r.uniform(0.1, 0.9, size=shape))


def _zeros(r, *shape):
    return np.zeros(shape)


def _bce_samples(r):
    return _pair(_unit, _unit)(r) + [
        Sample("weight", (_unit(r, 3, 4), _unit(r, 3, 4)), {"weight": positive(r, 4)})]


def _bce_logits_samples(r):
    return _pair(rand, _unit)(r) + [
        Sample("pos_weight weight", (rand(r, 3, 4), _unit(r, 3, 4)),
               {"pos_weight": positive(r, 4), "weight": positive(r, 3, 1), "reduction": "sum"})]


register(MSE, mse_loss, _pair(rand))
register(L1, l1_loss, _pair(away_from_zero, _zeros))     # |x - 0|: away from the kink
register(BinaryCrossEntropy, binary_cross_entropy, _bce_samples)
register(BinaryCrossEntropyWithLogits, binary_cross_entropy_with_logits, _bce_logits_samples)
register(CrossEntropy, cross_entropy, _cross_entropy_samples)
register(NLL, nll_loss, _class_samples)
