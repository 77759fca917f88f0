"""How scratchnet asks the C allocator to keep freed memory for reuse.

A training step allocates the same arrays every time: activations in the
forward pass, gradients in the backward pass, all freed when the graph is
released.  glibc's ``malloc`` serves arrays above its mmap threshold (128 KiB
at start, raised on the fly up to 32 MiB) with fresh ``mmap`` pages and trims
the top of the heap once more than twice that threshold is free.  At the end
of every step the whole graph is freed at once, the heap is trimmed, and the
next step touches every page of its activations for the first time again:
one page fault per 4 KiB.  Measured on the baby GPT of ``benchmarks/gpt.py``
(B=12, T=64, 4 layers, C=128, float32; ``--step-bench-only`` with and without
``--no-malloc-tuning``): 6,170 page faults and 47.9 ms per step with glibc's
defaults, 11 faults and 36.5 ms per step with the thresholds below.

:func:`keep_freed_memory` raises both thresholds with ``mallopt``:

* ``M_MMAP_THRESHOLD`` = 32 MiB: arrays up to 32 MiB come from the heap and go
  back to it when freed (larger ones are still mapped and unmapped).
* ``M_TRIM_THRESHOLD`` = 256 MiB: up to 256 MiB of free memory at the top of
  the heap stays with the process instead of being returned to the system.

It is called once by ``import scratchnet`` on Linux with glibc. It changes
only the speed of allocation and the resident size of the process, never a
result. ``SCRATCHNET_MALLOC_TUNING=0`` in the environment keeps the system's
defaults. Elsewhere (macOS, musl, Windows) it does nothing.
"""
import ctypes
import os
import sys

MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 256 << 20
_M_TRIM_THRESHOLD = -1     # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

_state = {"tuned": False}


def keep_freed_memory():
    """Raise glibc malloc's mmap and trim thresholds (see the module docstring).
    Returns True if both were set, False if disabled or not on glibc."""
    if os.environ.get("SCRATCHNET_MALLOC_TUNING", "1").strip() == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version        # glibc only: musl's mallopt ignores its arguments
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
    _state["tuned"] = ok
    return ok


def malloc_tuned():
    """Whether :func:`keep_freed_memory` has set glibc's thresholds in this process."""
    return _state["tuned"]
