"""Corpora, tokenizers and pad_sequences on unusual inputs: Windows line
endings, non-text arguments, corrupted tokenizer files, values that do not fit
the requested dtype."""
import json

import numpy as np
import pytest

from scratchnet.data import CharTokenizer, WordTokenizer, BPETokenizer, load_corpus, load_tokenizer, pad_sequences


def test_windows_and_old_mac_line_endings_read_as_newlines(tmp_path):
    """As Python's own text mode reads them: the same text saved on Windows
    gives the same characters (and so the same vocabulary) as on Linux."""
    unix = "première ligne\n日本語\n\nend 😀\n"
    for name, ending in (("windows.txt", "\r\n"), ("mac.txt", "\r")):
        path = tmp_path / name
        path.write_bytes(unix.replace("\n", ending).encode("utf-8"))
        assert load_corpus(path) == unix
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + unix.replace("\n", "\r\n").encode("utf-8"))
    assert load_corpus(bom) == unix


@pytest.mark.parametrize("not_text", [None, b"abc", ["a", "b"]])
def test_char_tokenizer_encode_wants_a_string(not_text):
    tok = CharTokenizer(specials=True).fit("abc")        # with <unk>, bytes used to encode silently as <unk>s
    with pytest.raises(TypeError, match="CharTokenizer.encode: text must be str"):
        tok.encode(not_text)


def test_load_tokenizer_errors_name_the_function_and_file(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"load_tokenizer: .* is a directory"):
        load_tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"load_tokenizer: no such tokenizer file: .*nope\.json"):
        load_tokenizer(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ValueError, match=r"load_tokenizer: .*broken\.json.* not a tokenizer JSON file"):
        load_tokenizer(broken)
    with pytest.raises(ValueError, match=r"^CharTokenizer\.load: "):
        CharTokenizer.load(broken)


@pytest.mark.parametrize("chars", ["aab", "", 5, ["a", "b"]])
def test_corrupted_char_vocabulary_is_refused(tmp_path, chars):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps({"type": "CharTokenizer", "version": 1, "specials": False, "chars": chars}))
    with pytest.raises(ValueError, match=r"tok\.json.*chars"):
        load_tokenizer(path)


@pytest.mark.parametrize("words", [["a", "a"], ["<pad>"], [1, 2], "ab"])
def test_corrupted_word_vocabulary_is_refused(tmp_path, words):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps({"type": "WordTokenizer", "version": 1, "lower": True, "max_vocab": None,
                                "min_freq": 1, "words": words}))
    with pytest.raises(ValueError, match=r"tok\.json.*words"):
        load_tokenizer(path)


def test_tokenizer_size_arguments_must_be_ints():
    with pytest.raises(TypeError, match="max_vocab"):
        WordTokenizer(max_vocab="10")
    with pytest.raises(TypeError, match="vocab_size"):
        BPETokenizer(vocab_size="300")
    with pytest.raises(TypeError, match="vocab_size"):
        BPETokenizer(vocab_size=300.7)


@pytest.mark.parametrize("make", [CharTokenizer, lambda: CharTokenizer(specials=True), WordTokenizer,
                                  lambda: BPETokenizer(vocab_size=280, min_frequency=1)])
def test_unicode_save_load_round_trip(tmp_path, make):
    text = "Ça va? Ünïcödé, 日本語, emoji 😀🎉, tab\tand\nnewline; e\u0301 (combining)"
    tok = make().fit(text)
    tok.save(tmp_path / "tok.json")
    back = load_tokenizer(tmp_path / "tok.json")
    assert type(back) is type(tok) and back.vocab_size == tok.vocab_size
    assert back.encode(text) == tok.encode(text)
    assert back.decode(back.encode(text)) == tok.decode(tok.encode(text))
    if not isinstance(tok, WordTokenizer):                 # words are joined by spaces, by design
        assert back.decode(back.encode(text)) == text


@pytest.mark.parametrize("kwargs", [{"value": None}, {"value": "x"}, {"value": 2**40, "dtype": "int32"}])
def test_pad_sequences_value_that_does_not_fit_the_dtype(kwargs):
    with pytest.raises(ValueError, match=r"pad_sequences: value=.* does not fit dtype"):
        pad_sequences([[1, 2], [3]], maxlen=3, **kwargs)


def test_pad_sequences_sequence_that_does_not_fit_the_dtype():
    with pytest.raises(ValueError, match=r"pad_sequences: sequences\[1\] does not fit dtype"):
        pad_sequences([[1], ["a", "b"]])
    with pytest.raises(ValueError, match=r"sequences\[0\] does not fit dtype='int32'"):
        pad_sequences([[2**40]], dtype="int32")


def test_pad_sequences_keras_documented_cases():
    """The examples of Keras' pad_sequences documentation, and strings with dtype=object."""
    seqs = [[1], [2, 3], [4, 5, 6]]
    assert pad_sequences(seqs).tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    assert pad_sequences(seqs, value=-1).tolist() == [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    assert pad_sequences(seqs, padding="post").tolist() == [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    assert pad_sequences(seqs, maxlen=2).tolist() == [[0, 1], [2, 3], [5, 6]]
    assert pad_sequences(seqs, maxlen=2, truncating="post").tolist() == [[0, 1], [2, 3], [4, 5]]
    words = pad_sequences([["a"], ["bb", "ccc"]], dtype=object, value="")
    assert words.dtype == object and words.tolist() == [["", "a"], ["bb", "ccc"]]
    assert pad_sequences([[0.5, 1.5]], dtype="float32", maxlen=3).dtype == np.float32
