"""Each framework measured in its own process, the processes taking turns.

Measured in one process, two frameworks share the two cores between their
thread pools: NumPy's OpenBLAS workers keep spinning for a while after each
product and PyTorch's OpenMP workers then wait for a core at every parallel
region.  On this 2-core machine PyTorch's LSTM step took 80-120 ms when timed
step by step next to scratchnet's in one process and 19.5 ms in a process of
its own, so a same-process comparison says more about the contention than
about either framework.  Every benchmark here therefore runs each framework in
a worker process (the same script with ``--worker NAME``) and alternates the
workers for a few rounds, so that both see the same background load.

A worker prints one JSON document as its last line of output; ``alternate``
collects one document per worker per round.
"""
import json
import os
import subprocess
import sys


def run_worker(script, name, args=(), env=None):
    """Run ``script --worker name *args`` in a fresh interpreter; its last stdout line as JSON."""
    cmd = [sys.executable, os.path.abspath(script), "--worker", name, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {name!r} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def alternate(script, names, rounds, args=(), env_for=None):
    """{name: [result of round 1, round 2, ...]}: the workers run in turn, ``rounds`` times.
    ``env_for(name)`` may give a worker its own environment."""
    results = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            env = env_for(name) if env_for else None
            results[name].append(run_worker(script, name, args, env))
    return results


def emit(document):
    """The worker's side: print the result as the last line of output."""
    print(json.dumps(document), flush=True)


def frameworks():
    """The workers to run: scratchnet, and pytorch when torch is installed."""
    import importlib.util
    return ["scratchnet"] + (["pytorch"] if importlib.util.find_spec("torch") is not None else [])
