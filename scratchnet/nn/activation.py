"""Activation layers: thin modules over ``scratchnet.functional``.

ReLU: max(x, 0);  GELU: x Phi(x) (or its tanh approximation);
Tanh; Sigmoid: 1 / (1 + e^-x);  Softmax / LogSoftmax over ``axis``.
None has parameters; every one keeps the input's shape and dtype.
"""
from .. import functional as F
from .module import Module


class ReLU(Module):
    """y = max(x, 0). ``inplace`` is accepted for PyTorch compatibility and ignored."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """y = x Phi(x) ('none') or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ('tanh')."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, x):
        return F.sigmoid(x)


class _AxisModule(Module):
    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def extra_repr(self):
        return f"axis={self.axis}"


class Softmax(_AxisModule):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``axis`` (default -1)."""

    def forward(self, x):
        return F.softmax(x, axis=self.axis)


class LogSoftmax(_AxisModule):
    """y_i = x_i - log sum_j exp(x_j) along ``axis`` (default -1)."""

    def forward(self, x):
        return F.log_softmax(x, axis=self.axis)
