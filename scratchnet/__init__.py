"""scratchnet: a neural-network framework written from scratch on NumPy.

    import scratchnet as sn
    x = sn.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == 2 * x
"""
from .memory import keep_freed_memory as _keep_freed_memory
_keep_freed_memory()

from .dtypes import get_default_dtype, set_default_dtype
from .tensor import Tensor, tensor, grad
from .autograd.function import Function
from .autograd.grad_mode import no_grad, enable_grad, is_grad_enabled, set_grad_enabled
from .autograd.gradcheck import gradcheck, GradcheckError
from .autograd.engine import GraphFreedError
from .random import manual_seed, get_rng_state, set_rng_state
from .creation import zeros, ones, full, randn, rand, randint, arange, zeros_like, ones_like
from .ops import (add, sub, mul, div, pow, neg, exp, log, sqrt, abs, tanh, sigmoid, relu, gelu,
                  maximum, minimum, clip, sum, mean, max, min, var, logsumexp, reshape, transpose,
                  swapaxes, squeeze, unsqueeze, broadcast_to, cat, stack, split, where, masked_fill,
                  matmul, softmax, log_softmax)

from .io import save, load
from .generation import generate
from . import optim

__version__ = "0.1.0"
