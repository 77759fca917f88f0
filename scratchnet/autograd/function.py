"""The ``Function`` base class: one differentiable operation.

A ``Function`` subclass holds an op and its derivative side by side::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):            # NumPy arrays in ...
            y = np.exp(x)
            ctx.save_for_backward(y)    # d/dx exp(x) = exp(x): save the output
            return y                    # ... NumPy array out

        @staticmethod
        def backward(ctx, grad):        # grad = dL/dy, same shape as y
            (y,) = ctx.saved
            return grad * y             # dL/dx, one entry per positional input

``Exp.apply(t)`` unwraps the Tensor arguments to arrays, runs ``forward``, and
when recording is on and any input requires grad, wraps the result in a Tensor
that remembers a ``Node`` (the function, its context and its inputs). The engine
(``engine.py``) later walks those nodes backwards.

``forward`` may return a tuple of arrays (e.g. ``split``); ``backward`` then
receives one gradient per output (zeros for outputs that got none).
Positional arguments that are not Tensors (index arrays, masks) are passed to
``forward`` unchanged and get ``None`` as their gradient.
"""
from .grad_mode import is_grad_enabled
from .inplace import clock


class Context:
    """Scratch space shared by ``forward`` and ``backward`` of one call."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved = ()

    def save_for_backward(self, *arrays):
        self.saved = arrays


class Node:
    """One recorded call in the graph. Holds no reference to its outputs,
    so the graph is freed as soon as the last output tensor goes away.
    ``tick`` is the in-place clock at the forward (see ``inplace.py``)."""

    __slots__ = ("fn", "ctx", "inputs", "n_outputs", "freed", "tick", "__weakref__")

    def __init__(self, fn, ctx, inputs, n_outputs):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs          # tuple: Tensor (requiring grad) or None
        self.n_outputs = n_outputs
        self.freed = False
        self.tick = clock[0]

    @property
    def name(self):
        return self.fn.__name__

    def release(self):
        """Drop saved arrays and input references (after backward)."""
        self.ctx = None
        self.inputs = ()
        self.freed = True

    def __repr__(self):
        return f"<Node {self.name}{' (freed)' if self.freed else ''}>"


def _name_the_op(cls, error, arrays):
    """An error from deep inside forward (NumPy's, say), re-raised with the
    op's name and its input shapes in the message."""
    name = cls.__name__.lower()
    snake = "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(cls.__name__))
    message = str(error)
    if message.startswith((name + ":", snake + ":")):     # already named (CrossEntropy: "cross_entropy:")
        return error
    shapes = ", ".join(str(a.shape) for a in arrays if hasattr(a, "shape"))
    kind = next(k for k in (IndexError, ValueError, TypeError) if isinstance(error, k))
    return kind(f"{name}: {message} (input shapes {shapes})")


class Function:
    """Base class of every differentiable op (see module docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _tensor_class()
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        needs = tuple([isinstance(a, Tensor) and a._requires_grad for a in args])
        record = True in needs and is_grad_enabled()
        ctx = Context(needs)
        try:
            out = cls.forward(ctx, *arrays, **kwargs)
        except (ValueError, IndexError, TypeError) as e:
            raise _name_the_op(cls, e, arrays) from e
        if not isinstance(out, tuple):                      # the common case: one output
            if not record:
                return Tensor._wrap(out)
            return Tensor._wrap(out, node=Node(cls, ctx, _recorded_inputs(args, needs), 1), index=0)
        if not record:
            return tuple(Tensor._wrap(o) for o in out)
        node = Node(cls, ctx, _recorded_inputs(args, needs), len(out))
        ctx.output_meta = [(o.shape, o.dtype) for o in out]
        return tuple(Tensor._wrap(o, node=node, index=i) for i, o in enumerate(out))


def _recorded_inputs(args, needs):
    """The inputs the node keeps: tensors that require grad, None elsewhere."""
    return tuple([a if n else None for a, n in zip(args, needs)])


_TENSOR = []


def _tensor_class():
    """``Tensor``, imported once on first use (tensor.py imports this module)."""
    if not _TENSOR:
        from ..tensor import Tensor
        _TENSOR.append(Tensor)
    return _TENSOR[0]
