"""The default floating dtype (float32 unless changed) and dtype rules.

Rules, shared by every op:
- Float data stays in its own precision; Python floats and lists of floats
  become the default dtype (float32).
- A Python or NumPy scalar never promotes a tensor: ``x32 * 2.0`` is float32.
- Integer and float operands give the float operand's dtype.
- float16 is widened to float32 (kernels compute in float32 or float64).
"""
import numbers

import numpy as np

_DEFAULT = [np.dtype(np.float32)]
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def get_default_dtype():
    return _DEFAULT[0]


def set_default_dtype(dtype):
    """Set the dtype given to Python floats and float lists (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dtype}")
    _DEFAULT[0] = dtype


def is_int(value):
    """True for a Python or NumPy integer that is not a bool (a size, count or
    seed: ``True`` and ``2.0`` are neither)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    """True for a Python or NumPy real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_float(dtype):
    return np.dtype(dtype).kind == "f"


def normalize_array(data, dtype=None, where="tensor"):
    """Turn user data into an ndarray of a supported dtype."""
    if dtype is not None:
        dtype = np.dtype(dtype)
        _check_supported(dtype, where)
        return np.array(data, dtype=dtype, copy=None)
    is_py = not isinstance(data, (np.ndarray, np.generic))
    arr = np.asarray(data)
    kind = arr.dtype.kind
    if kind == "f":
        if is_py:
            arr = arr.astype(get_default_dtype())
        elif arr.dtype not in FLOAT_DTYPES:   # float16 -> float32, longdouble -> float64
            arr = arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
    elif kind not in "biu":
        raise TypeError(
            f"{where}: unsupported data of dtype {arr.dtype} (shape {arr.shape}); "
            f"scratchnet holds float32, float64, integer and bool arrays")
    return arr


def _check_supported(dtype, where):
    if dtype.kind not in "fbiu":
        raise TypeError(f"{where}: unsupported dtype {dtype}; use float32, float64, an integer or bool dtype")


def result_dtype(a, b):
    """dtype of a binary op on arrays ``a`` and ``b`` (torch-like for int/float)."""
    fa, fb = a.dtype.kind == "f", b.dtype.kind == "f"
    if fa and not fb:
        return a.dtype
    if fb and not fa:
        return b.dtype
    return np.result_type(a.dtype, b.dtype)
