"""Parity audit against torch.optim: cases beyond tests/optim/test_optimizers.py
and test_schedulers.py (chained schedulers, an lr written by hand, resuming
with ``last_epoch``, ``step(epoch)``, optimizer options, mid-run state_dict)."""
import copy
import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn, optim
from scratchnet.optim import lr_scheduler

torch = pytest.importorskip("torch")

LRS = (0.1, 0.02)


def _pair(lrs=LRS):
    """The same two-group SGD in scratchnet and in torch."""
    ours = optim.SGD([{"params": [sn.Tensor(np.ones(2), requires_grad=True)], "lr": lr} for lr in lrs],
                     lr=0.5)
    theirs = torch.optim.SGD([{"params": [torch.ones(2, requires_grad=True)], "lr": lr} for lr in lrs],
                             lr=0.5)
    return ours, theirs


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


# ------------------------------------------------------------- schedulers
CHAINS = [
    [("ExponentialLR", dict(gamma=0.9)), ("StepLR", dict(step_size=2, gamma=0.5))],
    [("CosineAnnealingLR", dict(T_max=4, eta_min=0.001)), ("ExponentialLR", dict(gamma=0.8))],
    [("StepLR", dict(step_size=3, gamma=0.3)), ("CosineAnnealingLR", dict(T_max=5))],
]


@pytest.mark.parametrize("chain", CHAINS, ids=["exp+step", "cos+exp", "step+cos"])
def test_chained_schedulers_compound_like_torch(chain):
    ours, theirs = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ss = [getattr(lr_scheduler, n)(ours, **kw) for n, kw in chain]
        ts = [getattr(torch.optim.lr_scheduler, n)(theirs, **kw) for n, kw in chain]
        for _ in range(14):
            ours.step()
            theirs.step()
            for s, t in zip(ss, ts):
                s.step()
                t.step()
            np.testing.assert_allclose(_lrs(ours), _lrs(theirs), rtol=1e-12, atol=1e-15)
            assert ss[-1].get_last_lr() == _lrs(ours)


@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=2, gamma=0.5)),
                                         ("ExponentialLR", dict(gamma=0.9)),
                                         ("CosineAnnealingLR", dict(T_max=6, eta_min=0.01))])
def test_lr_written_by_hand_is_carried_on_like_torch(name, kwargs):
    ours, theirs = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = getattr(lr_scheduler, name)(ours, **kwargs)
        t = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
        for step in range(10):
            if step == 3:
                for opt in (ours, theirs):
                    opt.param_groups[0]["lr"] = 0.05
            s.step()
            t.step()
            np.testing.assert_allclose(_lrs(ours), _lrs(theirs), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=2, gamma=0.5)),
                                         ("StepLR", dict(step_size=3)),
                                         ("ExponentialLR", dict(gamma=0.9)),
                                         ("CosineAnnealingLR", dict(T_max=5, eta_min=0.001)),
                                         ("LambdaLR", dict(lr_lambda=lambda e: 0.5 ** e))])
@pytest.mark.parametrize("last_epoch", [3, 4])
def test_resume_with_last_epoch_like_torch(name, kwargs, last_epoch):
    ours, theirs = _pair()
    for opt in (ours, theirs):
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = getattr(lr_scheduler, name)(ours, last_epoch=last_epoch, **kwargs)
        t = getattr(torch.optim.lr_scheduler, name)(theirs, last_epoch=last_epoch, **kwargs)
        for _ in range(8):
            np.testing.assert_allclose(s.get_last_lr(), t.get_last_lr(), rtol=1e-12, atol=1e-15)
            s.step()
            t.step()


@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=2, gamma=0.5)),
                                         ("ExponentialLR", dict(gamma=0.9)),
                                         ("CosineAnnealingLR", dict(T_max=5, eta_min=0.001))])
def test_step_with_epoch_uses_the_closed_form_and_warns(name, kwargs):
    ours, theirs = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = getattr(lr_scheduler, name)(ours, **kwargs)
        t = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
        for epoch in (3, 7, 4):
            t.step(epoch)
            with pytest.warns(UserWarning, match="deprecated"):
                s.step(epoch)
            assert s.last_epoch == epoch
            np.testing.assert_allclose(_lrs(ours), _lrs(theirs), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------- optimizers
def _named_linear(lib):
    """A Linear(3, 2) with fixed weights, in scratchnet or torch."""
    w, b = np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.5, -0.25])
    if lib == "torch":
        m = torch.nn.Linear(3, 2).double()
        m.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})
        return m
    m = nn.Linear(3, 2, dtype=np.float64)
    m.load_state_dict({"weight": w, "bias": b})
    return m


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, foreach=False, fused=None)),
                                         ("Adam", dict(lr=0.01, foreach=True, capturable=False, fused=False)),
                                         ("AdamW", dict(lr=0.01, foreach=None, capturable=True)),
                                         ("RMSprop", dict(lr=0.01, foreach=False, capturable=False))])
def test_pytorch_implementation_flags_are_accepted_and_kept_in_groups(name, kwargs):
    p = [sn.Tensor(np.ones(2), requires_grad=True)]
    ours = getattr(optim, name)(p, **kwargs)
    theirs = getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kwargs)
    assert set(ours.param_groups[0]) == set(theirs.param_groups[0])
    for key in ("foreach", "fused", "capturable", "differentiable"):
        assert ours.param_groups[0].get(key) == theirs.param_groups[0].get(key), key
    with pytest.raises(ValueError, match=f"{name}: differentiable=True is not supported"):
        getattr(optim, name)(p, differentiable=True)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.05, amsgrad=True)),
                                         ("RMSprop", dict(lr=0.01, centered=True))])
def test_named_parameters_as_params_like_torch(name, kwargs, tmp_path):
    ours_m, theirs_m = _named_linear("sn"), _named_linear("torch")
    ours = getattr(optim, name)(ours_m.named_parameters(), **kwargs)
    theirs = getattr(torch.optim, name)(theirs_m.named_parameters(), **kwargs)
    assert ours.param_groups[0]["param_names"] == theirs.param_groups[0]["param_names"] == ["weight", "bias"]
    x = np.arange(12.0).reshape(4, 3) / 10
    for step in range(4):
        if step == 2:                       # resume mid-run from a saved state_dict
            sn.save(ours.state_dict(), tmp_path / "opt.npz")
            ours = getattr(optim, name)(ours_m.named_parameters(), **kwargs)
            ours.load_state_dict(sn.load(tmp_path / "opt.npz"))
            assert ours.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
        for opt, m, inp in ((ours, ours_m, sn.tensor(x)), (theirs, theirs_m, torch.tensor(x))):
            opt.zero_grad()
            (m(inp) ** 2).sum().backward()
            opt.step()
        np.testing.assert_allclose(ours_m.weight.data, theirs_m.weight.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours_m.bias.data, theirs_m.bias.detach().numpy(), rtol=1e-10)


def test_named_and_unnamed_params_do_not_mix():
    m = _named_linear("sn")
    with pytest.raises(ValueError, match="SGD: a group's params must be all Tensors or all"):
        optim.SGD([m.weight, ("bias", m.bias)], lr=0.1)
    with pytest.raises(ValueError, match="SGD: all parameter groups must be given with names"):
        optim.SGD([{"params": [m.weight]}, {"params": [("bias", m.bias)]}], lr=0.1)
