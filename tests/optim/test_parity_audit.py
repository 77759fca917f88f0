"""Parity audit against torch.optim: cases beyond tests/optim/test_optimizers.py
and test_schedulers.py (chained schedulers, an lr written by hand, resuming
with ``last_epoch``, ``step(epoch)``, optimizer options, mid-run state_dict)."""
import copy
import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import optim
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
