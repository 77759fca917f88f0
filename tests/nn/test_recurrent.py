"""nn.RNN/LSTM/GRU and the cells: fused vs composed, gradcheck, PyTorch
parity, a hand-derived BPTT, shapes, dtypes and errors."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn

LAYERS = {"rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}), "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
          "lstm": (nn.LSTM, {}), "gru": (nn.GRU, {})}
CELLS = {"rnn_tanh": (nn.RNNCell, {"nonlinearity": "tanh"}), "rnn_relu": (nn.RNNCell, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTMCell, {}), "gru": (nn.GRUCell, {})}


def _layer(mode, *args, **kw):
    cls, extra = LAYERS[mode]
    return cls(*args, **extra, **kw)


def _states(mode, rng, shape, dtype=np.float64):
    h = rng.standard_normal(shape).astype(dtype)
    if mode == "lstm":
        return (h, rng.standard_normal(shape).astype(dtype))
    return h


def _flat(hn):
    return list(hn) if isinstance(hn, tuple) else [hn]


def _leaves(x, hx, make):
    """x and the initial state (an array, a pair or None) as leaves of one framework."""
    if hx is None:
        return make(x), None
    return make(x), (tuple(make(h) for h in hx) if isinstance(hx, tuple) else make(hx))


def _outputs_and_grads(model, x, hx, rng):
    """Outputs and the gradients of a random projection of all outputs with
    respect to the input, the initial states and every parameter."""
    x, hx_t = _leaves(x, hx, lambda a: sn.Tensor(a, requires_grad=True))
    out, hn = model(x, hx_t)
    outs = [out] + _flat(hn)
    cot = [np.random.default_rng(7).standard_normal(o.shape) for o in outs]
    loss = sum((o * c.astype(o.dtype)).sum() for o, c in zip(outs, cot))
    inputs = [x] + ([] if hx_t is None else _flat(hx_t)) + list(model.parameters())
    return [o.data for o in outs] + sn.grad(loss, inputs)


# ----------------------------------------------------------------------------
# fused == composed
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_fused_and_composed_paths_agree(mode, with_state, layers, bidirectional):
    rng = np.random.default_rng(0)
    sn.manual_seed(0)
    model = _layer(mode, 3, 4, num_layers=layers, bidirectional=bidirectional).double()
    D = 2 if bidirectional else 1
    x = rng.standard_normal((5, 2, 3))
    hx = _states(mode, rng, (layers * D, 2, 4)) if with_state else None
    results = {}
    for path in ("fused", "composed"):
        model.path = path
        results[path] = _outputs_and_grads(model, x, hx, rng)
    for f, c in zip(results["fused"], results["composed"]):
        np.testing.assert_allclose(f, c, rtol=0, atol=1e-10)


def test_paths_agree_with_dropout_and_batch_first():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3))
    results = []
    for path in ("fused", "composed"):
        sn.manual_seed(3)
        model = nn.LSTM(3, 4, num_layers=3, dropout=0.5, batch_first=True, path=path).double()
        sn.manual_seed(5)             # the same dropout masks on both paths
        results.append(_outputs_and_grads(model, x, None, rng))
    for f, c in zip(*results):
        np.testing.assert_allclose(f, c, atol=1e-10)


# ----------------------------------------------------------------------------
# gradcheck of the cells and of whole layers
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(CELLS))
def test_cell_gradcheck(mode):
    sn.manual_seed(1)
    cls, extra = CELLS[mode]
    cell = cls(3, 4, **extra).double()
    rng = np.random.default_rng(2)
    x = sn.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    hs = [sn.Tensor(rng.standard_normal((2, 4)), requires_grad=True)
          for _ in range(2 if mode == "lstm" else 1)]
    params = list(cell.parameters())

    def fn(x, *rest):
        state = tuple(rest[:len(hs)]) if mode == "lstm" else rest[0]
        return cell(x, state)
    assert sn.gradcheck(fn, [x, *hs, *params])


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("path", ["fused", "composed"])
def test_layer_gradcheck(mode, path):
    """T=3, B=2, input 3, hidden 4, bidirectional, with initial states."""
    sn.manual_seed(2)
    model = _layer(mode, 3, 4, bidirectional=True, path=path).double()
    rng = np.random.default_rng(3)
    x = sn.Tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    hx = [sn.Tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
          for _ in range(2 if mode == "lstm" else 1)]
    params = list(model.parameters())

    def fn(x, *rest):
        state = tuple(rest[:2]) if mode == "lstm" else rest[0]
        out, hn = model(x, state)
        return (out, *_flat(hn))
    assert sn.gradcheck(fn, [x, *hx, *params], fast_mode=True)
    assert sn.gradcheck(fn, [x, *hx])


# ----------------------------------------------------------------------------
# PyTorch parity
# ----------------------------------------------------------------------------
def _torch_pair(torch, mode, dtype, **kw):
    cls, extra = LAYERS[mode]
    tcls = {nn.RNN: torch.nn.RNN, nn.LSTM: torch.nn.LSTM, nn.GRU: torch.nn.GRU}[cls]
    sn.manual_seed(4)
    ours = cls(3, 5, **extra, **kw).to(dtype)
    theirs = tcls(3, 5, **extra, **kw).to(getattr(torch, np.dtype(dtype).name))
    assert list(theirs.state_dict()) == list(ours.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _torch_outputs_and_grads(torch, model, x, hx):
    x, hx_t = _leaves(x, hx, lambda a: torch.tensor(a, requires_grad=True))
    out, hn = model(x, hx_t)
    outs = [out] + _flat(hn)
    cot = [np.random.default_rng(7).standard_normal(tuple(o.shape)) for o in outs]
    loss = sum((o * torch.from_numpy(c).to(o.dtype)).sum() for o, c in zip(outs, cot))
    inputs = [x] + ([] if hx_t is None else _flat(hx_t)) + list(model.parameters())
    grads = torch.autograd.grad(loss, inputs)
    return [o.detach().numpy() for o in outs] + [g.numpy() for g in grads]


CONFIGS = [dict(), dict(num_layers=2, bidirectional=True), dict(batch_first=True, num_layers=2),
           dict(bidirectional=True, batch_first=True), dict(bias=False)]


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()) or "default")
@pytest.mark.parametrize("dtype,atol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_pytorch(mode, config, dtype, atol, with_state):
    torch = pytest.importorskip("torch")
    ours, theirs = _torch_pair(torch, mode, dtype, **config)
    rng = np.random.default_rng(5)
    D = 2 if config.get("bidirectional") else 1
    L = config.get("num_layers", 1)
    x = rng.standard_normal((2, 4, 3) if config.get("batch_first") else (4, 2, 3)).astype(dtype)
    hx = _states(mode, rng, (L * D, 2, 5), dtype) if with_state else None
    mine = _outputs_and_grads(ours, x, hx, rng)
    ref = _torch_outputs_and_grads(torch, theirs, x, hx)
    assert len(mine) == len(ref)
    for a, b in zip(mine, ref):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=atol)


@pytest.mark.parametrize("mode", list(CELLS))
@pytest.mark.parametrize("dtype,atol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_cells_match_pytorch(mode, dtype, atol):
    torch = pytest.importorskip("torch")
    cls, extra = CELLS[mode]
    tcls = {nn.RNNCell: torch.nn.RNNCell, nn.LSTMCell: torch.nn.LSTMCell, nn.GRUCell: torch.nn.GRUCell}[cls]
    sn.manual_seed(6)
    ours = cls(3, 5, **extra).to(dtype)
    theirs = tcls(3, 5, **extra).to(getattr(torch, np.dtype(dtype).name))
    assert list(theirs.state_dict()) == list(ours.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3)).astype(dtype)
    hx = _states(mode, rng, (2, 5), dtype)
    xs, xt = sn.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hs_ = tuple(sn.Tensor(h, requires_grad=True) for h in _flat(hx))
    ht_ = tuple(torch.tensor(h, requires_grad=True) for h in _flat(hx))
    out_s = _flat(ours(xs, hs_ if mode == "lstm" else hs_[0]))
    out_t = _flat(theirs(xt, ht_ if mode == "lstm" else ht_[0]))
    cot = [rng.standard_normal(o.shape).astype(dtype) for o in out_s]
    gs = sn.grad(sum((o * c).sum() for o, c in zip(out_s, cot)), [xs, *hs_, *ours.parameters()])
    gt = torch.autograd.grad(sum((o * torch.from_numpy(c)).sum() for o, c in zip(out_t, cot)),
                             [xt, *ht_, *theirs.parameters()])
    for a, b in zip([o.data for o in out_s] + gs, [o.detach().numpy() for o in out_t] + [g.numpy() for g in gt]):
        np.testing.assert_allclose(a, b, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=atol)


def test_unbatched_input_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = _torch_pair(torch, "lstm", np.float64, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 3))
    hx = _states("lstm", rng, (4, 5))
    out, (h, c) = ours(x, hx)
    tout, (th, tc) = theirs(torch.from_numpy(x), tuple(torch.from_numpy(s) for s in hx))
    assert out.shape == (4, 10) and h.shape == (4, 5)
    for a, b in ((out, tout), (h, th), (c, tc)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12)


# ----------------------------------------------------------------------------
# a vanilla RNN against a hand-derived BPTT (min-char-rnn style)
# ----------------------------------------------------------------------------
def _min_char_rnn(xs, targets, Wxh, Whh, bxh, bhh, Why, by, h0):
    """Forward and backward of a tanh RNN with a softmax readout, written out
    by hand as in Karpathy's min-char-rnn (one sequence, column vectors)."""
    hs, ps = {-1: h0}, {}
    loss = 0.0
    for t in range(len(xs)):
        hs[t] = np.tanh(Wxh @ xs[t] + bxh + Whh @ hs[t - 1] + bhh)
        y = Why @ hs[t] + by
        ps[t] = np.exp(y - y.max()) / np.exp(y - y.max()).sum()
        loss += -np.log(ps[t][targets[t]])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    db, dby = np.zeros_like(bxh), np.zeros_like(by)
    dhnext = np.zeros_like(h0)
    for t in reversed(range(len(xs))):
        dy = ps[t].copy()
        dy[targets[t]] -= 1                        # softmax + cross-entropy
        dWhy += np.outer(dy, hs[t])
        dby += dy
        dh = Why.T @ dy + dhnext                   # into h_t: readout + the future
        draw = (1 - hs[t] ** 2) * dh               # through tanh
        db += draw
        dWxh += np.outer(draw, xs[t])
        dWhh += np.outer(draw, hs[t - 1])
        dhnext = Whh.T @ draw
    return loss, dWxh, dWhh, db, db.copy(), dWhy, dby, dhnext


