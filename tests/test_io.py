"""scratchnet.io: npz + JSON checkpoints, no pickle, atomic writes, clear errors."""

import json
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from scratchnet import io as sio


def _same(a, b):
    """Structural equality that also checks array dtype/shape and scalar types."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, np.generic):
        assert type(a) is type(b) and (a == b or (np.isnan(a) and np.isnan(b)))
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b)
    else:
        assert type(a) is type(b) and a == b


def _state():
    rng = np.random.default_rng(0)
    return {
        "model": OrderedDict(
            [
                ("linear.weight", rng.standard_normal((3, 4)).astype(np.float32)),
                ("linear.bias", rng.standard_normal(3)),
                ("embedding.weight", np.arange(12, dtype=np.int64).reshape(4, 3)),
                ("mask", np.array([[True, False], [False, True]])),
                ("fortran", np.asfortranarray(np.arange(6.0).reshape(2, 3))),
            ]
        ),
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": np.zeros((3, 4), np.float32)}, 1: {}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}],
        },
        "scalar0d": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((0, 5), dtype=np.float32),
        "np_scalar": np.float32(1.25),
        "np_int": np.int64(-7),
        "step": 1200,
        "big": 2**80,
        "loss": 1.2345678901234567,
        "nan": float("nan"),
        "inf": float("-inf"),
        "name": "gpt-mini ✓ «ünïcode»",
        "done": True,
        "nothing": None,
        "history": [1.0, 2, [3, {"deep": np.ones(2, np.float16)}]],
        "strings": np.array(["ab", "c"]),
    }


def test_round_trip_nested(tmp_path):
    state = _state()
    path = tmp_path / "ckpt.npz"
    sio.save(state, path)
    loaded = sio.load(path)
    _same(state, loaded)
    # tuples come back as lists (documented)
    assert loaded["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]
    # int dict keys survive
    assert list(loaded["optimizer"]["state"]) == [0, 1]


def test_exact_path_no_npz_suffix_added(tmp_path):
    path = tmp_path / "model.ckpt"
    sio.save({"a": np.ones(2)}, str(path))
    assert os.listdir(tmp_path) == ["model.ckpt"]
    assert sio.load(str(path))["a"].tolist() == [1.0, 1.0]


def test_file_is_plain_npz_with_json_metadata(tmp_path):
    path = tmp_path / "c.npz"
    sio.save({"w": np.arange(3)}, path)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["__scratchnet__"].tobytes().decode())
        assert meta["version"] == sio.FORMAT_VERSION
        assert meta["tree"] == {"dict": [["w", {"array": "a0"}]]}
        assert z["a0"].tolist() == [0, 1, 2]


class FakeTensor:
    def __init__(self, data):
        self.data = np.asarray(data)

    def __array__(self, dtype=None, copy=None):
        return self.data


def test_tensors_saved_as_arrays(tmp_path):
    path = tmp_path / "t.npz"
    sio.save({"w": FakeTensor(np.ones((2, 2), np.float32))}, path)
    w = sio.load(path)["w"]
    assert isinstance(w, np.ndarray) and w.dtype == np.float32 and w.shape == (2, 2)


@pytest.mark.parametrize(
    "state, where",
    [
        ({"a": {"b": np.array([object(), 1], dtype=object)}}, "state['a']['b']"),
        ({"a": [1, {2, 3}]}, "state['a'][1]"),
        ({"a": {(1, 2): 3}}, "state['a']"),
        ({"c": 1 + 2j}, "state['c']"),
    ],
)
def test_unsaveable_values_raise_type_error_naming_key(tmp_path, state, where):
    with pytest.raises(TypeError) as err:
        sio.save(state, tmp_path / "x.npz")
    assert where in str(err.value)
    assert not os.listdir(tmp_path)  # nothing written, no temp file


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        sio.load(path)


# --- refusing pickles --------------------------------------------------------

class Payload:
    """Unpickling this would create the marker file."""

    marker = None

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_object_array_refused_and_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    Payload.marker = str(marker)
    evil = np.empty(1, dtype=object)
    evil[0] = Payload()
    path = tmp_path / "evil.npz"
    # A file that looks like a scratchnet checkpoint but whose array is pickled.
    meta = {"format": "scratchnet", "version": 1, "tree": {"dict": [["w", {"array": "a0"}]]}}
    np.savez(path, a0=evil, __scratchnet__=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    assert not marker.exists()
    with pytest.raises(ValueError, match="contains pickled data, refused") as err:
        sio.load(path)
    assert "evil.npz" in str(err.value)
    assert not marker.exists()

    # Same with a bare np.savez file (no metadata): refused as pickled, not run.
    path2 = tmp_path / "evil2.npz"
    np.savez(path2, x=evil)
    with pytest.raises(ValueError, match="contains pickled data, refused"):
        sio.load(path2)
    assert not marker.exists()


# --- damaged and foreign files ------------------------------------------------

def test_truncated_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    sio.save(_state(), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted") as err:
        sio.load(path)
    assert "ckpt.npz" in str(err.value)


def test_corrupted_entry(tmp_path):
    path = tmp_path / "ckpt.npz"
    sio.save({"w": np.arange(1000, dtype=np.int64)}, path)
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF  # inside the first entry's data: CRC mismatch
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="truncated or corrupted"):
        sio.load(path)


@pytest.mark.parametrize(
    "kind",
    ["random", "text", "npy", "npz_without_meta", "empty", "zip_of_text", "json_meta_garbage"],
)
def test_foreign_files(tmp_path, kind):
    path = tmp_path / f"foreign_{kind}"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(1000))
    elif kind == "text":
        path.write_text("hello, I am a text file\n")
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.arange(3))
    elif kind == "npz_without_meta":
        with open(path, "wb") as f:
            np.savez(f, x=np.arange(3))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "zip_of_text":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hi")
    elif kind == "json_meta_garbage":
        with open(path, "wb") as f:
            np.savez(f, __scratchnet__=np.frombuffer(b"{not json", np.uint8))
    with pytest.raises(ValueError) as err:
        sio.load(path)
    msg = str(err.value)
    assert path.name in msg
    expected = "truncated or corrupted" if kind == "json_meta_garbage" else "not a scratchnet checkpoint"
    assert expected in msg


def test_future_version_rejected(tmp_path):
    path = tmp_path / "future.npz"
    meta = {"format": "scratchnet", "version": sio.FORMAT_VERSION + 1, "tree": None}
    with open(path, "wb") as f:
        np.savez(f, __scratchnet__=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(ValueError, match="newer") as err:
        sio.load(path)
    assert "future.npz" in str(err.value) and "upgrade" in str(err.value)


# --- atomic writes --------------------------------------------------------------

def test_crash_in_replace_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    sio.save({"version": "old", "w": np.zeros(3)}, path)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(sio.os, "replace", boom)
    with pytest.raises(OSError, match="simulated crash"):
        sio.save({"version": "new", "w": np.ones(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sio.load(path)["version"] == "old"
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]  # no temp file left behind


def test_crash_mid_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    sio.save({"version": "old"}, path)

    real_savez = np.savez

    def half_then_die(f, **arrays):
        real_savez(f, **arrays)
        f.truncate(10)
        raise KeyboardInterrupt  # even a BaseException cleans up

    monkeypatch.setattr(sio.np, "savez", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        sio.save({"version": "new", "w": np.ones(100)}, path)
    monkeypatch.undo()
    assert sio.load(path) == {"version": "old"}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_atomic_write_bytes_and_permissions(tmp_path):
    path = tmp_path / "t.json"
    sio.atomic_write_bytes(path, b"one")
    assert path.read_bytes() == b"one"
    os.chmod(path, 0o640)
    sio.atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.stat(path).st_mode & 0o777 == 0o640  # replacing keeps the old mode
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sio.atomic_write_bytes(tmp_path / "no_dir" / "x", b"")


def test_public_names():
    import scratchnet

    if hasattr(scratchnet, "save"):  # wired by scratchnet/__init__.py
        assert scratchnet.save is sio.save and scratchnet.load is sio.load


def test_malformed_metadata_tree(tmp_path):
    path = tmp_path / "odd.npz"
    meta = {"format": "scratchnet", "version": 1, "tree": {"dict": [[["unhashable"], 1]]}}
    with open(path, "wb") as f:
        np.savez(f, __scratchnet__=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(ValueError, match=r"odd\.npz.*truncated or corrupted"):
        sio.load(path)
    meta["tree"] = {"array": "a7"}
    with open(path, "wb") as f:
        np.savez(f, __scratchnet__=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(ValueError, match="missing"):
        sio.load(path)
