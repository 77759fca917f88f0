"""MLP 784-512-512-10 (ReLU), batch 128, Adam: ms per training step
(forward + cross-entropy, backward, optimizer step) for scratchnet and PyTorch
in the same run, with the ratio.

    python benchmarks/mlp.py [--steps 30] [--warmup 5] [--rounds 3] [--dtype float32]
                             [--sn-blas-threads N]

On a busy 2-core machine NumPy's OpenBLAS with 2 threads (its default) slowed
down 20-50x (its threads busy-wait for each other when a core is taken);
``--sn-blas-threads 1`` shows scratchnet with single-threaded BLAS.

Each framework runs in its own worker process (``--worker NAME``), and the
workers alternate for ``--rounds`` rounds (``_workers.py`` says why: measured
in one process, the two frameworks' thread pools slowed whichever ran second
by 2-3x here). Every number is the
median over all rounds of ``--steps`` steps, each round after ``--warmup``
unmeasured steps. PyTorch keeps its default thread count. Prints one table;
the PyTorch row is skipped when torch is not installed.
"""
import argparse
import os
import statistics
import time

import numpy as np

from _workers import alternate, emit, frameworks

SIZES = (784, 512, 512, 10)
BATCH = 128
PHASES = ("forward", "backward", "step", "total")


def _data(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], size=BATCH)
    return x, y


def _layer_pairs():
    """(in, out, relu_after) for each Linear layer."""
    return [(a, b, i < len(SIZES) - 2) for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:]))]


def scratchnet_phases(dtype):
    """(forward, backward, step) callables for one scratchnet training step."""
    import scratchnet as sn
    import scratchnet.functional as F
    from scratchnet import nn, optim

    sn.manual_seed(0)
    layers = []
    for a, b, relu in _layer_pairs():
        layers += [nn.Linear(a, b, dtype=dtype)] + ([nn.ReLU()] if relu else [])
    model = nn.Sequential(*layers)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = _data(dtype)
    xt, state = sn.Tensor(x), {}

    def forward():
        opt.zero_grad()
        state["loss"] = F.cross_entropy(model(xt), y)
    return forward, lambda: state.pop("loss").backward(), opt.step


def pytorch_phases(dtype):
    """(forward, backward, step) callables for the same step in PyTorch."""
    import torch

    torch.manual_seed(0)
    layers = []
    for a, b, relu in _layer_pairs():
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if relu else [])
    model = torch.nn.Sequential(*layers).to(getattr(torch, np.dtype(dtype).name))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _data(dtype)
    xt, yt, state = torch.from_numpy(x), torch.from_numpy(y), {}

    def forward():
        opt.zero_grad()
        state["loss"] = torch.nn.functional.cross_entropy(model(xt), yt)
    return forward, lambda: state.pop("loss").backward(), opt.step


FRAMEWORKS = {"scratchnet": scratchnet_phases, "pytorch": pytorch_phases}


def measure(phases, steps, warmup):
    """Per-step times in ms of each phase (and their total), after ``warmup`` steps."""
    times = {p: [] for p in PHASES}
    for i in range(warmup + steps):
        stamps = [time.perf_counter()]
        for phase in phases:
            phase()
            stamps.append(time.perf_counter())
        if i >= warmup:
            for name, t0, t1 in zip(PHASES, stamps, stamps[1:]):
                times[name].append((t1 - t0) * 1e3)
            times["total"].append((stamps[-1] - stamps[0]) * 1e3)
    return times


def _worker(args):
    emit(measure(FRAMEWORKS[args.worker](args.dtype), args.steps, args.warmup))


def _env_for(args):
    def env_for(name):
        env = dict(os.environ)
        if name == "scratchnet" and args.sn_blas_threads:
            env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.sn_blas_threads)
        return env
    return env_for


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--sn-blas-threads", type=int, default=0,
                    help="NumPy BLAS threads for the scratchnet worker (default: NumPy's default)")
    ap.add_argument("--worker", choices=sorted(FRAMEWORKS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args)
    names = frameworks()
    worker_args = ["--steps", args.steps, "--warmup", args.warmup, "--dtype", args.dtype]
    rounds = alternate(__file__, names, args.rounds, worker_args, _env_for(args))
    times = {n: {p: [t for r in rounds[n] for t in r[p]] for p in PHASES} for n in names}
    med = {n: {p: statistics.median(ts) for p, ts in t.items()} for n, t in times.items()}
    print(f"MLP {'-'.join(map(str, SIZES))} ReLU, batch {BATCH}, Adam, {args.dtype}: ms per training step, "
          f"median of {args.rounds} x {args.steps} steps (each round after {args.warmup} warm-up steps); "
          f"scratchnet BLAS threads: {args.sn_blas_threads or 'default'}, PyTorch threads: default")
    print(f"{'framework':<12}" + "".join(f"{p:>10}" for p in PHASES) + f"{'vs torch':>10}{'min total':>11}")
    for name in names:
        ratio = med[name]["total"] / med["pytorch"]["total"] if "pytorch" in med else float("nan")
        print(f"{name:<12}" + "".join(f"{med[name][p]:>10.2f}" for p in PHASES) + f"{ratio:>10.2f}"
              f"{min(times[name]['total']):>11.2f}")
    if "pytorch" not in med:
        print("pytorch     skipped (torch is not installed)")
    else:
        print("vs torch = median total / PyTorch's median total (<= 1: scratchnet is no slower); "
              "min total = fastest single step (least disturbed by other load)")


if __name__ == "__main__":
    main()
