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
from scratchnet import nn

SIZES = (784, 512, 512, 10)
BATCH = 128


def _mlp_sn(dtype):
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _cross_entropy(logits, y):
    if hasattr(F, "cross_entropy"):
        return F.cross_entropy(logits, y)
    logp = F.log_softmax(logits, axis=-1)
    return -logp[np.arange(len(y)), y].mean()       # composed fallback


class _InlineAdam:
    """Adam (PyTorch's update) used only until scratchnet.optim lands."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, m, v in zip(self.params, self.m, self.v):
            g, tmp = p.grad, np.empty_like(p.data)
            m *= b1
            m += np.multiply(g, 1 - b1, out=tmp)              # m = b1 m + (1 - b1) g
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp                                          # v = b2 v + (1 - b2) g^2
            np.sqrt(v, out=tmp)
            tmp *= 1 / np.sqrt(c2)
            tmp += self.eps                                   # sqrt(v / c2) + eps
            np.divide(m, tmp, out=tmp)
            tmp *= self.lr / c1
            p.data -= tmp


def _adam(params):
    try:
        from scratchnet import optim
        return optim.Adam(params, lr=1e-3), "scratchnet.optim.Adam"
    except (ImportError, AttributeError):
        return _InlineAdam(params, lr=1e-3), "inline Adam (scratchnet.optim missing)"


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
    """One training step of the scratchnet MLP (and the optimizer's name)."""
    sn.manual_seed(0)
    model = _mlp_sn(dtype)
    opt, name = _adam(model.parameters())
    xt = sn.Tensor(x)

    def step():
        opt.zero_grad()
        loss = _cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
    return step, name


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
    sn_step, opt_name = scratchnet_step(x, y, args.dtype)
    torch_result = torch_step(x, y, args.dtype)
    steps = {"scratchnet": sn_step}
    if torch_result is not None:
        steps["pytorch"] = torch_result[0]
    ms = _interleaved_medians(steps, args.steps, args.warmup)
    ms_sn = ms["scratchnet"]
    print(f"MLP {'-'.join(map(str, SIZES))} ReLU, batch {BATCH}, Adam, {args.dtype}, "
          f"median of {args.steps} steps after {args.warmup} warm-up (kernels: {sn.kernels.backend()}; {opt_name})")
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
