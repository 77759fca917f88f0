"""``scratchnet gradcheck`` and ``scratchnet bench``.

gradcheck: every registered op on every sample, and a small instance of
every layer, against finite differences in float64; one table row each.
bench: runs the scripts in ``benchmarks/`` (present in a source checkout).
"""
import os
import subprocess
import sys
import time

import numpy as np

from ..autograd.gradcheck import gradcheck, jacobian_errors
from ..random import manual_seed
from ..tensor import Tensor


def _layer_cases():
    """(name, module, input array) for small float64 instances of each layer."""
    from .. import nn
    r = np.random.default_rng(0)
    x = lambda *s: r.standard_normal(s)          # noqa: E731
    cases = [
        ("Linear", nn.Linear(3, 2), x(2, 3)),
        ("LayerNorm", nn.LayerNorm(4), x(2, 4)),
        ("GELU", nn.GELU(), x(2, 3)),
        ("Softmax", nn.Softmax(axis=-1), x(2, 3)),
    ]
    for cell in ("RNN", "LSTM", "GRU"):
        for path in ("fused", "composed"):
            cases.append((f"{cell} ({path}, bidirectional)",
                          getattr(nn, cell)(3, 2, bidirectional=True, path=path), x(3, 2, 3)))
    cases.append(("MultiheadAttention", _first_output(nn.MultiheadAttention(4, 2)), x(3, 2, 4)))
    cases.append(("TransformerEncoderLayer", nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0),
                  x(3, 2, 4)))
    return cases


class _first_output:
    """Self-attention with the first returned value only (for gradcheck)."""

    def __init__(self, mha):
        self.mha = mha

    def double(self):
        self.mha.double()
        return self

    def parameters(self):
        return self.mha.parameters()

    def __call__(self, q):
        return self.mha(q, q, q)[0]


def _layer_fn(module):
    params = list(module.parameters())

    def fn(inp, *ps):
        out = module(inp)
        if isinstance(out, tuple):
            out = out[0]
        return out

    return fn, params


def gradcheck_table(fast=False, print_fn=print):
    """Print op/layer, max abs error, max rel error, pass; return True if all pass."""
    from ..ops import registry
    import importlib
    import pkgutil
    from .. import ops
    for mod in pkgutil.iter_modules(ops.__path__):
        importlib.import_module(f"{ops.__name__}.{mod.name}")
    rows = []
    rng = np.random.default_rng(0)
    for name, entry in sorted(registry.REGISTRY.items()):
        for sample in entry.make_samples(rng):
            fn, tensors = entry.checkable(sample)
            rows.append(_check_row(f"{name} [{sample.name}]", fn, tensors, sample.check, fast))
    manual_seed(0)
    for name, module, x in _layer_cases():
        module = module.double()
        fn, params = _layer_fn(module)
        inputs = [Tensor(x, requires_grad=True)] + params
        rows.append(_check_row(name, fn, inputs, {}, fast))
    width = max(len(r[0]) for r in rows)
    print_fn(f"{'op / layer':<{width}}  {'max abs err':>11}  {'max rel err':>11}  pass")
    for name, abs_err, rel_err, ok in rows:
        print_fn(f"{name:<{width}}  {abs_err:11.2e}  {rel_err:11.2e}  {'yes' if ok else 'NO'}")
    failed = [r[0] for r in rows if not r[3]]
    print_fn(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return not failed


def _check_row(name, fn, tensors, check, fast):
    eps = check.get("eps", 1e-6)
    abs_err, rel_err = jacobian_errors(fn, tensors, eps=eps)
    ok = gradcheck(fn, tensors, raise_exception=False, fast_mode=fast, **check)
    return name, abs_err, rel_err, ok


BENCHMARKS = {"overhead": "overhead.py", "kernels": "kernels.py", "mlp": "mlp.py",
              "recurrent": "recurrent.py", "gpt-step": "gpt.py"}


def run_benchmarks(names, compile_times=False, print_fn=print):
    """Run benchmark scripts from the source tree's ``benchmarks/`` folder."""
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no benchmarks folder at {root}: run `scratchnet bench` from a source checkout")
    names = names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    jobs = [[os.path.join(root, BENCHMARKS[n])] + (["--step-bench-only"] if n == "gpt-step" else []) for n in names]
    if compile_times:
        jobs.insert(0, [os.path.join(root, "compile_time.py")])
    status = 0
    for job in jobs:
        print_fn(f"== {os.path.basename(job[0])} ==")
        start = time.perf_counter()
        status |= subprocess.call([sys.executable] + job)
        print_fn(f"({time.perf_counter() - start:.1f} s)")
    return status
