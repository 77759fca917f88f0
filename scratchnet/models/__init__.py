"""Ready-made models: a config dataclass beside each (``scratchnet.models.gpt.GPTConfig``, ...)."""
from .gpt import GPT, GPTConfig  # noqa: F401
from .classifier import TransformerClassifier, TransformerClassifierConfig  # noqa: F401
from .char_rnn import CharRNN, CharRNNConfig  # noqa: F401
from .seq2seq import Seq2Seq, Seq2SeqConfig  # noqa: F401
