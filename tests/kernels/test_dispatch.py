"""Backend selection, input validation, laziness of the import, dtype rules."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import scratchnet.kernels as K
from scratchnet.kernels import reference as R


def test_backend_env_and_context(monkeypatch):
    monkeypatch.setenv("SCRATCHNET_KERNELS", "numpy")
    assert K.backend() == "numpy"
    with K.use_backend("numba"):
        assert K.backend() == ("numba" if K._numba_importable() else "numpy")
        with K.use_backend("numpy"):
            assert K.backend() == "numpy"
        assert K.backend() in ("numba", "numpy")
    assert K.backend() == "numpy"
    monkeypatch.delenv("SCRATCHNET_KERNELS")
    expected = "numba" if K._numba_importable() else "numpy"
    assert K.backend() == expected
    with pytest.raises(ValueError, match="unknown backend"):
        with K.use_backend("cuda"):
            pass


def test_use_backend_restores_on_error():
    before = K.backend()
    with pytest.raises(RuntimeError):
        with K.use_backend("numpy"):
            raise RuntimeError("boom")
    assert K.backend() == before


def test_use_backend_is_thread_local():
    seen = {}
    with K.use_backend("numpy"):
        t = threading.Thread(target=lambda: seen.setdefault("other", K.backend()))
        t.start()
        t.join()
        assert K.backend() == "numpy"
    assert seen["other"] == ("numba" if K._numba_importable() and
                             os.environ.get("SCRATCHNET_KERNELS") != "numpy" else "numpy")


def test_env_selects_reference(monkeypatch):
    """SCRATCHNET_KERNELS=numpy routes every call to the reference module."""
    calls = []
    monkeypatch.setenv("SCRATCHNET_KERNELS", "numpy")
    monkeypatch.setattr(R, "softmax", lambda x: calls.append("ref") or np.zeros_like(x))
    K.softmax(np.ones((2, 3)))
    assert calls == ["ref"]


@pytest.mark.skipif(not K._numba_importable(), reason="numba not installed")
def test_numba_path_is_used(monkeypatch):
    monkeypatch.delenv("SCRATCHNET_KERNELS", raising=False)
    from scratchnet.kernels import numba_cpu
    calls = []
    original = numba_cpu.softmax
    monkeypatch.setattr(numba_cpu, "softmax", lambda x: calls.append("numba") or original(x))
    with K.use_backend("numba"):
        K.softmax(np.ones((2, 3)))
    assert calls == ["numba"]


def test_fallback_when_numba_missing(monkeypatch):
    monkeypatch.setattr(K, "_numba_failed", ImportError("no numba"))
    monkeypatch.setattr(K, "_numba_module", None)
    with K.use_backend("numba"):
        assert K.backend() == "numpy"
        y = K.softmax(np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(y, R.softmax(np.array([[0.0, 1.0]])))


def test_import_does_not_import_numba():
    code = ("import sys, scratchnet.kernels as K; "
            "assert 'numba' not in sys.modules, 'numba imported at import time'; "
            "assert 'scipy' not in sys.modules; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=os.path.join(os.path.dirname(__file__), "..", ".."))
    if "ok" not in r.stdout and "numba imported" not in r.stderr:
        pytest.skip(f"import scratchnet failed (another package mid-edit?): {r.stderr[-300:]}")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_validation_errors(backend):
    x = np.zeros((4, 65), np.float32)
    with K.use_backend(backend):
        with pytest.raises(IndexError, match="cross_entropy: target index 70 out of range for 65 classes"):
            K.cross_entropy(x, np.array([0, 1, 70, 2]))
        with pytest.raises(IndexError, match="target index -3"):
            K.cross_entropy(x, np.array([0, 1, -3, 2]))
        with pytest.raises(ValueError, match=r"cross_entropy: target \(3,\)"):
            K.cross_entropy(x, np.array([0, 1, 2]))
        with pytest.raises(ValueError, match="weight"):
            K.cross_entropy(x, np.array([0, 1, 2, 3]), weight=np.ones(3))
        with pytest.raises(ValueError, match="reduction"):
            K.cross_entropy(x, np.array([0, 1, 2, 3]), reduction="avg")
        with pytest.raises(TypeError, match="integer"):
            K.cross_entropy(x, np.zeros(4))
        with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: a \(2, 3\) @ b \(4, 5\)"):
            K.matmul(np.zeros((2, 3)), np.zeros((4, 5)))
        with pytest.raises(ValueError, match="batch dimensions"):
            K.matmul(np.zeros((2, 2, 3)), np.zeros((3, 3, 5)))
        with pytest.raises(ValueError, match="bias"):
            K.matmul(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(4))
        with pytest.raises(ValueError, match="ndim >= 2"):
            K.matmul(np.zeros(3), np.zeros((3, 5)))
        with pytest.raises(ValueError, match="attention"):
            K.attention(np.zeros((1, 2, 3, 4)), np.zeros((1, 2, 5, 3)), np.zeros((1, 2, 5, 4)))
        with pytest.raises(ValueError, match="4-D"):
            K.attention(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
        with pytest.raises(ValueError, match="mask"):
            K.attention(np.zeros((1, 2, 3, 4)), np.zeros((1, 2, 5, 4)), np.zeros((1, 2, 5, 4)),
                        mask=np.ones((3, 4), bool))
        with pytest.raises(ValueError, match="layer_norm: weight"):
            K.layer_norm(np.zeros((2, 3)), np.ones(4), None, 1e-5)
        with pytest.raises(ValueError, match="empty normalised axis"):
            K.layer_norm(np.zeros((2, 0)), None, None, 1e-5)
        with pytest.raises(ValueError, match="softmax_backward"):
            K.softmax_backward(np.zeros((2, 3)), np.zeros((3, 2)))
        with pytest.raises(ValueError, match="0-d"):
            K.softmax(np.float32(1.0))
        with pytest.raises(ValueError, match="approximate"):
            K.gelu(np.zeros(3), approximate="fast")
        with pytest.raises(ValueError, match=r"gelu_backward: x \(3,\) and y \(4,\)"):
            K.gelu_backward(np.zeros(3), np.zeros(3), y=np.zeros(4))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_dtypes_preserved(backend):
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((3, 4)).astype(dtype)
        t = np.array([0, 3, -100])
        with K.use_backend(backend):
            outs = [K.softmax(x), K.log_softmax(x), K.gelu(x), K.gelu(x, "tanh"),
                    K.matmul(x, x.T), *K.cross_entropy(x, t), *K.cross_entropy(x, t, reduction="none"),
                    *K.layer_norm(x, np.ones(4, dtype), np.zeros(4, dtype), 1e-5),
                    *K.attention(x[None, None], x[None, None], x[None, None], is_causal=True)]
            outs += list(K.layer_norm_backward(x, x, np.ones(4, dtype), *K.layer_norm(x, None, None, 1e-5)[1:]))
            outs += [g for g in K.matmul_backward(x, x.T, x @ x.T, has_bias=True)]
        for o in outs:
            assert o.dtype == dtype, (backend, dtype, o.dtype)


def test_cross_entropy_all_ignored_mean():
    x = np.ones((3, 4), np.float32)
    t = np.full(3, -100)
    for backend in ("numba", "numpy"):
        with K.use_backend(backend):
            loss, grad = K.cross_entropy(x, t, label_smoothing=0.2)
        assert np.isnan(loss) and grad.shape == (3, 4) and not grad.any()
        with K.use_backend(backend):
            loss, grad = K.cross_entropy(x, t, reduction="sum")
        assert loss == 0 and not grad.any()


@pytest.mark.parametrize("value, expected", [("numpy", "numpy"), (" NumPy ", "numpy"), ("REFERENCE", "numpy"),
                                             ("numba", "numba"), ("", "numba"), ("gpu", "numba")])
def test_environment_variable_is_read_at_every_call(monkeypatch, value, expected):
    """The variable's current value decides, whatever it was at the previous call."""
    if expected == "numba" and not K._numba_importable():
        expected = "numpy"
    monkeypatch.setenv("SCRATCHNET_KERNELS", "numpy" if expected == "numba" else "numba")
    before = K.backend()
    monkeypatch.setenv("SCRATCHNET_KERNELS", value)
    assert K.backend() == expected
    if K._numba_importable():
        assert before != expected                 # the previous value had chosen the other one
    monkeypatch.delenv("SCRATCHNET_KERNELS")
    assert K.backend() == ("numba" if K._numba_importable() else "numpy")


