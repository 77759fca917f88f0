"""Tokenizers: vocabularies, round trips (Hypothesis), specials, JSON save/load, BPE."""

import json
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet.data import (
    BPETokenizer,
    CharTokenizer,
    WordTokenizer,
    load_corpus,
    load_tokenizer,
    tokenizer_from_dict,
)
from scratchnet.data.tokenizers import BPE_PATTERN

SHAKESPEARE = load_corpus("tinyshakespeare")


@pytest.fixture(scope="module")
def char_tok():
    return CharTokenizer().fit(SHAKESPEARE)


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer().fit(SHAKESPEARE[:50_000], vocab_size=400)


# --- CharTokenizer ------------------------------------------------------------------

def test_char_vocab_is_nanogpt(char_tok):
    assert char_tok.vocab_size == 65
    chars = sorted(set(SHAKESPEARE))
    assert char_tok.encode("".join(chars)) == list(range(65))  # sorted, like nanoGPT's stoi
    assert char_tok.encode("hii there") == [46, 47, 47, 1, 58, 46, 43, 56, 43]  # nanoGPT's example
    assert char_tok.pad_id is None and char_tok.unk_id is None


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=sorted(set(SHAKESPEARE))))
def test_char_round_trip(char_tok, text):
    ids = char_tok.encode(text)
    assert all(0 <= i < 65 for i in ids)
    assert char_tok.decode(ids) == text


def test_char_unseen_character(char_tok):
    with pytest.raises(ValueError, match=r"'é' at position 2"):
        char_tok.encode("caé")
    tok = CharTokenizer(specials=True).fit("abc")
    assert tok.vocab_size == 7
    assert tok.encode("abz") == [4, 5, tok.unk_id]
    assert tok.encode("ab", bos=True, eos=True) == [2, 4, 5, 3]
    assert tok.decode([2, 4, 5, 3]) == "<bos>ab<eos>"
    assert tok.decode([2, 4, 5, 3, 0], skip_special=True) == "ab"
    with pytest.raises(ValueError, match="no <bos>"):
        char_tok.encode("a", bos=True)


def test_char_errors():
    with pytest.raises(ValueError, match="not fitted"):
        CharTokenizer().encode("a")
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer().fit("")
    with pytest.raises(ValueError, match="id 9 is out of range"):
        CharTokenizer().fit("ab").decode([0, 9])


def test_decode_accepts_arrays(char_tok):
    ids = np.array(char_tok.encode("To be"), dtype=np.int64)
    assert char_tok.decode(ids) == "To be"


# --- WordTokenizer -----------------------------------------------------------------

def test_word_tokenize_rule():
    tok = WordTokenizer()
    assert tok.tokenize("Don't stop, O'er-the_top!  3.5") == [
        "don't", "stop", ",", "o'er", "-", "the_top", "!", "3", ".", "5"
    ]
    assert WordTokenizer(lower=False).tokenize("Hi, You") == ["Hi", ",", "You"]


def test_word_vocab_and_unk():
    tok = WordTokenizer().fit("the cat. The dog! the end")
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    # by frequency, ties alphabetically: the(3) then ! . cat dog end
    assert tok.itos[4:] == ["the", "!", ".", "cat", "dog", "end"]
    ids = tok.encode("The bird.", bos=True, eos=True)
    assert ids == [2, 4, 1, 6, 3]
    assert tok.decode(ids) == "<bos> the <unk> . <eos>"
    assert tok.decode(ids, skip_special=True) == "the ."


def test_word_max_vocab_min_freq():
    text = "a a a b b c"
    assert WordTokenizer(min_freq=2).fit(text).itos[4:] == ["a", "b"]
    tok = WordTokenizer(max_vocab=5).fit(text)
    assert tok.vocab_size == 5 and tok.itos[4:] == ["a"]
    with pytest.raises(ValueError, match="max_vocab"):
        WordTokenizer(max_vocab=2)


def test_word_on_shakespeare():
    tok = WordTokenizer(max_vocab=2000).fit(SHAKESPEARE)
    assert tok.vocab_size == 2000
    ids = tok.encode("To be, or not to be")
    assert tok.decode(ids) == "to be , or not to be"


# --- BPETokenizer -------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.text())
def test_bpe_round_trip_any_text(bpe, text):
    ids = bpe.encode(text)
    assert all(0 <= i < bpe.vocab_size - 3 for i in ids)  # never a special token
    assert bpe.decode(ids) == text


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_bpe_pattern_covers_every_character(text):
    assert "".join(re.findall(BPE_PATTERN, text)) == text


