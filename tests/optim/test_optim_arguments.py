"""Argument validation of the optimizers and schedulers: every bad argument
is a TypeError (wrong type) or ValueError (wrong value) whose message names
the optimizer/scheduler and the argument; valid edge values work as in torch."""
import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import optim
from scratchnet.optim import lr_scheduler

NAN, INF = float("nan"), float("inf")
OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop"]


def _p(n=2):
    return sn.Tensor(np.ones(n, dtype=np.float32), requires_grad=True)


# (optimizer, kwargs, exception, message fragment)
BAD_HYPERPARAMETERS = [
    (name, kw, exc, frag)
    for name in OPTIMIZERS
    for kw, exc, frag in [
        (dict(lr="a"), TypeError, "lr must be a finite number >= 0, got str 'a'"),
        (dict(lr=None), TypeError, "lr must be"),
        (dict(lr=[0.1]), TypeError, "lr must be"),
        (dict(lr=True), TypeError, "lr must be"),
        (dict(lr=-0.1), ValueError, "invalid learning rate: -0.1 (lr must be"),
        (dict(lr=NAN), ValueError, "invalid learning rate: nan"),
        (dict(lr=INF), ValueError, "invalid learning rate: inf"),
        (dict(weight_decay="x"), TypeError, "weight_decay must be a finite number >= 0, got str 'x'"),
        (dict(weight_decay=True), TypeError, "weight_decay must be"),
        (dict(weight_decay=-1.0), ValueError, "invalid weight_decay value: -1.0"),
        (dict(weight_decay=NAN), ValueError, "invalid weight_decay value: nan"),
        (dict(maximize="no"), TypeError, "maximize must be True or False, got str 'no'"),
        (dict(maximize=None), TypeError, "maximize must be True or False"),
        (dict(foreach="yes"), TypeError, "foreach must be True or False or None"),
        (dict(differentiable=True), ValueError, "differentiable=True is not supported"),
    ]
] + [
    (name, kw, exc, frag)
    for name in ["Adam", "AdamW", "RMSprop"]
    for kw, exc, frag in [
        (dict(eps="e"), TypeError, "eps must be"),
        (dict(eps=-1e-8), ValueError, "invalid epsilon value: -1e-08 (eps must be"),
        (dict(eps=NAN), ValueError, "invalid epsilon value: nan"),
    ]
] + [
    (name, kw, exc, frag)
    for name in ["Adam", "AdamW"]
    for kw, exc, frag in [
        (dict(betas=0.9), TypeError, "betas must be a pair (beta1, beta2) of numbers in [0, 1), got float 0.9"),
        (dict(betas=None), TypeError, "betas must be a pair"),
        (dict(betas="ab"), TypeError, "betas must be a pair"),
        (dict(betas={0.9, 0.99}), TypeError, "betas must be a pair"),
        (dict(betas=(0.9,)), ValueError, "betas must be a pair (beta1, beta2), got 1 value"),
        (dict(betas=(0.9, 0.99, 0.999)), ValueError, "got 3 values"),
        (dict(betas=(1.0, 0.999)), ValueError, "invalid beta parameter at index 0: 1.0 (betas[0] must be"),
        (dict(betas=(0.9, 1.0)), ValueError, "invalid beta parameter at index 1: 1.0"),
        (dict(betas=(-0.1, 0.9)), ValueError, "invalid beta parameter at index 0: -0.1"),
        (dict(betas=(0.9, NAN)), ValueError, "invalid beta parameter at index 1: nan"),
        (dict(betas=("a", 0.9)), TypeError, "betas[0] must be a finite number in [0, 1), got str 'a'"),
        (dict(betas=(True, 0.9)), TypeError, "betas[0] must be"),
        (dict(amsgrad=1), TypeError, "amsgrad must be True or False, got int 1"),
    ]
] + [
    ("SGD", dict(momentum="m"), TypeError, "momentum must be"),
    ("SGD", dict(momentum=-0.5), ValueError, "invalid momentum value: -0.5"),
    ("SGD", dict(momentum=NAN), ValueError, "invalid momentum value: nan"),
    ("SGD", dict(momentum=0.9, dampening="d"), TypeError, "dampening must be a finite number"),
    ("SGD", dict(momentum=0.9, dampening=NAN), ValueError, "invalid dampening value: nan"),
    ("SGD", dict(nesterov=True), ValueError, "nesterov momentum requires a momentum > 0 and zero dampening"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), ValueError, "dampening=0.1"),
    ("SGD", dict(nesterov="yes", momentum=0.9), TypeError, "nesterov must be True or False"),
    ("RMSprop", dict(alpha="a"), TypeError, "alpha must be a finite number in [0, 1], got str 'a'"),
    ("RMSprop", dict(alpha=-0.5), ValueError, "invalid alpha value: -0.5"),
    ("RMSprop", dict(alpha=1.5), ValueError, "invalid alpha value: 1.5"),   # torch: NaN parameters
    ("RMSprop", dict(alpha=NAN), ValueError, "invalid alpha value: nan"),
    ("RMSprop", dict(momentum=-1), ValueError, "invalid momentum value: -1"),
    ("RMSprop", dict(centered="no"), TypeError, "centered must be True or False"),
]


