"""nanoGPT's CPU reference, reproduced: the "baby GPT" on tiny-shakespeare.

nanoGPT's README trains, on a laptop CPU, 4 layers / 4 heads / 128 embedding,
block 64, batch 12, 2000 iterations, lr 1e-3 with 100 warm-up steps and
cosine decay to 1e-4, AdamW (beta2 0.99, weight decay 0.1 on matrices), grad
clip 1.0, no dropout, no biases, 90/10 split of the characters; it reports a
validation loss of 1.88 in about 3 minutes. This script trains the same
configuration with scratchnet and reports the validation loss (mean over
``--eval-batches`` random validation windows) and the wall time.

It also times one training step (forward, loss, backward, clip, AdamW step)
of the same model in scratchnet and in an equivalent PyTorch model (when
torch is installed), measured in the same run, each framework in its own
process, the two processes taking turns (``_workers.py`` says why).

    python benchmarks/gpt.py                      # step benchmark + full 2000-iteration run
    python benchmarks/gpt.py --step-bench-only    # just the step timing table
    python benchmarks/gpt.py --iters 200          # a shorter training run
    python benchmarks/gpt.py --torch-reference    # + the PyTorch model on the same batches
    python benchmarks/gpt.py --step-bench-only --threads 1   # both frameworks on one thread
    python benchmarks/gpt.py --step-bench-only --no-malloc-tuning   # glibc's default malloc thresholds
    python benchmarks/gpt.py --skip-step-bench --seeds 1 2 3 4 5 --torch-reference
                                                  # val loss over several seeds, both frameworks
    python benchmarks/gpt.py --skip-step-bench --same-init
                                                  # both frameworks from the same initial weights

One run's validation loss depends on its seed (initialisation and batches) by
a few hundredths; ``--seeds`` trains once per seed and prints every run and
the mean and standard deviation, so that the comparison with the README's
single figure (itself measured on 20 validation batches) is not one draw.
After the full run, ``--eval-draws`` (default 100) repeats a validation
estimate of nanoGPT's kind (20 random batches) that many times on the trained
model and prints their spread: how far a single 20-batch figure may fall from
the 200-batch one.
"""
import argparse
import math
import os
import statistics
import sys
import time


