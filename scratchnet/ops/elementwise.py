"""Elementwise ops: each Function gives y = f(x) and dL/dx = dL/dy * f'(x).

Broadcasting is handled by NumPy in ``forward``; the engine sums each
gradient back to its input's shape, so ``backward`` here never unbroadcasts.
"""
import numpy as np

from .. import kernels as K
from ..autograd.function import Function
from .registry import Sample, register, rand, positive, away_from_zero, distinct
from ._util import as_tensor, binary_operands, float_result


def _binary(fn, a, b, name):
    a, b = binary_operands(a, b, name)
    return fn.apply(a, b)


# ------------------------------------------------------------------ add/sub
class Add(Function):
    """y = a + b;  dy/da = 1, dy/db = 1."""

    @staticmethod
    def forward(ctx, a, b):
        return K.add(a, b)                  # a + b (large same-shape arrays on the thread pool)

    @staticmethod
    def backward(ctx, g):
        return g, g


def add(a, b):
    return _binary(Add, a, b, "add")


class Sub(Function):
    """y = a - b;  dy/da = 1, dy/db = -1."""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


def sub(a, b):
    return _binary(Sub, a, b, "sub")


class Mul(Function):
    """y = a * b;  dy/da = b, dy/db = a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


def mul(a, b):
    return _binary(Mul, a, b, "mul")


class Div(Function):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b^2."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


def div(a, b):
    """a / b, true division: two integer operands give the default float dtype."""
    a, b = binary_operands(a, b, "div")
    return Div.apply(float_result(a), float_result(b))


class Pow(Function):
    """y = a ** b;  dy/da = b a^(b-1),  dy/db = a^b log(a), with PyTorch's
    conventions where these are 0 * inf: dy/da = 0 where b = 0, dy/db = 0 where
    a = 0 and b >= 0 (and nan for a < 0, where log a is undefined)."""

    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_a:
                ga = np.where(b == 0, 0, g * b * a ** (b - 1))
            if need_b:
                gb = np.where((a == 0) & (b >= 0), 0, g * y * np.log(a))
        return ga, gb


class PowScalar(Function):
    """y = x ** p for a constant exponent p;  dy/dx = p x^(p-1), and 0 for p = 0
    (y = 1 everywhere; the formula would give 0 * inf = nan at x = 0)."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return x ** p

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        p = ctx.p
        if p == 0:
            return np.zeros_like(g)
        if p == 2:
            return g * (2 * x)
        return g * (p * x ** (p - 1))


def pow(a, b):
    """a ** b. A Python-number exponent keeps a's dtype and is not differentiated;
    an integer tensor to a float power gives the default float dtype (PyTorch's rule)."""
    from ..tensor import Tensor
    if isinstance(a, Tensor) and isinstance(b, (int, float, np.number)) and not isinstance(b, bool):
        if a.dtype.kind != "f" and isinstance(b, (int, np.integer)) and b < 0:
            raise ValueError(f"pow: integer tensor of shape {a.shape} to a negative integer power {b}")
        if not isinstance(b, (int, np.integer)):
            a = float_result(a)
        p = b if isinstance(b, int) or a.dtype.kind != "f" else np.asarray(b, dtype=a.dtype)[()]
        return PowScalar.apply(a, p)
    return _binary(Pow, a, b, "pow")


# -------------------------------------------------------------------- unary
class Neg(Function):
    """y = -x;  dy/dx = -1."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


def neg(x):
    return Neg.apply(as_tensor(x, where="neg"))


class Exp(Function):
    """y = e^x;  dy/dx = e^x = y (the output is saved, not the input)."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y


def exp(x):
    return Exp.apply(float_result(as_tensor(x, where="exp")))


class Log(Function):
    """y = ln x;  dy/dx = 1/x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / x


def log(x):
    return Log.apply(float_result(as_tensor(x, where="log")))


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)."""

    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g / (2 * y)


def sqrt(x):
    return Sqrt.apply(float_result(as_tensor(x, where="sqrt")))


def _sign(x):
    """sign(x) as PyTorch has it: 0 at 0 and at NaN (np.sign gives NaN there)."""
    return (x > 0).astype(x.dtype) - (x < 0)


class Abs(Function):
    """y = |x|;  dy/dx = sign(x) (0 at x = 0 and at NaN, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * _sign(x)


def abs(x):
    return Abs.apply(as_tensor(x, where="abs"))


class Tanh(Function):
    """y = tanh x;  dy/dx = 1 - y^2."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (1 - y * y)


def tanh(x):
    return Tanh.apply(float_result(as_tensor(x, where="tanh")))


def _stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^x / (1 + e^x) for x < 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        y = _stable_sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y * (1 - y)


def sigmoid(x):
    return Sigmoid.apply(float_result(as_tensor(x, where="sigmoid")))


class Relu(Function):
    """y = max(x, 0);  dL/dx = 0 where y <= 0, else g (PyTorch's
    threshold_backward: a NaN input passes g, an inf g stays out of y <= 0)."""

    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return np.where(y <= 0, 0, g)


def relu(x):
    return Relu.apply(as_tensor(x, where="relu"))