@pytest.mark.parametrize("path", ["fused", "composed"])
def test_vanilla_rnn_matches_hand_written_bptt(path):
    rng = np.random.default_rng(10)
    T, V, H = 7, 5, 6
    sn.manual_seed(11)
    rnn = nn.RNN(V, H, path=path).double()
    Why, by = rng.standard_normal((V, H)) * 0.3, rng.standard_normal(V) * 0.1
    ids, targets = rng.integers(0, V, T), rng.integers(0, V, T)
    xs = np.eye(V)[ids]                                                   # one-hot (T, V)
    h0 = rng.standard_normal(H) * 0.5
    ref = _min_char_rnn(list(xs), targets, *(p.data for p in rnn.parameters()), Why, by, h0)

    h0_t = sn.Tensor(h0[None, None], requires_grad=True)                  # (1, 1, H)
    Why_t, by_t = sn.Tensor(Why, requires_grad=True), sn.Tensor(by, requires_grad=True)
    out, _ = rnn(xs[:, None, :], h0_t)                                    # (T, 1, H)
    logits = out.reshape(T, H) @ Why_t.T + by_t
    loss = -(logits.log_softmax(axis=-1)[np.arange(T), targets]).sum()
    grads = sn.grad(loss, [*rnn.parameters(), Why_t, by_t, h0_t])
    np.testing.assert_allclose(loss.item(), ref[0], rtol=1e-12)
    for g, r in zip(grads, ref[1:]):
        np.testing.assert_allclose(g.reshape(r.shape), r, atol=1e-12)


