"""Shared helpers of the reliability tests (issue 9).

``outcome(names, fn, *args)`` runs one public call and enforces the contract
for bad input: the call either returns, or raises ValueError/TypeError/
IndexError whose message names the op or layer (one of ``names``). Any other
exception (ZeroDivisionError, FloatingPointError, a Numba error...) is
re-raised as a test failure. ``layout(a, kind)`` gives the same values as a
C-contiguous, transposed, strided, read-only or broadcast view.
"""
import os
import sys

import numpy as np

ALLOWED = (ValueError, TypeError, IndexError)
LAYOUTS = ("c", "transposed", "strided", "readonly", "broadcast")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Rejected:
    """The call refused its input with an allowed, well-named error."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return f"Rejected({type(self.error).__name__}: {self.error})"


def outcome(names, fn, *args, **kwargs):
    """The result of ``fn(*args, **kwargs)``, or ``Rejected`` for a clear error."""
    names = (names,) if isinstance(names, str) else tuple(names)
    try:
        return fn(*args, **kwargs)
    except ALLOWED as e:
        message = str(e)
        assert any(n.lower() in message.lower() for n in names), (
            f"{type(e).__name__} does not name the op ({' / '.join(names)}): {message!r}")
        return Rejected(e)


def layout(a, kind):
    """``a``'s values with another memory layout (the kernels must not care)."""
    a = np.asarray(a)
    if kind == "c" or a.ndim == 0:
        return a
    if kind == "transposed":
        return np.ascontiguousarray(a.T).T                       # same values, Fortran order
    if kind == "strided":
        big = np.repeat(a, 2, axis=-1)                            # (..., 2n)
        return big[..., ::2]                                      # (..., n) view with stride 2
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind == "broadcast":
        if a.shape[0] == 0:
            return a
        return np.broadcast_to(a[:1], a.shape)                    # read-only, zero stride on axis 0
    raise ValueError(kind)


def assert_close(actual, expected, dtype, what=""):
    """Compare to a float64 reference with a tolerance fitted to ``dtype``."""
    tol = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 2e-4}.get(np.dtype(dtype), 2e-3)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=tol, atol=tol,
                               equal_nan=True, err_msg=what)


def subprocess_env(**extra):
    """Environment for a child ``python``: the repo importable, one shared Numba cache."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("NUMBA_CACHE_DIR", os.path.join(_cache_root(), "numba"))
    env.pop("SCRATCHNET_DEBUG", None)
    env.update(extra)
    return env


def _cache_root():
    import tempfile
    root = os.path.join(tempfile.gettempdir(), f"scratchnet-reliability-{os.getuid()}")
    os.makedirs(root, exist_ok=True)
    return root


def write_text_corpus(path, n_words=1500, seed=0):
    """A small UTF-8 text (with a few non-ASCII letters) for CLI training."""
    rng = np.random.default_rng(seed)
    words = "the quick brown fox jumps over lazy dog naïve café and then more words here".split()
    text = " ".join(words[i] for i in rng.integers(0, len(words), n_words)) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


PYTHON = sys.executable
