"""Optimizers: the same gradients give the same parameters as torch.optim,
step after step, for every option; groups, state_dict, errors, penalties."""
import itertools

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn, optim

SHAPES = [(3, 4), (4,)]
STEPS = 10


def _params(dtype, seed=0):
    r = np.random.default_rng(seed)
    return [r.normal(size=s).astype(dtype) for s in SHAPES]


def _grads(dtype, seed=1):
    """A fixed gradient sequence; parameter 1 has no gradient at step 3."""
    r = np.random.default_rng(seed)
    seq = [[r.normal(size=s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    seq[3][1] = None
    return seq


def _run_both(ours_cls, torch_name, kwargs, dtype=np.float32, groups=None, on_step=None):
    """Run both optimizers over the same gradients; yield the parameters after each step."""
    torch = pytest.importorskip("torch")
    init = _params(dtype)
    ps = [sn.Tensor(a.copy(), requires_grad=True) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    wrap = groups or (lambda p: p)
    ours = ours_cls(wrap(ps), **kwargs)
    theirs = getattr(torch.optim, torch_name)(wrap(ts), **kwargs)
    for i, grads in enumerate(_grads(dtype)):
        for p, t, g in zip(ps, ts, grads):
            p.grad = None if g is None else g.copy()
            t.grad = None if g is None else torch.tensor(g)
        ours.step()
        theirs.step()
        if on_step:
            on_step(i, ours, theirs)
        yield i, ps, ts


def _check_parity(ours_cls, torch_name, kwargs, dtype=np.float32, **kw):
    rtol, atol = (2e-6, 1e-6) if dtype == np.float32 else (1e-12, 1e-14)
    for i, ps, ts in _run_both(ours_cls, torch_name, kwargs, dtype, **kw):
        for p, t in zip(ps, ts):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{torch_name} {kwargs} step {i}")
            assert p.dtype == dtype


def _combos(**options):
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


SGD_CASES = [c for c in _combos(lr=[0.1], momentum=[0, 0.9], dampening=[0, 0.3],
                                nesterov=[False, True], weight_decay=[0, 0.1], maximize=[False, True])
             if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
ADAM_CASES = _combos(lr=[0.01], betas=[(0.9, 0.999), (0.3, 0.8)], eps=[1e-8, 1e-3],
                     weight_decay=[0, 0.1], amsgrad=[False, True], maximize=[False, True])
RMSPROP_CASES = _combos(lr=[0.01], alpha=[0.99, 0.3], eps=[1e-8], weight_decay=[0, 0.1],
                        momentum=[0, 0.5], centered=[False, True], maximize=[False, True])


def _ids(cases):
    return [",".join(f"{k}={v}" for k, v in c.items()) for c in cases]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=_ids(SGD_CASES))
def test_sgd_matches_torch(kwargs):
    _check_parity(optim.SGD, "SGD", kwargs)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=_ids(ADAM_CASES))
def test_adam_adamw_match_torch(name, kwargs):
    _check_parity(getattr(optim, name), name, kwargs)


@pytest.mark.parametrize("kwargs", RMSPROP_CASES, ids=_ids(RMSPROP_CASES))
def test_rmsprop_matches_torch(kwargs):
    _check_parity(optim.RMSprop, "RMSprop", kwargs)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
])
def test_float64_matches_torch_closely(name, kwargs):
    _check_parity(getattr(optim, name), name, kwargs, dtype=np.float64)


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    t = [torch.zeros(1, requires_grad=True)]
    p = [sn.zeros(1).requires_grad_()]
    for name in ["SGD", "Adam", "AdamW", "RMSprop"]:
        ours, theirs = getattr(optim, name)(p), getattr(torch.optim, name)(t)
        for key, value in ours.defaults.items():
            if key in theirs.defaults:
                assert theirs.defaults[key] == value, (name, key)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_and_lr_written_mid_run_match_torch(name):
    def groups(ps):
        return [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05, "weight_decay": 0.2}]

    def set_lr(i, ours, theirs):   # what a scheduler does: write group['lr']
        for opt in (ours, theirs):
            opt.param_groups[0]["lr"] *= 0.5

    _check_parity(getattr(optim, name), name, dict(lr=0.01, momentum=0.5) if name != "Adam" else
                  dict(lr=0.01), groups=groups, on_step=set_lr)