@pytest.mark.parametrize("name,kwargs,exc,fragment", BAD_HYPERPARAMETERS,
                         ids=[f"{n}-{k}" for n, k, _, _ in BAD_HYPERPARAMETERS])
def test_bad_hyperparameter_is_refused_naming_optimizer_and_argument(name, kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        getattr(optim, name)([_p()], **kwargs)
    message = str(info.value)
    assert message.startswith(f"{name}: "), message
    assert fragment in message, message


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("how", ["group", "add_param_group"])
def test_bad_per_group_value_is_refused_naming_the_group(name, how):
    cls = getattr(optim, name)
    if how == "group":
        with pytest.raises(TypeError, match=rf"^{name}: param_groups\[1\]: lr must be .* got str 'a'"):
            cls([{"params": [_p()]}, {"params": [_p()], "lr": "a"}])
        return
    opt = cls([_p()])
    with pytest.raises(ValueError, match=rf"^{name}: param_groups\[1\]: invalid weight_decay value: -1"):
        opt.add_param_group({"params": [_p()], "weight_decay": -1})
    assert len(opt.param_groups) == 1                    # left unchanged


def test_betas_of_a_group_is_checked_and_made_a_tuple():
    with pytest.raises(TypeError, match=r"Adam: param_groups\[0\]: betas must be a pair"):
        optim.Adam([{"params": [_p()], "betas": 0.9}])
    opt = optim.Adam([{"params": [_p()], "betas": [0.5, 0.6]}], betas=np.array([0.8, 0.9]))
    assert opt.defaults["betas"] == (0.8, 0.9) and opt.param_groups[0]["betas"] == (0.5, 0.6)


EDGE_VALUES = [
    ("SGD", dict(lr=0)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=1.0)),
    ("SGD", dict(lr=0.1, momentum=1.5)),                 # torch accepts momentum > 1
    ("SGD", dict(lr=np.float32(0.1), momentum=0.9, nesterov=np.bool_(True))),
    ("Adam", dict(betas=(0.0, 0.0))),
    ("Adam", dict(lr=0.0, eps=0.0, weight_decay=0)),
    ("AdamW", dict(betas=[0.9, 0.99], weight_decay=0)),
    ("AdamW", dict(betas=np.array([0.9, 0.99]), amsgrad=True, foreach=False, fused=None)),
    ("RMSprop", dict(alpha=0.0)),
    ("RMSprop", dict(alpha=1.0, eps=1e-3)),
    ("RMSprop", dict(lr=0, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("name,kwargs", EDGE_VALUES, ids=[f"{n}-{k}" for n, k in EDGE_VALUES])
def test_valid_edge_values_work_like_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    init = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    grads = [np.array([0.3, -1.0, 2.0], dtype=np.float32), np.array([-0.5, 0.25, 1.0], dtype=np.float32)]
    p, t = sn.Tensor(init.copy(), requires_grad=True), torch.tensor(init.copy(), requires_grad=True)
    ours = getattr(optim, name)([p], **kwargs)
    theirs = getattr(torch.optim, name)([t], **{k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                                for k, v in kwargs.items()})
    for g in grads:
        p.grad, t.grad = g.copy(), torch.tensor(g)
        ours.step()
        theirs.step()
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_skips_params_without_grad_and_propagates_nan_grads_like_torch(name):
    torch = pytest.importorskip("torch")
    ours = [_p(), _p()]
    theirs = [torch.ones(2, requires_grad=True) for _ in range(2)]
    opt, topt = getattr(optim, name)(ours, lr=0.1), getattr(torch.optim, name)(theirs, lr=0.1)
    opt.step()                                       # no gradient at all: nothing moves
    assert all(np.all(p.data == 1) for p in ours) and opt.state == {}
    ours[0].grad = np.array([NAN, 1.0], dtype=np.float32)
    theirs[0].grad = torch.tensor([NAN, 1.0])
    opt.step()
    topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.data, t.detach().numpy())
    assert math.isnan(ours[0].data[0]) and np.all(ours[1].data == 1)


BAD_PARAMS = [
    (lambda: None, TypeError, "SGD: params must be an ordered iterable of Tensors or dicts, got NoneType"),
    (lambda: 5, TypeError, "got int"),
    (lambda: _p(), TypeError, "got Tensor"),
    (lambda: {_p()}, TypeError, "got set"),
    (lambda: {"params": [_p()]}, TypeError, "got dict (a single group: wrap it in a list"),
    (lambda: [], ValueError, "SGD: got an empty parameter list"),
    (lambda: [1.0], TypeError, "SGD can only optimize Tensors, got float"),
    (lambda: [_p(), {"params": [_p()]}], TypeError, "SGD can only optimize Tensors, got dict"),
    (lambda: [{"params": [_p()]}, _p()], TypeError, "SGD.add_param_group: expected a dict, got Tensor"),
    (lambda: [{"lr": 0.1}], ValueError, "SGD: a parameter group must have a 'params' key"),
    (lambda: [{"params": None}], TypeError, "SGD: a group's 'params' must be a Tensor or an ordered"),
    (lambda: [{"params": 3}], TypeError, "got int"),
    (lambda: (lambda t: [{"params": [t]}, {"params": [t]}])(_p()), ValueError,
     "SGD: some parameters appear in more than one parameter group"),
]


@pytest.mark.parametrize("params,exc,fragment", BAD_PARAMS, ids=[f[2][:40] for f in BAD_PARAMS])
def test_bad_params_are_refused_naming_the_optimizer(params, exc, fragment):
    with pytest.raises(exc) as info:
        optim.SGD(params(), lr=0.1)
    assert fragment in str(info.value), str(info.value)


def test_duplicate_param_in_a_group_warns_like_torch_and_empty_group_is_accepted():
    t = _p()
    with pytest.warns(UserWarning, match="SGD: a parameter group holds duplicate parameters"):
        optim.SGD([t, t], lr=0.1)
    opt = optim.SGD([{"params": [_p()]}, {"params": []}], lr=0.1)     # torch accepts it too
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["params"] == []


# ------------------------------------------------------------- schedulers
def _opt():
    return optim.SGD([_p()], lr=0.1)


BAD_SCHEDULERS = [
    ("StepLR", lambda o: lr_scheduler.StepLR(None, 3), TypeError, "StepLR: expected an Optimizer, got NoneType"),
    ("StepLR", lambda o: lr_scheduler.StepLR([_p()], 3), TypeError, "StepLR: expected an Optimizer, got list"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 0), ValueError, "StepLR: step_size must be an int >= 1, got 0"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, -2), ValueError, "step_size must be an int >= 1"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2.5), TypeError, "step_size must be an int >= 1, got float 2.5"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, "a"), TypeError, "step_size must be"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, None), TypeError, "step_size must be"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, True), TypeError, "step_size must be"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2, gamma=0), ValueError, "StepLR: gamma must be a finite number > 0, got 0"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2, gamma=-0.5), ValueError, "gamma must be a finite number > 0"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2, gamma="a"), TypeError, "gamma must be"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2, gamma=NAN), ValueError, "gamma must be"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2, last_epoch=-2), ValueError,
     "StepLR: last_epoch must be an int >= -1, got -2"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2, last_epoch=1.5), TypeError, "last_epoch must be an int"),
    ("StepLR", lambda o: lr_scheduler.StepLR(o, 2, last_epoch=3), ValueError, "has no 'initial_lr'"),
    ("ExponentialLR", lambda o: lr_scheduler.ExponentialLR(o, None), TypeError, "gamma must be"),
    ("ExponentialLR", lambda o: lr_scheduler.ExponentialLR(o, 0.0), ValueError, "gamma must be a finite number > 0"),
    ("ExponentialLR", lambda o: lr_scheduler.ExponentialLR(o, INF), ValueError, "gamma must be"),
    ("CosineAnnealingLR", lambda o: lr_scheduler.CosineAnnealingLR(o, 0), ValueError, "T_max must be an int >= 1, got 0"),
    ("CosineAnnealingLR", lambda o: lr_scheduler.CosineAnnealingLR(o, "a"), TypeError, "T_max must be"),
    ("CosineAnnealingLR", lambda o: lr_scheduler.CosineAnnealingLR(o, 10, eta_min=-1), ValueError,
     "eta_min must be a finite number >= 0, got -1"),
    ("CosineAnnealingLR", lambda o: lr_scheduler.CosineAnnealingLR(o, 10, eta_min=None), TypeError, "eta_min must be"),
    ("LambdaLR", lambda o: lr_scheduler.LambdaLR(o, 3), TypeError, "LambdaLR: lr_lambda must be a function"),
    ("LambdaLR", lambda o: lr_scheduler.LambdaLR(o, [None]), TypeError, "lr_lambda[0] must be a function"),
    ("LambdaLR", lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1, lambda e: 1]), ValueError,
     "LambdaLR: expected 1 lr_lambdas, got 2"),
    ("LambdaLR", lambda o: lr_scheduler.LambdaLR(o, lambda e: "x"), TypeError, "lr_lambda(0) returned str 'x'"),
    ("warmup_cosine", lambda o: lr_scheduler.warmup_cosine(o, -1, 5), ValueError, "warmup_steps must be an int >= 0"),
    ("warmup_cosine", lambda o: lr_scheduler.warmup_cosine(o, 1.5, 5), TypeError, "warmup_steps must be an int"),
    ("warmup_cosine", lambda o: lr_scheduler.warmup_cosine(o, 1, "5"), TypeError, "total_steps must be an int"),
    ("warmup_cosine", lambda o: lr_scheduler.warmup_cosine(o, 10, 5), ValueError, "warmup_steps <= total_steps"),
    ("warmup_cosine", lambda o: lr_scheduler.warmup_cosine(o, 1, 5, min_lr=-0.1), ValueError, "min_lr must be"),
    ("warmup_cosine", lambda o: lr_scheduler.warmup_cosine(o, 1, 5).load_state_dict([1]), TypeError,
     "warmup_cosine.load_state_dict: expected a dict"),
]


