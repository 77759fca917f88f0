"""Explicit regularisation penalties, added to the loss before ``backward()``:

    l1_penalty(params, weight) = weight * sum_p sum |p|      (gradient weight * sign(p))
    l2_penalty(params, weight) = weight * sum_p sum p^2      (gradient 2 * weight * p)

For plain SGD, ``weight_decay=wd`` is the same as adding ``l2_penalty(params,
wd / 2)``; for Adam it is L2 in the gradient, while AdamW decays the weights
directly (decoupled), which no penalty reproduces.
"""
from .. import ops
from ..tensor import Tensor


def _penalty(parameters, weight, term, where):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    if weight < 0:
        raise ValueError(f"{where}: weight must be >= 0, got {weight}")
    if not params:
        raise ValueError(f"{where}: got an empty parameter list")
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
