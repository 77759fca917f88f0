"""Every differentiable op, with the sample inputs its gradient is checked on.

``register(FunctionClass, call, samples)`` records how to call an op
(``call(*args, **kwargs)``, usually its lowercase function) and a function
that builds its sample inputs. ``tests/ops/test_registry.py`` gradchecks every
sample of every entry in float64, and fails for any ``Function`` subclass in
``scratchnet.ops`` that has no samples, so a new op cannot skip the check.

Samples are built lazily (nothing runs at import). A sample is
``Sample(name, args, kwargs)``; float arrays in ``args`` (also inside lists)
become float64 tensors that require grad, everything else is passed as is.
"""
from dataclasses import dataclass, field

import numpy as np

REGISTRY = {}


@dataclass
class Sample:
    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    check: dict = field(default_factory=dict)   # gradcheck options for this sample


@dataclass
class Entry:
    function: type
    call: object
    make_samples: object

    @property
    def name(self):
        return self.function.__name__


def register(function, call, samples):
    """Register ``function`` (a Function subclass) with a sample builder.

    ``samples(rng)`` returns a list of ``Sample``; ``rng`` is a seeded
    ``np.random.Generator``.
    """
    REGISTRY[function.__name__] = Entry(function, call, samples)
    return function


# ----------------------------------------------------------- sample helpers
def rand(rng, *shape, low=-2.0, high=2.0):
    """Uniform float64 values in [low, high)."""
    return np.asarray(rng.uniform(low, high, size=shape))


def positive(rng, *shape, low=0.5, high=2.0):
    return np.asarray(rng.uniform(low, high, size=shape))


def away_from_zero(rng, *shape, gap=0.2, high=2.0):
    """Values with |x| >= gap, for ops with a kink at 0 (abs, relu)."""
    mag = rng.uniform(gap, high, size=shape)
    return np.asarray(mag * rng.choice([-1.0, 1.0], size=shape))


def distinct(rng, *shape, low=-2.0, high=2.0):
    """Values whose pairwise gaps are >= 0.05, so max/min have no ties."""
    n = int(np.prod(shape, dtype=np.int64))
    base = np.linspace(low, high, max(n, 1))[:n]
    return rng.permutation(base).reshape(shape)
