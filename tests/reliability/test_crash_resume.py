"""Crashes lose nothing; checkpoints are safe to open (issue 9).

``scratchnet train`` runs in a subprocess and is killed with SIGKILL at
random moments and while ``checkpoint.npz`` is being written (its temporary
file ``.checkpoint.npz.*.tmp`` is polled for); after every kill the
checkpoint must load and a ``--resume`` must continue from its step. The
interrupted run must end with exactly the losses of an uninterrupted one.
"""
import glob
import os
import pickle
import random
import re
import signal
import subprocess
import time
import zipfile

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.train import load_checkpoint
from scratchnet.train.run import load_run

from reliability_helpers import PYTHON, subprocess_env, write_text_corpus

STEPS = 40
FLAGS = ["--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16",
         "--checkpoint-every", "1", "--eval-every", "10", "--eval-batches", "2", "--sample-tokens", "0",
         "--no-progress", "--warmup", "5"]


def _command(data, out, steps=STEPS, resume=False):
    cmd = [PYTHON, "-m", "scratchnet", "train", "--data", data, "--out", out, "--steps", str(steps)] + FLAGS
    return cmd + (["--resume"] if resume else [])


def _start(data, out, steps=STEPS, resume=False):
    return subprocess.Popen(_command(data, out, steps, resume), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=subprocess_env(MPLBACKEND="Agg", PYTHONUNBUFFERED="1"), text=True)


def _wait_for(predicate, proc, timeout=60.0):
    """Poll ``predicate`` until true; False if ``proc`` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0005)
    raise AssertionError("timed out waiting for the training process")


def _temp_files(out):
    return set(glob.glob(os.path.join(out, ".checkpoint.npz.*.tmp")))


def _new_temp_checkpoint(out, nth=1):
    """A predicate: the ``nth`` checkpoint write of this process has begun (temporary
    files left by earlier kills do not count)."""
    stale, seen = _temp_files(out), set()

    def writing():
        seen.update(_temp_files(out) - stale)
        return len(seen) >= nth
    return writing


def _saved_step(out):
    path = os.path.join(out, "checkpoint.npz")
    if not os.path.exists(path):
        return None
    state = load_checkpoint(path)                      # must always load
    assert len(state["history"]) == int(state["step"])
    assert [row["step"] for row in state["history"]] == list(range(1, int(state["step"]) + 1))
    return int(state["step"])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_text_corpus(str(tmp_path_factory.mktemp("corpus") / "text.txt"))


def test_sigkill_at_random_moments_and_mid_checkpoint(corpus, tmp_path):
    out = str(tmp_path / "run")
    rng = random.Random(9)
    kills, last_step, resumed_at = [], None, []
    # alternate: a kill at a random moment after a checkpoint exists, then one
    # the instant a checkpoint's temporary file appears (mid-write)
    for moment in ("random", "mid-write", "random", "mid-write", "mid-write"):
        mid_write = _new_temp_checkpoint(out, nth=rng.randint(1, 3))
        proc = _start(corpus, out, resume=last_step is not None)
        if moment == "random":
            ready = _wait_for(_new_temp_checkpoint(out), proc)      # training is under way
            time.sleep(rng.uniform(0.0, 0.1))
        else:
            ready = _wait_for(mid_write, proc)
        if not ready or proc.poll() is not None:       # finished before the kill: nothing to test here
            proc.communicate()
            break
        proc.send_signal(signal.SIGKILL)
        stdout, stderr = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, (stdout, stderr)
        kills.append(moment)
        match = re.search(r"resuming .* at step (\d+)", stdout)
        if last_step is not None:                      # the resumed run started where the last save was
            assert match and int(match.group(1)) == last_step, (moment, stdout, stderr)
            resumed_at.append(last_step)
        step = _saved_step(out)
        assert step is not None or last_step is None
        assert step is None or last_step is None or step >= last_step
        last_step = step
    print(f"kills: {kills}; resumed at steps {resumed_at}")
    assert len(kills) >= 3, f"only {len(kills)} kills landed: {kills}"
    assert last_step < STEPS and resumed_at == sorted(resumed_at), resumed_at
    assert "mid-write" in kills
    proc = _start(corpus, out, resume=last_step is not None)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    if last_step is not None:
        assert f"at step {last_step}" in stdout
    assert _saved_step(out) == STEPS

    # nothing was lost: the same losses as one uninterrupted run
    ref = str(tmp_path / "reference")
    done = subprocess.run(_command(corpus, ref), capture_output=True, text=True,
                          env=subprocess_env(MPLBACKEND="Agg", PYTHONUNBUFFERED="1"), timeout=120)
    assert done.returncode == 0, done.stderr
    got = [row["loss"] for row in load_checkpoint(os.path.join(out, "checkpoint.npz"))["history"]]
    want = [row["loss"] for row in load_checkpoint(os.path.join(ref, "checkpoint.npz"))["history"]]
    assert got == want


def test_sigint_saves_and_exits_cleanly(corpus, tmp_path):
    out = str(tmp_path / "run")
    proc = _start(corpus, out, steps=400)
    assert _wait_for(lambda: os.path.exists(os.path.join(out, "checkpoint.npz")), proc)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "Traceback" not in stdout
    messages = [line for line in (stdout + stderr).splitlines() if "interrupt" in line.lower()]
    assert len(messages) == 1, messages
    step = int(re.search(r"interrupted at step (\d+)", messages[0]).group(1))
    assert 0 < step < 400 and _saved_step(out) == step
    assert not glob.glob(os.path.join(out, ".*.tmp"))


# ---------------------------------------------------- checkpoints are safe to open
@pytest.fixture(scope="module")
def good_checkpoint(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("good") / "run")
    done = subprocess.run(_command(corpus, out, steps=6), capture_output=True, text=True,
                          env=subprocess_env(MPLBACKEND="Agg", PYTHONUNBUFFERED="1"), timeout=120)
    assert done.returncode == 0, done.stderr
    return os.path.join(out, "checkpoint.npz")


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickled_payload_is_refused_without_unpickling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.npz"
    meta = np.frombuffer(b'{"format": "scratchnet", "version": 1, "tree": {"array": "a0"}}', np.uint8)
    np.savez(path, a0=np.array([_Boom()], dtype=object), __scratchnet__=meta)
    with pytest.raises(ValueError, match="evil.npz"):
        sn.load(str(path))
    with open(tmp_path / "raw.pkl", "wb") as f:
        pickle.dump(_Boom(), f)
    with pytest.raises(ValueError, match="raw.pkl"):
        sn.load(str(tmp_path / "raw.pkl"))
    assert not (tmp_path / "PWNED").exists()


def test_foreign_truncated_and_wrong_architecture_files(good_checkpoint, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello, not a checkpoint")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    other = tmp_path / "other.npz"
    sn.save({"model": {"w": np.ones(2)}}, str(other))
    data = open(good_checkpoint, "rb").read()
    for cut in (10, len(data) // 2, len(data) - 30):
        trunc = tmp_path / f"trunc{cut}.npz"
        trunc.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"trunc{cut}.npz"):
            load_checkpoint(str(trunc))
    for path in (text, foreign, other):
        with pytest.raises(ValueError, match=path.name):
            load_checkpoint(str(path))
    # a checkpoint of a different architecture: weights of another size
    state = load_checkpoint(good_checkpoint)
    state["config"] = dict(state["config"], hidden_size=32)
    wrong = tmp_path / "wrong_arch.npz"
    sn.save(state, str(wrong))
    with pytest.raises(ValueError, match="wrong_arch.npz"):
        load_run(str(wrong))
    assert zipfile.is_zipfile(good_checkpoint)
