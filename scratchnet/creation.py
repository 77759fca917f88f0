"""Tensor factories: zeros, ones, full, randn, rand, arange, *_like."""
import numpy as np

from .dtypes import get_default_dtype, normalize_array
from .random import default_generator
from .tensor import Tensor


def _shape(shape, where):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) for s in shape):
        raise TypeError(f"{where}: shape must be a sequence of ints, got {shape!r}")
    if any(s < 0 for s in shape):
        raise ValueError(f"{where}: shape must be non-negative ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def _dtype(dtype):
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def _float_dtype(dtype, where):
    """Random floats need a float dtype: casting normal samples to int would truncate them."""
    dtype = _dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where}: dtype must be a floating-point dtype, got {dtype} "
                        f"(use sn.randint for random integers)")
    return dtype


def zeros(*shape, dtype=None, requires_grad=False):
    return Tensor(np.zeros(_shape(shape, "zeros"), _dtype(dtype)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    return Tensor(np.ones(_shape(shape, "ones"), _dtype(dtype)), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False):
    """``shape`` filled with ``fill_value``. Without ``dtype`` the value decides, as
    in PyTorch: bool -> bool, int -> int64, float -> the default float dtype."""
    shape = _shape((shape,) if isinstance(shape, (int, np.integer)) else (tuple(shape),), "full")
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if not isinstance(fill_value, (bool, int, float, np.bool_, np.number)):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    if dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, (int, np.integer)):
        dtype = np.int64
    return Tensor(np.full(shape, fill_value, _dtype(dtype)), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False):
    """Standard normal samples from scratchnet's seeded generator."""
    dtype = _float_dtype(dtype, "randn")
    data = default_generator().standard_normal(_shape(shape, "randn")).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad=False):
    """Uniform [0, 1) samples from scratchnet's seeded generator."""
    dtype = _float_dtype(dtype, "rand")
    data = default_generator().random(_shape(shape, "rand")).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def randint(low, high, shape):
    return Tensor(default_generator().integers(low, high, size=_shape((tuple(shape),), "randint")))


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Like np.arange; integer arguments give int64, float ones the default dtype."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError(f"arange: step must be nonzero (start {start}, stop {stop})")
    data = np.arange(start, stop, step)
    if dtype is not None:
        data = data.astype(dtype)
    elif data.dtype.kind == "f":
        data = data.astype(get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def _like(t, dtype):
    """Shape and dtype of ``t`` (a Tensor, array or list: a list of floats has the default dtype)."""
    arr = t.data if isinstance(t, Tensor) else normalize_array(t)
    return arr.shape, arr.dtype if dtype is None else np.dtype(dtype)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros(*_like(t, dtype)), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones(*_like(t, dtype)), requires_grad=requires_grad)
