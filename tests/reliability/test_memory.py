"""Memory stays flat (issue 9): resident memory over 500 training steps, no
graph under ``no_grad`` generation, live autograd Nodes back to the baseline
after ``del``.

Nodes are counted with ``gc.get_objects()`` filtered by exact type first
(``type(o) is Node``: cheap, and never touches foreign objects such as torch's).
"""
import gc

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn, optim
from scratchnet.autograd import function
from scratchnet.autograd.function import Node
from scratchnet.data import CharTokenizer
from scratchnet.models import GPT, CharRNN


def live_nodes():
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Node)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    pytest.skip("no /proc/self/status")


def _lm_batch(rng, vocab=20, B=8, T=16):
    ids = rng.integers(0, vocab, (B, T + 1))
    return ids[:, :-1], ids[:, 1:]


def test_resident_memory_flat_over_500_steps():
    sn.manual_seed(0)
    model = CharRNN(20, cell="lstm", hidden_size=32, num_layers=2, embedding_dim=16, dropout=0.1)
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    baseline_nodes = live_nodes()
    samples, state = {}, None
    for step in range(1, 501):
        x, y = _lm_batch(rng)
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)                   # truncated BPTT, as the trainer does
        loss = F.cross_entropy(logits.reshape(-1, 20), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        del logits, loss
        if step in (100, 300, 500):
            samples[step] = rss_kib()
    assert live_nodes() == baseline_nodes
    growth = samples[500] - samples[100]
    assert growth < 8 * 1024, f"RSS grew by {growth} KiB between steps 100 and 500: {samples}"


@pytest.fixture
def node_counter(monkeypatch):
    """Counts every Node created while active."""
    created = []
    original = Node.__init__

    def counting_init(self, *args, **kwargs):
        created.append(1)
        original(self, *args, **kwargs)
    monkeypatch.setattr(function.Node, "__init__", counting_init)
    return created


@pytest.mark.parametrize("kind", ["lstm", "gpt"])
def test_no_grad_generation_builds_no_graph(kind, node_counter):
    tok = CharTokenizer().fit("abcdefgh \n")
    sn.manual_seed(0)
    model = (CharRNN(tok.vocab_size, hidden_size=16, embedding_dim=8) if kind == "lstm"
             else GPT(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8))
    before = live_nodes()
    text = sn.generate(model, tok, "abc", 30, seed=0)
    assert len(text) == 33
    assert not node_counter, f"generation created {len(node_counter)} autograd nodes"
    assert live_nodes() == before
    with sn.no_grad():
        out = model(np.zeros((2, 5), np.int64))
    assert not node_counter and (out[0] if isinstance(out, tuple) else out).requires_grad is False


@pytest.mark.parametrize("backward", [False, True])
def test_live_nodes_back_to_baseline_after_del(backward):
    sn.manual_seed(0)
    model = GPT(vocab_size=12, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.1)
    x = np.random.default_rng(0).integers(0, 12, (2, 8))
    baseline = live_nodes()
    logits, loss = model(x, x)
    assert live_nodes() > baseline + 10                           # a graph was recorded ...
    if backward:
        loss.backward()
    del logits, loss
    assert live_nodes() == baseline                                # ... and is gone
    gc.disable()
    try:                                                           # freed by reference counting alone
        logits, loss = model(x, x)
        del logits, loss
        assert sum(1 for o in gc.get_objects() if type(o) is Node) == baseline
    finally:
        gc.enable()
