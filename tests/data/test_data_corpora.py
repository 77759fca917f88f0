"""load_corpus and train_val_split."""

from pathlib import Path

import numpy as np
import pytest

import scratchnet.data
from scratchnet.data import load_corpus, train_val_split


def test_bundled_tinyshakespeare():
    text = load_corpus("tinyshakespeare")
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert len(set(text)) == 65


def test_bundled_file_lives_inside_the_package():
    package_dir = Path(scratchnet.data.__file__).resolve().parent
    assert (package_dir / "tinyshakespeare.txt").is_file()


def test_reads_utf8_file_str_and_path(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("héllo\nwörld 😀\n", encoding="utf-8")
    assert load_corpus(path) == "héllo\nwörld 😀\n"
    assert load_corpus(str(path)) == "héllo\nwörld 😀\n"
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfabc")
    assert load_corpus(bom) == "abc"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        load_corpus(tmp_path / "nothere.txt")
    with pytest.raises(FileNotFoundError, match="tinyshakespeare"):  # the error lists the bundled names
        load_corpus("tiny-shakespear")


def test_binary_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"abc\xff\xfe\x00\x01")
    with pytest.raises(ValueError, match=r"model\.bin.*not UTF-8 text.*0xff at byte offset 3"):
        load_corpus(path)
    npy = tmp_path / "arr.npy"
    np.save(npy, np.arange(10))
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_corpus(npy)
    nul = tmp_path / "nul.dat"
    nul.write_bytes("é\x00x".encode())
    with pytest.raises(ValueError, match="NUL byte at byte offset 2"):
        load_corpus(nul)


def test_empty_file_and_directory(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt.*is empty"):
        load_corpus(path)
    with pytest.raises(IsADirectoryError, match="directory"):
        load_corpus(tmp_path)
    with pytest.raises(TypeError):
        load_corpus(42)


@pytest.mark.parametrize("data", ["abcdefghij", list(range(10)), np.arange(10)])
def test_train_val_split_contiguous(data):
    train, val = train_val_split(data)
    assert type(train) is type(data) and len(train) == 9 and len(val) == 1
    assert list(train) + list(val) == list(data)


def test_train_val_split_matches_nanogpt():
    text = load_corpus("tinyshakespeare")
    train, val = train_val_split(text)
    assert len(train) == int(0.9 * len(text)) and train + val == text
    train, val = train_val_split(text, val_fraction=0.25)
    assert len(val) == len(text) - int(0.75 * len(text))
    assert train_val_split("abcd", 0.0) == ("abcd", "")


@pytest.mark.parametrize("bad", [1.0, -0.1, 2, "0.1", True])
def test_train_val_split_bad_fraction(bad):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split("abcdef", bad)
