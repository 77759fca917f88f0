"""CharRNN: shapes, carried state (truncated BPTT), O(1) stepping that
matches the full forward, loss falling on tiny-shakespeare; and the
vanishing-gradient diagnostic."""
import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn, optim
from scratchnet.data import CharTokenizer, ContiguousBatches, load_corpus
from scratchnet.diagnostics import gradient_norms_through_time
from scratchnet.models import CharRNN, CharRNNConfig


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_shapes_and_state(cell):
    model = CharRNN(11, cell=cell, hidden_size=8, num_layers=2, embedding_dim=5)
    logits, state = model(np.zeros((3, 4), np.int64))
    assert logits.shape == (3, 4, 11) and logits.dtype == np.float32
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 3, 8)
    assert list(model.state_dict())[:2] == ["embedding.weight", "rnn.weight_ih_l0"]
    zeros = model.init_state(3)
    a, _ = model(np.ones((3, 4), np.int64), zeros)
    b, _ = model(np.ones((3, 4), np.int64), None)
    assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_carrying_state_equals_one_long_sequence(cell):
    """Two windows with the state carried over give the same logits as one
    long window; detaching between them changes no value."""
    sn.manual_seed(0)
    model = CharRNN(7, cell=cell, hidden_size=6, embedding_dim=4).double()
    ids = np.random.default_rng(0).integers(0, 7, (2, 10))
    full, _ = model(ids)
    first, state = model(ids[:, :6])
    second, _ = model(ids[:, 6:], CharRNN.detach_state(state))
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), full.data, atol=1e-12)
    h = CharRNN.detach_state(state)
    assert all(t.grad_fn is None for t in (h if isinstance(h, tuple) else (h,)))


def test_step_matches_forward_and_accepts_ints():
    sn.manual_seed(1)
    model = CharRNN(9, cell="lstm", hidden_size=6, embedding_dim=4).double()
    ids = np.array([[1, 5, 2, 7]])
    full, _ = model(ids)
    state = None
    with sn.no_grad():
        for t in range(4):
            logits, state = model.step(int(ids[0, t]), state)
            assert logits.shape == (9,)
            np.testing.assert_allclose(logits.data, full.data[0, t], atol=1e-12)
    logits, _ = model.step(np.array([1, 2, 3]))
    assert logits.shape == (3, 9)


def test_config_round_trip():
    model = CharRNN(13, cell="gru", hidden_size=7)
    assert model.config == CharRNNConfig(13, "gru", 7)
    assert CharRNN.from_config(model.config).num_parameters() == model.num_parameters()
    with pytest.raises(ValueError, match="cell"):
        CharRNN(5, cell="transformer")


def test_loss_falls_on_tiny_shakespeare_with_truncated_bptt():
    text = load_corpus("tinyshakespeare")[:20000]
    tok = CharTokenizer().fit(text)
    ids = np.asarray(tok.encode(text), dtype=np.int64)
    sn.manual_seed(0)
    model = CharRNN(tok.vocab_size, cell="lstm", hidden_size=64, embedding_dim=16)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    batches = ContiguousBatches(ids, batch_size=16, seq_len=32)
    state, losses = None, []
    for step, (x, y) in enumerate(batches):
        logits, state = model(x, state)
        state = CharRNN.detach_state(state)                           # truncated BPTT
        loss = F.cross_entropy(logits.reshape(-1, tok.vocab_size), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step == 34:
            break
    assert losses[0] > np.log(tok.vocab_size) - 0.3               # starts near uniform
    assert np.mean(losses[-5:]) < losses[0] - 1.0                 # and learns (unigram level and beyond)


# ----------------------------------------------------------------------------
# vanishing gradients
# ----------------------------------------------------------------------------
def _norms(layer, seed, forget_bias=None):
    sn.manual_seed(seed)
    model = layer.double()
    if forget_bias is not None:
        H = model.hidden_size
        model.bias_hh_l0.data[H:2 * H] = forget_bias
    x = np.random.default_rng(seed).standard_normal((40, 8, 16))
    return gradient_norms_through_time(model, x)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_gradient_norms_one_finite_value_per_step(cls):
    norms = _norms(cls(16, 32, path="fused"), 0)
    assert norms.shape == (40,) and np.isfinite(norms).all() and (norms > 0).all()
    assert norms[0] < norms[-1]                                     # the signal fades going back


def test_plain_rnn_forgets_faster_than_lstm():
    for seed in range(2):
        sn.manual_seed(seed)
        rnn = _norms(nn.RNN(16, 64), seed)
        sn.manual_seed(seed)
        lstm = _norms(nn.LSTM(16, 64), seed, forget_bias=1.0)
        assert rnn[0] / rnn[-1] < 1e-6                               # vanished after 40 steps
        assert lstm[0] / lstm[-1] > 100 * rnn[0] / rnn[-1]


def test_gradient_norms_for_a_char_model_with_targets_restores_path():
    model = CharRNN(10, cell="gru", hidden_size=8, embedding_dim=4)
    ids = np.random.default_rng(0).integers(0, 10, (3, 12))
    norms = gradient_norms_through_time(model, ids, ids)
    assert norms.shape == (12,) and np.isfinite(norms).all()
    assert model.rnn.path == "fused" and model.rnn._step_hook is None
    with pytest.raises(TypeError, match="no nn.RNN"):
        gradient_norms_through_time(nn.Linear(2, 2), np.zeros((1, 2)))
