"""Resuming training from one checkpoint file (model + optimizer + scheduler
state through sn.save / sn.load) continues bit for bit."""
import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn, optim
from scratchnet.optim import lr_scheduler


def _model():
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def _batches(n=10):
    r = np.random.default_rng(42)
    return [(r.normal(size=(8, 4)).astype(np.float32), r.integers(0, 3, 8)) for _ in range(n)]


def _train(model, opt, sched, batches):
    for x, y in batches:
        opt.zero_grad()
        F.cross_entropy(model(sn.tensor(x)), y).backward()
        opt.step()
        sched.step()


SETUPS = {
    "Adam+warmup_cosine": (lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
                           lambda o: lr_scheduler.warmup_cosine(o, 3, 8, 1e-4)),
    "AdamW-amsgrad+cosine": (lambda ps: optim.AdamW(ps, lr=1e-2, amsgrad=True),
                             lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7)),
    "SGD-nesterov+step": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
                          lambda o: lr_scheduler.StepLR(o, 3, 0.5)),
    "RMSprop-centered+exp": (lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
                             lambda o: lr_scheduler.ExponentialLR(o, 0.9)),
}


def _build(setup):
    make_opt, make_sched = SETUPS[setup]
    sn.manual_seed(0)
    model = _model()
    opt = make_opt(model.parameters())
    return model, opt, make_sched(opt)


@pytest.mark.parametrize("setup", SETUPS)
def test_resume_from_checkpoint_is_bit_exact(setup, tmp_path):
    batches = _batches()
    model, opt, sched = _build(setup)
    _train(model, opt, sched, batches[:5])
    path = tmp_path / "ckpt.npz"
    sn.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "step": 5}, path)
    _train(model, opt, sched, batches[5:])

    sn.manual_seed(123)                      # a different initialisation, overwritten by the load
    fresh_model, fresh_opt, fresh_sched = _build(setup)
    for p in fresh_model.parameters():
        p.data[...] = 0
    state = sn.load(path)
    fresh_model.load_state_dict(state["model"])
    fresh_opt.load_state_dict(state["optimizer"])
    fresh_sched.load_state_dict(state["scheduler"])
    assert state["step"] == 5
    assert fresh_sched.get_last_lr() == [g["lr"] for g in fresh_opt.param_groups]
    _train(fresh_model, fresh_opt, fresh_sched, batches[5:])

    for (name, a), b in zip(model.state_dict().items(), fresh_model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert a.dtype == b.dtype == np.float32
    assert fresh_sched.get_last_lr() == sched.get_last_lr()
    assert fresh_sched.last_epoch == sched.last_epoch == 10


def test_resumed_optimizer_state_keeps_parameter_dtype(tmp_path):
    model, opt, sched = _build("Adam+warmup_cosine")
    _train(model, opt, sched, _batches(2))
    sn.save({"optimizer": opt.state_dict()}, tmp_path / "o.npz")
    _, opt2, _ = _build("Adam+warmup_cosine")
    opt2.load_state_dict(sn.load(tmp_path / "o.npz")["optimizer"])
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)
    for p, state in opt2.state.items():
        assert state["step"] == 2
        assert state["exp_avg"].dtype == p.dtype == np.float32
