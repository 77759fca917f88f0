"""Optimizers, learning-rate schedulers and regularisation penalties
(PyTorch's ``torch.optim`` update rules, numbers included)."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from . import lr_scheduler
from .regularization import l1_penalty, l2_penalty

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler",
           "l1_penalty", "l2_penalty"]
