"""Batches for language modelling and classification, plus Keras' pad_sequences.

Randomness always comes from an explicit ``np.random.Generator`` (or an int
seed turned into one); nothing touches NumPy's global RNG. The iterators have
``state_dict()`` / ``load_state_dict()`` holding plain JSON-able values (the
generator state is ``rng.bit_generator.state``), so a Trainer can store them
in a checkpoint and resume with the identical next batch.
"""

import copy

import numpy as np

from ..dtypes import is_int

__all__ = [
    "pad_sequences",
    "random_window_batches",
    "get_batch",
    "LMWindowLoader",
    "ContiguousBatches",
    "ClassificationBatches",
]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _as_rng(rng, where):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{where}: rng must be a np.random.Generator or an int seed, got {type(rng).__name__} "
        "(scratchnet never uses NumPy's global random state)"
    )


def _positive_int(value, name, where):
    if not is_int(value) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _token_stream(data, where):
    arr = np.asarray(data)
    if arr.ndim != 1:
        raise ValueError(f"{where}: data must be a 1-D sequence of token ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{where}: data must hold integer token ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_state(state, expected, where):
    for key, value in expected.items():
        if state.get(key) != value:
            raise ValueError(
                f"{where}: state was saved with {key}={state.get(key)!r} but this loader has {key}={value!r}"
            )


# ---------------------------------------------------------------------------
# pad_sequences
# ---------------------------------------------------------------------------

def pad_sequences(sequences, maxlen=None, padding="pre", truncating="pre", value=0, dtype="int64"):
    """Pad (and truncate) a list of sequences to one array, exactly like Keras.

    Returns an array of shape ``(len(sequences), maxlen) + sample_shape``
    (``sample_shape`` being the shape of each step, ``()`` for token ids).
    ``maxlen`` defaults to the longest sequence. Sequences longer than
    ``maxlen`` lose values at the beginning (``truncating='pre'``) or the end
    (``'post'``); shorter ones are filled with ``value`` at the beginning
    (``padding='pre'``) or the end (``'post'``). Empty sequences become rows of
    ``value``. Differences from Keras: ``dtype`` defaults to ``'int64'``,
    ``maxlen=0`` gives ``(n, 0)`` and an empty list gives ``(0, maxlen or 0)``
    instead of raising.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
    array([[2, 3],
           [0, 4]])
    """
    where = "pad_sequences"
    if padding not in ("pre", "post"):
        raise ValueError(f"{where}: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"{where}: truncating must be 'pre' or 'post', got {truncating!r}")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ValueError(f"{where}: maxlen must be None or a non-negative integer, got {maxlen!r}")
    if not hasattr(sequences, "__len__") or isinstance(sequences, str):
        raise ValueError(f"{where}: sequences must be a list of sequences, got {type(sequences).__name__}")

    lengths, sample_shape = [], None
    for i, seq in enumerate(sequences):
        if not hasattr(seq, "__len__") or isinstance(seq, str):
            raise ValueError(f"{where}: sequences[{i}] is a {type(seq).__name__}, not a sequence")
        lengths.append(len(seq))
        if sample_shape is None and len(seq):
            sample_shape = np.asarray(seq).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    maxlen = int(maxlen)

    try:
        out = np.full((len(lengths), maxlen) + tuple(sample_shape), value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{where}: value={value!r} does not fit dtype={dtype!r} ({err}); "
                         "for strings use dtype=object") from None
    if maxlen == 0:
        return out
    for i, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        try:
            kept = np.asarray(kept, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"{where}: sequences[{i}] does not fit dtype={dtype!r} ({err})") from None
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(
                f"{where}: sequences[{i}] has steps of shape {kept.shape[1:]}, expected {tuple(sample_shape)} "
                "like the first non-empty sequence"
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out


# ---------------------------------------------------------------------------
# random windows (Transformers, nanoGPT's get_batch)
# ---------------------------------------------------------------------------

def random_window_batches(data, block_size, batch_size, rng):
    """One batch of random windows of a token stream, nanoGPT's ``get_batch``.

    Draws ``batch_size`` start offsets ``i`` uniformly from ``[0, len(data) -
    block_size)`` and returns ``(x, y)``, two int64 arrays of shape
    ``(batch_size, block_size)`` with ``x[b] = data[i:i+block_size]`` and
    ``y[b] = data[i+1:i+1+block_size]`` (the next token of every position).
    ``rng`` is a ``np.random.Generator`` (advanced by the call) or an int
    seed; an int makes a fresh generator each call, so in a loop pass one
    Generator (or use ``LMWindowLoader``).
    """
    where = "random_window_batches"
    block_size = _positive_int(block_size, "block_size", where)
    batch_size = _positive_int(batch_size, "batch_size", where)
    data = _token_stream(data, where)
    rng = _as_rng(rng, where)
    if len(data) < block_size + 1:
        raise ValueError(
            f"{where}: data has {len(data)} tokens, fewer than block_size + 1 = {block_size + 1} "
            "needed for one (x, y) window"
        )
    starts = rng.integers(0, len(data) - block_size, size=batch_size)
    idx = starts[:, None] + np.arange(block_size)  # (B, T)
    return data[idx], data[idx + 1]


get_batch = random_window_batches


class LMWindowLoader:
    """An endless (or ``num_batches``-long) iterator of random-window batches.

    Each ``next()`` returns ``random_window_batches(data, block_size,
    batch_size, self.rng)``. With ``num_batches``, one iteration is one epoch
    of that many batches; iterating again after it ended starts the next
    epoch (new windows). ``state_dict()`` holds the generator state and the
    number of batches drawn in the epoch; after ``load_state_dict`` the next
    batch is the one the saved loader would have produced.
    """

    def __init__(self, data, block_size, batch_size, rng=None, seed=None, num_batches=None):
        where = "LMWindowLoader"
        if (rng is None) == (seed is None):
            raise ValueError(f"{where}: pass exactly one of rng= (a np.random.Generator) or seed= (an int)")
        self.data = _token_stream(data, where)
        self.block_size = _positive_int(block_size, "block_size", where)
        self.batch_size = _positive_int(batch_size, "batch_size", where)
        if len(self.data) < self.block_size + 1:
            raise ValueError(
                f"{where}: data has {len(self.data)} tokens, fewer than block_size + 1 = {self.block_size + 1}"
            )
        self.num_batches = None if num_batches is None else _positive_int(num_batches, "num_batches", where)
        self.rng = _as_rng(rng if rng is not None else seed, where)
        self.step = 0

    @property
    def endless(self):
        """True without ``num_batches``: iterating never ends by itself."""
        return self.num_batches is None

    def __iter__(self):
        if self.num_batches is not None and self.step >= self.num_batches:  # the last epoch ended
            self.step = 0
        return self

    def __next__(self):
        if self.num_batches is not None and self.step >= self.num_batches:
            raise StopIteration
        self.step += 1
        return random_window_batches(self.data, self.block_size, self.batch_size, self.rng)

    def __len__(self):
        if self.num_batches is None:
            raise TypeError("LMWindowLoader: an endless loader has no len(); pass num_batches=")
        return self.num_batches

    def state_dict(self):
        return {
            "step": self.step,
            "rng_state": copy.deepcopy(self.rng.bit_generator.state),
            "block_size": self.block_size,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state):
        _check_state(state, {"block_size": self.block_size, "batch_size": self.batch_size}, "LMWindowLoader.load_state_dict")
        _set_rng_state(self.rng, state["rng_state"], "LMWindowLoader.load_state_dict")
        self.step = int(state["step"])


def _set_rng_state(rng, state, where):
    kind = type(rng.bit_generator).__name__
    if state.get("bit_generator") != kind:
        raise ValueError(f"{where}: saved generator is {state.get('bit_generator')!r}, this one is {kind!r}")
    rng.bit_generator.state = copy.deepcopy(state)


# ---------------------------------------------------------------------------
# contiguous tracks (RNNs with carried hidden state)
# ---------------------------------------------------------------------------

class ContiguousBatches:
    """Batches for truncated BPTT: ``batch_size`` parallel tracks read in order.

    The stream is cut into ``batch_size`` equal contiguous tracks (the
    remainder ``len(data) % batch_size`` tokens at the end are dropped);
    track ``b`` is ``data[b*L:(b+1)*L]`` with ``L = len(data) // batch_size``.
    Batch ``k`` is ``x[b] = track_b[k*seq_len:(k+1)*seq_len]``, ``y[b]`` the
    same window shifted by one, so row ``b`` of batch ``k+1`` continues right
    where row ``b`` of batch ``k`` stopped: carry the hidden state across.

    One iteration (``for x, y in batches``) is one epoch of ``len(self)``
    batches of shape ``(batch_size, seq_len)``; with ``drop_last=False`` a
    final shorter batch ``(batch_size, t < seq_len)`` covers the rest of the
    tracks. Breaking out of a loop and iterating again continues where it
    stopped (``reset()`` starts the epoch over); ``state_dict()`` records the
    epoch and position.
    """

    def __init__(self, data, batch_size, seq_len, drop_last=True):
        where = "ContiguousBatches"
        self.data = _token_stream(data, where)
        self.batch_size = _positive_int(batch_size, "batch_size", where)
        self.seq_len = _positive_int(seq_len, "seq_len", where)
        self.drop_last = bool(drop_last)
        track_len = len(self.data) // self.batch_size
        if track_len < 2 or (self.drop_last and track_len < self.seq_len + 1):
            need = self.batch_size * ((self.seq_len if self.drop_last else 1) + 1)
            raise ValueError(
                f"{where}: data has {len(self.data)} tokens; batch_size={self.batch_size} tracks of "
                f"seq_len={self.seq_len} (+1 for the shifted target) need at least {need}"
            )
        self.tracks = self.data[: track_len * self.batch_size].reshape(self.batch_size, track_len)  # (B, L)
        self.epoch = 0
        self.position = 0

    def __len__(self):
        steps = self.tracks.shape[1] - 1  # positions with a next token
        return steps // self.seq_len if self.drop_last else -(-steps // self.seq_len)

    def batch(self, k):
        """Batch ``k`` of the epoch as ``(x, y)``, int64 ``(batch_size, t)``."""
        if not 0 <= k < len(self):
            raise IndexError(f"ContiguousBatches.batch: k={k} out of range [0, {len(self)})")
        start = k * self.seq_len
        stop = min(start + self.seq_len, self.tracks.shape[1] - 1)
        return self.tracks[:, start:stop].copy(), self.tracks[:, start + 1: stop + 1].copy()

    def __iter__(self):
        if self.position >= len(self):  # the last epoch was consumed up to its end
            self.position, self.epoch = 0, self.epoch + 1
        while self.position < len(self):
            k = self.position
            self.position += 1
            yield self.batch(k)
        self.position, self.epoch = 0, self.epoch + 1

    def reset(self):
        """Start the current epoch from its first batch."""
        self.position = 0

    def state_dict(self):
        return {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size,
                "seq_len": self.seq_len, "num_tokens": int(len(self.data))}

    def load_state_dict(self, state):
        _check_state(state, {"batch_size": self.batch_size, "seq_len": self.seq_len,
                             "num_tokens": int(len(self.data))}, "ContiguousBatches.load_state_dict")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


# ---------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------

class ClassificationBatches:
    """Padded batches of variable-length sequences with labels.

    Yields ``(ids, mask, labels)``: ``ids`` int64 ``(B, T)`` padded at the end
    with ``pad_value`` to the longest sequence of *that* batch (at most
    ``maxlen``; longer sequences keep their first ``maxlen`` tokens), ``mask``
    bool ``(B, T)`` True at real tokens, ``labels`` int64 ``(B,)``. One
    iteration is one epoch of ``len(self)`` batches (the last may be smaller
    unless ``drop_last``), in a fresh ``rng.permutation`` order when
    ``shuffle``. Breaking out of an epoch and iterating again continues it;
    ``state_dict()`` records the epoch, the position and the generator state
    at the start of the epoch (after its last batch: the state the next
    epoch's order is drawn from), so ``load_state_dict`` reproduces the rest
    of the run exactly.
    """

    def __init__(self, sequences, labels, batch_size, shuffle=False, rng=None, pad_value=0,
                 maxlen=None, drop_last=False):
        where = "ClassificationBatches"
        self.sequences = [_token_stream(s, f"{where}: sequences[{i}]") for i, s in enumerate(sequences)]
        self.labels = np.asarray(labels)
        if self.labels.ndim != 1 or len(self.labels) != len(self.sequences):
            raise ValueError(
                f"{where}: labels must be 1-D with one label per sequence; got shape {self.labels.shape} "
                f"for {len(self.sequences)} sequences"
            )
        if self.labels.size and not np.issubdtype(self.labels.dtype, np.integer):
            raise TypeError(f"{where}: labels must be integer class ids, got dtype {self.labels.dtype}")
        self.labels = self.labels.astype(np.int64, copy=False)
        if not self.sequences:
            raise ValueError(f"{where}: no sequences")
        self.batch_size = _positive_int(batch_size, "batch_size", where)
        if maxlen is not None:
            maxlen = _positive_int(maxlen, "maxlen", where)
        self.maxlen = maxlen
        self.shuffle = bool(shuffle)
        if self.shuffle and rng is None:
            raise ValueError(f"{where}: shuffle=True needs rng= (a np.random.Generator or an int seed)")
        self.rng = None if rng is None else _as_rng(rng, where)
        self.pad_value = pad_value
        self.drop_last = bool(drop_last)
        if self.drop_last and len(self.sequences) < self.batch_size:
            raise ValueError(
                f"{where}: drop_last=True with {len(self.sequences)} sequences < batch_size={self.batch_size} "
                "leaves no batch"
            )
        self.epoch = 0
        self.position = 0
        self._epoch_rng_state = None

    def __len__(self):
        n = len(self.sequences)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        if not self.shuffle:
            return np.arange(len(self.sequences))
        if self._epoch_rng_state is None:  # a fresh epoch: remember where its permutation came from
            self._epoch_rng_state = copy.deepcopy(self.rng.bit_generator.state)
        else:  # resuming inside an epoch: draw the same permutation again
            self.rng.bit_generator.state = copy.deepcopy(self._epoch_rng_state)
        return self.rng.permutation(len(self.sequences))

    def _make_batch(self, index):
        seqs = [self.sequences[i] for i in index]
        if self.maxlen is not None:
            seqs = [s[: self.maxlen] for s in seqs]
        width = max(len(s) for s in seqs)
        ids = np.full((len(seqs), width), self.pad_value, dtype=np.int64)  # (B, T)
        mask = np.zeros((len(seqs), width), dtype=bool)  # (B, T)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = s
            mask[row, : len(s)] = True
        return ids, mask, self.labels[index]

    def __iter__(self):
        if self.position >= len(self):  # the last epoch was consumed up to its end
            self._next_epoch()
        order = self._order()
        while self.position < len(self):
            k = self.position
            self.position += 1
            yield self._make_batch(order[k * self.batch_size: (k + 1) * self.batch_size])
        self._next_epoch()

    def _next_epoch(self):
        self.position, self.epoch, self._epoch_rng_state = 0, self.epoch + 1, None

    def reset(self):
        """Start the current epoch over (same order)."""
        self.position = 0

    def state_dict(self):
        rng_state = self._epoch_rng_state
        if (rng_state is None or self.position >= len(self)) and self.rng is not None:
            rng_state = self.rng.bit_generator.state  # no epoch under way: the next one draws from here
        return {"epoch": self.epoch, "position": self.position, "epoch_rng_state": copy.deepcopy(rng_state),
                "batch_size": self.batch_size, "num_sequences": len(self.sequences)}

    def load_state_dict(self, state):
        where = "ClassificationBatches.load_state_dict"
        _check_state(state, {"batch_size": self.batch_size, "num_sequences": len(self.sequences)}, where)
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        if self.rng is not None and state.get("epoch_rng_state") is not None:
            _set_rng_state(self.rng, state["epoch_rng_state"], where)
            self._epoch_rng_state = copy.deepcopy(state["epoch_rng_state"])
