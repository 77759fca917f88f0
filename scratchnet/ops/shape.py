"""Shape ops: they move numbers around, so their backward moves the
gradient back (reshape back, inverse permutation, scatter-add for indexing)."""
import builtins

import numpy as np

from ..autograd.function import Function
from ..tensor import Tensor
from .registry import Sample, register, rand
from ._util import as_tensor, broadcasts_to, normalize_axis, to_array


def _shape_arg(shape, where):
    """Accept reshape(2, 3) and reshape((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{where}: shape entries must be ints, got {shape!r}")
    return tuple(int(s) for s in shape)


class Reshape(Function):
    """y = x viewed with a new shape (same elements, same order)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) into shape {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


def reshape(x, *shape):
    x = as_tensor(x, where="reshape")
    return Reshape.apply(x, _shape_arg(shape, "reshape"))


class Transpose(Function):
    """y = x with its axes permuted; the gradient takes the inverse permutation."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.axes))


def transpose(x, *axes):
    """Permute axes; with no axes, reverse them (like ``.T``)."""
    x = as_tensor(x, where="transpose")
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(normalize_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Transpose.apply(x, axes)


def swapaxes(x, a, b):
    x = as_tensor(x, where="swapaxes")
    a, b = normalize_axis(a, x.ndim, "swapaxes"), normalize_axis(b, x.ndim, "swapaxes")
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Transpose.apply(x, tuple(axes))


def squeeze(x, axis=None):
    """Remove size-1 axes: all of them, or those among the given ones (a given
    axis whose size is not 1 stays, as in PyTorch)."""
    x = as_tensor(x, where="squeeze")
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        axes = {normalize_axis(a, x.ndim, "squeeze") for a in axes}
        shape = tuple(n for i, n in enumerate(x.shape) if i not in axes or n != 1)
    return Reshape.apply(x, shape)


def unsqueeze(x, axis):
    """Insert a size-1 axis at ``axis`` (negative counts from the new end)."""
    x = as_tensor(x, where="unsqueeze")
    a = normalize_axis(axis, x.ndim + 1, "unsqueeze")
    return Reshape.apply(x, x.shape[:a] + (1,) + x.shape[a:])


class BroadcastTo(Function):
    """y = x broadcast to ``shape``; the engine sums the gradient back."""

    @staticmethod
    def forward(ctx, x, shape):
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g  # unbroadcast happens once, in the engine


def broadcast_to(x, shape):
    x = as_tensor(x, where="broadcast_to")
    return BroadcastTo.apply(x, _shape_arg((shape,) if not isinstance(shape, (tuple, list)) else (tuple(shape),), "broadcast_to"))


def _is_basic(index):
    """True for indices made only of ints, slices, None and Ellipsis."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis))) and not isinstance(i, bool)
               for i in items)


