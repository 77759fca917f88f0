"""Learning-rate schedulers: lr sequences against torch.optim.lr_scheduler
(30 steps), warmup_cosine against nanoGPT's get_lr, state_dict, errors."""
import math
import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import optim
from scratchnet.optim import lr_scheduler

STEPS = 30


def _optimizer(lrs=(0.1, 0.02)):
    params = [sn.Tensor(np.ones(2), requires_grad=True) for _ in lrs]
    return optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


def _lr_sequence(scheduler, optimizer, steps=STEPS):
    seq = [scheduler.get_last_lr()]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        seq.append(scheduler.get_last_lr())
        assert seq[-1] == [g["lr"] for g in optimizer.param_groups]
    return np.array(seq)


def _torch_optimizer(lrs=(0.1, 0.02)):
    torch = pytest.importorskip("torch")
    params = [torch.ones(2, requires_grad=True) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


CASES = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=12, eta_min=0.005)),   # runs past T_max (periodic)
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
    ("LambdaLR", dict(lr_lambda=[lambda e: 0.95 ** e, lambda e: min(1.0, (e + 1) / 5)])),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_lr_sequence_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    opt = _optimizer()
    ours = _lr_sequence(getattr(lr_scheduler, name)(opt, **kwargs), opt)
    topt = _torch_optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _lr_sequence(getattr(torch.optim.lr_scheduler, name)(topt, **kwargs), topt)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def _nanogpt_get_lr(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    """nanoGPT's train.py get_lr, verbatim."""
    if it < warmup_iters:
        return learning_rate * it / warmup_iters
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


@pytest.mark.parametrize("warmup,total,min_lr", [(5, 20, 6e-5), (0, 25, 0.0), (10, 10, 1e-3)])
def test_warmup_cosine_matches_nanogpt(warmup, total, min_lr):
    opt = _optimizer(lrs=(6e-4,))
    seq = _lr_sequence(lr_scheduler.warmup_cosine(opt, warmup, total, min_lr), opt)[:, 0]
    if warmup == total:      # nanoGPT divides 0 by 0 there; min_lr from the end of warm-up on
        expected = [6e-4 * it / warmup if it < warmup else min_lr for it in range(STEPS + 1)]
    else:
        expected = [_nanogpt_get_lr(it, 6e-4, warmup, total, min_lr) for it in range(STEPS + 1)]
    np.testing.assert_allclose(seq, expected, rtol=1e-15, atol=0)
    assert seq[0] == 0.0 or warmup == 0
    assert seq[-1] == min_lr


def test_warmup_cosine_drives_the_optimizer_lr():
    opt = _optimizer(lrs=(1.0,))
    p = opt.param_groups[0]["params"][0]
    sched = lr_scheduler.warmup_cosine(opt, warmup_steps=2, total_steps=4, min_lr=0.1)
    moves = []
    for _ in range(6):
        before = p.data.copy()
        p.grad = np.ones(2)
        opt.step()
        sched.step()
        moves.append(float(before[0] - p.data[0]))
    assert moves[:3] == [0.0, 0.5, 1.0] and moves[-1] == pytest.approx(0.1)
    np.testing.assert_allclose(moves, [_nanogpt_get_lr(i, 1.0, 2, 4, 0.1) for i in range(6)], rtol=1e-12)


@pytest.mark.parametrize("name,kwargs", CASES[:5] + [("WarmupCosineLR", dict(warmup_steps=3, total_steps=12,
                                                                              min_lr=1e-3))])
def test_state_dict_resume_gives_the_same_sequence(name, kwargs, tmp_path):
    opt = _optimizer()
    full = _lr_sequence(getattr(lr_scheduler, name)(opt, **kwargs), opt, 20)
    opt = _optimizer()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    _lr_sequence(sched, opt, 8)
    sn.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.npz")
    state = sn.load(tmp_path / "s.npz")
    opt2 = _optimizer()
    sched2 = getattr(lr_scheduler, name)(opt2, **kwargs)
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    assert sched2.get_last_lr() == list(full[8])
    np.testing.assert_array_equal(_lr_sequence(sched2, opt2, 12), full[8:])


def test_lambda_state_dict_has_no_functions():
    sd = lr_scheduler.LambdaLR(_optimizer(), lambda e: 1.0).state_dict()
    assert "optimizer" not in sd and not any(callable(v) for v in sd.values())
    assert sd["last_epoch"] == 0 and sd["base_lrs"] == [0.1, 0.02]


def test_scheduler_errors():
    opt = _optimizer()
    with pytest.raises(TypeError, match="StepLR: expected an Optimizer"):
        lr_scheduler.StepLR(object(), 3)
    with pytest.raises(ValueError, match="StepLR: step_size"):
        lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas, got 1"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="warmup_cosine"):
        lr_scheduler.warmup_cosine(opt, 10, 5, 0.0)
    with pytest.raises(ValueError, match="initial_lr"):
        lr_scheduler.ExponentialLR(_optimizer(), 0.9, last_epoch=3)
