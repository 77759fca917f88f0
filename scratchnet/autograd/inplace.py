"""Catching in-place changes to arrays that a recorded op saved for backward.

An op's ``backward`` reads the arrays its ``forward`` saved (``x`` for
d(x*w)/dw = x, ``exp(x)`` for d exp(x)/dx = exp(x)). If one of them is changed
in place before ``backward`` (``a += 1`` on an input that does not require
grad, or ``y.detach() += 1`` on an output, which shares ``y``'s memory), the
gradient would silently be computed from the new values. PyTorch raises then;
so does scratchnet:

- every in-place Tensor operation (``+=``, ``-=``, ``*=``, ``/=``, ``t[i] = v``)
  calls ``mark_modified(array)``, which ticks a clock and stamps the array's
  *base* (the ndarray that owns the memory, so every view of it counts);
- each recorded Node remembers the clock at its forward (``clock[0]``);
- before a node's backward the engine calls ``check_saved(node)``: a saved
  array whose base was stamped after that time raises
  ``SavedArrayModifiedError``.

Like PyTorch's version counters, a change anywhere in a base counts (writing
``x[5:]`` invalidates a saved ``x[:5]``). Writes through ``.data`` or NumPy
directly are not seen (as in PyTorch, where ``.data`` bypasses the check).
"""
import weakref

import numpy as np

clock = [0]         # ticks once per in-place write; a Node stores clock[0] at its forward
_stamps = {}        # id(base) -> (tick, weakref to base)


class SavedArrayModifiedError(ValueError, RuntimeError):
    """An array saved for backward was modified in place after the forward.

    A ``ValueError`` (scratchnet's rule for value problems) that is also a
    ``RuntimeError`` (what PyTorch raises for the same mistake)."""


def _base(array):
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _forget(key):
    return lambda _ref: _stamps.pop(key, None)


def mark_modified(array):
    """Record that ``array`` (and so its base's memory) was just written in place."""
    clock[0] += 1
    base = _base(array)
    key = id(base)
    _stamps[key] = (clock[0], weakref.ref(base, _forget(key)))


def _saved_arrays(ctx):
    """Arrays a context holds: ``ctx.saved`` and any other attribute (one level into tuples/lists)."""
    for value in vars(ctx).values():
        items = value if isinstance(value, (tuple, list)) else (value,)
        for item in items:
            if isinstance(item, np.ndarray):
                yield item


def check_saved(node):
    """Raise if an array ``node`` saved was modified in place after its forward (``node.tick``)."""
    tick = node.tick
    if tick >= clock[0] or node.ctx is None:
        return                                   # nothing was modified since the forward
    for array in _saved_arrays(node.ctx):
        base = _base(array)
        stamp = _stamps.get(id(base))
        if stamp is not None and stamp[0] > tick and stamp[1]() is base:
            raise SavedArrayModifiedError(
                f"{node.name}.backward: an array of shape {array.shape} that {node.name} saved for "
                f"backward was modified by an in-place operation after the forward pass, so its "
                f"gradient would be wrong. Use an out-of-place operation (a = a + 1 rather than "
                f"a += 1), or modify a copy.")