@pytest.mark.parametrize(
    "text", ["", "\n", "\n\n  \t\n", "héllo wörld", "emoji 😀👍🏽 and 漢字", "<bos> is text", "a" * 1000, "  lead"]
)
def test_bpe_round_trip_examples(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text


def test_bpe_vocab_layout(bpe):
    assert bpe.vocab_size == 400
    assert len(bpe.merges) == 400 - 256 - 3
    assert (bpe.pad_id, bpe.bos_id, bpe.eos_id, bpe.unk_id) == (397, 398, 399, None)
    ids = bpe.encode("the king", bos=True, eos=True)
    assert ids[0] == 398 and ids[-1] == 399
    assert bpe.decode(ids, skip_special=True) == "the king"
    assert bpe.decode(ids).startswith("<bos>")
    assert len(bpe.encode("the king and the queen")) < len("the king and the queen")  # merges compress
    assert bpe.decode([0xE2, 0x82]) == "\ufffd"  # a cut multi-byte character decodes as U+FFFD
    with pytest.raises(ValueError, match="out of range"):
        bpe.decode([400])


def _naive_bpe(text, n_merges):
    """Textbook BPE: recount all pairs every step; ties to the smallest pair."""
    words = Counter(tuple(c.encode()) for c in re.findall(BPE_PATTERN, text))
    merges = []
    for step in range(n_merges):
        counts = Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                counts[p] += c
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < 2:
            break
        merges.append(best)
        new_id, merged = 256 + step, Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    return merges


def test_bpe_training_equals_textbook_algorithm():
    text = SHAKESPEARE[:8000] + " aaaa aaaaa aaa"  # includes overlapping pairs
    tok = BPETokenizer(min_frequency=2).fit(text, vocab_size=256 + 3 + 150)
    assert tok.merges == _naive_bpe(text, 150)


def test_bpe_stops_when_pairs_run_out():
    tok = BPETokenizer().fit("ab ab", vocab_size=1000)
    assert tok.vocab_size < 1000 and tok.decode(tok.encode("ab ab ba")) == "ab ab ba"


def test_bpe_errors():
    with pytest.raises(ValueError, match="vocab_size=100 is too small"):
        BPETokenizer().fit("abc", vocab_size=100)
    with pytest.raises(ValueError, match="not fitted"):
        BPETokenizer().encode("abc")


def test_bpe_on_shakespeare_round_trips():
    """fit on 100K characters and encode of the whole 1.1 MB corpus (about 0.1 s
    and 0.2 s here; speed is not asserted: tests never fail on a slow machine)."""
    tok = BPETokenizer().fit(SHAKESPEARE[:100_000], vocab_size=512)
    ids = tok.encode(SHAKESPEARE)
    assert tok.decode(ids) == SHAKESPEARE
    assert len(ids) < 0.7 * len(SHAKESPEARE)          # merges applied: 0.54 tokens per character


# --- save / load / to_dict ----------------------------------------------------------

@pytest.mark.parametrize(
    "make",
    [
        lambda: CharTokenizer().fit("hello world"),
        lambda: CharTokenizer(specials=True).fit("hello world"),
        lambda: WordTokenizer(lower=False, min_freq=1, max_vocab=50).fit(SHAKESPEARE[:3000]),
        lambda: BPETokenizer().fit(SHAKESPEARE[:3000], vocab_size=300),
    ],
)
def test_save_load_and_dict_round_trip(tmp_path, make):
    tok = make()
    sample = "hello world" if isinstance(tok, CharTokenizer) else SHAKESPEARE[3000:3500]
    path = tmp_path / "tok.json"
    tok.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["tok.json"]
    json.loads(path.read_text(encoding="utf-8"))  # plain JSON
    for other in (type(tok).load(path), load_tokenizer(path), tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))):
        assert type(other) is type(tok)
        assert other.vocab_size == tok.vocab_size
        assert other.encode(sample) == tok.encode(sample)
        assert other.decode(tok.encode(sample)) == tok.decode(tok.encode(sample))


def test_tokenizer_inside_checkpoint(tmp_path, bpe):
    from scratchnet import io as sio

    sio.save({"tokenizer": bpe.to_dict(), "w": np.ones(2)}, tmp_path / "c.npz")
    back = tokenizer_from_dict(sio.load(tmp_path / "c.npz")["tokenizer"])
    assert back.merges == bpe.merges


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        CharTokenizer.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\xff not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_tokenizer(bad)
    good = tmp_path / "char.json"
    CharTokenizer().fit("ab").save(good)
    with pytest.raises(ValueError, match="describes a CharTokenizer, not a BPETokenizer"):
        BPETokenizer.load(good)
    with pytest.raises(ValueError, match="unknown tokenizer type"):
        tokenizer_from_dict({"type": "Nope"})