@pytest.mark.parametrize("name,call,exc,fragment", BAD_SCHEDULERS, ids=[f"{b[0]}-{b[3][:30]}" for b in BAD_SCHEDULERS])
def test_bad_scheduler_argument_is_refused_naming_scheduler_and_argument(name, call, exc, fragment):
    opt = _opt()
    with pytest.raises(exc) as info:
        call(opt)
    assert str(info.value).startswith(f"{name}"), str(info.value)
    assert fragment in str(info.value), str(info.value)


def test_valid_scheduler_edge_values_work_like_torch():
    torch = pytest.importorskip("torch")
    cases = [("StepLR", dict(step_size=1, gamma=2.0)), ("ExponentialLR", dict(gamma=1.0)),
             ("CosineAnnealingLR", dict(T_max=1, eta_min=0)), ("CosineAnnealingLR", dict(T_max=3, eta_min=0.5))]
    for name, kwargs in cases:
        ours = getattr(lr_scheduler, name)(opt := _opt(), **kwargs)
        theirs = getattr(torch.optim.lr_scheduler, name)(
            topt := torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1), **kwargs)
        for _ in range(5):
            opt.step(), topt.step(), ours.step(), theirs.step()
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
    sched = lr_scheduler.warmup_cosine(_opt(), 0, 0)           # no warm-up, no decay: min_lr throughout
    assert sched.get_last_lr() == [0.0]


