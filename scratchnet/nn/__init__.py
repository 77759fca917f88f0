"""Layers, losses and containers with PyTorch's names, defaults and state_dict keys."""
from .module import Module, Parameter, Sequential, ModuleList, ModuleDict
from .linear import Linear, Embedding
from .activation import ReLU, GELU, Tanh, Sigmoid, Softmax, LogSoftmax
from .normalization import LayerNorm
from .dropout import Dropout
from . import init, utils
from .loss import CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss, L1Loss
from .attention import MultiheadAttention  # noqa: E402
from .recurrent import RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU
from .transformer import (TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer,  # noqa: E402
                          TransformerDecoder, PositionalEncoding, LearnedPositionalEmbedding,
                          generate_square_subsequent_mask)
from .attention_additive import AdditiveAttention, DotProductAttention
