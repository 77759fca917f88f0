"""Helpers shared by the ops: operand coercion and axis normalisation."""
import numpy as np

from ..dtypes import get_default_dtype, is_real, normalize_array
from ..tensor import Tensor


def as_tensor(x, like=None, where="op"):
    """A Tensor for ``x``; a Python/NumPy scalar (or a 0-d array, as PyTorch treats
    a 0-d tensor) takes ``like``'s float dtype, so scalars never promote a float32 tensor."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype != object:
        x = x[()]                                  # 0-d array -> NumPy scalar
    if isinstance(x, (bool, int, float, np.generic)) and like is not None:
        like_dtype = like.dtype
        if like_dtype.kind == "f":
            return Tensor._wrap(np.asarray(x, dtype=like_dtype))
        if isinstance(x, (float, np.floating)):
            return Tensor._wrap(np.asarray(x, dtype=get_default_dtype()))
    try:
        return Tensor._wrap(normalize_array(x, where=where))
    except TypeError:
        if isinstance(x, (list, tuple)):   # keep normalize_array's message: the dtype and shape NumPy made
            raise
        raise TypeError(f"{where}: expected a Tensor, array or number, got {type(x).__name__}") from None
    except ValueError as e:        # NumPy refusing a ragged nested list
        raise ValueError(f"{where}: cannot make an array of the {type(x).__name__} given ({e})") from None


def binary_operands(a, b, where):
    """Coerce a pair of operands: scalars follow the tensor; int + float -> float."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor(a, where=where)
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b, where=where)
    b = as_tensor(b, like=a, where=where)
    ka, kb = a.dtype.kind, b.dtype.kind
    if ka == kb == "f" and a.dtype != b.dtype and (a.ndim == 0) != (b.ndim == 0):
        # PyTorch: a 0-d float operand takes the dtype of a dimensioned one (float32 stays float32)
        a, b = (a.astype(b.dtype), b) if a.ndim == 0 else (a, b.astype(a.dtype))
    elif ka == "f" and kb != "f":
        b = Tensor._wrap(b.data.astype(a.dtype))
    elif kb == "f" and ka != "f":
        a = Tensor._wrap(a.data.astype(b.dtype))
    return a, b


def float_result(x):
    """``x`` (a Tensor) for an op whose result is a float (exp, log, true
    division, ...): integer and bool tensors become the default float dtype
    first, as in PyTorch (``exp`` of an int64 tensor is float32), rather than
    NumPy's float64. Float tensors pass through unchanged."""
    if x.dtype.kind == "f":
        return x
    return Tensor._wrap(x.data.astype(get_default_dtype()))


def float_tensor(x, where, what="input"):
    """``x`` as a Tensor, which must hold floats (a TypeError naming the op otherwise)."""
    x = as_tensor(x, where=where)
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: {what} must be a floating-point tensor, got dtype {x.dtype} (shape {x.shape})")
    return x


def broadcasts_to(shape, target):
    """True when an array of ``shape`` broadcasts to exactly ``target`` (never enlarging it)."""
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def normalize_axes(axis, ndim, where):
    """``axis`` (None, int or sequence) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"{where}: axis must be None, an int or a tuple of ints, got {axis!r}")
    out = []
    if ndim == 0:   # a 0-d tensor accepts axis 0 / -1 (as PyTorch does): nothing to reduce
        if any(a not in (0, -1) for a in axes):
            raise ValueError(f"{where}: axis {axis!r} is out of range for a 0-d tensor")
        return ()
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{where}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{where}: axis {a} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def normalize_axis(axis, ndim, where):
    """A single axis as a non-negative int (an error for a 0-d tensor)."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{where}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{where}: axis {axis} is out of range for a tensor with {ndim} dims")
    return int(axis) % ndim


def expand_reduced(g, shape, axes, keepdims):
    """Broadcast a reduction's gradient back to the input ``shape``."""
    if not keepdims:
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, shape)


def to_array(x, where, name):
    """An index/mask/target argument as a NumPy array (Tensor or array accepted)."""
    if isinstance(x, Tensor):
        return x.data
    try:
        arr = np.asarray(x)
    except ValueError as e:        # NumPy refusing a ragged nested list
        raise ValueError(f"{where}: {name} is not a rectangular array ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must be a Tensor or an array of numbers or booleans, "
                        f"got {type(x).__name__} (dtype {arr.dtype})")
    return arr


def real_number(value, where, name):
    """``value`` as a Python float; TypeError naming ``where`` and ``name`` unless it
    is a real number (Python or NumPy; a bool is not one)."""
    if not is_real(value):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)
