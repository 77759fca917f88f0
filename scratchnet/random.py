"""The one random generator of scratchnet.

Initialisation, dropout and sampling all draw from ``default_generator()``,
so ``manual_seed(seed)`` makes a whole run repeat exactly. Its state can be
saved and restored (``get_rng_state`` / ``set_rng_state``, JSON-able dicts) so a
resumed training run continues with the same random numbers.
"""
import numpy as np

_generator = [np.random.default_rng()]


def manual_seed(seed):
    """Reseed scratchnet's generator (a non-negative int)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator[0] = np.random.default_rng(int(seed))
    return _generator[0]


def default_generator():
    return _generator[0]


def get_rng_state():
    """The generator's state as a JSON-able dict."""
    return _generator[0].bit_generator.state


def set_rng_state(state):
    gen = np.random.default_rng()
    if state.get("bit_generator") != type(gen.bit_generator).__name__:
        raise ValueError(f"set_rng_state: expected a {type(gen.bit_generator).__name__} state, "
                         f"got {state.get('bit_generator')!r}")
    gen.bit_generator.state = state
    _generator[0] = gen
