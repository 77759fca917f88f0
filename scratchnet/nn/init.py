"""Parameter initialisers, in place, with PyTorch's names and formulas.

Every function fills ``tensor.data`` in place (no graph is recorded), keeps
its dtype, draws from ``scratchnet.random.default_generator()`` and returns
the tensor. Fans of a weight of shape (out, in, *kernel):
fan_in = in * prod(kernel), fan_out = out * prod(kernel).

- uniform_(t, a, b): U(a, b);  normal_(t, mean, std): N(mean, std^2)
- xavier_uniform_: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))
- xavier_normal_:  N(0, std^2),      std = gain * sqrt(2 / (fan_in + fan_out))
- kaiming_uniform_: U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan)
- kaiming_normal_:  N(0, std^2),      std = gain / sqrt(fan)
  with fan = fan_in (mode='fan_in') or fan_out, gain = calculate_gain(nonlinearity, a);
  a tensor with no elements is left as is, with PyTorch's warning
- orthogonal_: Q of the QR decomposition of a Gaussian (rows, cols) matrix,
  signs fixed by diag(R), times gain
- trunc_normal_: N(mean, std^2) restricted to [a, b] (rejection sampling)
"""
import math
import warnings

import numpy as np

from ..autograd.grad_mode import no_grad
from ..random import default_generator
from ..tensor import Tensor

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid", "identity")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity`` (PyTorch's table): 1 for linear and
    sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu
    (slope ``param``, default 0.01), 3/4 for selu."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _array(tensor, where):
    if isinstance(tensor, Tensor):
        return tensor.data
    if isinstance(tensor, np.ndarray):
        return tensor
    raise TypeError(f"{where}: expected a Tensor, Parameter or ndarray, got {type(tensor).__name__}")


def _fill(tensor, values, where):
    """Write ``values`` into ``tensor`` in place, in the tensor's dtype."""
    arr = _array(tensor, where)
    with no_grad():
        arr[...] = np.asarray(values).astype(arr.dtype, copy=False)
    return tensor


def _shape(tensor, where):
    return _array(tensor, where).shape


def calculate_fan_in_and_fan_out(tensor):
    shape = _shape(tensor, "calculate_fan_in_and_fan_out")
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dims, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _zero_element(tensor, where):
    """True (after PyTorch's warning) for a tensor with no elements: kaiming_* leave it as is."""
    if 0 in _shape(tensor, where):
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, default_generator().uniform(a, b, size=_shape(tensor, "uniform_")), "uniform_")


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, default_generator().normal(mean, std, size=_shape(tensor, "normal_")), "normal_")


def constant_(tensor, val):
    return _fill(tensor, val, "constant_")


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    if _zero_element(tensor, "kaiming_uniform_"):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    if _zero_element(tensor, "kaiming_normal_"):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def orthogonal_(tensor, gain=1.0):
    """Rows (or columns, whichever are fewer) orthonormal, scaled by ``gain``."""
    shape = _shape(tensor, "orthogonal_")
    if len(shape) < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dims, got shape {shape}")
    if 0 in shape:                                      # nothing to fill (PyTorch: a no-op)
        return tensor
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = default_generator().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T                                   # (rows, cols) -> (cols, rows)
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))                         # unique Q: diag(R) > 0
    if rows < cols:
        q = q.T                                         # (cols, rows) -> (rows, cols)
    return _fill(tensor, gain * q.reshape(shape), "orthogonal_")   # (rows, cols) -> shape


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """N(mean, std^2) conditioned on [a, b] (absolute bounds, as in PyTorch)."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    shape = _shape(tensor, "trunc_normal_")
    out = np.empty(math.prod(shape))
    todo = np.arange(out.size)
    rng = default_generator()
    for _ in range(1000):
        if not todo.size:
            break
        draw = rng.normal(mean, std, size=todo.size)
        ok = (draw >= a) & (draw <= b)
        out[todo[ok]] = draw[ok]
        todo = todo[~ok]
    if todo.size:   # bounds far in the tail: fall back to uniform on [a, b]
        out[todo] = rng.uniform(a, b, size=todo.size)
    return _fill(tensor, out.reshape(shape), "trunc_normal_")     # (numel,) -> shape
