"""``scratchnet.functional`` (imported as ``F``): the stateless user API."""
from .ops import relu, gelu, tanh, sigmoid, softmax, log_softmax  # noqa: F401
