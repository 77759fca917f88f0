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


def _to_inputs(obj):
    """Float arrays (also inside lists) become float64 tensors that require grad."""
    from ..tensor import Tensor
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return Tensor(obj.astype(np.float64), requires_grad=True)
    if isinstance(obj, list):
        return [_to_inputs(o) for o in obj]
    return obj


def _flat_tensors(args):
    from ..tensor import Tensor
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, list):
            out.extend(_flat_tensors(a))
    return out


def _rebuild(a, it):
    from ..tensor import Tensor
    if isinstance(a, Tensor):
        return next(it)
    if isinstance(a, list):
        return [_rebuild(x, it) for x in a]
    return a


@dataclass
class Entry:
    function: type
    call: object
    make_samples: object

    @property
    def name(self):
        return self.function.__name__

    def checkable(self, sample):
        """``(fn, tensors)`` for gradcheck: ``fn(*tensors)`` calls the op on
        ``sample`` with its float arrays replaced by the given tensors."""
        args = [_to_inputs(a) for a in sample.args]
        tensors = _flat_tensors(args)

        def fn(*ts):
            it = iter(ts)
            return self.call(*[_rebuild(a, it) for a in args], **sample.kwargs)

        return fn, tensors


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
