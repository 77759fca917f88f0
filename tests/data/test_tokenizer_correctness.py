"""Tokenizers on text the other tests do not cover: combining marks in words,
BPE encoding and training checked against slow reference algorithms, long
lines, fit's argument types."""

import random
import re

import pytest

from scratchnet.data import BPETokenizer, WordTokenizer, load_corpus, tokenizer_from_dict
from scratchnet.data.tokenizers import BPE_PATTERN
from test_data_tokenizers import _naive_bpe  # textbook BPE (tests/data/test_data_tokenizers.py)

SHAKESPEARE = load_corpus("tinyshakespeare")


# --- WordTokenizer: combining marks -------------------------------------------------

@pytest.mark.parametrize(
    "text, tokens",
    [
        ("e\u0301te\u0301, cafe\u0301!", ["e\u0301te\u0301", ",", "cafe\u0301", "!"]),  # NFD accents
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),                  # Devanagari vowel signs and virama
        ("น่ารัก", ["น่ารัก"]),                                # Thai tone and vowel marks
        ("שָׁלוֹם", ["שָׁלוֹם"]),                               # Hebrew points
        ("İstanbul", ["i\u0307stanbul"]),                     # lower() adds a combining dot
        ("o\u0308'er", ["o\u0308'er"]),                      # a mark before an inner apostrophe
        ("!\u0301 \u0301x", ["!\u0301", "\u0301", "x"]),     # after punctuation; a mark with no base
    ],
)
def test_word_combining_marks_stay_in_their_word(text, tokens):
    """They were split off as punctuation: "cafe\u0301" gave "cafe" and "\u0301"."""
    assert WordTokenizer().tokenize(text) == tokens


def test_word_combining_marks_round_trip_through_the_vocabulary():
    text = "नमस्ते दुनिया नमस्ते"
    tok = WordTokenizer().fit(text)
    assert tok.itos[4:] == ["नमस्ते", "दुनिया"]
    assert tok.decode(tok.encode(text)) == text


def test_word_tokenizer_saved_with_the_old_rule_keeps_it():
    """A vocabulary built by the rule that split at marks must be read by it."""
    old_pattern = r"\w+(?:'\w+)*|[^\w\s]"
    new = WordTokenizer().fit("cafe\u0301 bar")
    assert new.to_dict()["pattern"] != old_pattern and new.tokenize("cafe\u0301") == ["cafe\u0301"]
    old = tokenizer_from_dict({"type": "WordTokenizer", "version": 1, "lower": True, "max_vocab": None,
                               "min_freq": 1, "pattern": old_pattern, "words": ["cafe", "\u0301", "bar"]})
    assert old.tokenize("cafe\u0301") == ["cafe", "\u0301"]
    assert old.encode("cafe\u0301 bar") == [4, 5, 6]
    assert tokenizer_from_dict(old.to_dict()).encode("cafe\u0301 bar") == [4, 5, 6]


# --- BPETokenizer: encoding ---------------------------------------------------------

def _encode_merge_by_merge(merges, text):
    """Reference: every learned merge applied to every chunk, in the order learned."""
    out = []
    for chunk in re.findall(BPE_PATTERN, text):
        ids = list(chunk.encode("utf-8"))
        for rank, pair in enumerate(merges):
            merged, i = [], 0
            while i < len(ids):
                if tuple(ids[i:i + 2]) == pair:
                    merged.append(256 + rank)
                    i += 2
                else:
                    merged.append(ids[i])
                    i += 1
            ids = merged
        out += ids
    return out


def test_bpe_encode_equals_merges_applied_in_order():
    """Guards the heap-based encoder (which replaced a rescan per merge)."""
    rng = random.Random(0)
    train = SHAKESPEARE[:20_000] + " aaaa aaaaaaa ééé 😀😀😀 ab" * 3
    tok = BPETokenizer(vocab_size=450).fit(train)
    runs = "".join(rng.choice(["a", "aa", "b", "ab", " ", "é", "😀"]) for _ in range(3000))
    for text in (train, SHAKESPEARE[600_000:610_000], runs, "a" * 501):
        tok._cache.clear()
        assert tok.encode(text) == _encode_merge_by_merge(tok.merges, text)


def test_bpe_encode_of_a_long_line_round_trips():
    """One 100,000-digit chunk (encode used to rescan the chunk once per merge:
    4 s, now 0.3 s here; speed is not asserted, tests never fail on a slow machine)."""
    rng = random.Random(0)
    tok = BPETokenizer(vocab_size=1259).fit(" ".join(str(rng.randrange(10**6)) for _ in range(20_000)))
    line = "".join(rng.choice("0123456789") for _ in range(100_000))
    ids = tok.encode(line)
    assert tok.decode(ids) == line
    assert len(ids) < len(line) // 2                 # the merges were applied


@pytest.mark.parametrize("bad", [300.7, "300", True])
def test_bpe_fit_vocab_size_must_be_an_int(bad):
    """fit(text, vocab_size=300.7) trained 300 ids and "300" was accepted (the constructor refused both)."""
    with pytest.raises(TypeError, match=r"BPETokenizer.fit: vocab_size must be an int"):
        BPETokenizer().fit("ab ab", vocab_size=bad)


# --- BPETokenizer: training ---------------------------------------------------------

def test_bpe_training_equals_textbook_algorithm_on_overlapping_runs():
    """Runs like "aaaa" and "1111" overlap with themselves; each text is checked
    against the textbook algorithm (all pairs recounted after every merge)."""
    rng = random.Random(1)
    for _ in range(100):
        text = "".join(rng.choice(["a", "b", "aa", " ", "ab", "é", "\n", "1", "11"]) for _ in range(rng.randrange(400)))
        n_merges = rng.randrange(1, 60)
        tok = BPETokenizer(min_frequency=2).fit(text, vocab_size=259 + n_merges)
        assert tok.merges == _naive_bpe(text, n_merges), text


def test_bpe_fit_on_a_single_long_line_learns_every_merge():
    """One 100,000-letter chunk (a DNA sequence on one line; fit used to rebuild
    the chunk for every merge: 7 s, now ~0.4 s here; speed is not asserted)."""
    rng = random.Random(0)
    line = "".join(rng.choice("ACGT") for _ in range(100_000))
    tok = BPETokenizer(vocab_size=512).fit(line)
    assert len(tok.merges) == 512 - 259
    assert tok.decode(tok.encode(line)) == line


@pytest.mark.parametrize("n, val_fraction, n_train", [(10, 0.9, 1), (90, 0.3, 63), (1_115_394, 0.1, 1_003_854),
                                                      (100, 0.1, 90), (7, 0.5, 3)])
def test_train_val_split_sizes_are_not_lost_to_float_error(n, val_fraction, n_train):
    # was: int(10 * (1 - 0.9)) = int(0.0999...*10) = 0 training items, 62/28 for 90 at 0.3
    from scratchnet.data import train_val_split
    train, val = train_val_split(list(range(n)), val_fraction)
    assert (len(train), len(val)) == (n_train, n - n_train)
