"""Learning-rate schedulers (PyTorch's ``torch.optim.lr_scheduler``).

A scheduler counts epochs (or steps) in ``last_epoch`` and, at each
``step()``, writes ``group['lr']`` of every parameter group. Creating one
performs the first ``step()`` (``last_epoch`` 0), as in PyTorch. With
e = ``last_epoch``, base_lr = the group's ``initial_lr`` and lr = the group's
current ``lr``, each ``step()`` computes what PyTorch computes:

    StepLR             lr * gamma when e > 0 and e % step_size == 0, else lr
    ExponentialLR      lr * gamma (after the first step)
    CosineAnnealingLR  eta_min + (lr - eta_min) * (1 + cos(pi * e / T_max))
                                                / (1 + cos(pi * (e - 1) / T_max)),
                       and lr + (base_lr - eta_min) * (1 - cos(pi / T_max)) / 2
                       at the restarts, (e - 1 - T_max) % (2 * T_max) == 0
    LambdaLR           base_lr * lr_lambda(e)
    warmup_cosine      nanoGPT's get_lr: base_lr * e / warmup_steps during warm-up,
                       then min_lr + (1 + cos(pi * r)) / 2 * (base_lr - min_lr) with
                       r = (e - warmup_steps) / (total_steps - warmup_steps),
                       and min_lr after total_steps

The first three update the current lr, so they chain as PyTorch's do: two
schedulers on one optimizer compound, and an lr written into the group by
hand is carried on. Unchained and untouched, they follow the closed forms
(``lr_at``) to rounding:

    StepLR             base_lr * gamma ** (e // step_size)
    ExponentialLR      base_lr * gamma ** e
    CosineAnnealingLR  eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2

which ``step(epoch)`` (deprecated in PyTorch, with a warning) uses directly.
"""
import math
import warnings

from . import _checks
from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define the closed form ``lr_at(base_lr, epoch,
    group_index)``; the chainable ones also override ``get_lr`` with
    PyTorch's update of the current lr."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{self._where}: expected an Optimizer, "
                            f"got {type(optimizer).__name__}")
        last_epoch = _checks.integer(self._where, "last_epoch", last_epoch, -1)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{self._where}: param_groups[{i}] has no 'initial_lr'; "
                                 f"resuming with last_epoch={last_epoch} needs it")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True          # the constructor's step keeps the chainable lrs as they are
        self.step()
        self._is_initial = False

    @property
    def _where(self):
        return type(self).__name__

    def lr_at(self, base_lr, epoch, group_index):  # pragma: no cover - abstract
        raise NotImplementedError

    def _closed_form_lr(self):
        return [self.lr_at(base, self.last_epoch, i) for i, base in enumerate(self.base_lrs)]

    def get_lr(self):
        """The learning rates for the current ``last_epoch``, one per group
        (``step()`` calls it after advancing ``last_epoch``)."""
        return self._closed_form_lr()

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch=None):
        """Advance one epoch/step and write the new lr into every group.

        ``epoch`` (deprecated in PyTorch) jumps to that epoch and uses the closed form."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn(f"{self._where}.step(epoch) is deprecated (as in PyTorch): call "
                          f"step() without an epoch; with one the closed form is used",
                          UserWarning, stacklevel=2)
            self.last_epoch = epoch
            values = self._closed_form_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self):
        """The learning rates written by the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute except the optimizer and functions (numbers and lists)."""
        return {k: v for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v) and k != "lr_lambdas"}

    def load_state_dict(self, state_dict):
        if not isinstance(state_dict, dict):
            raise TypeError(f"{self._where}.load_state_dict: expected a dict (from state_dict()), "
                            f"got {type(state_dict).__name__}")
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _checks.integer("StepLR", "step_size", step_size, 1)
        self.gamma = _checks.number("StepLR", "gamma", gamma, 0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def lr_at(self, base_lr, epoch, group_index):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _checks.number("ExponentialLR", "gamma", gamma, 0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def lr_at(self, base_lr, epoch, group_index):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine from base_lr (epoch 0) to ``eta_min`` (epoch ``T_max``), periodic after."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = _checks.integer("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = _checks.number("CosineAnnealingLR", "eta_min", eta_min, 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (e - 1 - T) % (2 * T) == 0:            # restart: the ratio below would divide by 0
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._current_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [eta_min + ratio * (lr - eta_min) for lr in self._current_lrs()]

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
        for i, f in enumerate(self.lr_lambdas):
            if not callable(f):
                which = f"lr_lambda[{i}]" if isinstance(lr_lambda, (list, tuple)) else "lr_lambda"
                raise TypeError(f"LambdaLR: {which} must be a function of the epoch (or a list of "
                                f"them, one per parameter group), got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        factor = self.lr_lambdas[group_index](epoch)
        if not _checks.is_real(factor):
            raise TypeError(f"LambdaLR: lr_lambda({epoch}) returned {type(factor).__name__} "
                            f"{factor!r}, expected a number (the lr multiplier)")
        return base_lr * factor


class WarmupCosineLR(LRScheduler):
    """nanoGPT's schedule (see the module docstring); ``min_lr`` is absolute."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, last_epoch=-1):
        warmup_steps = _checks.integer("warmup_cosine", "warmup_steps", warmup_steps, 0)
        total_steps = _checks.integer("warmup_cosine", "total_steps", total_steps, 0)
        min_lr = _checks.number("warmup_cosine", "min_lr", min_lr, 0)
        if total_steps < warmup_steps:
            raise ValueError(f"warmup_cosine: need 0 <= warmup_steps <= total_steps, got "
                             f"warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, min_lr
        super().__init__(optimizer, last_epoch)

    @property
    def _where(self):
        return "warmup_cosine"

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
