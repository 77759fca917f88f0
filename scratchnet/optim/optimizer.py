"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad``,
``state_dict`` / ``load_state_dict`` (PyTorch's layout), and the ``step`` loop.

A subclass lists its hyperparameters in ``defaults``, checks them in
``_check(group, where)`` (the shared checks of ``_checks`` plus its own
rules) and updates one parameter in ``_update(p, grad, state,
group)`` by writing into ``p.data`` in place (so every reference to the
array, e.g. a module's, sees the new values). Hyperparameters are read from
the group at every step, so a scheduler changes the learning rate by writing
``group['lr']``.

``state_dict()`` is ``{'state': {index: {name: array or number}},
'param_groups': [{hyperparameters..., 'params': [indices]}]}``: parameters are
numbered in group order, exactly as in PyTorch, and the dict holds only
arrays, numbers, strings, lists and dicts, so ``sn.save`` can store it.
"""
import warnings

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from . import _checks


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _implementation_flags(where, **flags):
    """PyTorch's implementation switches (``foreach``, ``fused``, ``capturable``,
    ``differentiable``), accepted with PyTorch's defaults and kept in the
    parameter groups as PyTorch keeps them. They select among PyTorch's kernels
    for the same update; scratchnet has one CPU implementation, so they change
    nothing, except ``differentiable=True`` (autograd through ``step()``), which
    is not supported: the update is written in place outside the graph."""
    for name, value in flags.items():
        _checks.HYPERPARAMETERS[name](where, value)
    if flags.get("differentiable"):
        raise ValueError(f"{where}: differentiable=True is not supported (step() updates the "
                         f"parameters in place, outside autograd)")
    return flags


class Optimizer:
    """Base class of the optimizers (see the module docstring)."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}                 # parameter -> dict of arrays / numbers
        self.param_groups = []
        self._check(self.defaults, self._name)
        if isinstance(params, (Tensor, set, dict, str)) or not hasattr(params, "__iter__"):
            hint = " (a single group: wrap it in a list, [group])" if isinstance(params, dict) else ""
            raise TypeError(f"{self._name}: params must be an ordered iterable of Tensors or "
                            f"dicts, got {type(params).__name__}{hint}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self):
        return type(self).__name__

    def __repr__(self):
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])

    # ------------------------------------------------------------ parameters
    def add_param_group(self, param_group):
        """Add a dict with ``'params'`` (Tensors, or (name, Tensor) pairs as from
        ``named_parameters()``, whose names go to ``'param_names'``) and
        optional hyperparameters (the missing ones take the optimizer's defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}.add_param_group: expected a dict, "
                            f"got {type(param_group).__name__}")
        group = dict(param_group)
        if "params" not in group:
            raise ValueError(f"{self._name}: a parameter group must have a 'params' key, got a dict "
                             f"with keys {sorted(map(str, group))}")
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, dict, str)) or not hasattr(params, "__iter__"):
            raise TypeError(f"{self._name}: a group's 'params' must be a Tensor or an ordered "
                            f"sequence of Tensors, got {type(params).__name__}")
        params = list(params)
        named = [isinstance(p, tuple) for p in params]
        if any(named):              # model.named_parameters(): PyTorch keeps the names
            if not all(named) or any(len(p) != 2 or not isinstance(p[0], str) for p in params):
                raise ValueError(f"{self._name}: a group's params must be all Tensors or all "
                                 f"(name, Tensor) pairs")
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        if self.param_groups and ("param_names" in group) != ("param_names" in self.param_groups[0]):
            raise ValueError(f"{self._name}: all parameter groups must be given with names "
                             f"((name, Tensor) pairs) or all without")
        group["params"] = params
        for p in params:
            self._check_param(p)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{self._name}: a parameter group holds duplicate parameters",
                          stacklevel=2)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{self._name}: parameter group didn't specify a value of "
                                 f"required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{self._name}: some parameters appear in more than one parameter group")
        self._check(group, f"{self._name}: param_groups[{len(self.param_groups)}]")
        self.param_groups.append(group)

    def _check_param(self, p):
        if not isinstance(p, Tensor):
            raise TypeError(f"{self._name} can only optimize Tensors, got {type(p).__name__}")
        if p.dtype.kind != "f":
            raise TypeError(f"{self._name} can only optimize floating-point Tensors, got dtype "
                            f"{p.dtype} (shape {p.shape})")
        # a frozen parameter (requires_grad=False) is accepted, as in PyTorch: it never
        # gets a gradient, so step() leaves it alone until it is unfrozen
        if not p.is_leaf:
            raise ValueError(f"{self._name} can't optimize a non-leaf Tensor (shape {p.shape})")

    def _check(self, group, where):
        """Check (and normalise in place) the hyperparameters of ``group`` (a
        parameter group, or the defaults) with the shared checks of ``_checks``;
        ``where`` starts the messages. Subclasses add rules between them."""
        _checks.hyperparameters(where, group, self.defaults)

    # ----------------------------------------------------------------- steps
    def zero_grad(self, set_to_none=True):
        """Drop (or zero in place) the gradient of every parameter."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure``
        (optional) re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = -p.grad if group.get("maximize") else p.grad
                    self._update(p, grad, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p, grad, state, group):  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- state
    def state_dict(self):
        """PyTorch's layout (see the module docstring); arrays are copies."""
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {k: np.array(v) if isinstance(v, np.ndarray) else v
                                for k, v in s.items()}
                 for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by ``state_dict()`` (also
        after a trip through ``sn.save`` / ``sn.load``). Everything is checked
        first: a state dict of the wrong layout, sizes or values, or one saved
        by another optimizer, is refused and leaves the optimizer unchanged."""
        where = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{where}: expected a dict (from state_dict()), got {type(state_dict).__name__}")
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"{where}: the state dict has no {key!r} (expected the dict of "
                                 f"state_dict(), with 'state' and 'param_groups')")
        saved, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved, (list, tuple)) or not all(isinstance(g, dict) and "params" in g
                                                           for g in saved):
            raise ValueError(f"{where}: 'param_groups' must be a list of dicts with 'params', "
                             f"got {type(saved).__name__}")
        if not isinstance(saved_state, dict):
            raise ValueError(f"{where}: 'state' must be a dict, got {type(saved_state).__name__}")
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{where}: the state dict has {len(saved)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        params, groups = {}, []
        for i, (group, old) in enumerate(zip(self.param_groups, saved)):
            if len(old["params"]) != len(group["params"]):
                raise ValueError(f"{where}: parameter group {i} has "
                                 f"{len(old['params'])} parameters in the state dict, "
                                 f"{len(group['params'])} in the optimizer")
            params.update(zip((self._index(where, k) for k in old["params"]), group["params"]))
            missing = [k for k in self.defaults if k not in old and k not in self._optional_hyperparameters]
            if missing:
                raise ValueError(f"{where}: param_groups[{i}] of the state dict has no {missing[0]!r}, "
                                 f"which {self._name} needs (was it saved by another optimizer?)")
            new = self._restore_group(group, old)
            self._check(new, f"{where}: param_groups[{i}]")
            groups.append(new)
        state = {}
        for key, values in saved_state.items():
            index = self._index(where, key)
            if index not in params:
                raise ValueError(f"{where}: state for parameter {key}, "
                                 f"which no parameter group lists")
            if not isinstance(values, dict):
                raise ValueError(f"{where}: the state of parameter {key} must be a dict, "
                                 f"got {type(values).__name__}")
            unknown = [n for n in values if self._state_names is not None and n not in self._state_names]
            if unknown:
                raise ValueError(f"{where}: the state of parameter {key} holds {unknown[0]!r}, which "
                                 f"{self._name} does not keep (was it saved by another optimizer?)")
            lacking = [n for n in self._required_state if values and n not in values]
            if lacking:
                raise ValueError(f"{where}: the state of parameter {key} has no {lacking[0]!r}, "
                                 f"which {self._name} needs")
            p = params[index]
            state[p] = {name: self._state_value(p, name, v) for name, v in values.items()}
        self.state = state
        self.param_groups = groups

    # hyperparameters a saved group may lack (PyTorch added them over time and fills
    # them in the same way): they keep the optimizer's current values
    _optional_hyperparameters = frozenset({"foreach", "fused", "capturable", "differentiable",
                                           "maximize", "decoupled_weight_decay"})
    _state_names = None        # subclasses: the per-parameter state entries they keep,
    _required_state = ()       # and those a non-empty state must hold

    @staticmethod
    def _index(where, key):
        """A parameter index of the state dict (an int, or its string after a JSON trip)."""
        try:
            return int(key)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: parameter indices must be ints, got {key!r}") from None

    def _state_value(self, p, name, value):
        """A saved state entry as an array of the parameter's dtype and shape."""
        if name == "step":
            value = value.item() if isinstance(value, (np.generic, np.ndarray)) and np.size(value) == 1 \
                else value
            if not _checks.is_real(value) or not value >= 0:
                raise ValueError(f"{self._name}.load_state_dict: state 'step' must be a number "
                                 f">= 0, got {value!r}")
            return value
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            return value.item() if isinstance(value, np.generic) else value
        if value.shape != p.shape:
            raise ValueError(f"{self._name}.load_state_dict: state '{name}' has shape "
                             f"{value.shape}, the parameter has shape {p.shape}")
        return np.array(value, dtype=p.dtype)

    @staticmethod
    def _restore_group(group, old):
        """The saved hyperparameters with this optimizer's params (lists that
        were tuples, like ``betas``, become tuples again)."""
        new = {k: v for k, v in old.items() if k != "params"}
        for k, v in group.items():
            if k not in new and k != "params":
                new[k] = v
        for k, v in new.items():
            if isinstance(group.get(k), tuple) and isinstance(v, list):
                new[k] = tuple(v)
        new["params"] = group["params"]
        return new