class _MLP(nn.Module):
    def __init__(self, weights):
        super().__init__()
        self.w1, self.b1, self.w2, self.b2 = (nn.Parameter(w) for w in weights)

    def forward(self, x):
        h = F.relu(sn.matmul(x, self.w1.T) + self.b1)      # (B, H)
        return sn.matmul(h, self.w2.T) + self.b2           # (B, C)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("Adam", dict(lr=0.01)),
                                         ("AdamW", dict(lr=0.01, weight_decay=0.1)),
                                         ("RMSprop", dict(lr=0.01, centered=True))])
def test_small_model_training_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    weights = [r.normal(scale=0.5, size=s).astype(np.float32) for s in [(8, 4), (8,), (3, 8), (3,)]]
    x, y = r.normal(size=(16, 4)).astype(np.float32), r.integers(0, 3, 16)
    model = _MLP(weights)
    tparams = [torch.tensor(w, requires_grad=True) for w in weights]
    ours = getattr(optim, name)(model.parameters(), **kwargs)
    theirs = getattr(torch.optim, name)(tparams, **kwargs)
    for _ in range(STEPS):
        ours.zero_grad()
        F.cross_entropy(model(sn.tensor(x)), y).backward()
        ours.step()
        theirs.zero_grad()
        w1, b1, w2, b2 = tparams
        logits = torch.relu(torch.tensor(x) @ w1.T + b1) @ w2.T + b2
        torch.nn.functional.cross_entropy(logits, torch.tensor(y)).backward()
        theirs.step()
        for p, t in zip(model.parameters(), tparams):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------- behaviour
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_updates_in_place_without_graph_and_keep_dtype(name):
    p = sn.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    q = sn.Tensor(np.ones(3, np.float32), requires_grad=True)     # never gets a grad
    extra = {} if name.startswith("Adam") else {"momentum": 0.9}
    opt = getattr(optim, name)([p, q], lr=0.1, **extra)
    array, before = p.data, q.data.copy()
    for _ in range(2):
        p.grad = np.full((2, 3), 0.5, np.float32)
        opt.step()
    assert p.data is array and p.is_leaf and p.grad_fn is None and p.requires_grad
    assert p.dtype == np.float32 and not np.all(p.data == 1)
    np.testing.assert_array_equal(q.data, before)
    assert q not in opt.state
    for value in opt.state[p].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32 and value.shape == p.shape
    assert np.all(p.grad == 0.5)             # the gradient itself is never modified


def test_zero_grad():
    p = sn.Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.all(g == 0)
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_loss():
    p = sn.Tensor(np.array([2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with sn.no_grad():                       # the closure still records its graph
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.data[0] == 1.0


@pytest.mark.parametrize("call,match", [
    (lambda p: optim.SGD(p, lr=-0.1), "SGD: invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "SGD: invalid momentum value"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Adam: invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "beta parameter at index 1"),
    (lambda p: optim.AdamW(p, eps=-1e-8), "AdamW: invalid epsilon value"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "RMSprop: invalid alpha value"),
    (lambda p: optim.SGD([{"params": p, "lr": -1}]), "learning rate"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([{"params": p}, {"params": p}], lr=0.1), "more than one parameter group"),
])
def test_invalid_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call([sn.Tensor(np.ones(2), requires_grad=True)])


def test_invalid_parameters_raise_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        optim.Adam([sn.Tensor(np.arange(3))])
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.Adam([np.ones(3)])
    with pytest.raises(TypeError, match="ordered iterable"):
        optim.Adam(sn.Tensor(np.ones(2), requires_grad=True))
    x = sn.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([x * 2])


def test_frozen_parameters_are_accepted_and_left_alone_like_torch():
    frozen = sn.Tensor(np.ones(2))                       # requires_grad=False
    live = sn.Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([frozen, live], lr=0.1)
    (live * 3).sum().backward()
    opt.step()
    np.testing.assert_array_equal(frozen.data, np.ones(2))
    assert not np.allclose(live.data, 1.0)


def test_add_param_group_takes_defaults():
    a, b = (sn.Tensor(np.ones(2), requires_grad=True) for _ in range(2))
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "weight_decay": 0.5})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["weight_decay"] == 0.5
    assert opt.param_groups[1]["params"] == [b]


# ----------------------------------------------------------- state_dict
def _train(opt, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.copy()
        opt.step()


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01, betas=(0.8, 0.9))),
                                         ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True))])
