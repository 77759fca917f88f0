"""Cold and warm first-call time of every Numba kernel.

    python benchmarks/compile_time.py [--dtype float32|float64|both]

Runs two fresh subprocesses sharing a brand-new NUMBA_CACHE_DIR (a temp
directory): the first compiles every kernel from scratch (cold), the second
loads them from the on-disk cache (warm).  Each subprocess times the first
call of each kernel through the dispatcher and reports it; the table prints
both columns.  The thread count follows NUMBA_NUM_THREADS (not overridden).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import scratchnet.kernels as K
from scratchnet.kernels import numba_cpu
times = {"import numba_cpu": time.perf_counter() - t0}
dtypes = sys.argv[1].split(",")
rng = np.random.default_rng(0)
def timed(name, fn):
    t = time.perf_counter(); fn(); times[name] = times.get(name, 0) + time.perf_counter() - t
with K.use_backend("numba"):
    for dt in dtypes:
        dt = np.dtype(dt)
        x = rng.standard_normal((6, 5)).astype(dt)
        g = rng.standard_normal((6, 5)).astype(dt)
        q = rng.standard_normal((1, 2, 3, 4)).astype(dt)
        timed("softmax", lambda: K.softmax(x))
        timed("softmax_backward", lambda: K.softmax_backward(x, g))
        timed("log_softmax", lambda: K.log_softmax(x))
        timed("log_softmax_backward", lambda: K.log_softmax_backward(x, g))
        timed("cross_entropy", lambda: K.cross_entropy(x, np.arange(6) % 5))
        res = {}
        timed("attention", lambda: res.setdefault("a", K.attention(q, q, q, is_causal=True)))
        timed("attention_backward", lambda: K.attention_backward(q, q, q, None, True, None, *res["a"], q))
        ln = {}
        timed("layer_norm", lambda: ln.setdefault("y", K.layer_norm(x, x[0], x[1], 1e-5)))
        timed("layer_norm_backward", lambda: K.layer_norm_backward(g, x, x[0], *ln["y"][1:]))
        timed("gelu", lambda: K.gelu(x))
        timed("gelu_backward", lambda: K.gelu_backward(x, g))
        a3 = rng.standard_normal((4, 3, 2)).astype(dt)
        timed("matmul (numba loop)", lambda: numba_cpu.matmul(a3, a3.transpose(0, 2, 1).copy()))
        qkv = rng.standard_normal((1, 3, 12)).astype(dt)
        pk = {}
        timed("packed_attention", lambda: pk.setdefault("a", K.packed_attention(qkv, 2, True)))
        timed("packed_attention_backward",
              lambda: K.packed_attention_backward(qkv, 2, True, None, *pk["a"], pk["a"][0]))
    # the thread-pool builds: every kernel above again with its parallel build,
    # and the products on the pool (gemm cut by output or by inner dimension, the
    # paired linear gradients, batched matmul; for float32 tiles.product with them), K.add
    numba_cpu.PARALLEL_MIN_ELEMENTS, numba_cpu.POOL_GEMM_MIN_MNK = 0, 0
    for dt in dtypes:
        dt = np.dtype(dt)
        x = rng.standard_normal((6, 5)).astype(dt)
        g = rng.standard_normal((6, 5)).astype(dt)
        q = rng.standard_normal((1, 2, 3, 4)).astype(dt)
        qkv = rng.standard_normal((1, 3, 12)).astype(dt)
        a3 = rng.standard_normal((4, 3, 2)).astype(dt)
        def parallel_builds():
            K.softmax_backward(K.softmax(x), g), K.log_softmax_backward(K.log_softmax(x), g)
            K.cross_entropy(x, np.arange(6) % 5)
            K.attention_backward(q, q, q, None, True, None, *K.attention(q, q, q, is_causal=True), q)
            K.packed_attention_backward(qkv, 2, True, None, *K.packed_attention(qkv, 2, True), qkv[..., :4])
            y, mean, rstd = K.layer_norm(x, x[0], x[1], 1e-5)
            K.layer_norm_backward(g, x, x[0], mean, rstd)
            K.gelu_backward(x, g, "none", K.gelu(x)), K.gelu_backward(x, g)
        timed("parallel builds (all above)", parallel_builds)
        timed("gemm / matmul (thread pool)",
              lambda: (K.gemm(x, g, trans_a=True),                          # output cut in blocks
                       K.gemm(x[:, :2].copy(), g[:, :2].copy(), trans_a=True),  # inner dimension cut
                       K.linear_grads(g, x[:5], x),                             # the paired gradients
                       K.add(x, g),
                       K.matmul(a3, a3.transpose(0, 2, 1))))   # float32: with tiles.product
print(json.dumps(times))
"""


def run(cache_dir, dtypes):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, dtypes], env=env, cwd=ROOT,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1]), wall


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "both"])
    args = p.parse_args()
    dtypes = "float32,float64" if args.dtype == "both" else args.dtype
    with tempfile.TemporaryDirectory(prefix="scratchnet-numba-cache-") as cache:
        cold, cold_wall = run(cache, dtypes)
        warm, warm_wall = run(cache, dtypes)
    print(f"dtypes {dtypes}, NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    print(f"{'kernel (first call)':<30} {'cold s':>8} {'warm s':>8}")
    print("-" * 48)
    for name in cold:
        print(f"{name:<30} {cold[name]:8.3f} {warm[name]:8.3f}")
    print("-" * 48)
    print(f"{'total (all kernels)':<30} {sum(cold.values()):8.3f} {sum(warm.values()):8.3f}")
    print(f"{'subprocess wall':<30} {cold_wall:8.3f} {warm_wall:8.3f}")


if __name__ == "__main__":
    main()
