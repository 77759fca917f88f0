"""``Tensor``: a NumPy array that remembers how it was made.

A tensor holds ``.data`` (an ``np.ndarray``), ``.requires_grad``, and for
results of recorded ops a reference to the ``Node`` that produced it. Every
operator and method here is a thin call into ``scratchnet.ops``, where each op
and its derivative live side by side.
"""
import numpy as np

from .autograd import engine
from .autograd.grad_mode import is_grad_enabled
from .autograd.inplace import mark_modified
from .dtypes import normalize_array


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` is a NumPy array,
    a Python scalar or a (nested) list. Python floats become float32 (the
    default dtype); float64 arrays stay float64; integers stay integers and
    cannot require grad.
    """

    __slots__ = ("data", "_grad", "_requires_grad", "_node", "_index", "__weakref__")
    __array_priority__ = 1000
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        try:
            self.data = normalize_array(data, dtype)
        except ValueError as e:        # NumPy refusing a ragged nested list
            raise ValueError(f"tensor: cannot make an array of the {type(data).__name__} given ({e})") from None
        self._grad = None
        self._node = None
        self._index = 0
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, array, node=None, index=0):
        """Wrap an op's output array without copying or checks."""
        t = cls.__new__(cls)
        t.data = array if isinstance(array, np.ndarray) else np.asarray(array)
        t._grad = None
        differentiable = node is not None and t.data.dtype.kind == "f"
        t._node = node if differentiable else None
        t._index = index
        t._requires_grad = differentiable
        return t

    # ----------------------------------------------------------------- flags
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if flag and self.data.dtype.kind != "f":
            raise TypeError(
                f"Tensor.requires_grad: only floating-point tensors can require grad; "
                f"this tensor has dtype {self.data.dtype} and shape {self.data.shape}")
        if not flag and self._node is not None:
            raise ValueError("Tensor.requires_grad: cannot switch off requires_grad of a "
                             "non-leaf tensor; use .detach()")
        self._requires_grad = flag

    @property
    def grad(self):
        """The accumulated gradient: an ndarray of this tensor's shape and dtype, or None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            value = value.data if isinstance(value, Tensor) else value
            if not isinstance(value, np.ndarray):
                raise TypeError(f"Tensor.grad: expected an np.ndarray or None, got {type(value).__name__}")
            if value.shape != self.data.shape:
                raise ValueError(f"Tensor.grad: cannot assign a gradient of shape {value.shape} "
                                 f"to a tensor of shape {self.data.shape}")
            if value.dtype != self.data.dtype:
                raise TypeError(f"Tensor.grad: cannot assign a gradient of dtype {value.dtype} "
                                f"to a tensor of dtype {self.data.dtype} (shape {self.data.shape})")
        self._grad = value

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def numpy(self):
        """The underlying array (shared, not copied)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"Tensor.item: only a tensor with one element can be converted "
                             f"to a Python scalar, got shape {self.data.shape}")
        return self.data.item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """An integer tensor of one element used as an index (``list[t]``, ``range(t)``)."""
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"Tensor.__index__: only an integer tensor with one element can be used "
                            f"as an index, got dtype {self.data.dtype} and shape {self.data.shape}")
        return int(self.data.item())

    def __format__(self, spec):
        """A 0-d tensor formats like its number (``f"{loss:.3f}"``)."""
        if self.data.ndim == 0:
            return format(self.data.item(), spec)
        return object.__format__(self, spec)

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """A new leaf tensor sharing the data, cut off from the graph."""
        return Tensor._wrap(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != np.float32:
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn={self._node.name}"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.data.shape} is ambiguous")
        return bool(self.data)

    __hash__ = object.__hash__

    # -------------------------------------------------------------- autograd
    def _accumulate_grad(self, g):
        if self._grad is None:
            # own the buffer: never alias an array that an op or user still holds
            self._grad = np.array(g, dtype=self.data.dtype, copy=True)
        else:
            self._grad += g

    def zero_grad(self):
        self.grad = None

    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * grad into ``.grad`` of every leaf.

        ``grad`` defaults to 1 for a scalar; a non-scalar needs it explicitly.
        The graph is freed afterwards unless ``retain_graph=True``.
        """
        if not self._requires_grad:
            raise ValueError("Tensor.backward: this tensor does not require grad "
                             "(no input of the computation had requires_grad=True)")
        grad = _initial_grad(self, grad, "Tensor.backward")
        engine.run_backward([self], [grad], retain_graph=retain_graph)

    # -------------------------------------------------------------- operators
    def __add__(self, o): return ops.add(self, o)
    def __radd__(self, o): return ops.add(o, self)
    def __sub__(self, o): return ops.sub(self, o)
    def __rsub__(self, o): return ops.sub(o, self)
    def __mul__(self, o): return ops.mul(self, o)
    def __rmul__(self, o): return ops.mul(o, self)
    def __truediv__(self, o): return ops.div(self, o)
    def __rtruediv__(self, o): return ops.div(o, self)
    def __pow__(self, o): return ops.pow(self, o)
    def __rpow__(self, o): return ops.pow(o, self)
    def __matmul__(self, o): return ops.matmul(self, o)
    def __rmatmul__(self, o): return ops.matmul(o, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)

    def _check_inplace(self, name, o):
        """In-place forms only on tensors that do not require grad (API.md), and not
        with an operand that does while recording: the result would then require grad
        (PyTorch records it), but writing into ``self.data`` would drop that gradient."""
        if self._requires_grad:
            raise ValueError(
                f"Tensor.{name}: in-place operation on a tensor that requires grad "
                f"(shape {self.shape}); use the out-of-place form, or modify .data under no_grad")
        if isinstance(o, Tensor) and o._requires_grad and is_grad_enabled():
            raise ValueError(
                f"Tensor.{name}: in-place operation with an operand that requires grad (shape "
                f"{o.shape}) into a tensor that does not (shape {self.shape}): its gradient would be "
                f"lost; use an out-of-place op (a = a + b; sn.where or masked_fill for a[i] = v)")

    def _inplace(self, name, o, fn):
        self._check_inplace(name, o)
        other = o.data if isinstance(o, Tensor) else np.asarray(o)
        try:
            fn(self.data, other.astype(self.dtype, copy=False) if other.dtype.kind == self.dtype.kind else other,
               out=self.data, casting="same_kind")
        except TypeError as e:           # int += float: NumPy refuses the cast
            raise TypeError(f"Tensor.{name}: cannot write a {other.dtype} result into a tensor of dtype "
                            f"{self.dtype} in place (shapes {self.shape} and {other.shape})") from e
        except ValueError as e:          # the result would need a bigger shape than self
            raise ValueError(f"Tensor.{name}: the result of shapes {self.shape} and {other.shape} does "
                             f"not fit in place into shape {self.shape}") from e
        mark_modified(self.data)
        return self

    def __iadd__(self, o): return self._inplace("__iadd__", o, np.add)
    def __isub__(self, o): return self._inplace("__isub__", o, np.subtract)
    def __imul__(self, o): return self._inplace("__imul__", o, np.multiply)
    def __itruediv__(self, o): return self._inplace("__itruediv__", o, np.true_divide)

    def _compare(self, o, fn):
        other = o.data if isinstance(o, Tensor) else o
        try:
            return Tensor._wrap(fn(self.data, other))
        except ValueError:
            raise ValueError(f"{fn.__name__}: cannot broadcast shapes {self.shape} and "
                             f"{np.shape(other)}") from None

    def __eq__(self, o): return self._compare(o, np.equal)
    def __ne__(self, o): return self._compare(o, np.not_equal)
    def __lt__(self, o): return self._compare(o, np.less)
    def __le__(self, o): return self._compare(o, np.less_equal)
    def __gt__(self, o): return self._compare(o, np.greater)
    def __ge__(self, o): return self._compare(o, np.greater_equal)

    def __invert__(self):
        if self.dtype != np.bool_:
            raise TypeError(f"Tensor.__invert__: only bool tensors, got {self.dtype}")
        return Tensor._wrap(~self.data)

    def __and__(self, o): return self._compare(o, np.logical_and)
    def __or__(self, o): return self._compare(o, np.logical_or)

    def __getitem__(self, index): return ops.getitem(self, index)

    def __setitem__(self, index, value):
        if self._requires_grad:
            raise ValueError(f"Tensor.__setitem__: in-place assignment into a tensor that "
                             f"requires grad (shape {self.shape}); use masked_fill or where")
        self._check_inplace("__setitem__", value)
        self.data[index] = value.data if isinstance(value, Tensor) else value
        mark_modified(self.data)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    # ---------------------------------------------------------------- methods
    @property
    def T(self):
        return ops.transpose(self)

    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return ops.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return ops.sqrt(ops.var(self, axis, keepdims, ddof))
    def logsumexp(self, axis=None, keepdims=False): return ops.logsumexp(self, axis, keepdims)
    def argmax(self, axis=None): return Tensor._wrap(np.argmax(self.data, axis=axis))
    def argmin(self, axis=None): return Tensor._wrap(np.argmin(self.data, axis=axis))

    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)
    def matmul(self, o): return ops.matmul(self, o)

    def reshape(self, *shape): return ops.reshape(self, *shape)
    def view(self, *shape): return ops.reshape(self, *shape)
    def flatten(self): return ops.reshape(self, -1)
    def transpose(self, *axes): return ops.transpose(self, *axes)
    def permute(self, *axes): return ops.transpose(self, *axes)
    def swapaxes(self, a, b): return ops.swapaxes(self, a, b)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def unsqueeze(self, axis): return ops.unsqueeze(self, axis)
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    def masked_fill(self, mask, value): return ops.masked_fill(self, mask, value)
    def astype(self, dtype): return ops.astype(self, dtype)
    def float(self): return ops.astype(self, np.float32)
    def double(self): return ops.astype(self, np.float64)
    def split(self, sizes_or_n, axis=0): return ops.split(self, sizes_or_n, axis)


def _initial_grad(t, grad, where):
    if grad is None:
        if t.data.size != 1:
            raise ValueError(
                f"{where}: the output has shape {t.shape}; backward() without `grad` "
                f"works only for a scalar. Pass grad= an array of shape {t.shape}, "
                f"or reduce the output first (e.g. .sum())")
        return np.ones(t.shape, dtype=t.dtype)
    g = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
    if g.dtype.kind not in "biuf":
        raise TypeError(f"{where}: grad must be a real numeric array, got dtype {g.dtype} "
                        f"(shape {g.shape}) for an output of shape {t.shape}")
    if g.shape != t.shape:
        raise ValueError(f"{where}: grad has shape {g.shape} but the output has shape {t.shape}")
    return g.astype(t.dtype, copy=False)


def tensor(data, requires_grad=False, dtype=None):
    """Build a Tensor (see ``Tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` w.r.t. ``inputs`` as NumPy arrays.

    Nothing is written to ``.grad``. ``outputs``/``inputs`` may be a tensor or
    a sequence; ``grad_outputs`` (one per output) defaults to ones for scalar
    outputs, and the gradients of several outputs are summed. An input that
    the outputs do not depend on is an error, as in PyTorch, unless
    ``allow_unused=True`` (then its gradient is ``None``).
    """
    single = isinstance(inputs, Tensor)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"sn.grad: got {len(outputs)} outputs but {len(grad_outputs)} grad_outputs "
                         f"(one per output, None for a scalar output)")
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError("sn.grad: every input must be a Tensor with requires_grad=True")
    roots, root_grads = [], []
    for o, g in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise ValueError("sn.grad: an output does not require grad (it does not depend "
                             "on any input that requires grad)")
        roots.append(o)
        root_grads.append(_initial_grad(o, g, "sn.grad"))
    capture = {id(t): None for t in inputs}
    engine.run_backward(roots, root_grads, retain_graph=retain_graph, capture=capture)
    result = []
    for k, t in enumerate(inputs):
        g = capture[id(t)]
        if g is None and not allow_unused:
            raise ValueError(f"sn.grad: input {k} (shape {t.shape}) was not used to compute the outputs; "
                             f"pass allow_unused=True to get None for it")
        # a fresh, writable array: g may be a read-only broadcast view (the gradient
        # of a sum) or the caller's own grad_outputs array (an output that is an input)
        result.append(None if g is None else np.array(g, dtype=t.dtype, copy=True))
    return result[0] if single else result


from . import ops  # noqa: E402  (ops import Tensor; the operators above call them)
