"""Module, Parameter, containers, state_dict / load_state_dict, train/eval,
parameter de-duplication, summary."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(0.5), nn.Linear(2 * d, d))

    def forward(self, x):
        return x + self.ff(self.ln(x))


class Net(nn.Module):
    def __init__(self, vocab=11, d=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        self.blocks = nn.ModuleList([Block(d) for _ in range(2)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(d, 3), "aux": nn.Sequential(nn.Linear(d, d), nn.Tanh())})
        self.register_buffer("scale", np.ones(d, dtype=np.float32))
        self.drop = nn.Dropout(0.2)

    def forward(self, ids):
        h = self.drop(self.emb(ids)) * sn.Tensor(self.scale)
        for b in self.blocks:
            h = b(h)
        return self.heads["cls"](h) + self.heads["aux"](h).sum(axis=-1, keepdims=True)


def _torch_net(torch, vocab=11, d=4):
    tnn = torch.nn

    class TBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln = tnn.LayerNorm(d)
            self.ff = tnn.Sequential(tnn.Linear(d, 2 * d), tnn.GELU(), tnn.Dropout(0.5), tnn.Linear(2 * d, d))

        def forward(self, x):
            return x + self.ff(self.ln(x))

    class TNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb = tnn.Embedding(vocab, d, padding_idx=0)
            self.blocks = tnn.ModuleList([TBlock() for _ in range(2)])
            self.heads = tnn.ModuleDict({"cls": tnn.Linear(d, 3), "aux": tnn.Sequential(tnn.Linear(d, d), tnn.Tanh())})
            self.register_buffer("scale", torch.ones(d))
            self.drop = tnn.Dropout(0.2)

        def forward(self, ids):
            h = self.drop(self.emb(ids)) * self.scale
            for b in self.blocks:
                h = b(h)
            return self.heads["cls"](h) + self.heads["aux"](h).sum(-1, keepdim=True)
    return TNet()


# ------------------------------------------------------------------ state dict
def test_state_dict_keys_and_shapes_equal_torch_for_nested_containers():
    torch = pytest.importorskip("torch")
    ours, theirs = Net(), _torch_net(torch)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    assert {k: v.shape for k, v in sd.items()} == {k: tuple(v.shape) for k, v in tsd.items()}
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_weights_copied_to_torch_give_same_outputs():
    torch = pytest.importorskip("torch")
    ours, theirs = Net().eval(), _torch_net(torch).eval()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    ids = np.array([[1, 5, 0], [10, 2, 2]])
    np.testing.assert_allclose(ours(ids).data, theirs(torch.tensor(ids)).detach().numpy(), atol=1e-5)


def test_state_dict_returns_copies_and_round_trips():
    a, b = Net(), Net()
    sd = a.state_dict()
    sd["emb.weight"][...] = 123            # a copy: the model is untouched
    assert not np.any(a.emb.weight.data == 123)
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(v, v2)


def test_load_state_dict_keeps_parameter_objects_and_dtype():
    m = nn.Linear(3, 2)
    w = m.weight
    m.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2)})     # float64 given
    assert m.weight is w and w.dtype == np.float32 and np.all(w.data == 1)


def test_load_state_dict_errors_name_the_keys():
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    sd = m.state_dict()
    missing = dict(sd)
    del missing["2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]"):
        m.load_state_dict(missing)
    with pytest.raises(ValueError, match="unexpected keys.*'3.weight'"):
        m.load_state_dict({**sd, "3.weight": np.zeros(1)})
    bad = {**sd, "0.weight": np.zeros((2, 4))}
    with pytest.raises(ValueError, match=r"0.weight.*\(2, 4\).*\(2, 3\)"):
        m.load_state_dict(bad)
    before = m.state_dict()
    with pytest.raises(ValueError):       # nothing changed by a failed load
        m.load_state_dict({**{k: v + 1 for k, v in sd.items()}, "extra": np.zeros(1)})
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    result = m.load_state_dict({**missing, "3.weight": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["3.weight"]


def test_buffers_in_state_dict_not_in_parameters():
    net = Net()
    assert "scale" in net.state_dict()
    assert all(n != "scale" for n, _ in net.named_parameters())
    net.register_buffer("tmp", np.zeros(2), persistent=False)
    assert "tmp" not in net.state_dict()
    net.load_state_dict({**net.state_dict(), "scale": np.full(4, 2.0)})
    assert net.scale.dtype == np.float32 and np.all(net.scale == 2)


def test_assigning_to_a_buffer_name_updates_the_buffer():
    net = Net()
    net.scale = np.full(4, 3.0, dtype=np.float32)
    assert "scale" in net.state_dict()
    np.testing.assert_array_equal(net.state_dict()["scale"], np.full(4, 3.0))


def test_shared_module_appears_under_every_name_like_torch():
    torch = pytest.importorskip("torch")
    shared = nn.Linear(2, 2)
    ours = nn.Sequential(shared, nn.ReLU(), shared)
    tshared = torch.nn.Linear(2, 2)
    theirs = torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(list(ours.parameters())) == 2
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


# ------------------------------------------------------------------ parameters
def test_parameters_deduplicate_shared_parameters():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(7, 3)
            self.out = nn.Linear(3, 7, bias=False)
            self.out.weight = self.emb.weight

        def forward(self, ids):
            return self.out(self.emb(ids))

    m = Tied()
    assert len(list(m.parameters())) == 1
    assert m.num_parameters() == 21
    assert list(m.state_dict()) == ["emb.weight", "out.weight"]      # PyTorch lists both names
    m(np.array([1, 2])).sum().backward()
    assert m.emb.weight.grad is not None                               # both uses accumulate into one grad


def test_parameter_is_leaf_float_and_requires_grad():
    p = nn.Parameter(np.ones(3, dtype=np.float64))
    assert p.requires_grad and p.is_leaf and p.dtype == np.float64
    assert nn.Parameter(sn.ones(2)).dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.arange(3))
    assert not nn.Parameter(np.ones(2), requires_grad=False).requires_grad


def test_named_modules_children_and_zero_grad():
    net = Net()
    names = [n for n, _ in net.named_modules()]
    assert names[:4] == ["", "emb", "blocks", "blocks.0"]
    assert [n for n, _ in net.named_children()] == ["emb", "blocks", "heads", "drop"]
    net.eval()
    net(np.array([[1, 2]])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_eval_switches_dropout_in_submodules():
    net = Net()
    ids = np.array([[1, 2, 3, 4]])
    assert net.training and all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    np.testing.assert_array_equal(net(ids).data, net(ids).data)      # deterministic
    net.train()
    assert all(m.training for m in net.modules())
    sn.manual_seed(0)
    a = net(ids).data
    sn.manual_seed(1)
    b = net(ids).data
    assert not np.allclose(a, b)                                     # dropout active
    assert net.blocks[0].ff[2].train(False) is net.blocks[0].ff[2]
    assert net.training and not net.blocks[0].ff[2].training


def test_to_double_converts_params_and_buffers():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.scale.dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    with pytest.raises(TypeError):
        net.to(np.int32)


# ------------------------------------------------------------------ containers
def test_sequential_indexing_len_iter_append_and_slicing_keeps_keys():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and list(seq)[1] is seq[1]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]          # PyTorch keeps the names
    seq.append(nn.Sigmoid())
    assert len(seq) == 4
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]


def test_sequential_slice_keys_match_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert list(ours[1:].state_dict()) == list(theirs[1:].state_dict())


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.Linear(2, 3)).extend([nn.ReLU()])
    assert len(ml) == 3 and list(ml.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    ml[0] = nn.Linear(2, 5)
    assert ml[0].out_features == 5
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.Tanh()
    assert "a" in md and list(md) == ["a", "b"] and len(md) == 2 and list(md.keys()) == ["a", "b"]
    with pytest.raises(TypeError):
        ml.append("not a module")


def test_setattr_before_init_and_unknown_attribute_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match="super"):
        Bad()
    with pytest.raises(AttributeError, match="nope"):
        nn.Linear(1, 1).nope


def test_forward_hook_and_repr():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seen = []
    handle = seq[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    seq(sn.ones(4, 2))
    handle.remove()
    seq(sn.ones(4, 2))
    assert seen == [(4, 3)]
    assert repr(seq) == ("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                         "  (1): ReLU()\n)")


# --------------------------------------------------------------------- summary
def test_summary_mlp_totals_equal_num_parameters():
    mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 4))
    text = mlp.summary((5, 8), print_fn=None)
    assert mlp.num_parameters() == 8 * 16 + 16 + 16 * 4 + 4
    assert f"Total params: {mlp.num_parameters():,}" in text
    assert "(5, 16)" in text and "(5, 4)" in text and "Linear" in text
    assert mlp.training                                # summary restores the mode


def test_summary_with_embedding_and_int_example():
    net = Net()
    printed = []
    text = net.summary((2, 6), dtype=np.int64, print_fn=printed.append)
    assert printed == [text]
    assert f"Total params: {net.num_parameters():,}" in text
    assert "Embedding" in text and "(2, 6, 4)" in text and "(2, 6, 3)" in text
    rows = [line.split() for line in text.splitlines() if line.startswith(("emb", "blocks", "heads"))]
    assert sum(int(r[-1].replace(",", "")) for r in rows) == net.num_parameters()


def test_summary_accepts_a_tensor_example_and_counts_frozen_parameters():
    mlp = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    mlp[0].requires_grad_(False)
    text = mlp.summary(sn.randn(1, 3), print_fn=None)
    assert "Total params: 14" in text and "Trainable params: 6" in text and "Non-trainable params: 8" in text
