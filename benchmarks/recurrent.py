"""Character-LM training step with a recurrent layer: scratchnet (fused and
composed paths) against PyTorch, in the same run.

    python benchmarks/recurrent.py [--reps 10] [--cells lstm,gru,rnn] [--dtype float32] [--threads N]

The step: embedding 64 -> one recurrent layer (hidden 256) -> linear to the
vocabulary (65) -> cross-entropy over all B*T positions -> backward -> Adam.
Batch 32, sequence 64.  Each framework runs in its own worker process, the
two taking turns for ``--rounds`` rounds (``_workers.py`` says why); within a
round each entry is the median of ``--reps`` timed steps after 3 warm-up
steps (Numba compiles during the warm-up), scratchnet's fused and composed
paths taking turns step by step; the table gives the median over the
rounds.  GFLOP/s counts
the matrix products only (forward + backward = 3x the forward):
input projection 2*T*B*E*G*H, recurrence 2*T*B*H*G*H, head 2*T*B*H*V.
Prints one table; the ratio is (ms per step) / (PyTorch's ms per step).
``--threads N`` gives OpenBLAS (NumPy) and PyTorch N threads each (set
before NumPy is imported); on a machine shared with other jobs, multi-threaded
BLAS degrades badly and 1 thread gives the steadier comparison.
"""
import argparse
import os
import statistics
import sys
import time

if __name__ == "__main__" and "--threads" in sys.argv:     # before NumPy loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]
    os.environ["NUMBA_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np                          # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from _workers import alternate, emit, frameworks   # noqa: E402
import scratchnet as sn                     # noqa: E402
import scratchnet.functional as F           # noqa: E402
from scratchnet import nn, optim            # noqa: E402

V, E, H, B, T = 65, 64, 256, 32, 64
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def flops(cell):
    G = GATES[cell]
    forward = 2 * T * B * (E * G * H + H * G * H + H * V)
    return 3 * forward


def _round_robin_ms(steps, reps):
    """Median ms per call of each function in ``steps``, timed in turns."""
    for step in steps:
        for _ in range(3):
            step()
    times = [[] for _ in steps]
    for _ in range(reps):
        for k, step in enumerate(steps):
            t0 = time.perf_counter()
            step()
            times[k].append(time.perf_counter() - t0)
    return [1e3 * statistics.median(t) for t in times]


class _ScratchLM(nn.Module):
    def __init__(self, cell, path):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.embedding = nn.Embedding(V, E)
        self.rnn = layer(E, H, batch_first=True, path=path)
        self.head = nn.Linear(H, V)

    def forward(self, ids):
        out, _ = self.rnn(self.embedding(ids))                 # (B, T, H)
        return self.head(out)                                  # (B, T, V)


def scratchnet_step(cell, path, ids, targets, dtype):
    sn.manual_seed(0)
    model = _ScratchLM(cell, path).to(dtype)
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(-1))  # (B*T, V)
        loss.backward()
        opt.step()
    return step


def torch_step(cell, ids, targets, dtype):
    import torch
    torch.manual_seed(0)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    tdt = getattr(torch, dtype)
    emb, rnn, head = torch.nn.Embedding(V, E), layer(E, H, batch_first=True), torch.nn.Linear(H, V)
    mods = torch.nn.ModuleList([emb, rnn, head]).to(tdt)
    opt = torch.optim.Adam(mods.parameters(), lr=1e-3)
    tid, ttg = torch.from_numpy(ids), torch.from_numpy(targets.reshape(-1))

    def step():
        opt.zero_grad()
        out, _ = rnn(emb(tid))
        loss = torch.nn.functional.cross_entropy(head(out).reshape(B * T, V), ttg)
        loss.backward()
        opt.step()
    return step


def _measure_worker(args):
    """The worker's table: {cell: {implementation: ms per step}} for its framework."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, V, size=(B, T))
    if args.worker == "pytorch":
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
    out = {}
    for cell in args.cells.split(","):
        if args.worker == "pytorch":
            names = [f"pytorch {torch.__version__}"]
            steps = [torch_step(cell, ids, targets, args.dtype)]
        else:
            names = ["scratchnet fused"] + ([] if args.no_composed else ["scratchnet composed"])
            steps = [scratchnet_step(cell, name.split()[1], ids, targets, args.dtype) for name in names]
        out[cell] = dict(zip(names, _round_robin_ms(steps, args.reps)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="turns each framework's process takes")
    ap.add_argument("--cells", default="lstm,gru,rnn")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--no-composed", action="store_true", help="skip the (slow) composed path")
    ap.add_argument("--threads", type=int, default=None, help="BLAS / PyTorch threads (default: theirs)")
    ap.add_argument("--worker", choices=["scratchnet", "pytorch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return emit(_measure_worker(args))
    names = frameworks()
    worker_args = ["--reps", args.reps, "--cells", args.cells, "--dtype", args.dtype]
    worker_args += (["--no-composed"] if args.no_composed else []) + \
        (["--threads", args.threads] if args.threads else [])
    results = alternate(__file__, names, args.rounds, worker_args)
    print(f"char-LM training step: embedding {E}, hidden {H}, batch {B}, seq {T}, vocab {V}, "
          f"{args.dtype}, Adam; median over {args.rounds} rounds of the median of {args.reps} steps, "
          f"each framework in its own process (threads: {args.threads or 'default'})")
    print(f"{'cell':<5} {'implementation':<22} {'ms/step':>9} {'x pytorch':>10} {'GFLOP/s':>8}")
    for cell in args.cells.split(","):
        ms = {impl: statistics.median(r[cell][impl] for r in rounds)
              for rounds in results.values() for impl in rounds[0][cell]}
        ref = next((m for impl, m in ms.items() if impl.startswith("pytorch")), None)
        for impl, m in ms.items():
            r = "-" if ref is None else f"{m / ref:.2f}"
            print(f"{cell:<5} {impl:<22} {m:>9.1f} {r:>10} {flops(cell) / m / 1e6:>8.1f}")


if __name__ == "__main__":
    main()
