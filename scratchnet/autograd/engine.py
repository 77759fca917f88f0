"""Reverse-mode automatic differentiation over the recorded graph.

``backward(roots, root_grads)`` computes dL/dx for every tensor x that the
roots depend on:

1. **Order the nodes** with Kahn's algorithm: count, for each node, how many
   edges come into it from nodes that depend on it; a node is processed only
   once all of its consumers have sent their gradient. The walk uses an
   explicit stack, never recursion, so a chain of 100,000 ops is fine.
2. **Call each node's backward** with the summed gradients of its outputs,
   after checking that no array it saved was modified in place since its
   forward (``inplace.py``).
3. **Unbroadcast** each returned gradient to its input's shape (sum over the
   axes broadcasting added or stretched) and cast it to the input's dtype,
   then assert both: the one place where broadcasting is undone.
4. **Accumulate** into the next node's buffer, or into ``.grad`` of a leaf.
5. **Free** the node's saved arrays unless ``retain_graph=True``.
"""
import numpy as np

from .. import kernels as K
from .inplace import check_saved


class GraphFreedError(RuntimeError):
    """backward() through a graph whose buffers were already freed."""


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    Broadcasting prepends axes and stretches size-1 axes; the gradient of a
    broadcast is the sum over exactly those axes.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"cannot unbroadcast gradient of shape {grad.shape} to {shape}")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _fit_gradient(grad, tensor, node):
    """Bring a gradient to its tensor's shape and dtype, or fail loudly."""
    grad = np.asarray(grad)
    if grad.shape != tensor.shape:
        try:
            grad = unbroadcast(grad, tensor.shape)
        except ValueError:
            pass
        if grad.shape != tensor.shape:
            raise ValueError(
                f"{node.name}.backward returned a gradient of shape {grad.shape} "
                f"for an input of shape {tensor.shape}")
    if grad.dtype != tensor.dtype:
        grad = grad.astype(tensor.dtype)
    return grad


def _topological_order(root_nodes):
    """Nodes reachable from the roots, each listed after all its consumers.

    Kahn's algorithm on the reversed graph, with an explicit stack.
    """
    consumers = {}            # node -> number of edges into it
    stack = list(root_nodes)
    seen = set(id(n) for n in stack)
    nodes = list(stack)
    while stack:
        node = stack.pop()
        for t in node.inputs:
            child = None if t is None else t._node
            if child is None:
                continue
            consumers[id(child)] = consumers.get(id(child), 0) + 1
            if id(child) not in seen:
                seen.add(id(child))
                nodes.append(child)
                stack.append(child)
    ready = [n for n in root_nodes if consumers.get(id(n), 0) == 0]
    # de-duplicate roots that share a node
    ready = list({id(n): n for n in ready}.values())
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for t in node.inputs:
            child = None if t is None else t._node
            if child is None:
                continue
            consumers[id(child)] -= 1
            if consumers[id(child)] == 0:
                ready.append(child)
    return order


def _check_not_freed(node):
    if node.freed:
        raise GraphFreedError(
            f"backward through the graph a second time: the buffers of "
            f"{node.name} were freed after the first backward(). Pass "
            f"retain_graph=True to the first backward() to keep them.")


def run_backward(roots, root_grads, retain_graph=False, capture=None):
    """Propagate ``root_grads`` from ``roots`` back through the graph.

    Leaf gradients are added into ``.grad``, unless ``capture`` (a dict keyed
    by ``id(tensor)``) is given: then the gradients of exactly the tensors in
    ``capture`` are collected there and no ``.grad`` is touched.
    """
    buffers = {}   # id(node) -> list of per-output gradients

    def send(tensor, grad):
        if capture is not None and id(tensor) in capture:
            prev = capture[id(tensor)]
            capture[id(tensor)] = grad if prev is None else prev + grad
            if tensor._node is None:
                return
        node = tensor._node
        if node is None:
            if capture is None:
                tensor._accumulate_grad(grad)
            return
        slot = buffers.setdefault(id(node), [None] * node.n_outputs)
        i = tensor._index
        slot[i] = grad if slot[i] is None else K.add(slot[i], grad)     # slot[i] + grad

    root_nodes = []
    for t, g in zip(roots, root_grads):
        if t._node is not None:
            _check_not_freed(t._node)
            root_nodes.append(t._node)
        send(t, g)

    for node in _topological_order(root_nodes):
        _check_not_freed(node)
        grads = buffers.pop(id(node), None)
        if grads is None:
            continue
        grads = _fill_missing(grads, node)
        check_saved(node)
        in_grads = node.fn.backward(node.ctx, *grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for tensor, g in zip(node.inputs, in_grads):
            if tensor is None or g is None:
                continue
            send(tensor, _fit_gradient(g, tensor, node))
        if not retain_graph:
            node.release()


def _fill_missing(grads, node):
    """Outputs that received no gradient get zeros (multi-output ops)."""
    if all(g is not None for g in grads):
        return grads
    shapes = node.ctx.output_meta
    return [np.zeros(s, d) if g is None else g for g, (s, d) in zip(grads, shapes)]