def test_state_dict_round_trip_through_save_load(name, kwargs, tmp_path):
    grads = _grads(np.float32)
    cls = getattr(optim, name)
    ref = [sn.Tensor(a, requires_grad=True) for a in _params(np.float32)]
    ref_opt = cls([{"params": ref[:1]}, {"params": ref[1:], "lr": 0.05}], **kwargs)
    _train(ref_opt, ref, grads)

    first = [sn.Tensor(a, requires_grad=True) for a in _params(np.float32)]
    opt = cls([{"params": first[:1]}, {"params": first[1:], "lr": 0.05}], **kwargs)
    _train(opt, first, grads[:5])
    sn.save({"params": [p.data for p in first], "opt": opt.state_dict()}, tmp_path / "ckpt.npz")

    state = sn.load(tmp_path / "ckpt.npz")
    resumed = [sn.Tensor(a, requires_grad=True) for a in state["params"]]
    opt2 = cls([{"params": resumed[:1]}, {"params": resumed[1:], "lr": 0.05}], **kwargs)
    opt2.load_state_dict(state["opt"])
    assert opt2.param_groups[0]["params"][0] is resumed[0]
    _train(opt2, resumed, grads[5:])
    for a, b in zip(resumed, ref):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_layout_matches_torch():
    torch = pytest.importorskip("torch")
    for name, kwargs in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(amsgrad=True)),
                         ("RMSprop", dict(momentum=0.1, centered=True))]:
        ps = [sn.Tensor(a, requires_grad=True) for a in _params(np.float32)]
        ts = [torch.tensor(a, requires_grad=True) for a in _params(np.float32)]
        ours = getattr(optim, name)([{"params": ps[:1]}, {"params": ps[1:]}], **kwargs)
        theirs = getattr(torch.optim, name)([{"params": ts[:1]}, {"params": ts[1:]}], **kwargs)
        _train(ours, ps, _grads(np.float32)[:2])
        for t, g in zip(ts, _grads(np.float32)[0]):
            t.grad = torch.tensor(g)
        theirs.step()
        a, b = ours.state_dict(), theirs.state_dict()
        assert set(a["state"]) == set(b["state"]) == {0, 1}
        for i in a["state"]:
            assert set(a["state"][i]) == set(b["state"][i]), name
        assert [g["params"] for g in a["param_groups"]] == [g["params"] for g in b["param_groups"]]
        assert set(a["param_groups"][0]) <= set(b["param_groups"][0]), name


def test_state_dict_holds_copies_and_load_checks_sizes():
    p = sn.Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"][:] = 100
    assert np.all(opt.state[p]["momentum_buffer"] == 1)
    q = sn.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": [p]}, {"params": [q]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 1 parameters"):
        optim.SGD([p, q], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        optim.SGD([sn.Tensor(np.ones(2), requires_grad=True)], lr=0.1).load_state_dict(sd)


# --------------------------------------------------------- regularisation
def test_l1_l2_penalties():
    a = sn.Tensor(np.array([[1.0, -2.0], [0.5, 3.0]]), requires_grad=True)
    b = sn.Tensor(np.array([-1.5]), requires_grad=True)
    l1 = optim.l1_penalty([a, b], 0.1)
    l2 = optim.l2_penalty([a, b], 0.1)
    assert l1.shape == () and np.isclose(l1.item(), 0.1 * 8.0)
    assert np.isclose(l2.item(), 0.1 * (1 + 4 + 0.25 + 9 + 2.25))
    (l1 + l2).backward()
    np.testing.assert_allclose(a.grad, 0.1 * np.sign(a.data) + 0.2 * a.data)
    assert sn.gradcheck(lambda a, b: optim.l2_penalty([a, b], 0.3) + optim.l1_penalty([a, b], 0.2),
                        [a, b])
    with pytest.raises(ValueError, match="l1_penalty: weight"):
        optim.l1_penalty([a], -1)


def test_l2_penalty_equals_sgd_weight_decay():
    init = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, 0.1, -0.2])
    p, q = (sn.Tensor(init.copy(), requires_grad=True) for _ in range(2))
    decayed = optim.SGD([p], lr=0.1, weight_decay=0.2)
    plain = optim.SGD([q], lr=0.1)
    for _ in range(3):
        p.grad = g.copy()
        decayed.step()
        plain.zero_grad()
        ((q * sn.tensor(g)).sum() + optim.l2_penalty(q, 0.1)).backward()
        plain.step()
    np.testing.assert_allclose(p.data, q.data, rtol=1e-14)
