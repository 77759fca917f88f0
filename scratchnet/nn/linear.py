"""``Linear`` and ``Embedding`` layers (PyTorch's arguments, shapes, keys and init)."""
import math

import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype, is_int
from ..ops._util import float_tensor
from ..ops.layers import check_ids, normalize_padding_idx
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def _empty(shape, dtype):
    dtype = np.dtype(dtype or get_default_dtype())
    if dtype.kind != "f":
        raise TypeError(f"layer parameters must be float32 or float64, got dtype {dtype}")
    return np.zeros(shape, dtype=dtype)


def layer_size(where, name, value):
    """``value`` as an int size >= 0 (0 is allowed, as in PyTorch): TypeError for a
    non-int (7.5 is not silently cut to 7), ValueError for a negative one."""
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value!r}")
    return int(value)


class Linear(Module):
    """y = x W^T + b.

    x (..., in_features) -> y (..., out_features). Parameters: ``weight``
    (out_features, in_features), ``bias`` (out_features,) (absent with
    ``bias=False``), both U(-1/sqrt(in_features), 1/sqrt(in_features))
    (PyTorch's kaiming_uniform_(a=sqrt(5)) and its bias rule). Computed as one
    BLAS product plus an in-place bias add, in the promoted dtype of input and
    weight (a float64 input to a float32 layer gives a float64 output).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        self.in_features = layer_size("Linear", "in_features", in_features)
        self.out_features = layer_size("Linear", "out_features", out_features)
        self.weight = Parameter(_empty((self.out_features, self.in_features), dtype))
        if bias:
            self.bias = Parameter(_empty((self.out_features,), dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if not isinstance(x, Tensor) or x.dtype.kind != "f":
            x = float_tensor(x, "Linear")      # TypeError naming the layer for None, str, int or bool data
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: input has {x.shape[-1] if x.ndim else 0} features in its last "
                             f"dimension, expected {self.in_features} (input shape {x.shape})")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: integer ids (any shape) -> rows of ``weight``.

    ids (*) -> (*, embedding_dim). Parameter ``weight`` (num_embeddings,
    embedding_dim) ~ N(0, 1), with the row ``padding_idx`` (if given) zeroed
    and never receiving gradient. Ids outside [0, num_embeddings) raise
    IndexError (a negative id never wraps around); float ids raise TypeError.
    ``Embedding.from_pretrained(table, freeze=True)`` wraps a given table.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, dtype=None):
        super().__init__()
        self.num_embeddings = layer_size("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = layer_size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            padding_idx = normalize_padding_idx(padding_idx, self.num_embeddings, "Embedding")
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(_empty((self.num_embeddings, self.embedding_dim), dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:   # PyTorch's private argument behind from_pretrained: the given table, as is
            self.weight = Parameter(_weight, requires_grad=not _freeze)
            if self.weight.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {self.weight.shape}, expected "
                                 f"(num_embeddings, embedding_dim) = {(self.num_embeddings, self.embedding_dim)}")

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose ``weight`` is ``embeddings`` (num_embeddings, embedding_dim),
        frozen (``requires_grad=False``) unless ``freeze=False``. As in PyTorch the
        ``padding_idx`` row is kept as given (not zeroed) and gets no gradient."""
        shape = np.shape(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if len(shape) != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, "
                             f"embedding_dim), got shape {shape}")
        return cls(shape[0], shape[1], padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, ids):
        ids = check_ids(ids, self.num_embeddings, f"Embedding({self.extra_repr()})")
        return F.embedding(ids, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s
