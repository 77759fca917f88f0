"""MLP 784-512-512-10 (ReLU), batch 128, Adam: ms per training step
(forward, cross-entropy, backward, optimizer step) for scratchnet and PyTorch,
measured in the same run, median of ``--steps`` steps after ``--warmup``.

    python benchmarks/mlp.py [--steps 30] [--warmup 5] [--dtype float32]

Prints one table; the PyTorch row is skipped when torch is not installed.
"""
import argparse
import statistics
import time

import numpy as np

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn, optim

SIZES = (784, 512, 512, 10)
BATCH = 128


def _mlp_sn(dtype):
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _interleaved_medians(steps_by_name, steps, warmup, block=5):
    """Median ms per step of each step function, measured in alternating blocks
    of ``block`` steps (each block led by one unmeasured step) so that both
    frameworks see the same machine load and neither pays for the other's
    BLAS/OpenMP threads still spinning down."""
    for step in steps_by_name.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps_by_name}
    while min(len(t) for t in times.values()) < steps:
        for name, step in steps_by_name.items():
            step()
            for _ in range(block):
                t0 = time.perf_counter()
                step()
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(t[:steps]) for name, t in times.items()}


def scratchnet_step(x, y, dtype):
    """One training step of the scratchnet MLP."""
    sn.manual_seed(0)
    model = _mlp_sn(dtype)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xt = sn.Tensor(x)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
    return step


def torch_step(x, y, dtype):
    """One training step of the same MLP in PyTorch, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(getattr(torch, np.dtype(dtype).name))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    return step, torch.get_num_threads()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(args.dtype)
    y = rng.integers(0, SIZES[-1], size=BATCH)
    sn_step = scratchnet_step(x, y, args.dtype)
    torch_result = torch_step(x, y, args.dtype)
    steps = {"scratchnet": sn_step}
    if torch_result is not None:
        steps["pytorch"] = torch_result[0]
    ms = _interleaved_medians(steps, args.steps, args.warmup)
    ms_sn = ms["scratchnet"]
    print(f"MLP {'-'.join(map(str, SIZES))} ReLU, batch {BATCH}, Adam, {args.dtype}, "
          f"median of {args.steps} steps after {args.warmup} warm-up (kernels: {sn.kernels.backend()})")
    print(f"{'framework':<12}{'ms/step':>10}{'ratio':>10}")
    print(f"{'scratchnet':<12}{ms_sn:>10.2f}{1.0:>10.2f}")
    if torch_result is None:
        print(f"{'pytorch':<12}{'skipped (torch not installed)':>20}")
    else:
        ms_t, threads = ms["pytorch"], torch_result[1]
        print(f"{'pytorch':<12}{ms_t:>10.2f}{ms_t / ms_sn:>10.2f}   ({threads} threads)")
        print(f"scratchnet / pytorch time: {ms_sn / ms_t:.2f} (<= 1 means scratchnet is no slower)")


if __name__ == "__main__":
    main()
