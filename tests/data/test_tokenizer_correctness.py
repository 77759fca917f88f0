"""Tokenizers on text the other tests do not cover: combining marks in words."""

import pytest

from scratchnet.data import WordTokenizer, tokenizer_from_dict


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