def test_floats_passes_ready_arrays_through_and_converts_the_rest():
    """Float arrays of one dtype, C-contiguous, are returned as they are (no copy);
    anything else is converted: mixed float dtypes to float64, a transposed view
    to C order, integers and lists to float64; None stays None."""
    x32, w32 = np.ones((4, 3), np.float32), np.ones(3, np.float32)
    out = K._floats("k", x=x32, w=w32, b=None)
    assert out[0] is x32 and out[1] is w32 and out[2] is None
    x64 = np.ones((4, 3))
    assert K._floats("k", x=x64)[0] is x64
    mixed = K._floats("k", x=x32, w=np.ones(3))
    assert [a.dtype for a in mixed] == [np.float64, np.float64]
    t = K._floats("k", x=x32.T)[0]
    assert t.flags.c_contiguous and t.dtype == np.float32 and np.array_equal(t, x32.T)
    assert K._floats("k", x=np.arange(3))[0].dtype == np.float64
    assert K._floats("k", x=[1.0, 2.0])[0].dtype == np.float64
    with pytest.raises(TypeError, match="k: x must be a float array"):
        K._floats("k", x=np.array(["a"]))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_add_is_numpys_sum_for_every_pair(backend):
    """K.add(a, b) == a + b bit for bit, dtype and shape included: large
    same-shape float arrays (the pool's case), small ones, broadcasting,
    mixed dtypes, transposed views, integers, scalars and empty arrays."""
    rng = np.random.default_rng(0)
    big32 = rng.standard_normal((300, 257)).astype(np.float32)    # > PARALLEL_MIN_ELEMENTS, odd size
    big64 = rng.standard_normal((300, 257))
    pairs = [(big32, big32[::-1].copy()), (big64, big64 * 2), (big32[:3], big32[3:6]),
             (big32, big32[0]), (big32, big64), (big32.T, big32.T), (big32[:, :5], big32[:, 5:10]),
             (np.arange(6).reshape(2, 3), np.ones((2, 3), np.int64)), (np.float32(1.5), np.float32(2.0)),
             (np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32))]
    with K.use_backend(backend):
        for a, b in pairs:
            got, want = K.add(a, b), np.add(a, b)
            assert got.dtype == want.dtype and np.shape(got) == np.shape(want)
            np.testing.assert_array_equal(got, want)
