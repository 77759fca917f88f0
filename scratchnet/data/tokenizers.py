"""Tokenizers: characters, words and byte-level BPE, saved as JSON.

Every tokenizer has ``fit(text) -> self``, ``encode(text) -> list[int]``,
``decode(ids) -> str``, a ``vocab_size`` property, ``save(path)`` /
``load(path)`` (a JSON file, written atomically) and ``to_dict()`` /
``from_dict(d)`` (a JSON-able dict, e.g. to store inside a checkpoint's
metadata). ``tokenizer_from_dict`` / ``load_tokenizer`` rebuild any of them.

Special tokens are ``<pad> <unk> <bos> <eos>`` where they apply; their ids
are exposed as ``pad_id``, ``unk_id``, ``bos_id``, ``eos_id`` (``None`` when
the tokenizer has no such token). ``encode(text, bos=True, eos=True)`` adds
``<bos>``/``<eos>``; ``decode(ids, skip_special=True)`` drops special tokens.
Encoding only ever produces special ids through those flags (and ``<unk>``),
never from text that happens to contain ``"<bos>"``.
"""

import functools
import heapq
import json
import os
import re
import sys
import unicodedata
from collections import Counter, defaultdict

import numpy as np

from ..dtypes import is_int
from ..io import atomic_write_bytes

__all__ = [
    "CharTokenizer",
    "WordTokenizer",
    "BPETokenizer",
    "SPECIAL_TOKENS",
    "tokenizer_from_dict",
    "load_tokenizer",
]

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")
_FORMAT_VERSION = 1


def _ids_list(ids, where):
    """Accept a list, NumPy array or Tensor of integer ids; return a list of ints."""
    arr = np.asarray(ids)
    if arr.ndim != 1 and arr.size > 0:
        raise ValueError(f"{where}: ids must be 1-D, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{where}: ids must be integers, got dtype {arr.dtype}")
    return [int(i) for i in arr.ravel()]


class _Tokenizer:
    """Shared plumbing: special-token ids, JSON save/load, dispatch by type."""

    _specials = ()  # the special tokens this instance has, in id order

    # -- special tokens -------------------------------------------------------
    def _special_id(self, token):
        return self._special_ids.get(token) if self._fitted() else None

    @property
    def pad_id(self):
        return self._special_id("<pad>")

    @property
    def unk_id(self):
        return self._special_id("<unk>")

    @property
    def bos_id(self):
        return self._special_id("<bos>")

    @property
    def eos_id(self):
        return self._special_id("<eos>")

    @property
    def special_ids(self):
        """Dict token -> id of the special tokens this tokenizer has."""
        return dict(self._special_ids) if self._fitted() else {}

    def _wrap(self, ids, bos, eos, where):
        for flag, token in ((bos, "<bos>"), (eos, "<eos>")):
            if flag and self._special_id(token) is None:
                raise ValueError(f"{where}: {token} requested but this tokenizer has no {token} token")
        if bos:
            ids.insert(0, self.bos_id)
        if eos:
            ids.append(self.eos_id)
        return ids

    def _require_fitted(self, where):
        if not self._fitted():
            raise ValueError(f"{type(self).__name__}.{where}: the tokenizer is not fitted; call fit(text) first")

    # -- serialisation ----------------------------------------------------------
    def to_dict(self):
        """A JSON-able dict holding everything needed to rebuild the tokenizer."""
        self._require_fitted("to_dict")
        return {"type": type(self).__name__, "version": _FORMAT_VERSION, **self._config()}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a tokenizer from ``to_dict()``'s output."""
        if not isinstance(d, dict) or "type" not in d:
            raise ValueError(f"{cls.__name__}.from_dict: not a tokenizer dict: {d!r:.100}")
        if d["type"] != cls.__name__:
            raise ValueError(f"{cls.__name__}.from_dict: the dict describes a {d['type']}, not a {cls.__name__}")
        if d.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{cls.__name__}.from_dict: unsupported tokenizer format version {d.get('version')!r} "
                f"(this scratchnet reads version {_FORMAT_VERSION})"
            )
        try:
            return cls._from_config(d)
        except (KeyError, TypeError) as err:
            raise ValueError(f"{cls.__name__}.from_dict: malformed tokenizer dict ({type(err).__name__}: {err})") from None

    def save(self, path):
        """Write ``to_dict()`` as UTF-8 JSON to ``path``, atomically."""
        data = json.dumps(self.to_dict(), ensure_ascii=False, indent=1).encode("utf-8")
        atomic_write_bytes(path, data)

    @classmethod
    def load(cls, path):
        """Read a tokenizer saved by ``save``; errors name the file."""
        path = os.fspath(path)
        where = "load_tokenizer" if cls is _Tokenizer else f"{cls.__name__}.load"
        if os.path.isdir(path):
            raise IsADirectoryError(21, f"{where}: {path!r} is a directory, not a tokenizer JSON file", path)
        try:
            with open(path, "rb") as f:
                d = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(2, f"{where}: no such tokenizer file: {path!r}", path) from None
        except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
            raise ValueError(f"{where}: {path!r} is not a tokenizer JSON file ({err})") from None
        try:
            return tokenizer_from_dict(d) if cls is _Tokenizer else cls.from_dict(d)
        except ValueError as err:
            raise ValueError(f"{where}: {path!r}: {err}") from None

    def __repr__(self):
        size = self.vocab_size if self._fitted() else "unfitted"
        return f"{type(self).__name__}(vocab_size={size})"