class Gelu(Function):
    """y = x Phi(x) ('none', Phi the normal CDF via erf) or the tanh form
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ('tanh').
    dy/dx = Phi(x) + x phi(x) for the exact form (kernel: ``K.gelu_backward``,
    which reads Phi(x) = y / x from the saved output instead of recomputing erf;
    the output is usually kept alive by the next layer anyway)."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        y = K.gelu(x, approximate)
        ctx.save_for_backward(x, y if approximate == "none" else None)
        ctx.approximate = approximate
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        return K.gelu_backward(x, g, ctx.approximate, y)


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(float_result(as_tensor(x, where="gelu")), approximate=approximate)


# ------------------------------------------------------ maximum / minimum / clip
class _Select(Function):
    """y = pick(a, b) elementwise; the gradient goes to the picked input,
    split evenly on ties, and where a or b is NaN (y is NaN) to both, as
    PyTorch does (each input gets g unless the other one wins outright).
    Subclasses name the pick."""

    pick = None          # np.maximum or np.minimum
    wins = None          # np.greater or np.less: where a is picked outright

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved
        tie = 0.5 * (a == b)
        return g * (1 - cls.wins(b, a) - tie), g * (1 - cls.wins(a, b) - tie)


class Maximum(_Select):
    """y = max(a, b) elementwise; the gradient goes to the larger input."""
    pick, wins = staticmethod(np.maximum), staticmethod(np.greater)


class Minimum(_Select):
    """y = min(a, b) elementwise; the gradient goes to the smaller input."""
    pick, wins = staticmethod(np.minimum), staticmethod(np.less)


def maximum(a, b):
    return _binary(Maximum, a, b, "maximum")


def minimum(a, b):
    return _binary(Minimum, a, b, "minimum")


class Clip(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        lo, hi = ctx.bounds
        inside = np.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return g * inside


def clip(x, min=None, max=None):
    """Clamp to [min, max] (either may be None)."""
    x = as_tensor(x, where="clip")
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min {min} is larger than max {max}")
    cast = (lambda v: None if v is None else np.asarray(v, x.dtype)[()]) if x.dtype.kind == "f" else (lambda v: v)
    return Clip.apply(x, cast(min), cast(max))


# ------------------------------------------------------------------ samples
def _binary_samples(make=rand):
    def samples(r):
        return [
            Sample("same shape", (make(r, 3, 4), make(r, 3, 4))),
            Sample("broadcast row", (make(r, 2, 3, 4), make(r, 4))),
            Sample("size-1 axes", (make(r, 3, 1), make(r, 1, 4))),
            Sample("0-d", (make(r), make(r, 2, 3))),
        ]
    return samples


def _unary_samples(make=rand):
    def samples(r):
        return [Sample("matrix", (make(r, 3, 4),)), Sample("0-d", (make(r),)),
                Sample("size-1 axis", (make(r, 1, 5),))]
    return samples


def _div_samples(r):
    return [Sample("same shape", (rand(r, 3, 4), away_from_zero(r, 3, 4, gap=0.5))),
            Sample("broadcast", (rand(r, 2, 3), away_from_zero(r, 3, gap=0.5))),
            Sample("0-d", (rand(r), away_from_zero(r, 2, gap=0.5)))]


def _pow_samples(r):
    return [Sample("tensor ** tensor", (positive(r, 3, 4), rand(r, 3, 4))),
            Sample("broadcast", (positive(r, 2, 3), rand(r, 3)))]


def _pow_scalar_samples(r):
    return [Sample("square", (rand(r, 3, 4), 2)), Sample("cube", (rand(r, 2, 3), 3)),
            Sample("fractional", (positive(r, 3, 2), 1.5)), Sample("negative", (positive(r, 4), -2)),
            Sample("0-d", (positive(r), 0.5))]


def _minmax_samples(r):
    def two(*shape):
        v = distinct(r, 2, *shape)
        return v[0], v[1]
    return [Sample("same shape", two(3, 4)), Sample("broadcast", (distinct(r, 3, 4), np.array([0.013, 0.51, -0.73, 1.07]))),
            Sample("0-d", (np.array(0.03), distinct(r, 2, 3)))]


def _clip_samples(r):
    x = distinct(r, 3, 4)
    return [Sample("both bounds", (x,), {"min": -1.01, "max": 0.99}),
            Sample("min only", (distinct(r, 5),), {"min": 0.013}),
            Sample("max only", (distinct(r, 2, 3),), {"max": -0.021})]


register(Add, add, _binary_samples())
register(Sub, sub, _binary_samples())
register(Mul, mul, _binary_samples())
register(Div, div, _div_samples)
register(Pow, pow, _pow_samples)
register(PowScalar, pow, _pow_scalar_samples)
register(Neg, neg, _unary_samples())
register(Exp, exp, _unary_samples())
register(Log, log, _unary_samples(positive))
register(Sqrt, sqrt, _unary_samples(positive))
register(Abs, abs, _unary_samples(away_from_zero))
register(Tanh, tanh, _unary_samples())
register(Sigmoid, sigmoid, _unary_samples())
register(Relu, relu, _unary_samples(away_from_zero))
register(Gelu, gelu, lambda r: _unary_samples()(r) + [Sample("tanh form", (rand(r, 3, 4),), {"approximate": "tanh"})])
register(Maximum, maximum, _minmax_samples)
register(Minimum, minimum, _minmax_samples)
register(Clip, clip, _clip_samples)
