"""Argument checks shared by the optimizers, schedulers and penalties.

Every error names the caller (``where``: "AdamW", "StepLR", ...), the
argument and the value, and says what was expected: a wrong type is a
TypeError, a wrong value a ValueError. Numbers are Python or NumPy reals;
``True``/``False`` are not numbers here (PyTorch takes ``lr=True`` as 1 by
accident), and NaN or infinity is never a valid hyperparameter.
"""
import math

import numpy as np

from ..dtypes import is_int, is_real  # noqa: F401 (is_real: used by the schedulers)


def _show(value, typed=False):
    """A value for a message: numbers as written (``0.1``, not ``np.float32(0.1)``),
    others with their type (``str 'a'``); ``typed`` adds the type to numbers too."""
    if is_real(value):
        return f"{type(value).__name__} {value}" if typed else str(value)
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def number(where, name, value, low=None, high=None, high_open=False, label=None, low_open=False):
    """``value`` if it is a finite real number in [low, high] (open at either
    end with ``low_open`` / ``high_open``; no bound when None); TypeError for a non-number, ValueError otherwise.
    ``label`` (e.g. "learning rate", PyTorch's word) names the value in the
    ValueError, which also names the argument."""
    if low is not None and high is not None:
        want = f"a finite number in [{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        want = f"a finite number {'>' if low_open else '>='} {low}"
    else:
        want = "a finite number"
    if not is_real(value):
        raise TypeError(f"{where}: {name} must be {want}, got {_show(value)}")
    if not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) or \
            (high is not None and (value >= high if high_open else value > high)):
        if label:          # PyTorch's wording ("invalid learning rate: -1"), then the argument
            raise ValueError(f"{where}: invalid {label}: {_show(value)} ({name} must be {want})")
        raise ValueError(f"{where}: {name} must be {want}, got {_show(value)}")
    return value


def integer(where, name, value, least):
    """``value`` as a Python int >= ``least`` (TypeError for 2.5, '3' or True)."""
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be an int >= {least}, got {_show(value, True)}")
    if value < least:
        raise ValueError(f"{where}: {name} must be an int >= {least}, got {value}")
    return int(value)


def flag(where, name, value, allow_none=False):
    """``value`` as a bool (``maximize='no'`` would otherwise mean True)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False{' or None' if allow_none else ''}, "
                        f"got {_show(value, True)}")
    return bool(value)


def betas(where, value):
    """``value`` as a tuple (beta1, beta2) of numbers in [0, 1)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = tuple(value.tolist())
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{where}: betas must be a pair (beta1, beta2) of numbers in [0, 1), "
                        f"got {_show(value, True)}")
    if len(value) != 2:
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got "
                         f"{len(value)} value{'s' * (len(value) != 1)} {tuple(value)}")
    return tuple(number(where, f"betas[{i}]", b, 0, 1, high_open=True,
                        label=f"beta parameter at index {i}")
                 for i, b in enumerate(value))


# name -> check(where, value), for every hyperparameter an optimizer keeps in its groups
HYPERPARAMETERS = {
    "lr": lambda w, v: number(w, "lr", v, 0, label="learning rate"),
    "momentum": lambda w, v: number(w, "momentum", v, 0, label="momentum value"),
    "dampening": lambda w, v: number(w, "dampening", v, label="dampening value"),
    "weight_decay": lambda w, v: number(w, "weight_decay", v, 0, label="weight_decay value"),
    "eps": lambda w, v: number(w, "eps", v, 0, label="epsilon value"),
    "alpha": lambda w, v: number(w, "alpha", v, 0, 1, label="alpha value"),
    "betas": betas,
    "foreach": lambda w, v: flag(w, "foreach", v, allow_none=True),
    "fused": lambda w, v: flag(w, "fused", v, allow_none=True),
}
for _name in ("nesterov", "amsgrad", "maximize", "centered", "capturable", "differentiable",
              "decoupled_weight_decay"):
    HYPERPARAMETERS[_name] = (lambda n: lambda w, v: flag(w, n, v))(_name)


def hyperparameters(where, group, names):
    """Check (and normalise in place, e.g. betas to a tuple) ``group[name]``
    for each of ``names`` that ``group`` holds and the table knows."""
    for name in names:
        if name in group and name in HYPERPARAMETERS:
            group[name] = HYPERPARAMETERS[name](where, group[name])