# ---------------------------------------------------------------------------
# characters
# ---------------------------------------------------------------------------

class CharTokenizer(_Tokenizer):
    """One id per character seen in ``fit``'s text, vocabulary sorted (nanoGPT).

    Without specials (the default) ids are ``0 .. n_chars-1`` in sorted
    character order, so tiny-shakespeare gives ``vocab_size == 65`` exactly as
    nanoGPT's ``stoi``. With ``specials=True`` the ids ``0..3`` are ``<pad>
    <unk> <bos> <eos>`` and the characters follow from 4; unseen characters
    then encode as ``<unk>``. Without ``<unk>``, encoding an unseen character
    raises ``ValueError`` naming it. ``decode(encode(s)) == s`` for text made
    of seen characters.
    """

    def __init__(self, specials=False):
        self.specials = bool(specials)
        self.chars = None

    def _fitted(self):
        return self.chars is not None

    def fit(self, text):
        """Build the vocabulary from the distinct characters of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.fit: text must be str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharTokenizer.fit: text is empty")
        self._set_vocab(sorted(set(text)))
        return self

    def _set_vocab(self, chars):
        self.chars = list(chars)
        specials = list(SPECIAL_TOKENS) if self.specials else []
        self.itos = specials + self.chars
        self.stoi = {c: i + len(specials) for i, c in enumerate(self.chars)}
        self._special_ids = {t: i for i, t in enumerate(specials)}

    @property
    def vocab_size(self):
        self._require_fitted("vocab_size")
        return len(self.itos)

    def encode(self, text, bos=False, eos=False):
        """Map each character to its id; unseen ones to ``<unk>`` or ValueError."""
        self._require_fitted("encode")
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: text must be str, got {type(text).__name__}")
        stoi = self.stoi
        try:
            ids = [stoi[c] for c in text]
        except KeyError:
            unk = self.unk_id
            if unk is None:
                pos, char = next((i, c) for i, c in enumerate(text) if c not in stoi)
                raise ValueError(
                    f"CharTokenizer.encode: character {char!r} at position {pos} is not in the "
                    f"vocabulary ({len(self.chars)} characters seen by fit)"
                ) from None
            ids = [stoi.get(c, unk) for c in text]
        return self._wrap(ids, bos, eos, "CharTokenizer.encode")

    def decode(self, ids, skip_special=False):
        """Concatenate the characters of ``ids`` (specials as ``"<bos>"`` etc.)."""
        self._require_fitted("decode")
        itos, n = self.itos, len(self.itos)
        out = []
        for i in _ids_list(ids, "CharTokenizer.decode"):
            if not 0 <= i < n:
                raise ValueError(f"CharTokenizer.decode: id {i} is out of range [0, {n})")
            if skip_special and i < len(self._special_ids):
                continue
            out.append(itos[i])
        return "".join(out)

    def _config(self):
        return {"specials": self.specials, "chars": "".join(self.chars)}

    @classmethod
    def _from_config(cls, d):
        chars = d["chars"]
        if not isinstance(chars, str) or not chars or len(set(chars)) != len(chars):
            raise ValueError(f"CharTokenizer.from_dict: 'chars' must be a non-empty string of distinct "
                             f"characters, got {chars!r:.80}")
        tok = cls(specials=d["specials"])
        tok._set_vocab(chars)
        return tok


# ---------------------------------------------------------------------------
# words
# ---------------------------------------------------------------------------

# A word is a run of letters/digits/underscores, optionally with inner
# apostrophes ("don't", "o'er"), and the combining marks that follow its
# characters; every other non-space character is a token of its own ("," "."
# "!" "-" ...), with the marks that follow it. Whitespace separates tokens and
# is dropped. ``\p{M}`` (which Python's ``re`` lacks) stands for the combining
# marks, Unicode categories Mn, Mc and Me: accents written as separate code
# points ("e\u0301"), Indic vowel signs and viramas, Hebrew and Arabic points.
WORD_PATTERN = r"\w[\w\p{M}]*(?:'[\w\p{M}]+)*|[^\w\s][\p{M}]*"

# The rule before combining marks were kept in words: it split words at every
# mark ("cafe\u0301" gave "cafe" and "\u0301"). Tokenizers saved with it still
# load and keep it, so their vocabularies stay valid.
_LEGACY_WORD_PATTERN = r"\w+(?:'\w+)*|[^\w\s]"


@functools.lru_cache(maxsize=None)
def _combining_marks_class():
    """The combining marks as ``re`` character-class ranges (built once, ~0.1 s)."""
    ranges, start, prev = [], None, None
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code))[0] != "M":
            continue
        if start is None or code != prev + 1:
            if start is not None:
                ranges.append((start, prev))
            start = code
        prev = code
    ranges.append((start, prev))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


@functools.lru_cache(maxsize=None)
def _compile_word_pattern(pattern):
    """Compile a word pattern, expanding ``\\p{M}`` into the combining marks."""
    if r"\p{M}" in pattern:
        pattern = pattern.replace(r"\p{M}", _combining_marks_class())
    return re.compile(pattern)


class WordTokenizer(_Tokenizer):
    """Words and punctuation marks as tokens; ``<pad>=0 <unk>=1 <bos>=2 <eos>=3``.

    Tokenisation: the text is lower-cased when ``lower=True`` (the default),
    then split by the regex ``WORD_PATTERN``: runs of letters, digits and
    underscores, keeping inner apostrophes (``"don't"``), and each punctuation
    mark as a separate token; whitespace is dropped. Combining marks stay with
    the character before them, so accented letters written with a combining
    accent (NFD) and Indic, Thai or Hebrew words with vowel signs are single
    words. The vocabulary after the
    four specials is ordered by decreasing frequency, ties alphabetically;
    words seen fewer than ``min_freq`` times are left out, and ``max_vocab``
    caps the total size *including* the specials. Unknown words encode as
    ``<unk>``.

    ``decode`` joins tokens with single spaces, so the round trip is not
    exact: case (when lower-casing), spacing and the glue between words and
    punctuation are lost (``"Hi, you!"`` comes back as ``"hi , you !"``).
    """

    def __init__(self, lower=True, max_vocab=None, min_freq=1):
        for name, value in (("max_vocab", max_vocab), ("min_freq", min_freq)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise TypeError(f"WordTokenizer: {name} must be an int, got {value!r}")
        if max_vocab is not None and max_vocab < len(SPECIAL_TOKENS):
            raise ValueError(f"WordTokenizer: max_vocab={max_vocab} must be >= {len(SPECIAL_TOKENS)} (the specials)")
        if min_freq < 1:
            raise ValueError(f"WordTokenizer: min_freq={min_freq} must be >= 1")
        self.lower = bool(lower)
        self.max_vocab = max_vocab
        self.min_freq = int(min_freq)
        self.itos = None
        self._set_pattern(WORD_PATTERN)

    def _set_pattern(self, pattern):
        """Tokenise with ``pattern`` (``WORD_PATTERN``, or the legacy rule of an old file)."""
        self.pattern = pattern
        self._regex = _compile_word_pattern(pattern)

    def _fitted(self):
        return self.itos is not None

    def tokenize(self, text):
        """Split ``text`` into word and punctuation strings (lower-cased if set)."""
        if not isinstance(text, str):
            raise TypeError(f"WordTokenizer: text must be str, got {type(text).__name__}")
        return self._regex.findall(text.lower() if self.lower else text)

    def fit(self, text):
        """Count tokens of ``text`` and build the vocabulary."""
        counts = Counter(self.tokenize(text))
        if not counts:
            raise ValueError("WordTokenizer.fit: text has no tokens")
        words = sorted((w for w, c in counts.items() if c >= self.min_freq), key=lambda w: (-counts[w], w))
        if self.max_vocab is not None:
            words = words[: self.max_vocab - len(SPECIAL_TOKENS)]
        self._set_vocab(words)
        return self

    def _set_vocab(self, words):
        self.itos = list(SPECIAL_TOKENS) + list(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self._special_ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}

    @property
    def vocab_size(self):
        self._require_fitted("vocab_size")
        return len(self.itos)

    def encode(self, text, bos=False, eos=False):
        """Token ids of ``text``; unknown words (and literal "<pad>" etc.) give ``<unk>``."""
        self._require_fitted("encode")
        n_special, unk = len(SPECIAL_TOKENS), self.unk_id
        ids = []
        for tok in self.tokenize(text):
            i = self.stoi.get(tok, unk)
            ids.append(i if i >= n_special else unk)
        return self._wrap(ids, bos, eos, "WordTokenizer.encode")

    def decode(self, ids, skip_special=False):
        """Tokens joined by single spaces (not an exact inverse of ``encode``)."""
        self._require_fitted("decode")
        n = len(self.itos)
        out = []
        for i in _ids_list(ids, "WordTokenizer.decode"):
            if not 0 <= i < n:
                raise ValueError(f"WordTokenizer.decode: id {i} is out of range [0, {n})")
            if skip_special and i < len(SPECIAL_TOKENS):
                continue
            out.append(self.itos[i])
        return " ".join(out)

    def _config(self):
        return {
            "lower": self.lower,
            "max_vocab": self.max_vocab,
            "min_freq": self.min_freq,
            "pattern": self.pattern,
            "words": self.itos[len(SPECIAL_TOKENS):],
        }

    @classmethod
    def _from_config(cls, d):
        pattern = d.get("pattern", WORD_PATTERN)
        if pattern not in (WORD_PATTERN, _LEGACY_WORD_PATTERN):
            raise ValueError("WordTokenizer.from_dict: the dict was made with a different tokenisation regex")
        words = d["words"]
        if (not isinstance(words, list) or not all(isinstance(w, str) for w in words)
                or len(set(words)) != len(words) or set(words) & set(SPECIAL_TOKENS)):
            raise ValueError("WordTokenizer.from_dict: 'words' must be a list of distinct strings "
                             "other than the special tokens")
        tok = cls(lower=d["lower"], max_vocab=d["max_vocab"], min_freq=d["min_freq"])
        tok._set_pattern(pattern)
        tok._set_vocab(words)
        return tok


# ---------------------------------------------------------------------------
# byte-level BPE
# ---------------------------------------------------------------------------

# GPT-2's pre-tokenisation regex, written for Python's ``re`` (no \p{L}):
# English contractions, an optional space + letters, an optional space +
# digits, an optional space + other symbols, whitespace not followed by a
# non-space (so " word" keeps its space), and any remaining whitespace.
# Every character of any string falls into exactly one chunk, so joining the
# chunks gives the text back. Merges never cross chunk boundaries.
BPE_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""

_BPE_SPECIALS = ("<pad>", "<bos>", "<eos>")


class BPETokenizer(_Tokenizer):
    """Byte-level BPE trained by scratchnet (GPT-2 style), exact for any UTF-8 text.

    Vocabulary: ids ``0..255`` are the raw bytes, then one id per learned
    merge (``256, 257, ...`` in the order learned), then the special tokens
    ``<pad> <bos> <eos>`` (no ``<unk>``: every byte is in the vocabulary).
    ``vocab_size`` counts all three parts.

    Training (``fit(text, vocab_size)``): the text is cut into chunks by
    ``BPE_PATTERN`` and each distinct chunk's UTF-8 bytes become a list of
    byte ids, weighted by how often the chunk occurs. Then, repeatedly, the
    most frequent adjacent pair of ids is merged into a new id everywhere;
    ties go to the numerically smallest pair ``(a, b)``, so training is
    deterministic. Pair counts are updated incrementally (only the
    occurrences of the merged pair and their neighbours are touched). Training stops when the
    vocabulary reaches ``vocab_size`` or when no pair occurs at least
    ``min_frequency`` times (then ``vocab_size`` ends up smaller).

    Encoding applies the merges in the order learned to each chunk (cached
    per distinct chunk); ``decode(encode(s)) == s`` for every ``str`` that
    UTF-8 can encode (emoji, unseen scripts, ``""``, newlines). ``decode`` of an
    arbitrary id sequence may cut a multi-byte character; such bytes are
    decoded as U+FFFD.
    """

    def __init__(self, vocab_size=512, min_frequency=2):
        for name, value in (("vocab_size", vocab_size), ("min_frequency", min_frequency)):
            _check_int("BPETokenizer", name, value)
        self.target_vocab_size = int(vocab_size)
        self.min_frequency = int(min_frequency)
        self.merges = None
        self._regex = re.compile(BPE_PATTERN)

    def _fitted(self):
        return self.merges is not None

    def fit(self, text, vocab_size=None):
        """Learn merges on ``text`` until the vocabulary has ``vocab_size`` ids."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.fit: text must be str, got {type(text).__name__}")
        if vocab_size is not None:
            _check_int("BPETokenizer.fit", "vocab_size", vocab_size)
            self.target_vocab_size = int(vocab_size)
        minimum = 256 + len(_BPE_SPECIALS)
        if self.target_vocab_size < minimum:
            raise ValueError(
                f"BPETokenizer.fit: vocab_size={self.target_vocab_size} is too small; it must be at least "
                f"{minimum} (256 bytes + {len(_BPE_SPECIALS)} special tokens)"
            )
        n_merges = self.target_vocab_size - minimum
        chunk_counts = Counter(self._regex.findall(text))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())
        self._set_merges(_learn_merges(words, freqs, n_merges, max(self.min_frequency, 1)))
        return self

    def _set_merges(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {pair: 256 + r for r, pair in enumerate(self.merges)}
        self.vocab = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        n = len(self.vocab)
        self._special_ids = {t: n + i for i, t in enumerate(_BPE_SPECIALS)}
        self._cache = {}

    @property
    def vocab_size(self):
        self._require_fitted("vocab_size")
        return len(self.vocab) + len(_BPE_SPECIALS)

    def _encode_chunk(self, chunk):
        ids = self._cache.get(chunk)
        if ids is not None:
            return ids
        ids = _apply_merges(list(chunk.encode("utf-8")), self.ranks)
        if len(self._cache) < 200_000:
            self._cache[chunk] = ids
        return ids

    def encode(self, text, bos=False, eos=False):
        """Byte-level BPE ids of ``text`` (never ``<pad>/<bos>/<eos>`` unless asked)."""
        self._require_fitted("encode")
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: text must be str, got {type(text).__name__}")
        ids = []
        for chunk in self._regex.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return self._wrap(ids, bos, eos, "BPETokenizer.encode")

    def decode(self, ids, skip_special=False):
        """Concatenate the bytes of ``ids`` and decode as UTF-8 (U+FFFD for broken bytes)."""
        self._require_fitted("decode")
        vocab, n_bytes_ids = self.vocab, len(self.vocab)
        names = {i: t for t, i in self._special_ids.items()}
        parts = []
        for i in _ids_list(ids, "BPETokenizer.decode"):
            if 0 <= i < n_bytes_ids:
                parts.append(vocab[i])
            elif i in names:
                if not skip_special:
                    parts.append(names[i].encode("utf-8"))
            else:
                raise ValueError(f"BPETokenizer.decode: id {i} is out of range [0, {self.vocab_size})")
        return b"".join(parts).decode("utf-8", errors="replace")

    def token_bytes(self, i):
        """The bytes that id ``i`` stands for (handy for inspecting merges)."""
        self._require_fitted("token_bytes")
        return self.vocab[i]

    def _config(self):
        return {
            "pattern": BPE_PATTERN,
            "vocab_size": self.target_vocab_size,
            "min_frequency": self.min_frequency,
            "merges": [list(m) for m in self.merges],
            "specials": list(_BPE_SPECIALS),
        }

    @classmethod
    def _from_config(cls, d):
        if d.get("pattern") != BPE_PATTERN:
            raise ValueError("BPETokenizer.from_dict: the dict was made with a different pre-tokenisation regex")
        tok = cls(vocab_size=d["vocab_size"], min_frequency=d["min_frequency"])
        merges = d["merges"]
        for r, pair in enumerate(merges):
            if len(pair) != 2 or not all(isinstance(x, int) and 0 <= x < 256 + r for x in pair):
                raise ValueError(f"BPETokenizer.from_dict: merge {r} = {pair!r} is invalid")
        tok._set_merges(merges)
        return tok


def _check_int(where, name, value):
    """Raise TypeError unless ``value`` is an int (``bool`` and ``300.7`` are not)."""
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")


def _apply_merges(ids, ranks):
    """Merge adjacent pairs of ``ids`` in the order learned; ``ranks[pair]`` is the merged id.

    Equivalent to applying each learned merge in turn to the whole chunk,
    occurrences left to right (a merge's id is larger than those of the
    merges it is built from, so merging never creates a pair learned
    earlier), but in O(n log n): a heap
    holds ``(merged id, position)`` of the mergeable adjacent pairs, equal
    pairs in left-to-right order, over a linked list of the tokens. Entries
    whose pair has changed since they were pushed are skipped.
    """
    n = len(ids)
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    heap = [(ranks[p], i) for i, p in enumerate(zip(ids, ids[1:])) if p in ranks]
    heapq.heapify(heap)
    while heap:
        new_id, i = heapq.heappop(heap)
        j = nxt[i]
        if ids[i] is None or j >= n or ranks.get((ids[i], ids[j])) != new_id:
            continue  # stale entry
        ids[i], ids[j] = new_id, None
        nxt[i] = nxt[j]
        if nxt[i] < n:
            prv[nxt[i]] = i
        for left in (prv[i], i):
            right = nxt[left] if left >= 0 else n
            if left >= 0 and right < n and (ids[left], ids[right]) in ranks:
                heapq.heappush(heap, (ranks[ids[left], ids[right]], left))
    return [t for t in ids if t is not None]


def _learn_merges(words, freqs, n_merges, min_frequency):
    """Greedy BPE on distinct ``words`` (lists of ids) with occurrence counts ``freqs``.

    All words sit in one doubly linked list of tokens (``nxt``/``prv``, -1 at
    a word's ends; a merged-away token becomes ``None``), each token carrying
    its word's count. ``pair_counts[p]`` is the weighted number of
    occurrences of pair ``p`` and ``where[p]`` the tokens where ``p`` may
    start, so a merge touches only its occurrences and their neighbours, not
    whole words (a long line would be rescanned once per merge). A max-heap
    of ``(-count, pair)`` with lazy deletion finds the next merge: entries
    whose count is stale are skipped. The tie-break is the smallest ``pair``.
    """
    ids, nxt, prv, weight = [], [], [], []
    for word, f in zip(words, freqs):
        start, n = len(ids), len(word)
        ids += word
        nxt += [*range(start + 1, start + n), -1]
        prv += [-1, *range(start, start + n - 1)]
        weight += [f] * n
    pair_counts, where = defaultdict(int), defaultdict(set)
    for i, j in enumerate(nxt):
        if j >= 0:
            pair_counts[ids[i], ids[j]] += weight[i]
            where[ids[i], ids[j]].add(i)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg:
            continue  # stale entry
        if -neg < min_frequency:
            break
        merges.append(pair)
        changed = _merge_occurrences(pair, 255 + len(merges), ids, nxt, prv, weight, pair_counts, where)
        for p in changed:
            c = pair_counts[p]
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_counts.pop(p, None)
    return merges


def _merge_occurrences(pair, new_id, ids, nxt, prv, weight, pair_counts, where):
    """Merge every occurrence of ``pair``, left to right; return the pairs whose count changed."""
    changed = set()

    def count(i, j, f):
        p = (ids[i], ids[j])
        pair_counts[p] += f
        changed.add(p)
        if f > 0:
            where[p].add(i)

    for i in sorted(where.pop(pair)):
        j = nxt[i]
        if ids[i] is None or j < 0 or (ids[i], ids[j]) != pair:
            continue  # merged away, or an overlapping occurrence already merged
        h, k, f = prv[i], nxt[j], weight[i]
        for left, right in ((h, i), (i, j), (j, k)):
            if left >= 0 and right >= 0:
                count(left, right, -f)
        ids[i], ids[j], nxt[i] = new_id, None, k
        if k >= 0:
            prv[k] = i
        for left, right in ((h, i), (i, k)):
            if left >= 0 and right >= 0:
                count(left, right, f)
    return changed


_TYPES = {cls.__name__: cls for cls in (CharTokenizer, WordTokenizer, BPETokenizer)}


def tokenizer_from_dict(d):
    """Rebuild whichever tokenizer ``d`` (from ``to_dict()``) describes."""
    if not isinstance(d, dict) or d.get("type") not in _TYPES:
        kind = d.get("type") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"tokenizer_from_dict: unknown tokenizer type {kind!r}; expected one of {sorted(_TYPES)}")
    return _TYPES[d["type"]].from_dict(d)


def load_tokenizer(path):
    """Load any tokenizer saved with ``save(path)``."""
    return _Tokenizer.load(path)
