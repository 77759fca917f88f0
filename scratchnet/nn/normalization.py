"""``LayerNorm`` (PyTorch's arguments, keys and init)."""
import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype
from ..ops.layers import check_normalized_input, normalize_shape
from .module import Module, Parameter


class LayerNorm(Module):
    """y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias.

    Mean and (biased) variance are taken over the trailing dims equal to
    ``normalized_shape`` (an int or a tuple). ``weight`` (ones) and ``bias``
    (zeros) have shape ``normalized_shape``; ``elementwise_affine=False``
    drops both, ``bias=False`` drops the bias. Runs on ``K.layer_norm``.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        self.normalized_shape = normalize_shape(normalized_shape, "LayerNorm")
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
            raise TypeError(f"LayerNorm: eps must be a number, got {type(eps).__name__} {eps!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = np.dtype(dtype or get_default_dtype())
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x):
        x = check_normalized_input(x, self.normalized_shape, f"LayerNorm({self.extra_repr()})")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