def _convert_index(index):
    """Tensors and lists in the index (also inside a tuple) as NumPy arrays."""
    if isinstance(index, tuple):
        return tuple(_convert_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        try:
            return np.asarray(index)
        except ValueError as e:    # a ragged nested list
            raise IndexError(f"getitem: the index list is not a rectangular array ({e})") from None
    return index


def _ints_first(index):
    """PyTorch's order for an index that mixes ints with index arrays, as two
    NumPy indices ``(first, second)`` with ``x[index] == x[first][second]``; None
    when NumPy's order is PyTorch's already.

    NumPy counts the ints as advanced indices too, so in ``x[0, :, [1, 2]]``
    the int and the array are separated by a slice and their axis goes first:
    shape (2, x.shape[1]). PyTorch applies the ints as basic indices, giving
    ``x[0][:, [1, 2]]``, shape (x.shape[1], 2). ``first`` applies the ints
    (arrays replaced by full slices); ``second`` then applies the arrays.
    """
    items = index if isinstance(index, tuple) else (index,)
    is_int = [isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in items]
    arrays = [isinstance(i, np.ndarray) and i.ndim > 0 for i in items]
    if not (builtins.any(is_int) and builtins.any(arrays)):
        return None
    first, second = [], []
    for i, integer, array in zip(items, is_int, arrays):
        if integer:
            first.append(i)                                  # its axis is gone from the result
        elif array:
            first.extend([slice(None)] * (i.ndim if i.dtype == np.bool_ else 1))
            second.append(i)
        elif i is Ellipsis:
            first.append(i)
            second.append(i)
        else:                                                # a slice, or None (a new axis)
            first.append(i)
            second.append(slice(None))
    return tuple(first), tuple(second)


class GetItem(Function):
    """y = x[index]. Backward scatters the gradient into zeros of x's shape;
    ``np.add.at`` makes repeated integer indices accumulate."""

    @staticmethod
    def forward(ctx, x, index):
        try:
            y = x[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {x.shape})") from None
        ctx.meta = (x.shape, x.dtype, index)
        return y

    @staticmethod
    def backward(ctx, g):
        shape, dtype, index = ctx.meta
        gx = np.zeros(shape, dtype=dtype)
        if _is_basic(index):
            gx[index] = g
        else:
            np.add.at(gx, index, g)
        return gx


def getitem(x, index):
    x = as_tensor(x, where="getitem")
    index = _convert_index(index)
    _check_index_types(index)
    split = _ints_first(index)
    if split is not None:
        return GetItem.apply(GetItem.apply(x, split[0]), split[1])
    return GetItem.apply(x, index)


def _check_index_types(index):
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if isinstance(i, np.ndarray) and i.dtype.kind not in "biu":
            raise IndexError(f"getitem: index arrays must be integer or bool, got dtype {i.dtype}")
        if isinstance(i, float):
            raise IndexError(f"getitem: index must be an int, slice or integer array, got float {i}")


class Cat(Function):
    """y = concatenation along ``axis``; the gradient is split back."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.meta = (axis, [x.shape[axis] for x in xs])
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        axis, sizes = ctx.meta
        return tuple(np.split(g, np.cumsum(sizes)[:-1], axis=axis))


def _as_list(tensors, where):
    """The tensors argument of cat/stack as a list (a clear TypeError for a non-sequence)."""
    if isinstance(tensors, (Tensor, np.ndarray, str, bytes)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{where}: expected a sequence of tensors, got {type(tensors).__name__}")
    return list(tensors)


def _check_same_rank(tensors, where):
    if not tensors:
        raise ValueError(f"{where}: expected a non-empty sequence of tensors")


def cat(tensors, axis=0):
    tensors = _as_list(tensors, "cat")
    _check_same_rank(tensors, "cat")
    tensors = [as_tensor(t, where="cat") for t in tensors]
    ref = tensors[0]
    ax = normalize_axis(axis, ref.ndim, "cat") if ref.ndim else None
    if ax is None:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    for t in tensors:
        if t.ndim != ref.ndim or any(t.shape[i] != ref.shape[i] for i in range(ref.ndim) if i != ax):
            raise ValueError(f"cat: shapes {[x.shape for x in tensors]} differ outside axis {ax}")
    tensors = _common_dtype(tensors)
    return Cat.apply(*tensors, axis=ax)


def _common_dtype(tensors):
    dt = np.result_type(*[t.dtype for t in tensors])
    if any(t.dtype.kind == "f" for t in tensors):
        dt = np.result_type(*[t.dtype for t in tensors if t.dtype.kind == "f"])
    return [t if t.dtype == dt else Tensor._wrap(t.data.astype(dt)) if not t.requires_grad else t.astype(dt)
            for t in tensors]


class Stack(Function):
    """y = the inputs stacked along a new ``axis``; the gradient is unstacked."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))


def stack(tensors, axis=0):
    tensors = _as_list(tensors, "stack")
    _check_same_rank(tensors, "stack")
    tensors = [as_tensor(t, where="stack") for t in tensors]
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}")
    ax = normalize_axis(axis, tensors[0].ndim + 1, "stack")
    return Stack.apply(*_common_dtype(tensors), axis=ax)


class Split(Function):
    """ys = consecutive pieces of x along ``axis``; the gradient is their concatenation."""

    @staticmethod
    def forward(ctx, x, bounds, axis):
        ctx.axis = axis
        return tuple(np.split(x, bounds, axis=axis))

    @staticmethod
    def backward(ctx, *gs):
        return np.concatenate(gs, axis=ctx.axis)


