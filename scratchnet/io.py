"""Saving and loading checkpoints: one ``.npz`` file, JSON metadata, no pickle.

``save(state, path)`` writes a nested structure of dicts and lists whose leaves
are NumPy arrays, Tensors, NumPy scalars, Python numbers, strings, bools and
``None``. ``load(path)`` returns the same structure.

File format (version 1)
-----------------------
An uncompressed ``.npz`` (a zip of ``.npy`` files, what ``np.savez`` writes):

* ``a0``, ``a1``, ...: the arrays of the state, one entry each, in the order
  they were met walking the structure depth first;
* ``__scratchnet__``: a 1-D ``uint8`` array holding the UTF-8 bytes of a JSON
  document ``{"format": "scratchnet", "version": 1, "tree": <node>}``.

A ``<node>`` is ``null``, a boolean, a number or a string (that very value);
a JSON list (a list or tuple, each item a node); ``{"dict": [[key, node],
...]}`` (a dict; keys are strings or integers, insertion order kept);
``{"array": "a3"}`` (an ndarray or Tensor, stored in entry ``a3``); or
``{"scalar": "a4"}`` (a NumPy scalar such as ``np.float32(1.5)``, stored as a
0-d array and given back as a NumPy scalar of the same dtype).

What comes back
---------------
Arrays come back as ``np.ndarray`` with their dtype and shape; Tensors come
back as plain arrays (wrap them again if needed); tuples come back as lists;
``OrderedDict`` and other dict subclasses come back as ``dict`` (order kept);
floats, including ``nan`` and ``inf``, come back exactly.

Safety
------
Loading never unpickles: entries are read with ``allow_pickle=False`` after
their header is inspected, so a file holding a pickled object array is refused
before any byte of the payload is interpreted. Saving refuses object arrays.
Writes are atomic (see ``atomic_write_bytes``): a crash mid-write leaves the
previous file intact.
"""

import json
import os
import tempfile
import zipfile
from numbers import Integral

import numpy as np

__all__ = ["save", "load", "atomic_write_bytes", "atomic_write", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_FORMAT_NAME = "scratchnet"
_META_KEY = "__scratchnet__"

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # local file header, empty archive
_NPY_MAGIC = b"\x93NUMPY"


# ---------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------

def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path, write):
    """Write a file atomically: ``write(f)`` fills an open binary file object.

    The data go to a temporary file in the target's directory, which is
    flushed and fsync'ed, then renamed onto ``path`` with ``os.replace`` (atomic
    on POSIX and Windows); the directory is fsync'ed where the OS allows it.
    If anything raises (including KeyboardInterrupt), the temporary file is
    removed and an existing ``path`` is left untouched. The new file gets the
    permissions of the file it replaces, or the usual ``0o666 & ~umask``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, f"cannot write {path!r}: it is a directory", path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not exist")
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_UMASK
    tmp = tempfile.NamedTemporaryFile(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)
        os.replace(tmp.name, path)
    except BaseException:
        try:
            os.unlink(tmp.name)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically; see ``atomic_write``."""
    atomic_write(path, lambda f: f.write(data))


def _fsync_directory(directory):
    """Make the rename durable (POSIX); silently skipped where unsupported."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    try:
        fd = os.open(directory, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------

def _is_tensor(obj):
    return hasattr(obj, "__array__") and isinstance(getattr(obj, "data", None), np.ndarray)


def _key_path(parts):
    return "state" + "".join(f"[{p!r}]" for p in parts)


def _check_array(arr, parts):
    if arr.dtype.hasobject:
        raise TypeError(
            f"save: {_key_path(parts)} is an array of dtype {arr.dtype}, which holds Python "
            "objects and would need pickle; convert it to a numeric, bool or string dtype"
        )


class _Encoder:
    """Walks the state, collects arrays and builds the JSON tree."""

    def __init__(self):
        self.arrays = {}

    def _store(self, arr):
        name = f"a{len(self.arrays)}"
        self.arrays[name] = arr
        return name

    def encode(self, obj, parts=()):
        # Order matters: bool before int, ndarray before the Tensor duck test.
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, np.ndarray):
            _check_array(obj, parts)
            return {"array": self._store(obj)}
        if isinstance(obj, np.generic):
            arr = np.asarray(obj)
            _check_array(arr, parts)
            return {"scalar": self._store(arr)}
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if _is_tensor(obj):
            arr = np.asarray(obj.data)
            _check_array(arr, parts)
            return {"array": self._store(arr)}
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, Integral)):
                    raise TypeError(
                        f"save: {_key_path(parts)} has a key {key!r} of type "
                        f"{type(key).__name__}; only str and int keys can be saved"
                    )
                key = key if isinstance(key, str) else int(key)
                items.append([key, self.encode(value, parts + (key,))])
            return {"dict": items}
        if isinstance(obj, (list, tuple)):
            return [self.encode(v, parts + (i,)) for i, v in enumerate(obj)]
        raise TypeError(
            f"save: {_key_path(parts)} is of type {type(obj).__name__}; a state may hold dicts, "
            "lists, tuples, arrays, Tensors, numbers, strings, bools and None"
        )


def save(state, path):
    """Save ``state`` to ``path`` as one ``.npz`` file, atomically.

    ``state`` is usually a dict such as ``{"model": model.state_dict(),
    "optimizer": opt.state_dict(), "step": 100}``; see the module docstring for
    what it may contain and the file layout. ``path`` is used exactly as
    given (no ``.npz`` is appended). Raises ``TypeError`` naming the key path
    (e.g. ``state['model']['w']``) for values that cannot be saved without
    pickle, such as object arrays or sets.
    """
    encoder = _Encoder()
    tree = encoder.encode(state)
    meta = {"format": _FORMAT_NAME, "version": FORMAT_VERSION, "tree": tree}
    meta_bytes = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    arrays = dict(encoder.arrays)
    arrays[_META_KEY] = np.frombuffer(meta_bytes, dtype=np.uint8)
    # np.savez on an open file object writes exactly there (no '.npz' appended).
    atomic_write(path, lambda f: np.savez(f, **arrays))


# ---------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------

def _read_npy_header(fp):
    """Return the dtype announced by an ``.npy`` header, without reading data."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        _, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        _, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:  # 3.0 only differs by a UTF-8 header; NumPy has no public reader for it
        _, _, dtype = np.lib.format._read_array_header(fp, version)
    return dtype


