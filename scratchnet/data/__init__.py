"""Text data for scratchnet: tokenizers, corpora and batch iterators.

NumPy and Python only (no Tensors): everything here yields int64 arrays that
models wrap themselves.

- Tokenizers: ``CharTokenizer``, ``WordTokenizer``, ``BPETokenizer``
  (``fit``, ``encode``, ``decode``, ``vocab_size``, JSON ``save``/``load``,
  ``to_dict``/``from_dict``), ``tokenizer_from_dict``, ``load_tokenizer``.
- Corpora: ``load_corpus('tinyshakespeare' | path)``, ``train_val_split``.
- Batches: ``pad_sequences`` (Keras), ``random_window_batches`` / ``get_batch``
  and ``LMWindowLoader`` (Transformers), ``ContiguousBatches`` (RNNs with
  carried state), ``ClassificationBatches`` (padded, with masks).
"""

from .batching import (
    ClassificationBatches,
    ContiguousBatches,
    LMWindowLoader,
    get_batch,
    pad_sequences,
    random_window_batches,
)
from .corpora import BUNDLED_CORPORA, load_corpus, train_val_split
from .tokenizers import (
    SPECIAL_TOKENS,
    BPETokenizer,
    CharTokenizer,
    WordTokenizer,
    load_tokenizer,
    tokenizer_from_dict,
)

__all__ = [
    "CharTokenizer",
    "WordTokenizer",
    "BPETokenizer",
    "SPECIAL_TOKENS",
    "tokenizer_from_dict",
    "load_tokenizer",
    "load_corpus",
    "train_val_split",
    "BUNDLED_CORPORA",
    "pad_sequences",
    "random_window_batches",
    "get_batch",
    "LMWindowLoader",
    "ContiguousBatches",
    "ClassificationBatches",
]
