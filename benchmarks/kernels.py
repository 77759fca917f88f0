"""Kernel benchmark: NumPy reference vs Numba (vs PyTorch when installed).

    python benchmarks/kernels.py [--dtype float32] [--repeat 15] [--only NAME]
                                 [--stat median|min] [--torch-threads N]
                                 [--matmul-sweep]

Prints one table: kernel, shape, NumPy-reference ms, Numba ms, ratio
(reference / Numba: > 1 means Numba is faster), PyTorch ms (the column is left
out when torch is absent).  Every number is forward + backward, the median of
``--repeat`` runs after a warm-up call (which also compiles the Numba kernels),
all measured in this one run.  The NumPy and Numba columns both go through
the dispatcher (``scratchnet.kernels``) with ``use_backend``; PyTorch runs the
same computation with autograd (forward, then ``backward`` with the same
upstream gradient), with its default thread count, in a worker process of its
own after scratchnet's columns (``_workers.py`` says why).

On a shared 2-core machine the numbers swing with the load (other
processes, OpenBLAS / OpenMP threads spinning): run it 2-3 times, and
``--stat min`` (the fastest of the runs) is steadier than the median.
``--torch-threads`` sets PyTorch's intra-op threads (its default is every
core; scratchnet's small kernels run on one thread).  Set
OPENBLAS_NUM_THREADS=1 in the environment to keep NumPy's BLAS threads from
competing with Numba's.

``--matmul-sweep`` prints the np.matmul vs Numba table for batched products
that sets the thresholds in ``scratchnet/kernels/__init__.py``.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from _workers import emit, run_worker  # noqa: E402
import scratchnet.kernels as K  # noqa: E402
from scratchnet.kernels import numba_cpu, reference  # noqa: E402

try:
    import torch
    import torch.nn.functional as TF
except ImportError:          # the torch column is skipped
    torch = None


STAT = statistics.median


def timeit(fn, repeat):
    fn()                                  # warm-up (and Numba compile)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return STAT(times) * 1e3


# NumPy's OpenBLAS workers keep spinning for up to ~0.1 s after a product of
# the NumPy reference; Numba's thread pool, on which scratchnet's kernels and
# products run, then waits for time slices (measured: a 768x128 @ 128x512
# product plus a layer norm took 0.48 ms alone, 1.1-6.4 ms within 50 ms after
# an np.matmul).  So the Numba column is measured first, after a pause.
SETTLE_S = 0.25


def both(fn, repeat):
    time.sleep(SETTLE_S)
    with K.use_backend("numba"):
        nb = timeit(fn, repeat)
    with K.use_backend("numpy"):
        ref = timeit(fn, repeat)
    return ref, nb


# ----------------------------------------------------------------------------
# one case per kernel: returns (ours, torch_fn or None)
# ----------------------------------------------------------------------------
def case_matmul(rng, dtype, T, M, Kd, N):
    a = rng.standard_normal((T, M, Kd)).astype(dtype)
    b = rng.standard_normal((T, Kd, N)).astype(dtype)
    g = rng.standard_normal((T, M, N)).astype(dtype)

    def ours():
        K.matmul(a, b)
        K.matmul_backward(a, b, g)

    def theirs():
        ta = torch.from_numpy(a).requires_grad_()
        tb = torch.from_numpy(b).requires_grad_()
        torch.matmul(ta, tb).backward(torch.from_numpy(g))
    return ours, theirs


def case_softmax(rng, dtype, shape, log=False):
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    fwd, bwd = (K.log_softmax, K.log_softmax_backward) if log else (K.softmax, K.softmax_backward)
    tfn = torch.log_softmax if (torch and log) else (torch.softmax if torch else None)

    def ours():
        bwd(fwd(x), g)

    def theirs():
        tx = torch.from_numpy(x).requires_grad_()
        tfn(tx, -1).backward(torch.from_numpy(g))
    return ours, theirs


def case_cross_entropy(rng, dtype, N, C):
    x = (rng.standard_normal((N, C)) * 3).astype(dtype)
    t = rng.integers(0, C, N)

    def ours():
        K.cross_entropy(x, t)

    def theirs():
        tx = torch.from_numpy(x).requires_grad_()
        TF.cross_entropy(tx, torch.from_numpy(t)).backward()
    return ours, theirs


def case_attention(rng, dtype, B, H, L, D):
    q, k, v, g = (rng.standard_normal((B, H, L, D)).astype(dtype) for _ in range(4))

    def ours():
        out, lse = K.attention(q, k, v, is_causal=True)
        K.attention_backward(q, k, v, None, True, None, out, lse, g)

    def theirs():
        tq, tk, tv = (torch.from_numpy(z).requires_grad_() for z in (q, k, v))
        TF.scaled_dot_product_attention(tq, tk, tv, is_causal=True).backward(torch.from_numpy(g))
    return ours, theirs


def case_layer_norm(rng, dtype, N, D):
    x, g = (rng.standard_normal((N, D)).astype(dtype) for _ in range(2))
    w, b = (rng.standard_normal(D).astype(dtype) for _ in range(2))

    def ours():
        y, mean, rstd = K.layer_norm(x, w, b, 1e-5)
        K.layer_norm_backward(g, x, w, mean, rstd)

    def theirs():
        tx, tw, tb = (torch.from_numpy(z).requires_grad_() for z in (x, w, b))
        TF.layer_norm(tx, (D,), tw, tb, 1e-5).backward(torch.from_numpy(g))
    return ours, theirs


def case_gelu(rng, dtype, N, D, approximate="none"):
    x, g = (rng.standard_normal((N, D)).astype(dtype) for _ in range(2))

    def ours():
        y = K.gelu(x, approximate)
        K.gelu_backward(x, g, approximate, y)          # as the op does: Phi(x) = y / x

    def theirs():
        tx = torch.from_numpy(x).requires_grad_()
        TF.gelu(tx, approximate=approximate).backward(torch.from_numpy(g))
    return ours, theirs


def cases(rng, dtype):
    B, H, L, D, C, V = 12, 4, 64, 32, 128, 65           # baby GPT
    yield "matmul (batched)", f"{B * H}x({L}x{D} @ {D}x{L})", case_matmul(rng, dtype, B * H, L, D, L)
    yield "matmul (2-D, BLAS)", f"{B * L}x{C} @ {C}x{4 * C}", case_matmul(rng, dtype, 1, B * L, C, 4 * C)
    yield "softmax", f"({B},{H},{L},{L})", case_softmax(rng, dtype, (B, H, L, L))
    yield "log_softmax", f"({B},{H},{L},{L})", case_softmax(rng, dtype, (B, H, L, L), log=True)
    yield "cross_entropy", f"({B * L},{V})", case_cross_entropy(rng, dtype, B * L, V)
    yield "attention causal", f"({B},{H},{L},{D})", case_attention(rng, dtype, B, H, L, D)
    yield "layer_norm", f"({B * L},{C})", case_layer_norm(rng, dtype, B * L, C)
    yield "gelu", f"({B * L},{C})", case_gelu(rng, dtype, B * L, C)
    yield "gelu tanh", f"({B * L},{C})", case_gelu(rng, dtype, B * L, C, "tanh")
    B, H, L, D, V = 4, 8, 512, 64, 50257                 # larger
    C = H * D
    yield "matmul (batched)", f"{B * H}x({L}x{D} @ {D}x{L})", case_matmul(rng, dtype, B * H, L, D, L)
    yield "softmax", f"({B},{H},{L},{L})", case_softmax(rng, dtype, (B, H, L, L))
    yield "log_softmax", f"({B},{H},{L},{L})", case_softmax(rng, dtype, (B, H, L, L), log=True)
    yield "cross_entropy", f"({B * L},{V})", case_cross_entropy(rng, dtype, B * L, V)
    yield "attention causal", f"({B},{H},{L},{D})", case_attention(rng, dtype, B, H, L, D)
    yield "layer_norm", f"({B * L},{C})", case_layer_norm(rng, dtype, B * L, C)
    yield "gelu", f"({B * L},{C})", case_gelu(rng, dtype, B * L, C)


def matmul_sweep(dtype, repeat):
    """np.matmul vs the Numba batched loop (forward only): sets _use_numba_matmul."""
    rng = np.random.default_rng(0)
    print(f"{'T x (M x K @ K x N)':>24} {'np.matmul ms':>13} {'numba ms':>9} {'ratio':>6}")
    for T, M, Kd, N in [(48, 64, 32, 64), (48, 64, 64, 64), (2, 64, 32, 64), (4, 64, 32, 64),
                        (8, 64, 32, 64), (48, 16, 16, 16), (48, 128, 64, 128),
                        (48, 96, 96, 96), (32, 512, 64, 512), (32, 128, 128, 128),
                        (1, 768, 128, 512)]:
        a = rng.standard_normal((T, M, Kd)).astype(dtype)
        b = rng.standard_normal((T, Kd, N)).astype(dtype)
        t_np = timeit(lambda: np.matmul(a, b), repeat)
        t_nb = timeit(lambda: numba_cpu.matmul(a, b), repeat)
        print(f"{f'{T}x({M}x{Kd} @ {Kd}x{N})':>24} {t_np:13.3f} {t_nb:9.3f} {t_np / t_nb:6.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--only", default=None, help="run only kernels whose name contains this")
    p.add_argument("--matmul-sweep", action="store_true")
    p.add_argument("--stat", default="median", choices=["median", "min"])
    p.add_argument("--torch-threads", type=int, default=None)
    p.add_argument("--worker", choices=["pytorch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    global STAT
    STAT = min if args.stat == "min" else statistics.median
    if torch is not None and args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    dtype = np.dtype(args.dtype).type
    if args.matmul_sweep:
        matmul_sweep(dtype, args.repeat)
        return
    if args.worker:                                  # the PyTorch column, in its own process
        torch.set_grad_enabled(True)
        return emit({f"{name} {shape}": timeit(theirs, _repeat(args.repeat, shape))
                     for name, shape, (_, theirs) in _selected(cases(np.random.default_rng(0), dtype), args.only)})
    print(f"dtype {args.dtype}, {args.stat} of {args.repeat}, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}; "
          f"PyTorch in its own process, threads={args.torch_threads or 'default'}")
    rows = [(name, shape) + both(ours, _repeat(args.repeat, shape))
            for name, shape, (ours, _) in _selected(cases(np.random.default_rng(0), dtype), args.only)]
    theirs = _torch_column(args) if torch is not None else None
    head = f"{'kernel (fwd+bwd)':<20} {'shape':<26} {'numpy-ref ms':>12} {'numba ms':>9} {'ratio':>6}"
    if theirs is not None:
        head += f" {'torch ms':>9} {'numba/torch':>11}"
    print(head)
    print("-" * len(head))
    for name, shape, ref, nb in rows:
        line = f"{name:<20} {shape:<26} {ref:12.3f} {nb:9.3f} {ref / nb:6.2f}"
        if theirs is not None:
            tt = theirs[f"{name} {shape}"]
            line += f" {tt:9.3f} {nb / tt:11.2f}"
        print(line, flush=True)


def _repeat(repeat, shape):
    """Fewer repeats for the large shapes."""
    return repeat if "50257" not in shape and "512" not in shape else max(3, repeat // 3)


def _selected(all_cases, only):
    """The cases whose name contains ``only``, lazily: each case's arrays are freed
    once it has been measured (the large cross-entropy alone holds 400 MB)."""
    return (c for c in all_cases if not only or only in c[0])


def _torch_column(args):
    """{"name shape": ms} measured by a worker process (see _workers.py)."""
    worker_args = ["--dtype", args.dtype, "--repeat", args.repeat, "--stat", args.stat]
    worker_args += (["--only", args.only] if args.only else []) + \
        (["--torch-threads", args.torch_threads] if args.torch_threads else [])
    return run_worker(__file__, "pytorch", worker_args)


if __name__ == "__main__":
    main()