def _threads_from_argv(argv):
    """``--threads N`` must act before NumPy (OpenBLAS) and Numba start their pools."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return None


THREADS = _threads_from_argv(sys.argv) if __name__ == "__main__" else None
if THREADS:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = THREADS

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))          # _workers

import scratchnet as sn  # noqa: E402
from scratchnet import nn  # noqa: E402
from scratchnet.data import CharTokenizer, load_corpus, random_window_batches, train_val_split  # noqa: E402
from scratchnet.models import GPT, GPTConfig  # noqa: E402
from scratchnet.optim.lr_scheduler import warmup_cosine  # noqa: E402

BABY = GPTConfig(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
BATCH, LR, MIN_LR, WARMUP, BETAS, WEIGHT_DECAY, CLIP = 12, 1e-3, 1e-4, 100, (0.9, 0.99), 0.1, 1.0


# ---------------------------------------------------------------- scratchnet
def scratchnet_trainer(config, iters, seed=1337):
    """(model, step(x, y) -> loss float) for the scratchnet baby GPT."""
    sn.manual_seed(seed)
    model = GPT(config)
    opt = model.configure_optimizers(WEIGHT_DECAY, LR, BETAS)
    sched = warmup_cosine(opt, min(WARMUP, iters), iters, MIN_LR)   # short runs: warm up throughout

    def step(x, y):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        sched.step()
        return loss.item()

    return model, step


def evaluate(model, data, batches, rng):
    """Mean loss over ``batches`` random windows of ``data``."""
    return evaluate_on(model, [random_window_batches(data, model.config.block_size, BATCH, rng)
                               for _ in range(batches)])


NANOGPT_EVAL_ITERS = 20      # nanoGPT's README run: --eval_iters=20 (batches per validation estimate)
NANOGPT_VAL_LOSS = 1.88


def estimate_spread(model, data, draws, rng, batches=NANOGPT_EVAL_ITERS):
    """``draws`` independent validation estimates of nanoGPT's kind (the mean loss of
    ``batches`` random windows each): how far one such estimate strays from the mean."""
    return [evaluate(model, data, batches, rng) for _ in range(draws)]


def evaluate_on(model, batches):
    """Mean loss of the model over the given (x, y) batches, in eval mode."""
    model.eval()
    with sn.no_grad():
        losses = [model(x, y)[1].item() for x, y in batches]
    model.train()
    return float(np.mean(losses))


# ------------------------------------------------------------------ PyTorch
def torch_trainer(config, seed=1337, iters=None, init_state=None):
    """The same model in PyTorch (``torch_nanogpt.py``); step(x, y) -> loss.
    With ``iters``, nanoGPT's warm-up + cosine schedule over that many steps.
    ``init_state``: a scratchnet GPT state_dict to start from instead of
    nanoGPT's random initialisation (the keys are the same).
    ``step.evaluate(x, y)`` gives the loss of a batch in eval mode without a graph."""
    import torch
    from torch_nanogpt import nanogpt_model

    torch.manual_seed(seed)
    if THREADS:
        torch.set_num_threads(int(THREADS))
    model = nanogpt_model(torch, config)
    for name, p in model.named_parameters():                # nanoGPT's initialisation
        if p.dim() == 2:
            proj = name.endswith("c_proj.weight")
            torch.nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer) if proj else 0.02)
    if init_state is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init_state.items()})
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=BETAS)

    it = [0]
    schedule = None if iters is None else WarmupSchedule(iters)

    def step(x, y):
        if schedule is not None:
            lr = schedule.lr(it[0])
            for group in opt.param_groups:
                group["lr"] = lr
            it[0] += 1
        loss = model(torch.from_numpy(x), torch.from_numpy(y))[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        return loss.item()

    def evaluate_batch(x, y):
        with torch.no_grad():
            return model(torch.from_numpy(x), torch.from_numpy(y))[1].item()

    step.evaluate = evaluate_batch
    return torch, step


class WarmupSchedule:
    """nanoGPT's get_lr (what scratchnet's warmup_cosine computes), for the PyTorch run."""

    def __init__(self, iters):
        self.iters, self.warmup = iters, min(WARMUP, iters)

    def lr(self, it):
        if it < self.warmup:
            return LR * it / self.warmup
        ratio = min(1.0, (it - self.warmup) / max(1, self.iters - self.warmup))
        return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


# ------------------------------------------------------------------- timing
def step_times(framework, steps, warmup=5):
    """(ms of each of ``steps`` training steps of the baby GPT in one framework, after
    ``warmup``; minor page faults per step, from getrusage)."""
    import resource
    rng = np.random.default_rng(0)
    x = rng.integers(0, BABY.vocab_size, size=(BATCH, BABY.block_size))
    y = rng.integers(0, BABY.vocab_size, size=(BATCH, BABY.block_size))
    step = scratchnet_trainer(BABY, 10 ** 6)[1] if framework == "scratchnet" else torch_trainer(BABY)[1]
    for _ in range(warmup):
        step(x, y)
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        t0 = time.perf_counter()
        step(x, y)
        times.append((time.perf_counter() - t0) * 1e3)
    return times, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps


def step_benchmark(steps=30, rounds=3, malloc_tuning=True):
    """Median ms per training step of each framework, each in its own process,
    the processes taking turns for ``rounds`` rounds (see _workers.py).
    ``malloc_tuning=False`` runs scratchnet with SCRATCHNET_MALLOC_TUNING=0
    (glibc's default thresholds; see scratchnet/memory.py)."""
    from _workers import alternate, frameworks
    names = frameworks()
    args = ["--steps", steps] + (["--threads", THREADS] if THREADS else [])

    def env_for(name):
        env = dict(os.environ)
        if name == "scratchnet" and not malloc_tuning:
            env["SCRATCHNET_MALLOC_TUNING"] = "0"
        return env
    results = alternate(__file__, names, rounds, args, env_for)
    med = {name: statistics.median(t for r in rs for t in r["times"]) for name, rs in results.items()}
    faults = {name: statistics.mean(r["page_faults"] for r in rs) for name, rs in results.items()}
    labels = {name: rs[0]["label"] for name, rs in results.items()}
    base = med["scratchnet"]
    print(f"baby GPT training step (B={BATCH}, T={BABY.block_size}, {BABY.n_layer} layers, "
          f"{BABY.n_head} heads, C={BABY.n_embd}, float32; kernels: {sn.kernels.backend()}); median of "
          f"{rounds} rounds x {steps} steps, each framework in its own process"
          f"{'' if malloc_tuning else '; scratchnet with SCRATCHNET_MALLOC_TUNING=0'}")
    print(f"{'framework':<34}{'ms/step':>10}{'vs scratchnet':>16}{'page faults/step':>18}")
    for name, ms in med.items():
        print(f"{labels[name]:<34}{ms:>10.2f}{ms / base:>15.2f}x{faults[name]:>18.1f}")
    return med


def _worker(name, steps):
    from _workers import emit
    label = "scratchnet"
    if name == "pytorch":
        import torch
        label = f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
    times, faults = step_times(name, steps)
    emit({"label": label, "times": times, "page_faults": faults})


# --------------------------------------------------------------- full run
def _corpus():
    text = load_corpus("tinyshakespeare")
    tok = CharTokenizer().fit(text)
    train, val = train_val_split(np.asarray(tok.encode(text), dtype=np.int64), 0.1)
    return tok, train, val


def torch_reference_run(iters, eval_batches, seed=1337):
    """The PyTorch model trained on the same batches with the same schedule: its val
    loss is what this configuration reaches when the framework is not the question."""
    tok, train, val = _corpus()
    config = GPTConfig(**{**BABY.__dict__, "vocab_size": tok.vocab_size})
    _, step = torch_trainer(config, seed, iters)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(iters):
        step(*random_window_batches(train, config.block_size, BATCH, rng))
    train_time = time.perf_counter() - start
    eval_rng = np.random.default_rng(seed + 1)
    val_loss = float(np.mean([step.evaluate(*random_window_batches(val, config.block_size, BATCH, eval_rng))
                              for _ in range(eval_batches)]))
    print(f"PyTorch reference, same batches and schedule: val loss {val_loss:.4f}, "
          f"training wall time {train_time:.1f} s")
    return val_loss, train_time


def same_init_run(iters, eval_batches, seed=1337, log_every=250):
    """scratchnet and PyTorch from the same initial weights (scratchnet's, copied
    key for key) on the same batches: the per-step training losses side by side
    and their largest difference, then both validation losses."""
    tok, train, val = _corpus()
    config = GPTConfig(**{**BABY.__dict__, "vocab_size": tok.vocab_size})
    model, sn_step = scratchnet_trainer(config, iters, seed)
    _, t_step = torch_trainer(config, seed, iters, init_state=model.state_dict())
    rng = np.random.default_rng(seed)
    worst = 0.0
    print(f"{'iter':>6}{'scratchnet':>12}{'PyTorch':>12}{'difference':>13}")
    for it in range(iters):
        x, y = random_window_batches(train, config.block_size, BATCH, rng)
        a, b = sn_step(x, y), t_step(x, y)
        worst = max(worst, abs(a - b))
        if it % log_every == 0 or it == iters - 1:
            print(f"{it:>6}{a:>12.5f}{b:>12.5f}{a - b:>13.2e}", flush=True)
    eval_rng = np.random.default_rng(seed + 1)
    batches = [random_window_batches(val, config.block_size, BATCH, eval_rng) for _ in range(eval_batches)]
    sn_val = evaluate_on(model, batches)
    t_val = float(np.mean([t_step.evaluate(x, y) for x, y in batches]))
    print(f"largest |training loss difference| over {iters} steps: {worst:.2e}; "
          f"val loss scratchnet {sn_val:.4f}, PyTorch {t_val:.4f}")
    return worst, sn_val, t_val


def full_run(iters, eval_batches, log_every, seed=1337, sample=True, eval_draws=0):
    tok, train, val = _corpus()
    config = GPTConfig(**{**BABY.__dict__, "vocab_size": tok.vocab_size})
    model, step = scratchnet_trainer(config, iters, seed)
    rng = np.random.default_rng(seed)
    print(f"training the baby GPT ({model.num_parameters() / 1e6:.2f}M parameters, vocab "
          f"{tok.vocab_size}) for {iters} iterations on {len(train):,} train / {len(val):,} val characters")
    start = time.perf_counter()
    for it in range(iters):
        x, y = random_window_batches(train, config.block_size, BATCH, rng)
        loss = step(x, y)
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at iteration {it}")
        if log_every and (it % log_every == 0 or it == iters - 1):
            print(f"iter {it:5d}  loss {loss:.4f}  {time.perf_counter() - start:7.1f} s", flush=True)
    train_time = time.perf_counter() - start
    eval_rng = np.random.default_rng(seed + 1)
    val_loss = evaluate(model, val, eval_batches, eval_rng)
    train_loss = evaluate(model, train, eval_batches, eval_rng)
    total = time.perf_counter() - start
    print(f"{'metric':<28}{'scratchnet':>12}{'nanoGPT README':>16}")
    print(f"{'train loss':<28}{train_loss:>12.4f}{'':>16}")
    print(f"{'val loss':<28}{val_loss:>12.4f}{NANOGPT_VAL_LOSS:>16}")
    print(f"{'training wall time (s)':<28}{train_time:>12.1f}{'~180':>16}")
    print(f"{'total incl. eval (s)':<28}{total:>12.1f}")
    if eval_draws:
        spread = estimate_spread(model, val, eval_draws, eval_rng)
        low = sum(v <= NANOGPT_VAL_LOSS for v in spread)
        print(f"{eval_draws} validation estimates of {NANOGPT_EVAL_ITERS} batches each (nanoGPT's "
              f"--eval_iters=20): mean {statistics.mean(spread):.4f}, sd {statistics.stdev(spread):.4f}, "
              f"min {min(spread):.4f}, max {max(spread):.4f}; {low} of {eval_draws} at or below "
              f"{NANOGPT_VAL_LOSS}")
    if sample:
        ids = model.generate(np.array([tok.encode("\n")]), 200, temperature=0.8, top_k=50, seed=0)
        print("sample:\n" + tok.decode(ids.data[0].tolist()))
    return val_loss, train_time


def seed_study(seeds, iters, eval_batches, with_torch):
    """Train once per seed (and the PyTorch model on the same batches); print each
    run and the mean and sample standard deviation of the validation losses."""
    rows = []
    for seed in seeds:
        print(f"--- seed {seed}", flush=True)
        sn_val, sn_time = full_run(iters, eval_batches, 0, seed, sample=False)
        t_val, t_time = torch_reference_run(iters, eval_batches, seed) if with_torch else (math.nan, math.nan)
        rows.append((seed, sn_val, sn_time, t_val, t_time))
    print(f"\n{'seed':>6}{'scratchnet val':>16}{'train s':>9}{'PyTorch val':>13}{'train s':>9}")
    for seed, sn_val, sn_time, t_val, t_time in rows:
        print(f"{seed:>6}{sn_val:>16.4f}{sn_time:>9.1f}{t_val:>13.4f}{t_time:>9.1f}")
    for name, col in (("scratchnet", 1), ("PyTorch", 3)):
        vals = [r[col] for r in rows if not math.isnan(r[col])]
        if vals:
            sd = statistics.stdev(vals) if len(vals) > 1 else math.nan
            print(f"{name}: val loss mean {statistics.mean(vals):.4f}, sd {sd:.4f}, "
                  f"min {min(vals):.4f}, max {max(vals):.4f} over {len(vals)} seeds (nanoGPT README: 1.88)")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=2000, help="training iterations (default 2000)")
    ap.add_argument("--step-bench-only", action="store_true", help="only time a training step")
    ap.add_argument("--steps", type=int, default=30, help="measured steps per framework and round")
    ap.add_argument("--rounds", type=int, default=3, help="turns each framework's process takes")
    ap.add_argument("--worker", choices=["scratchnet", "pytorch"], help=argparse.SUPPRESS)
    ap.add_argument("--no-malloc-tuning", action="store_true",
                    help="step benchmark with glibc's default malloc thresholds (SCRATCHNET_MALLOC_TUNING=0)")
    ap.add_argument("--eval-batches", type=int, default=200, help="validation batches for the val loss")
    ap.add_argument("--eval-draws", type=int, default=100,
                    help="after the full run: this many 20-batch validation estimates (nanoGPT's "
                         "eval_iters), to show the spread of one such estimate (0: skip)")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--seeds", type=int, nargs="+", help="train once per seed and summarise the val losses")
    ap.add_argument("--torch-reference", action="store_true",
                    help="also train the PyTorch model on the same batches and report its val loss")
    ap.add_argument("--skip-step-bench", action="store_true")
    ap.add_argument("--same-init", action="store_true",
                    help="train scratchnet and PyTorch from the same initial weights side by side")
    ap.add_argument("--threads", type=int, help="threads for BLAS, Numba and PyTorch alike (default: all)")
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.steps)
    if not args.skip_step_bench:
        step_benchmark(args.steps, args.rounds, not args.no_malloc_tuning)
    if args.step_bench_only:
        return
    if args.same_init:
        same_init_run(args.iters, args.eval_batches, args.seed, args.log_every or args.iters)
        return
    if args.seeds:
        seed_study(args.seeds, args.iters, args.eval_batches, args.torch_reference)
        return
    full_run(args.iters, args.eval_batches, args.log_every, args.seed, eval_draws=args.eval_draws)
    if args.torch_reference:
        torch_reference_run(args.iters, args.eval_batches, args.seed)


if __name__ == "__main__":
    main()
