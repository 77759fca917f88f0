"""Parity audit of nn layers against torch.nn: options, shapes and bad inputs
beyond the per-layer test files (weights copied key for key, outputs and
gradients of inputs and parameters compared)."""
import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn
from scratchnet.nn import init

torch = pytest.importorskip("torch")


def _copy(theirs, ours):
    """torch -> scratchnet weights; the state_dict keys must be identical, in order."""
    assert list(theirs.state_dict()) == list(ours.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _close(ours, theirs, tol=1e-9):
    ours = ours.data if isinstance(ours, sn.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


# ---------------------------------------------------------------- recurrent
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional,batched,hx_kind", [
    (3, True, True, "numpy"), (2, False, False, "tensor"), (1, True, False, None)])
def test_recurrent_layers_match_torch(mode, layers, bidirectional, batched, hx_kind):
    rng = np.random.default_rng(0)
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=True, dropout=0.0)
    theirs = getattr(torch.nn, mode)(3, 4, **kwargs).double()
    ours = getattr(nn, mode)(3, 4, **kwargs).double()
    _copy(theirs, ours)
    x = rng.standard_normal((2, 5, 3) if batched else (5, 3))
    n = layers * (2 if bidirectional else 1)
    states = [rng.standard_normal((n, 2, 4) if batched else (n, 4)) for _ in range(2 if mode == "LSTM" else 1)]
    t_states = [torch.tensor(s, requires_grad=True) for s in states]
    s_states = [sn.tensor(s, requires_grad=True) for s in states] if hx_kind == "tensor" else states
    pack = (lambda s: tuple(s)) if mode == "LSTM" else (lambda s: s[0])
    tx, sx = torch.tensor(x, requires_grad=True), sn.tensor(x, requires_grad=True)
    t_out, t_hn = theirs(tx, None if hx_kind is None else pack(t_states))
    s_out, s_hn = ours(sx, None if hx_kind is None else pack(s_states))
    t_hn, s_hn = (t_hn, s_hn) if mode == "LSTM" else ((t_hn,), (s_hn,))
    _close(s_out, t_out)
    for a, b in zip(s_hn, t_hn):
        _close(a, b)
    w = rng.standard_normal(t_out.shape)
    ((t_out * torch.tensor(w)).sum() + sum((h ** 2).sum() for h in t_hn)).backward()
    ((s_out * w).sum() + sum((h ** 2).sum() for h in s_hn)).backward()
    _close(sx.grad, tx.grad)
    if hx_kind == "tensor":
        for a, b in zip(s_states, t_states):
            _close(a.grad, b.grad)
    for (name, p), (_, q) in zip(theirs.named_parameters(), ours.named_parameters()):
        _close(q.grad, p.grad)


def test_recurrent_constructor_checks_like_torch():
    with pytest.raises(TypeError, match="GRU: hidden_size must be an int, got float"):
        nn.GRU(3, 4.0)
    with pytest.raises(TypeError, match="LSTMCell: input_size must be an int"):
        nn.LSTMCell("3", 4)
    with pytest.raises(ValueError, match="RNN: hidden_size must be a positive int, got 0"):
        nn.RNN(3, 0)
    with pytest.raises(TypeError, match=r"LSTM: dropout must be a number in \[0, 1\], got True"):
        nn.LSTM(3, 4, num_layers=2, dropout=True)
    with pytest.warns(UserWarning, match="dropout=0.5 with num_layers=1 has no effect"):
        nn.GRU(3, 4, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.GRU(3, 4, num_layers=2, dropout=0.5)


def test_lstm_state_must_be_a_pair():
    x = np.zeros((5, 2, 3))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a pair \(h_0, c_0\) \(a tuple\), got a single "
                                        r"ndarray of shape \(2, 2, 4\)"):
        nn.LSTM(3, 4)(x, np.zeros((2, 2, 4)))        # would otherwise split into h, c of shape (2, 4)
    with pytest.raises(TypeError, match=r"LSTMCell: hx must be a pair \(h, c\) \(a tuple\), got a single Tensor"):
        nn.LSTMCell(3, 4)(np.zeros((2, 3)), sn.zeros(2, 4))
    h, c = nn.LSTMCell(3, 4)(np.zeros((2, 3)), [np.zeros((2, 4)), np.zeros((2, 4))])   # a list is a pair too
    assert h.shape == c.shape == (2, 4)