def split(x, sizes_or_n, axis=0):
    """Split into ``n`` equal pieces (an int) or pieces of the given sizes (a list)."""
    x = as_tensor(x, where="split")
    ax = normalize_axis(axis, x.ndim, "split")
    length = x.shape[ax]
    if isinstance(sizes_or_n, (int, np.integer)):
        n = int(sizes_or_n)
        if n <= 0 or length % n:
            raise ValueError(f"split: axis {ax} of shape {x.shape} (length {length}) cannot be split into {n} equal pieces")
        sizes = [length // n] * n
    else:
        sizes = [int(s) for s in sizes_or_n]
        if builtins.sum(sizes) != length or builtins.min(sizes, default=0) < 0:
            raise ValueError(f"split: sizes {sizes} do not add up to length {length} of axis {ax} (shape {x.shape})")
    bounds = list(np.cumsum(sizes)[:-1])
    return list(Split.apply(x, bounds, ax))


class Where(Function):
    """y = a where cond else b;  the gradient goes to a where cond, to b elsewhere."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        cond = ctx.cond
        return None, np.where(cond, g, 0), np.where(cond, 0, g)


def where(cond, a, b):
    cond = to_array(cond, "where", "cond")
    if cond.dtype != np.bool_:
        raise TypeError(f"where: cond must be boolean, got dtype {cond.dtype}")
    from ._util import binary_operands
    a, b = binary_operands(a, b, "where")
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: cannot broadcast cond {cond.shape}, a {a.shape} and b {b.shape}") from None
    return Where.apply(cond, a, b)


class MaskedFill(Function):
    """y = value where mask else x;  dy/dx = 0 where mask, 1 elsewhere."""

    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.mask = mask
        return np.where(mask, np.asarray(value, dtype=x.dtype), x)

    @staticmethod
    def backward(ctx, g):
        return np.where(ctx.mask, 0, g), None


def masked_fill(x, mask, value):
    x = as_tensor(x, where="masked_fill")
    mask = to_array(mask, "masked_fill", "mask")
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be boolean, got dtype {mask.dtype}")
    if not broadcasts_to(mask.shape, x.shape):
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to the tensor's shape {x.shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got a tensor of "
                             f"shape {value.shape} (tensor shape {x.shape})")
        if value.requires_grad:             # differentiable in the value too: dL/dvalue = sum of g where mask
            return where(mask, astype(value, x.dtype), x)
        value = value.item()
    return MaskedFill.apply(x, mask, value)


class AsType(Function):
    """y = x converted to another float dtype; the gradient converts back."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype)


def astype(x, dtype):
    x = as_tensor(x, where="astype")
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if x.requires_grad and dtype.kind != "f":
        return Tensor._wrap(x.data.astype(dtype))
    return AsType.apply(x, dtype)


# ------------------------------------------------------------------ samples
register(Reshape, reshape, lambda r: [Sample("2-d to 3-d", (rand(r, 3, 4), 2, 3, 2)),
                                      Sample("-1", (rand(r, 2, 3, 2), (-1, 4))),
                                      Sample("0-d to 1-d", (rand(r), 1))])
register(Transpose, transpose, lambda r: [Sample("matrix", (rand(r, 3, 4),)),
                                          Sample("3-d permutation", (rand(r, 2, 3, 4), 2, 0, 1))])
register(BroadcastTo, broadcast_to, lambda r: [Sample("row", (rand(r, 4), (3, 4))),
                                               Sample("size-1 axes", (rand(r, 3, 1), (2, 3, 4))),
                                               Sample("0-d", (rand(r), (2, 2)))])
register(GetItem, getitem, lambda r: [
    Sample("slice", (rand(r, 4, 5), (slice(1, 3), slice(None, None, 2)))),
    Sample("int", (rand(r, 3, 4), 1)),
    Sample("repeated int array", (rand(r, 4, 3), np.array([0, 2, 2, 1, 0]))),
    Sample("2 int arrays", (rand(r, 3, 4), (np.array([0, 2, 2]), np.array([1, 1, 3])))),
    Sample("bool mask", (rand(r, 2, 3), np.array([[True, False, True], [False, True, True]]))),
    Sample("ellipsis and None", (rand(r, 2, 3, 4), (Ellipsis, None, 1)))])
register(Cat, cat, lambda r: [Sample("axis 0", ([rand(r, 2, 3), rand(r, 1, 3), rand(r, 3, 3)],)),
                              Sample("axis -1", ([rand(r, 2, 3), rand(r, 2, 1)],), {"axis": -1})])
register(Stack, stack, lambda r: [Sample("axis 0", ([rand(r, 2, 3), rand(r, 2, 3)],)),
                                  Sample("axis 2", ([rand(r, 2, 3), rand(r, 2, 3), rand(r, 2, 3)],), {"axis": 2}),
                                  Sample("0-d", ([rand(r), rand(r)],))])
register(Split, lambda *a, **k: stack_pieces(split(*a, **k)),
         lambda r: [Sample("equal", (rand(r, 6, 2), 3)),
                    Sample("sizes along axis 1", (rand(r, 2, 5), [1, 3, 1]), {"axis": 1})])
register(Where, where, lambda r: [Sample("same shape", (rand(r, 3, 4) > 0, rand(r, 3, 4), rand(r, 3, 4))),
                                  Sample("broadcast", (rand(r, 3, 1) > 0, rand(r, 4), rand(r, 3, 4)))])
register(MaskedFill, masked_fill, lambda r: [Sample("mask", (rand(r, 3, 4), rand(r, 3, 4) > 0, -1.5)),
                                             Sample("broadcast mask", (rand(r, 2, 3, 4), rand(r, 4) > 0, 0.0))])
register(AsType, lambda x: astype(astype(x, np.float32), np.float64),
         lambda r: [Sample("round trip through float32", (rand(r, 3, 4),), check={"eps": 1e-2, "atol": 1e-4})])


def stack_pieces(pieces):
    """Flatten and join split pieces into one output (for gradcheck of Split)."""
    return cat([reshape(p, -1) for p in pieces])