@pytest.mark.parametrize("fn", ["l1_penalty", "l2_penalty"])
def test_bad_penalty_arguments(fn):
    penalty = getattr(optim, fn)
    with pytest.raises(TypeError, match=rf"{fn}: weight must be a finite number >= 0, got str 'a'"):
        penalty([_p()], "a")
    with pytest.raises(ValueError, match=rf"{fn}: weight must be a finite number >= 0, got nan"):
        penalty([_p()], NAN)
    with pytest.raises(TypeError, match=rf"{fn}: parameters must be Tensors, got float"):
        penalty([1.0], 0.1)
    with pytest.raises(TypeError, match=rf"{fn}: parameters must be a Tensor or an ordered iterable"):
        penalty(None, 0.1)
    assert penalty(_p(), 0).item() == 0.0


# ------------------------------------------------------------- load_state_dict
def _trained(name, **kwargs):
    p = _p()
    opt = getattr(optim, name)([p], lr=0.1, **kwargs)
    p.grad = np.ones(2, dtype=np.float32)
    opt.step()
    return opt


def _edited(sd, fn):
    fn(sd)
    return sd


BAD_STATE_DICTS = [
    ("SGD", lambda sd: [1], TypeError, "SGD.load_state_dict: expected a dict (from state_dict()), got list"),
    ("SGD", lambda sd: {}, ValueError, "SGD.load_state_dict: the state dict has no 'state'"),
    ("SGD", lambda sd: {"state": {}}, ValueError, "has no 'param_groups'"),
    ("SGD", lambda sd: {"state": [], "param_groups": sd["param_groups"]}, ValueError, "'state' must be a dict"),
    ("SGD", lambda sd: {"state": {}, "param_groups": [{"lr": 0.1}]}, ValueError,
     "'param_groups' must be a list of dicts with 'params'"),
    ("SGD", lambda sd: _edited(sd, lambda d: d["param_groups"].append(dict(d["param_groups"][0]))), ValueError,
     "the state dict has 2 parameter groups, the optimizer has 1"),
    ("SGD", lambda sd: _edited(sd, lambda d: d["state"].update(a={})), ValueError,
     "parameter indices must be ints, got 'a'"),
    ("SGD", lambda sd: _edited(sd, lambda d: d["state"].update({5: {}})), ValueError,
     "state for parameter 5, which no parameter group lists"),
    ("SGD", lambda sd: _edited(sd, lambda d: d["param_groups"][0].update(lr="x")), TypeError,
     "SGD.load_state_dict: param_groups[0]: lr must be"),
    ("SGD", lambda sd: _edited(sd, lambda d: d["param_groups"][0].update(lr=-1.0)), ValueError,
     "SGD.load_state_dict: param_groups[0]: invalid learning rate: -1.0"),
    ("SGD", lambda sd: _edited(sd, lambda d: d["state"][0].update(momentum_buffer=np.ones(3))), ValueError,
     "state 'momentum_buffer' has shape (3,), the parameter has shape (2,)"),
    ("SGD", lambda sd: _trained("Adam").state_dict(), ValueError,
     "SGD.load_state_dict: param_groups[0] of the state dict has no 'momentum', which SGD needs "
     "(was it saved by another optimizer?)"),
    ("Adam", lambda sd: _trained("SGD", momentum=0.9).state_dict(), ValueError,
     "Adam.load_state_dict: param_groups[0] of the state dict has no 'betas'"),
    ("Adam", lambda sd: _edited(sd, lambda d: d["state"][0].update(momentum_buffer=np.ones(2))), ValueError,
     "the state of parameter 0 holds 'momentum_buffer', which Adam does not keep"),
    ("Adam", lambda sd: _edited(sd, lambda d: d["state"][0].pop("exp_avg")), ValueError,
     "the state of parameter 0 has no 'exp_avg', which Adam needs"),
    ("Adam", lambda sd: _edited(sd, lambda d: d["state"][0].update(step="1")), ValueError,
     "state 'step' must be a number >= 0"),
    ("Adam", lambda sd: _edited(sd, lambda d: d["param_groups"][0].update(betas=0.9)), TypeError,
     "Adam.load_state_dict: param_groups[0]: betas must be a pair"),
    ("RMSprop", lambda sd: _trained("Adam").state_dict(), ValueError, "has no 'alpha'"),
]


