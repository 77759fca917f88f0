"""Adam and AdamW (PyTorch's ``torch.optim.Adam`` / ``AdamW``).

With g = grad (negated if ``maximize``), betas (b1, b2), at step t:

    g    <- g + lambda * p               (Adam, weight_decay lambda != 0: L2 in the gradient)
    p    <- p * (1 - lr * lambda)        (AdamW: decoupled decay, before the update)
    m    <- m + (1 - b1) * (g - m)       (lerp)
    v    <- b2 * v + (1 - b2) * g^2
    v^   = max(v^, v)                    (amsgrad; v^ replaces v below)
    p    <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

State: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (amsgrad).
"""
import numpy as np

from .. import kernels as K
from .optimizer import Optimizer, _implementation_flags


class Adam(Optimizer):
    _state_names = frozenset(("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"))
    _required_state = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        flags = _implementation_flags(type(self).__name__, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay, **flags)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        if not state:
            state["step"] = 0
            for name in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ()):
                state[name] = np.zeros_like(p.data)
        state["step"] += 1
        K.adam_update(p.data, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                      lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], step=state["step"],
                      weight_decay=wd, decoupled=group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         foreach=foreach, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