def _read_entries(path, zf):
    """Read every entry as an array, refusing object dtypes before reading data."""
    entries = {}
    for info in zf.infolist():
        name = info.filename
        with zf.open(info) as fp:
            if fp.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                raise ValueError(
                    f"load: {path!r} is not a scratchnet checkpoint (entry {name!r} is not a .npy array)"
                )
            fp.seek(0)
            dtype = _read_npy_header(fp)
            if dtype.hasobject:
                raise ValueError(
                    f"load: {path!r} contains pickled data, refused (entry {name!r} is an array of "
                    f"dtype {dtype}); scratchnet never unpickles files"
                )
            fp.seek(0)
            key = name[:-4] if name.endswith(".npy") else name
            entries[key] = np.lib.format.read_array(fp, allow_pickle=False)
    return entries


def _decode(node, arrays, path):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays, path) for v in node]
    if isinstance(node, dict) and len(node) == 1:
        (tag, value), = node.items()
        if tag == "dict":
            return {k: _decode(v, arrays, path) for k, v in value}
        if tag in ("array", "scalar"):
            if value not in arrays:
                raise ValueError(f"load: {path!r} is truncated or corrupted (array entry {value!r} is missing)")
            return arrays[value] if tag == "array" else arrays[value][()]
    raise ValueError(f"load: {path!r} is truncated or corrupted (bad metadata node {node!r:.80})")


def load(path):
    """Load a checkpoint written by ``save``; returns the saved structure.

    Raises ``FileNotFoundError`` for a missing file, and ``ValueError`` naming
    the file for anything that is not an intact scratchnet checkpoint: "not a
    scratchnet checkpoint" (random bytes, text, a plain ``.npy``, an ``.npz``
    without scratchnet metadata), "truncated or corrupted", "contains pickled
    data, refused", or a format version newer than this scratchnet reads.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, f"load: no such checkpoint file: {path!r}", path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, f"load: {path!r} is a directory, not a checkpoint file", path)
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise ValueError(f"load: {path!r} is not a scratchnet checkpoint (the file is empty)")
    if head.startswith(_NPY_MAGIC):
        raise ValueError(
            f"load: {path!r} is not a scratchnet checkpoint (it is a single .npy array, not an .npz archive)"
        )
    if not head.startswith(_ZIP_MAGICS):
        raise ValueError(f"load: {path!r} is not a scratchnet checkpoint (not an .npz archive)")
    try:
        with zipfile.ZipFile(path) as zf:
            arrays = _read_entries(path, zf)
    except ValueError as err:
        if str(err).startswith("load: "):
            raise
        raise ValueError(f"load: {path!r} is truncated or corrupted ({err})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, NotImplementedError) as err:
        raise ValueError(f"load: {path!r} is truncated or corrupted ({err})") from None

    meta_arr = arrays.pop(_META_KEY, None)
    if meta_arr is None:
        raise ValueError(
            f"load: {path!r} is not a scratchnet checkpoint (an .npz without the {_META_KEY!r} "
            "metadata entry; was it written with np.savez rather than scratchnet.save?)"
        )
    try:
        if meta_arr.dtype != np.uint8 or meta_arr.ndim != 1:
            raise ValueError(f"metadata entry has dtype {meta_arr.dtype} and shape {meta_arr.shape}")
        meta = json.loads(meta_arr.tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT_NAME:
            raise ValueError("metadata is not a scratchnet header")
    except ValueError as err:  # includes JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"load: {path!r} is truncated or corrupted (unreadable metadata: {err})") from None
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"load: {path!r} is truncated or corrupted (bad format version {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"load: {path!r} uses checkpoint format version {version}, newer than the newest this "
            f"scratchnet reads ({FORMAT_VERSION}); upgrade scratchnet to load it"
        )
    if "tree" not in meta:
        raise ValueError(f"load: {path!r} is truncated or corrupted (metadata has no 'tree')")
    try:
        return _decode(meta["tree"], arrays, path)
    except (TypeError, ValueError) as err:  # e.g. a dict item that is not a [key, node] pair
        if str(err).startswith("load: "):
            raise
        raise ValueError(f"load: {path!r} is truncated or corrupted (bad metadata: {err})") from None