@pytest.mark.parametrize("name,make,exc,fragment", BAD_STATE_DICTS, ids=[b[3][:45] for b in BAD_STATE_DICTS])
def test_bad_state_dict_is_refused_and_the_optimizer_is_left_unchanged(name, make, exc, fragment):
    opt = _trained(name, **(dict(momentum=0.9) if name == "SGD" else {}))
    before = opt.state_dict()
    bad = make(opt.state_dict())
    with pytest.raises(exc) as info:
        opt.load_state_dict(bad)
    assert fragment in str(info.value), str(info.value)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i, s in before["state"].items():
        assert set(after["state"][i]) == set(s)
        for k, v in s.items():
            np.testing.assert_array_equal(after["state"][i][k], v)


def test_state_dict_without_the_newer_flags_loads_like_torch():
    """A saved group without maximize/foreach/... (older PyTorch, older scratchnet) keeps
    the optimizer's values for them, as PyTorch's __setstate__ does."""
    opt = _trained("AdamW", maximize=True)
    sd = opt.state_dict()
    for g in sd["param_groups"]:
        for k in ("maximize", "foreach", "fused", "capturable", "differentiable", "decoupled_weight_decay"):
            del g[k]
    sd["param_groups"][0]["lr"] = 0.5
    opt.load_state_dict(sd)
    group = opt.param_groups[0]
    assert group["lr"] == 0.5 and group["maximize"] is True and group["decoupled_weight_decay"] is True
