"""Every op: a ``Function`` (forward and backward side by side) and the
lowercase function that users call. Importing this package registers all
ops with their gradcheck samples in ``ops.registry.REGISTRY``."""
from .elementwise import (add, sub, mul, div, pow, neg, exp, log, sqrt, abs, tanh, sigmoid,
                          relu, gelu, maximum, minimum, clip)
from .reduce import sum, mean, max, min, var, logsumexp
from .shape import (reshape, transpose, swapaxes, squeeze, unsqueeze, broadcast_to, getitem,
                    cat, stack, split, where, masked_fill, astype)
from .linalg import matmul
from .nn_ops import softmax, log_softmax
