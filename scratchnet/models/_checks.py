"""Argument checks shared by the ready-made models (errors name the model)."""
from ..dtypes import is_int, is_real


def size(where, name, value, least=1):
    """``value`` as a Python int >= ``least``: TypeError for a non-int (7.5,
    True), ValueError for a smaller one, each naming ``where`` and ``name``."""
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < least:
        raise ValueError(f"{where}: {name} must be >= {least}, got {value}")
    return int(value)


def probability(where, name, value):
    """``value`` as a Python float in [0, 1] (a dropout rate): TypeError for a
    non-number, ValueError outside the range, each naming ``where`` and ``name``."""
    if not is_real(value):
        raise TypeError(f"{where}: {name} must be a number in [0, 1], got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{where}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)
