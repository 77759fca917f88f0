"""``scratchnet.functional`` (imported as ``F``): the stateless user API."""
from .ops import relu, gelu, tanh, sigmoid, softmax, log_softmax  # noqa: F401
from .ops.layers import linear, embedding, dropout, layer_norm  # noqa: F401,E402
