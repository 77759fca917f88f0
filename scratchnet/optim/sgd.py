"""Stochastic gradient descent with momentum (PyTorch's ``torch.optim.SGD``).

With g = grad (negated if ``maximize``), lr, momentum mu, dampening tau,
weight decay lambda, at step t:

    g   <- g + lambda * p                          (weight_decay != 0)
    b_1  = g,   b_t = mu * b_{t-1} + (1 - tau) * g  (momentum != 0)
    g   <- g + mu * b_t  (nesterov)   or   g <- b_t
    p   <- p - lr * g

State: ``momentum_buffer`` (only when momentum != 0).
"""
from .optimizer import Optimizer, _implementation_flags


class SGD(Optimizer):
    _state_names = frozenset(("momentum_buffer",))

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False, fused=None):
        flags = _implementation_flags("SGD", foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, **flags))

    def _check(self, group, where):
        super()._check(group, where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p, grad, state, group):
        momentum, wd = group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * p.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad
