"""Corpora: the bundled tiny-shakespeare text, UTF-8 files, train/val split."""

import math
import os
from pathlib import Path

__all__ = ["load_corpus", "train_val_split", "BUNDLED_CORPORA"]

_HERE = Path(__file__).resolve().parent

# name -> file shipped inside the package (scratchnet/data/*.txt)
BUNDLED_CORPORA = {"tinyshakespeare": "tinyshakespeare.txt"}


def _read_bundled(name):
    filename = BUNDLED_CORPORA[name]
    try:  # works from zips and other importers too
        from importlib.resources import files

        return files(__package__).joinpath(filename).read_bytes(), f"<bundled corpus {name!r}>"
    except (ImportError, ModuleNotFoundError, TypeError, FileNotFoundError):
        path = _HERE / filename
        return path.read_bytes(), str(path)


def load_corpus(name_or_path):
    r"""Return a corpus as one ``str``.

    ``'tinyshakespeare'`` (Karpathy's 1.1 MB tiny-shakespeare, bundled with
    scratchnet) is looked up by name first; any other string or ``Path`` is a
    file read as UTF-8 (a leading byte-order mark is dropped) with universal
    newlines as Python's ``open`` reads text: Windows ``\r\n`` and old Mac ``\r``
    line endings become ``\n``, so a corpus saved on Windows has the same
    vocabulary and ids as the same text saved on Linux. Every ``\r`` counts,
    even a lone one inside a line (``"a\rb"`` reads as ``"a\nb"``); other
    separators (``\x85``, ``\u2028``) are kept. Names are case-sensitive. Raises
    ``FileNotFoundError`` for a missing file, ``ValueError`` naming the file for
    an empty file or one that is not UTF-8 text (with the offset of the first
    offending byte; NUL bytes count as binary).
    """
    if isinstance(name_or_path, str) and name_or_path in BUNDLED_CORPORA:
        raw, label = _read_bundled(name_or_path)
    else:
        if not isinstance(name_or_path, (str, os.PathLike)):
            raise TypeError(f"load_corpus: expected a corpus name or a path, got {type(name_or_path).__name__}")
        path = Path(name_or_path)
        label = str(path)
        if not path.exists():
            known = ", ".join(repr(n) for n in BUNDLED_CORPORA)
            raise FileNotFoundError(2, f"load_corpus: no such file {label!r} (bundled corpora: {known})", label)
        if path.is_dir():
            raise IsADirectoryError(21, f"load_corpus: {label!r} is a directory, not a text file", label)
        raw = path.read_bytes()
    if not raw:
        raise ValueError(f"load_corpus: {label!r} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"load_corpus: {label!r} is not UTF-8 text (invalid byte 0x{raw[err.start]:02x} at byte offset "
            f"{err.start}); is it a binary file?"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        offset = len(text[:nul].encode("utf-8"))
        raise ValueError(f"load_corpus: {label!r} is not UTF-8 text (NUL byte at byte offset {offset}); is it a binary file?")
    if text.startswith("\ufeff"):
        text = text[1:]
        if not text:
            raise ValueError(f"load_corpus: {label!r} is empty")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def train_val_split(data, val_fraction=0.1):
    """Split ``data`` contiguously: the first part trains, the last validates.

    ``n_train = floor(len(data) * (1 - val_fraction))`` (nanoGPT's
    ``int(0.9 * n)`` for the default; the product is rounded to 9 decimals
    first, so that float error never drops an item: 10 items with
    ``val_fraction=0.9`` keep 1 for training, not 0), returns ``(data[:n_train],
    data[n_train:])``; works on ``str``, lists, tuples and arrays (slices keep
    the type). ``val_fraction`` must be in ``[0, 1)``.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 <= val_fraction < 1:
        raise ValueError(f"train_val_split: val_fraction must be in [0, 1), got {val_fraction!r}")
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise TypeError(f"train_val_split: data must be a sequence (str, list, array), got {type(data).__name__}")
    n_train = math.floor(round(len(data) * (1 - val_fraction), 9))
    return data[:n_train], data[n_train:]
