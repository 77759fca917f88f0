"""Per-op overhead of the autograd engine.

Times one tiny op (4x4 add) and a 64x64 matmul, forward + backward through
scratchnet, against the same arithmetic in bare NumPy (forward and the
hand-written backward), all in one run. The difference is what recording a
node and walking the graph costs.

    python benchmarks/overhead.py
"""
import timeit

import numpy as np

import scratchnet as sn


def _best_us(fn, number):
    times = timeit.repeat(fn, number=number, repeat=7)
    return min(times) / number * 1e6


def bench_add(n):
    a_np = np.ones((n, n), np.float32)
    b_np = np.ones((n, n), np.float32)
    a = sn.tensor(a_np, requires_grad=True)
    b = sn.tensor(b_np, requires_grad=True)
    g = np.ones((n, n), np.float32)

    def numpy_step():
        y = a_np + b_np
        return y, g.copy(), g.copy()

    def sn_step():
        a.grad = b.grad = None
        (a + b).backward(g)

    def sn_forward():
        return a + b

    return numpy_step, sn_step, sn_forward


def bench_matmul(n):
    r = np.random.default_rng(0)
    a_np = r.standard_normal((n, n)).astype(np.float32)
    b_np = r.standard_normal((n, n)).astype(np.float32)
    a = sn.tensor(a_np, requires_grad=True)
    b = sn.tensor(b_np, requires_grad=True)
    g = np.ones((n, n), np.float32)

    def numpy_step():
        y = a_np @ b_np
        return y, g @ b_np.T, a_np.T @ g

    def sn_step():
        a.grad = b.grad = None
        (a @ b).backward(g)

    def sn_forward():
        return a @ b

    return numpy_step, sn_step, sn_forward


def main():
    rows = []
    for name, make in (("add 4x4", lambda: bench_add(4)), ("matmul 64x64", lambda: bench_matmul(64))):
        numpy_step, sn_step, sn_forward = make()
        sn_step()  # warm up (kernel compilation)
        np_us = _best_us(numpy_step, 2000)
        sn_us = _best_us(sn_step, 2000)
        fwd_us = _best_us(sn_forward, 2000)
        with sn.no_grad():
            nograd_us = _best_us(sn_forward, 2000)
        rows.append((name, np_us, sn_us, sn_us - np_us, fwd_us, nograd_us))
    header = ("op (fwd+bwd)", "NumPy us", "scratchnet us", "overhead us", "sn fwd us", "sn fwd no_grad us")
    print("  ".join(f"{h:>18}" for h in header))
    for r in rows:
        print(f"{r[0]:>18}  " + "  ".join(f"{v:18.2f}" for v in r[1:]))
    print(f"kernel backend: {sn.kernels.backend() if hasattr(sn, 'kernels') else 'n/a'}")


if __name__ == "__main__":
    main()