# ---------------------------------------------------------------- init, Linear, Embedding
@pytest.mark.parametrize("fn", [init.kaiming_uniform_, init.kaiming_normal_])
@pytest.mark.parametrize("shape", [(3, 0), (0, 4), (2, 0, 3)])
def test_kaiming_on_a_zero_element_tensor_is_a_no_op_with_a_warning(fn, shape):
    t = nn.Parameter(np.zeros(shape))
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert fn(t) is t
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert init.orthogonal_(t) is t and init.xavier_uniform_(t) is t


def test_linear_with_zero_in_features_constructs_like_torch():
    with pytest.warns(UserWarning, match="zero-element"):
        m = nn.Linear(0, 3)
    assert m.weight.shape == (3, 0)
    np.testing.assert_array_equal(m.bias.data, np.zeros(3))      # bound 1/sqrt(0) is taken as 0


@pytest.mark.parametrize("freeze", [True, False])
@pytest.mark.parametrize("padding_idx", [None, 1, -1])
def test_embedding_from_pretrained_matches_torch(freeze, padding_idx):
    w = np.random.default_rng(0).standard_normal((5, 3))
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=freeze, padding_idx=padding_idx)
    ours = nn.Embedding.from_pretrained(w, freeze=freeze, padding_idx=padding_idx)
    assert ours.padding_idx == theirs.padding_idx
    assert ours.weight.requires_grad == theirs.weight.requires_grad == (not freeze)
    ids = np.array([[1, 4, 0], [4, 4, 2]])
    t_out, s_out = theirs(torch.tensor(ids)), ours(ids)
    _close(s_out, t_out)                                     # padding row kept as given, as torch
    if not freeze:
        t_out.sum().backward()
        s_out.sum().backward()
        _close(ours.weight.grad, theirs.weight.grad)
    with pytest.raises(ValueError, match=r"Embedding.from_pretrained: embeddings must be 2-D .*\(3,\)"):
        nn.Embedding.from_pretrained(np.zeros(3))


# ---------------------------------------------------------------- containers
def _layers(lib):
    return [lib.Linear(2, 2), lib.ReLU(), lib.Linear(2, 3), lib.Tanh()]


def _layout(container):
    """(name, type, weight shape) of each entry: what state_dict keys and indexing see."""
    return [(k, type(m).__name__, tuple(getattr(m, "weight", np.zeros(0)).shape))
            for k, m in container._modules.items()]


LIST_OPS = {
    "insert": lambda c, lib: c.insert(1, lib.Linear(2, 4)),
    "insert-end": lambda c, lib: c.insert(len(c), lib.Linear(1, 1)),
    "del": lambda c, lib: c.__delitem__(1),
    "del-negative": lambda c, lib: c.__delitem__(-1),
    "del-slice": lambda c, lib: c.__delitem__(slice(None, None, 2)),
    "pop": lambda c, lib: c.pop(1),
    "setitem": lambda c, lib: c.__setitem__(-2, lib.Linear(7, 7)),
    "extend": lambda c, lib: c.extend([lib.Linear(3, 3)]),
    "iadd": lambda c, lib: c.__iadd__(type(c)([lib.Linear(3, 4)]) if isinstance(c, lib.ModuleList)
                                      else type(c)(lib.Linear(3, 4))),
}