# ----------------------------------------------------------------------------
# API details
# ----------------------------------------------------------------------------
def test_state_dict_keys_and_shapes():
    model = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    keys = [f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    sd = model.state_dict()
    assert list(sd) == keys
    assert sd["weight_ih_l0"].shape == (12, 3) and sd["weight_ih_l1"].shape == (12, 8)
    assert sd["weight_hh_l1_reverse"].shape == (12, 4) and sd["bias_hh_l0"].shape == (12,)
    assert list(nn.LSTM(3, 4, bias=False).state_dict()) == ["weight_ih_l0", "weight_hh_l0"]


def test_init_is_uniform_in_bound():
    sn.manual_seed(0)
    model = nn.LSTM(10, 100)
    for p in model.parameters():
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= 0.1 and np.abs(p.data).max() > 0.09


@pytest.mark.parametrize("path", ["fused", "composed"])
def test_float32_stays_float32(path):
    model = nn.GRU(3, 4, num_layers=2, path=path)
    x = sn.Tensor(np.ones((5, 2, 3), np.float32), requires_grad=True)
    out, hn = model(x)
    assert out.dtype == np.float32 and hn.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_output_shapes():
    x = np.zeros((2, 7, 3), np.float32)
    out, (h, c) = nn.LSTM(3, 4, num_layers=3, bidirectional=True, batch_first=True)(x)
    assert out.shape == (2, 7, 8) and h.shape == (6, 2, 4) and c.shape == (6, 2, 4)
    out, h = nn.RNN(3, 4)(x[0])                    # unbatched (T, I)
    assert out.shape == (7, 4) and h.shape == (1, 4)
    assert nn.GRUCell(3, 4)(x[0, 0]).shape == (4,)
    h, c = nn.LSTMCell(3, 4)(x[0])
    assert h.shape == (7, 4) and c.shape == (7, 4)


def test_no_grad_records_nothing_and_eval_disables_dropout():
    model = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    with sn.no_grad():
        out, _ = model(x)
    assert out.grad_fn is None
    model.eval()
    a, b = model(x)[0].data, model(x)[0].data
    assert np.array_equal(a, b)


def test_errors_name_the_layer_and_shapes():
    model = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"LSTM: input .*I = 3.*\(5, 2, 2\)"):
        model(np.zeros((5, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"LSTM: hx has shape \(2, 2, 4\), expected \(1, 2, 4\)"):
        model(np.zeros((5, 2, 3), np.float32), (np.zeros((2, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(TypeError, match="pair"):
        model(np.zeros((5, 2, 3), np.float32), np.zeros((1, 2, 4)))
    with pytest.raises(TypeError, match="float64"):
        model(sn.Tensor(np.zeros((5, 2, 3))))
    with pytest.raises(ValueError, match="path"):
        nn.GRU(3, 4, path="fast")
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="empty"):
        model(np.zeros((0, 2, 3), np.float32))
    with pytest.raises(ValueError, match="GRUCell: input"):
        nn.GRUCell(3, 4)(np.zeros((2, 5), np.float32))


def test_long_sequence_backprops_on_both_paths():
    model = nn.GRU(2, 3)
    x = np.random.default_rng(0).standard_normal((2000, 1, 2)).astype(np.float32)
    for path in ("fused", "composed"):
        model.path = path
        model.zero_grad()
        out, _ = model(x)
        out.sum().backward()
        assert np.isfinite(model.weight_hh_l0.grad).all()


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("path", ["fused", "composed"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_empty_batch_matches_pytorch(mode, path, batch_first):
    """B = 0 is defined in PyTorch (empty outputs, zero weight gradients); the
    fused backward used to fail reshaping dx with -1 and adding dh_n into a
    read-only incoming gradient."""
    torch = pytest.importorskip("torch")
    ours, theirs = _torch_pair(torch, mode, np.float64, num_layers=2, bidirectional=True,
                               batch_first=batch_first)
    ours.path = path
    x = np.zeros((0, 3, 3) if batch_first else (3, 0, 3))
    hx = _states(mode, np.random.default_rng(0), (4, 0, 5))
    for hx_ in (None, hx):
        mine = _outputs_and_grads(ours, x, hx_, None)
        ref = _torch_outputs_and_grads(torch, theirs, x, hx_)
        for a, b in zip(mine, ref):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def test_fused_backward_does_not_write_into_the_incoming_gradient():
    """With B = 1 the (T, B, H) -> (T, H, B) transpose is already contiguous;
    the backward must still copy before adding dh_n into the last step."""
    from scratchnet.kernels.recurrent import recurrent_backward, recurrent_forward
    rng = np.random.default_rng(0)
    x, w_ih, w_hh = rng.standard_normal((4, 1, 3)), rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    _, _, _, saved = recurrent_forward("gru", x, np.zeros((1, 2)), None, w_ih, w_hh)
    dhs, dhn = rng.standard_normal((4, 1, 2)), rng.standard_normal((1, 2))
    before = dhs.copy()
    dhs.flags.writeable = False
    dx = recurrent_backward(saved, dhs, dhn)[0]
    np.testing.assert_array_equal(dhs, before)
    dhs2 = before.copy()
    dhs2[-1] += dhn
    np.testing.assert_allclose(recurrent_backward(saved, dhs2, None)[0], dx, rtol=1e-12)


def test_state_shape_errors_name_h_or_c_and_the_layout():
    """A wrong h_0 / c_0 says which of the pair and the expected layout (with
    proj_size, h_0 is (L*D, B, P) but c_0 stays (L*D, B, H))."""
    f32 = lambda *s: np.zeros(s, np.float32)   # noqa: E731
    with pytest.raises(ValueError, match=r"LSTM: hx has shape \(1, 2, 2\), expected \(1, 2, 4\) for c_0 "
                                         r"= \(num_layers \* num_directions, batch, hidden_size\)"):
        nn.LSTM(3, 4, proj_size=2)(f32(5, 2, 3), (f32(1, 2, 2), f32(1, 2, 2)))
    with pytest.raises(ValueError, match=r"GRU: hx has shape \(1, 1, 4\), expected \(2, 4\) for h_0 "
                                         r"= \(num_layers \* num_directions, hidden_size\) for a 2-D"):
        nn.GRU(3, 4, bidirectional=True)(f32(5, 3), f32(1, 1, 4))
    with pytest.raises(ValueError, match=r"LSTMCell: hx has shape \(2, 5\), expected \(2, 4\) for c "
                                         r"= \(batch, hidden_size\)"):
        nn.LSTMCell(3, 4)(f32(2, 3), (f32(2, 4), f32(2, 5)))


@pytest.mark.parametrize("mode,kw", [("gru", dict(bias=False, num_layers=2, bidirectional=True)),
                                     ("lstm", dict(proj_size=2, num_layers=2, bidirectional=True)),
                                     ("rnn_relu", dict())])
def test_all_weights_and_flatten_parameters_like_pytorch(mode, kw):
    torch = pytest.importorskip("torch")
    ours, theirs = _torch_pair(torch, mode, np.float64, **kw)
    assert [[p.shape for p in ps] for ps in ours.all_weights] == \
        [[tuple(p.shape) for p in ps] for ps in theirs.all_weights]
    assert [p for ps in ours.all_weights for p in ps] == list(ours.parameters())
    assert ours.flatten_parameters() is None


@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 4, num_layers=2, proj_size=2).to(np.float64),
                                  lambda: nn.GRUCell(3, 16), lambda: nn.RNN(3, 9, bias=False)])
def test_reset_parameters_redraws_in_place_in_bound(make):
    model = make()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    arrays = [p.data for p in model.parameters()]
    model.reset_parameters()
    for (name, old), p, arr in zip(before.items(), model.parameters(), arrays):
        assert p.data is arr and p.dtype == old.dtype
        assert not np.array_equal(p.data, old), name
        assert np.abs(p.data).max() <= 1 / np.sqrt(model.hidden_size)
