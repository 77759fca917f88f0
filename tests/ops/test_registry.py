"""Every registered op passes gradcheck in float64 on every sample, and
every Function in scratchnet.ops is registered with samples."""
import importlib
import pkgutil
import zlib

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.ops
from scratchnet.autograd.function import Function
from scratchnet.ops.registry import REGISTRY


def _all_op_functions():
    found = {}
    for mod in pkgutil.iter_modules(scratchnet.ops.__path__):
        module = importlib.import_module(f"scratchnet.ops.{mod.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, Function) and obj is not Function
                    and obj.__module__ == module.__name__ and not obj.__name__.startswith("_")):
                found[obj.__name__] = obj
    return found


# importing every module under scratchnet.ops registers all ops before the cases are collected
OP_FUNCTIONS = _all_op_functions()


def test_every_op_function_is_registered_with_samples():
    missing = [name for name in OP_FUNCTIONS if name not in REGISTRY]
    assert not missing, f"ops without registered gradcheck samples: {missing}"
    rng = np.random.default_rng(0)
    empty = [name for name, e in REGISTRY.items() if not e.make_samples(rng)]
    assert not empty, f"ops registered with no samples: {empty}"


def _cases():
    for name, entry in sorted(REGISTRY.items()):
        for sample in entry.make_samples(np.random.default_rng(zlib.crc32(name.encode()))):
            yield pytest.param(entry, sample, id=f"{name}-{sample.name}")


def _flat_tensors(args):
    out = []
    for a in args:
        if isinstance(a, sn.Tensor):
            out.append(a)
        elif isinstance(a, list):
            out.extend(_flat_tensors(a))
    return out


@pytest.mark.parametrize("entry,sample", list(_cases()))
def test_gradcheck_registered_op(entry, sample):
    fn, tensors = entry.checkable(sample)
    assert sn.gradcheck(fn, tensors, **sample.check)
    assert sn.gradcheck(fn, tensors, fast_mode=True, **sample.check)