@pytest.mark.parametrize("op", list(LIST_OPS))
@pytest.mark.parametrize("kind", ["Sequential", "ModuleList"])
def test_container_list_operations_match_torch(kind, op):
    build = (lambda lib: lib.Sequential(*_layers(lib))) if kind == "Sequential" else \
        (lambda lib: lib.ModuleList(_layers(lib)))
    ours, theirs = build(nn), build(torch.nn)
    LIST_OPS[op](ours, nn)
    LIST_OPS[op](theirs, torch.nn)
    assert _layout(ours) == _layout(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    joined, t_joined = build(nn) + build(nn), build(torch.nn) + build(torch.nn)
    assert type(joined) is type(ours) and _layout(joined) == _layout(t_joined)


def test_container_errors_and_module_dict_operations():
    seq = nn.Sequential(*_layers(nn))
    with pytest.raises(IndexError, match="Sequential: index 4 is out of range for 4 modules"):
        seq[4]
    with pytest.raises(TypeError, match="Sequential indices must be integers or slices, got str"):
        seq["0"]
    with pytest.raises(IndexError, match="insert: index 9 is out of range"):
        seq.insert(9, nn.ReLU())
    ours = nn.ModuleDict([("a", nn.Linear(1, 1)), ("b", nn.ReLU())])
    theirs = torch.nn.ModuleDict([("a", torch.nn.Linear(1, 1)), ("b", torch.nn.ReLU())])
    for d, lib in ((ours, nn), (theirs, torch.nn)):
        d.update({"c": lib.Tanh(), "a": lib.Linear(2, 2)})
        assert isinstance(d.pop("b"), lib.ReLU)
    assert _layout(ours) == _layout(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    del ours["c"]
    assert list(ours) == ["a"]
    ours.clear()
    assert len(ours) == 0


def test_get_submodule_and_get_parameter_like_torch():
    ours = nn.Sequential(nn.Linear(2, 2), nn.ModuleDict({"head": nn.Linear(2, 1)}))
    assert ours.get_submodule("1.head") is ours[1]["head"] and ours.get_submodule("") is ours
    assert ours.get_parameter("1.head.bias") is ours[1]["head"].bias
    with pytest.raises(AttributeError, match="ModuleDict has no submodule `tail`"):
        ours.get_submodule("1.tail")
    with pytest.raises(AttributeError, match="Linear has no parameter `scale`"):
        ours.get_parameter("0.scale")


def test_module_zero_grad_set_to_none_false_zeroes_in_place_like_torch():
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    ours(np.ones((1, 3))).sum().backward()
    theirs(torch.ones(1, 3)).sum().backward()
    grad = ours.weight.grad
    ours.zero_grad(set_to_none=False)
    theirs.zero_grad(set_to_none=False)
    assert ours.weight.grad is grad
    _close(ours.weight.grad, theirs.weight.grad)
    ours.zero_grad()
    assert ours.weight.grad is None and ours.bias.grad is None


@pytest.mark.parametrize("path", ["fused", "composed"])
@pytest.mark.parametrize("layers,bidirectional,batched", [(2, True, True), (1, False, False)])
def test_lstm_proj_size_matches_torch(path, layers, bidirectional, batched):
    rng = np.random.default_rng(1)
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=True, proj_size=2)
    theirs = torch.nn.LSTM(3, 5, **kwargs).double()
    ours = nn.LSTM(3, 5, path=path, **kwargs).double()
    _copy(theirs, ours)                                      # weight_hr_l{k} after the biases
    n = layers * (2 if bidirectional else 1)
    x = rng.standard_normal((2, 4, 3) if batched else (4, 3))
    h0, c0 = (rng.standard_normal((n, 2, s) if batched else (n, s)) for s in (2, 5))
    th0, tc0 = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    sh0, sc0 = sn.tensor(h0, requires_grad=True), sn.tensor(c0, requires_grad=True)
    tx, sx = torch.tensor(x, requires_grad=True), sn.tensor(x, requires_grad=True)
    t_out, (t_h, t_c) = theirs(tx, (th0, tc0))
    s_out, (s_h, s_c) = ours(sx, (sh0, sc0))
    for a, b in ((s_out, t_out), (s_h, t_h), (s_c, t_c)):
        _close(a, b)
    ((t_out ** 2).sum() + 2 * t_h.sum() + (t_c ** 2).sum()).backward()
    ((s_out ** 2).sum() + 2 * s_h.sum() + (s_c ** 2).sum()).backward()
    for a, b in ((sx, tx), (sh0, th0), (sc0, tc0)):
        _close(a.grad, b.grad)
    for (name, p), (_, q) in zip(theirs.named_parameters(), ours.named_parameters()):
        _close(q.grad, p.grad)


def test_lstm_proj_size_checks():
    with pytest.raises(ValueError, match=r"LSTM: proj_size \(5\) must be smaller than hidden_size \(5\)"):
        nn.LSTM(3, 5, proj_size=5)
    with pytest.raises(ValueError, match="GRU: proj_size is only supported by LSTM"):
        nn.GRU(3, 5, proj_size=2)
    with pytest.raises(ValueError, match=r"LSTM: hx has shape \(1, 2, 5\), expected \(1, 2, 2\)"):
        nn.LSTM(3, 5, proj_size=2)(np.zeros((4, 2, 3)), (np.zeros((1, 2, 5)), np.zeros((1, 2, 5))))
