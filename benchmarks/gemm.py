"""The matrix products of one baby-GPT training step, by BLAS.

    python benchmarks/gemm.py [--rounds 3] [--repeat 100]

The baby GPT of ``benchmarks/gpt.py`` (B=12, T=64, C=128, 4 layers, vocab 65,
float32) makes 51 products per training step, all in its Linear layers: for
each of the 17 layers (in -> out) on the N = B*T = 768 rows x (N, in),

    forward   y  = x W^T    (N, in) @ (in, out)
    backward  gx = g W      (N, out) @ (out, in)
              gW = g^T x    (out, N) @ (N, in)

This script times each of the 15 distinct products alone (median of
``--repeat`` calls, operands hot in cache) in:

* scratchnet's ``K.gemm`` as Linear calls it: the output cut into one block
  per thread of Numba's pool, each block one single-threaded call of SciPy's
  OpenBLAS (``kernels/gemm_numba.py``);
* the same SciPy OpenBLAS on one thread, the whole product in one call;
* NumPy's ``np.matmul`` (NumPy's own OpenBLAS, its default thread count);
* PyTorch's ``torch.mm`` on one thread and on its default thread count (its
  CPU build calls Intel MKL), when torch is installed.

Each framework runs in a worker process of its own, the workers taking turns
for ``--rounds`` rounds (``_workers.py`` says why); each cell is the fastest
of the rounds' medians.  The last row weights each product by how often a
training step makes it: the time the step's products would take back to
back.  Ratios are against PyTorch's default-thread column, measured in the
same run.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))          # _workers
from _workers import alternate, emit, frameworks  # noqa: E402

ROWS = 12 * 64                                        # B * T
LAYERS = [(128, 384, 4), (128, 128, 4), (128, 512, 4), (512, 128, 4), (128, 65, 1)]   # (in, out, count)


def products(rng):
    """[(label, count, a, b, trans_a, trans_b)]: the step's distinct products, operands as Linear passes them."""
    cases = []
    for n_in, n_out, count in LAYERS:
        x = rng.standard_normal((ROWS, n_in), dtype=np.float32)
        w = rng.standard_normal((n_out, n_in), dtype=np.float32)
        g = rng.standard_normal((ROWS, n_out), dtype=np.float32)
        layer = f"{n_in}->{n_out}"
        cases += [(f"{layer} y = x W^T", count, x, w, False, True),
                  (f"{layer} gx = g W", count, g, w, False, False),
                  (f"{layer} gW = g^T x", count, g, x, True, False)]
    return cases


def median_us(fn, repeat):
    for _ in range(max(3, repeat // 10)):            # warm-up (and Numba compile)
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def scratchnet_columns(repeat):
    """{column: [us per product]} for scratchnet's pool, SciPy's BLAS on one thread, np.matmul."""
    import numba
    from scratchnet import kernels as K
    from scratchnet.kernels import gemm_numba

    if not gemm_numba.available():
        raise SystemExit("benchmarks/gemm.py: SciPy's OpenBLAS thread count cannot be set here "
                         "(K.gemm then calls np.matmul): nothing to compare")
    cols = {f"K.gemm ({numba.get_num_threads()} threads)": [], "SciPy BLAS, 1 thread": [], "np.matmul": []}
    for _, _, a, b, ta, tb in products(np.random.default_rng(0)):
        ops = (a.T if ta else a, b.T if tb else b)
        calls = (lambda: K.gemm(a, b, ta, tb),
                 lambda: gemm_numba.gemm(a, b, ta, tb, nblocks=1),
                 lambda: np.matmul(*ops))
        for col, call in zip(cols, calls):
            time.sleep(0.05)                          # let NumPy's BLAS workers go idle
            cols[col].append(median_us(call, repeat))
    return cols


def pytorch_columns(repeat):
    """{column: [us per product]} for torch.mm on one thread and on torch's default count."""
    import torch
    default = torch.get_num_threads()
    cases = [(torch.from_numpy(a), torch.from_numpy(b), ta, tb)
             for _, _, a, b, ta, tb in products(np.random.default_rng(0))]
    cols = {}
    for threads in (1, default):
        torch.set_num_threads(threads)
        col = f"torch.mm ({threads} thread{'s' if threads > 1 else ''})"
        cols[col] = [median_us(lambda: torch.mm(a.t() if ta else a, b.t() if tb else b), repeat)
                     for a, b, ta, tb in cases]
    torch.set_num_threads(default)
    return cols


def _worker(name, repeat):
    emit(scratchnet_columns(repeat) if name == "scratchnet" else pytorch_columns(repeat))


def table(results):
    """Print the per-product table and the weighted per-step totals; returns {column: step ms}."""
    cols = {}
    for runs in results.values():
        for col in runs[0]:
            cols[col] = [min(r[col][i] for r in runs) for i in range(len(runs[0][col]))]
    cases = products(np.random.default_rng(0))
    base = next((c for c in reversed(list(cols)) if c.startswith("torch.mm")), None)
    print(f"the {sum(c[1] for c in cases)} matrix products of one baby-GPT training step (float32, N = {ROWS} "
          f"rows); us per call, fastest of the rounds' medians"
          + (f"; ratio = column / {base}" if base else ""))
    print(f"{'product':<24}{'count':>6}" + "".join(f"{c:>24}" for c in cols))
    for i, (label, count, *_rest) in enumerate(cases):
        print(f"{label:<24}{count:>6}" + "".join(f"{cols[c][i]:>24.1f}" for c in cols))
    totals = {c: sum(case[1] * us for case, us in zip(cases, v)) / 1e3 for c, v in cols.items()}
    print(f"{'step total (ms)':<30}" + "".join(f"{totals[c]:>24.2f}" for c in cols))
    if base:
        print(f"{'ratio':<30}" + "".join(f"{totals[c] / totals[base]:>23.2f}x" for c in cols))
    return totals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="turns each framework's process takes")
    ap.add_argument("--repeat", type=int, default=100, help="timed calls per product and column")
    ap.add_argument("--worker", choices=["scratchnet", "pytorch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.repeat)
    return table(alternate(__file__, frameworks(), args.rounds, ["--repeat", args.repeat]))


if __name__ == "__main__":
    main()
