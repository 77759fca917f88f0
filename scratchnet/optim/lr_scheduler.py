"""Learning-rate schedulers (PyTorch's ``torch.optim.lr_scheduler``).

A scheduler counts epochs (or steps) in ``last_epoch`` and, at each
``step()``, writes ``group['lr']`` of every parameter group from its base
learning rate ``base_lr`` (the group's ``initial_lr``). Creating one performs
the first ``step()`` (``last_epoch`` 0), as in PyTorch. Every schedule here is
computed in closed form from ``last_epoch``:

    StepLR             base_lr * gamma ** (e // step_size)
    ExponentialLR      base_lr * gamma ** e
    CosineAnnealingLR  eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2
    LambdaLR           base_lr * lr_lambda(e)
    warmup_cosine      nanoGPT's get_lr: base_lr * e / warmup_steps during warm-up,
                       then min_lr + (1 + cos(pi * r)) / 2 * (base_lr - min_lr) with
                       r = (e - warmup_steps) / (total_steps - warmup_steps),
                       and min_lr after total_steps

PyTorch computes StepLR, ExponentialLR and CosineAnnealingLR recursively
from the previous lr; the values agree to rounding (~1e-16 relative).
"""
import math

from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define ``lr_at(base_lr, epoch)``."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr'; "
                                 f"resuming with last_epoch={last_epoch} needs it")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def lr_at(self, base_lr, epoch, group_index):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_lr(self):
        """The learning rates of the current ``last_epoch``, one per group."""
        return [self.lr_at(base, self.last_epoch, i) for i, base in enumerate(self.base_lrs)]

    def step(self):
        """Advance one epoch/step and write the new lr into every group."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates written by the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute except the optimizer and functions (numbers and lists)."""
        return {k: v for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v) and k != "lr_lambdas"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine from base_lr (epoch 0) to ``eta_min`` (epoch ``T_max``), periodic after."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); ``lr_lambda`` is a function or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return base_lr * self.lr_lambdas[group_index](epoch)


class WarmupCosineLR(LRScheduler):
    """nanoGPT's schedule (see the module docstring); ``min_lr`` is absolute."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, last_epoch=-1):
        if warmup_steps < 0 or total_steps < warmup_steps:
            raise ValueError(f"warmup_cosine: need 0 <= warmup_steps <= total_steps, got "
                             f"warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, it, group_index):
        if it < self.warmup_steps:
            return base_lr * it / self.warmup_steps
        if it > self.total_steps or self.total_steps == self.warmup_steps:
            return self.min_lr
        decay_ratio = (it - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return self.min_lr + coeff * (base_lr - self.min_lr)


def warmup_cosine(optimizer, warmup_steps, total_steps, min_lr=0.0):
    """A scheduler with linear warm-up from 0 to each group's lr over
    ``warmup_steps`` steps, cosine decay to ``min_lr`` at ``total_steps``, and
    ``min_lr`` after: exactly nanoGPT's ``get_lr(it)`` with it = ``last_epoch``.
    Call ``scheduler.step()`` after each ``optimizer.step()``."""
    return WarmupCosineLR(optimizer, warmup_steps, total_steps, min_lr)
