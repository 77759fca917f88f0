"""Explicit regularisation penalties, added to the loss before ``backward()``:

    l1_penalty(params, weight) = weight * sum_p sum |p|      (gradient weight * sign(p))
    l2_penalty(params, weight) = weight * sum_p sum p^2      (gradient 2 * weight * p)

For plain SGD, ``weight_decay=wd`` is the same as adding ``l2_penalty(params,
wd / 2)``; for Adam it is L2 in the gradient, while AdamW decays the weights
directly (decoupled), which no penalty reproduces.
"""
from .. import ops
from ..tensor import Tensor
from . import _checks


def _penalty(parameters, weight, term, where):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    if isinstance(parameters, (set, dict, str)) or not hasattr(parameters, "__iter__"):
        raise TypeError(f"{where}: parameters must be a Tensor or an ordered iterable of Tensors, "
                        f"got {type(parameters).__name__}")
    params = list(parameters)
    _checks.number(where, "weight", weight, 0)
    if not params:
        raise ValueError(f"{where}: got an empty parameter list")
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: parameters must be Tensors, got {type(p).__name__}")
    total = term(params[0]).sum()
    for p in params[1:]:
        total = total + term(p).sum()
    return total * weight


def l1_penalty(parameters, weight):
    """weight * sum of |p| over every element of every parameter (a scalar Tensor)."""
    return _penalty(parameters, weight, ops.abs, "l1_penalty")


def l2_penalty(parameters, weight):
    """weight * sum of p^2 over every element of every parameter (a scalar Tensor)."""
    return _penalty(parameters, weight, lambda p: p * p, "l2_penalty")
