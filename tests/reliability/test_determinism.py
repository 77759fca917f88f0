"""Same seed, same machine: bit-identical losses (issue 9).

Each model trains 50 steps (Adam, dropout on where the model has it, so the
random generator is exercised) with the Numba kernels in use; two runs in
this process and one in a fresh subprocess must give exactly the same
losses (compared as float64 bit patterns, NaN-safe).
"""
import json
import subprocess
import sys

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import kernels as K, nn, optim
from scratchnet.models import GPT, CharRNN, TransformerClassifier

from reliability_helpers import PYTHON, REPO, subprocess_env

STEPS = 50
MODELS = ["lstm-fused", "lstm-composed", "gru-fused", "gru-composed", "rnn-fused", "rnn-composed",
          "gpt", "classifier", "mlp"]


def _build(name):
    if name in ("gpt",):
        return GPT(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.1)
    if name == "classifier":
        return TransformerClassifier(11, 3, d_model=16, nhead=2, num_layers=1, dim_feedforward=32,
                                     max_len=8, dropout=0.1)
    if name == "mlp":
        return nn.Sequential(nn.Linear(6, 32), nn.GELU(), nn.Dropout(0.1), nn.LayerNorm(32), nn.Linear(32, 3))
    cell, path = name.split("-")
    return CharRNN(11, cell=cell, hidden_size=16, num_layers=2, embedding_dim=8, dropout=0.1, path=path)


def _loss(name, model, rng):
    if name == "mlp":
        x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
        return F.cross_entropy(model(x), y)
    if name == "classifier":
        ids = rng.integers(0, 11, (4, 8))
        ids[:, 6:] = 0                                            # padding exercises the masks
        return F.cross_entropy(model(ids), rng.integers(0, 3, 4))
    ids = rng.integers(0, 11, (4, 9))
    logits = model(ids[:, :-1])[0]                                # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, 11), ids[:, 1:].reshape(-1))


def losses(name, seed=1234):
    """The float64 losses of ``STEPS`` training steps of model ``name``."""
    sn.manual_seed(seed)
    model = _build(name)
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    out = []
    for _ in range(STEPS):
        loss = _loss(name, model, np.random.default_rng(seed))   # one fixed batch: the loss must fall
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        out.append(float(loss.item()))
    return out


def _bits(values):
    return np.asarray(values, dtype=np.float64).view(np.int64).tolist()


@pytest.fixture(autouse=True)
def numba_kernels():
    """The determinism claim is about the compiled kernels: use them even when
    the suite runs with SCRATCHNET_KERNELS=numpy."""
    with K.use_backend("numba"):
        yield


@pytest.fixture(scope="module")
def fresh_process_losses():
    """All models' losses computed once in a new interpreter."""
    code = ("import json, sys; sys.path.insert(0, 'tests/reliability'); import test_determinism as d; "
            "from scratchnet import kernels as K; "
            "print(json.dumps({'backend': K.backend(), 'losses': {m: d.losses(m) for m in d.MODELS}}))")
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=subprocess_env(SCRATCHNET_KERNELS="numba"), timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_numba_kernels_are_in_use():
    assert K.backend() == "numba"


@pytest.mark.parametrize("name", MODELS)
def test_bit_identical_losses(name, fresh_process_losses):
    first, second = losses(name), losses(name)
    assert all(np.isfinite(first)) and first[-1] < first[0], f"{name} did not train: {first[0]} -> {first[-1]}"
    assert _bits(first) == _bits(second), f"{name}: two runs in one process differ"
    assert fresh_process_losses["backend"] == K.backend()
    assert _bits(first) == _bits(fresh_process_losses["losses"][name]), f"{name}: a fresh process differs"


def test_a_different_seed_differs():
    assert losses("mlp", seed=1) != losses("mlp", seed=2)
