"""``scratchnet.functional`` (imported as ``F``): the stateless user API."""
from .ops import relu, gelu, tanh, sigmoid, softmax, log_softmax  # noqa: F401
# the Tensor methods that API.md also lists as functions of F and sn
from .ops import (sum, mean, max, min, logsumexp, var, exp, log, sqrt, abs,  # noqa: F401
                  reshape, transpose, swapaxes, squeeze, unsqueeze, masked_fill)
from .ops.layers import linear, embedding, dropout, layer_norm  # noqa: F401,E402
from .ops.losses import (cross_entropy, nll_loss, binary_cross_entropy,  # noqa: F401
                         binary_cross_entropy_with_logits, mse_loss, l1_loss)
from .ops.attention import scaled_dot_product_attention, packed_self_attention  # noqa: F401,E402
