"""RMSprop (PyTorch's ``torch.optim.RMSprop``).

With g = grad (negated if ``maximize``), smoothing alpha, at each step:

    g    <- g + lambda * p                         (weight_decay lambda != 0)
    v    <- alpha * v + (1 - alpha) * g^2
    a    <- a + (1 - alpha) * (g - a)              (centered: running mean of g)
    avg  = sqrt(v - a^2) + eps   (centered)   or   sqrt(v) + eps
    b    <- mu * b + g / avg,  p <- p - lr * b     (momentum mu > 0)
    p    <- p - lr * g / avg                       (otherwise)

State: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, momentum > 0),
``grad_avg`` (a, centered).
"""
import numpy as np

from ..kernels.reference import lerp_
from .optimizer import Optimizer, _implementation_flags


class RMSprop(Optimizer):
    _state_names = frozenset(("step", "square_avg", "momentum_buffer", "grad_avg"))
    _required_state = ("step", "square_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        flags = _implementation_flags("RMSprop", capturable=capturable, foreach=foreach,
                                      differentiable=differentiable)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize, **flags)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        alpha, momentum, wd = group["alpha"], group["momentum"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        if wd != 0:
            grad = grad + wd * p.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = lerp_(state["grad_avg"], grad, 1 - alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (grad / avg)
