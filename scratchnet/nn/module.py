"""``Module``, ``Parameter`` and the containers.

A Module owns Parameters (leaf tensors that require grad), buffers (arrays
that are saved but not trained) and sub-modules, registered simply by
assignment (``self.fc = Linear(4, 2)``). Names join with dots, so
``state_dict()`` keys match PyTorch's for the same architecture
(``fc.weight``, ``layers.0.bias``...).
"""
from collections import OrderedDict, namedtuple

import numpy as np

from ..autograd.grad_mode import no_grad
from ..dtypes import FLOAT_DTYPES, normalize_array
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module trains (``requires_grad=True`` by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        data = data.data if isinstance(data, Tensor) else data
        arr = normalize_array(data, where="Parameter")
        if arr.dtype.kind != "f":
            raise TypeError(f"Parameter: expected floating-point data, got dtype {arr.dtype} (shape {arr.shape})")
        super().__init__(arr, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _HookHandle:
    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


class Module:
    """Base class of every layer and model (PyTorch's ``nn.Module`` API)."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            self.register_buffer(name, value, persistent=name not in self._non_persistent)
            return                                 # assigning to a buffer updates it (PyTorch)
        store = self._slot_for(name, value)
        for other in (self._parameters, self._modules, self._buffers):
            if other is not store:
                other.pop(name, None)
        if store is None:
            object.__setattr__(self, name, value)
            return
        store[name] = value
        self.__dict__.pop(name, None)

    def _slot_for(self, name, value):
        """The registry ``value`` goes into under ``name`` (None: a plain attribute).

        PyTorch's rule: a registered parameter (sub-module) can be replaced only by
        another Parameter (Module) or by None, which keeps the name registered as
        absent; anything else is a TypeError (``lin.weight = tensor`` would otherwise
        silently unregister the weight)."""
        if isinstance(value, Parameter):
            return self._parameters
        if name in self._parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} as parameter "
                                f"'{name}' (a Parameter or None expected; to change its values use "
                                f"{name}.data[...] = ...)")
            return self._parameters
        if isinstance(value, Module):
            return self._modules
        if name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} as child "
                                f"module '{name}' (a Module or None expected)")
            return self._modules
        return None

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._modules, self._buffers):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one like a disabled bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, array, persistent=True):
        """An array saved in ``state_dict`` (when persistent) but not trained."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if array is None else (
            array.data if isinstance(array, Tensor) else normalize_array(array, where="register_buffer"))
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module, got {type(module).__name__}")
        self._modules[str(name)] = module

    # ------------------------------------------------------------------- call
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook):
        """``hook(module, inputs, output)`` runs after every forward; returns a handle with ``remove()``."""
        key = object()
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    # -------------------------------------------------------------- traversal
    def named_modules(self, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant (iterative), each once
        unless ``remove_duplicate=False`` (then a shared module under every name)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            if remove_duplicate:
                seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{n}" if name else n, m) for n, m in mod._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def get_submodule(self, target):
        """The sub-module at the dotted path ``target`` ("" is this module), e.g. "blocks.0.attn"."""
        mod = self
        for item in target.split(".") if target else ():
            if mod._modules.get(item) is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule `{item}` (path {target!r})")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target):
        """The parameter at the dotted path ``target``, e.g. "blocks.0.weight"."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if mod._parameters.get(name) is None:
            raise AttributeError(f"{type(mod).__name__} has no parameter `{name}` (path {target!r})")
        return mod._parameters[name]

    def named_children(self):
        """(name, module) for each direct sub-module, a shared one only under its first name."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------ state dict
    def state_dict(self):
        """Ordered dict name -> np.ndarray (copies) of parameters and persistent buffers.

        Shared parameters and modules appear under every name that reaches them, as in PyTorch."""
        out = OrderedDict()
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            for name, p in mod._parameters.items():
                if p is not None:
                    out[f"{mod_name}.{name}" if mod_name else name] = p.data.copy()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[f"{mod_name}.{name}" if mod_name else name] = np.array(b, copy=True)
        return out  # pre-order: own parameters, own buffers, then children (PyTorch's order)

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into this module's parameters and buffers, in place.

        Shape mismatches and non-numeric arrays, and with ``strict=True`` missing
        and unexpected keys, raise one ``ValueError`` listing all of them by name,
        and nothing is changed. Values are cast to each parameter's and buffer's
        dtype. Returns ``(missing_keys, unexpected_keys)``.
        """
        targets = self._state_targets()
        given = OrderedDict((k, v.data if isinstance(v, Tensor) else np.asarray(v)) for k, v in state_dict.items())
        missing = [k for k in targets if k not in given]
        unexpected = [k for k in given if k not in targets]
        mismatched = [f"{k}: checkpoint {given[k].shape} vs model {targets[k][0].shape}"
                      for k in targets if k in given and given[k].shape != targets[k][0].shape]
        not_numbers = [f"{k}: dtype {given[k].dtype}" for k in targets
                       if k in given and given[k].dtype.kind not in "biuf"]
        problems = []
        if mismatched:
            problems.append("shape mismatch for " + "; ".join(mismatched))
        if not_numbers:
            problems.append("not numeric arrays: " + "; ".join(not_numbers))
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for key, (obj, kind, owner, name) in targets.items():
            if key not in given:
                continue
            value = given[key]
            if kind == "param":
                obj.data[...] = value.astype(obj.dtype, copy=False)
            else:
                owner._buffers[name] = np.array(value, dtype=obj.dtype if obj is not None else None, copy=True)
        return IncompatibleKeys(missing, unexpected)

    def _state_targets(self):
        targets = OrderedDict()
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            for name, p in mod._parameters.items():
                if p is not None:
                    targets[f"{mod_name}.{name}" if mod_name else name] = (p, "param", mod, name)
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    targets[f"{mod_name}.{name}" if mod_name else name] = (b, "buffer", mod, name)
        return targets

    # ------------------------------------------------------------------ modes
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (or, with ``set_to_none=False``, zero it in place)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def num_parameters(self, trainable_only=False):
        return int(sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only))

    def to(self, dtype):
        """Convert every floating parameter (and its gradient) and buffer to ``dtype``
        (float32 or float64), in place; the Parameter objects stay the same."""
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"{type(self).__name__}.to: expected float32 or float64, got {dtype}")
        with no_grad():
            for p in self.parameters():
                p.data = p.data.astype(dtype)
                p.grad = None if p.grad is None else p.grad.astype(dtype)
            for m in self.modules():
                for name, b in m._buffers.items():
                    if b is not None and b.dtype.kind == "f":
                        m._buffers[name] = b.astype(dtype)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def apply(self, fn):
        """Call ``fn`` on every sub-module, then on this module (PyTorch's order:
        post-order over ``children()``, e.g. for ``model.apply(init_weights)``)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ print
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if not self._modules:
            return lines[0] + ")"
        for name, m in self._modules.items():       # every name, as PyTorch prints them
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"

    def summary(self, example, dtype=None, print_fn=print):
        """A Keras-style table: layer name, type, output shape, parameters.

        ``example`` is an input Tensor/array, or a shape tuple (filled with
        random floats, or zeros when ``dtype`` is an integer dtype, e.g. for
        token ids). Returns the table as a string and prints it.
        """
        from .summary import summarize
        return summarize(self, example, dtype=dtype, print_fn=print_fn)


class _ModuleSequence(Module):
    """The list operations shared by Sequential and ModuleList (PyTorch's): modules
    are registered under their positions "0", "1", ...; deleting or inserting
    renumbers them, so ``state_dict`` keys stay those of PyTorch's container."""

    def _key(self, i):
        """The name of the module at integer position ``i`` (negative counts from the end)."""
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got {type(i).__name__}")
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__}: index {i} is out of range for {n} modules")
        return list(self._modules)[i % n]

    def _renumber(self, modules):
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __setitem__(self, i, module):
        self.add_module(self._key(i), module)

    def __delitem__(self, i):
        if isinstance(i, slice):
            doomed = set(list(self._modules)[i])
        else:
            doomed = {self._key(i)}
        self._renumber([m for k, m in self._modules.items() if k not in doomed])

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        """Put ``module`` before position ``index`` (-len <= index <= len)."""
        n = len(self._modules)
        if not isinstance(index, (int, np.integer)) or not -n <= index <= n:
            raise IndexError(f"{type(self).__name__}.insert: index {index!r} is out of range for {n} modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.insert: expected a Module, got {type(module).__name__}")
        modules = list(self._modules.values())
        modules.insert(index, module)                   # list.insert: -1 is before the last
        self._renumber(modules)

    def pop(self, i=-1):
        module = self[i]
        del self[i]
        return module

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        if not isinstance(other, type(self)):
            raise TypeError(f"{type(self).__name__} + {type(other).__name__}: expected a {type(self).__name__}")
        return type(self)().extend(list(self) + list(other))


class Sequential(_ModuleSequence):
    """Modules called in order: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``.

    Also ``Sequential(OrderedDict(name=module, ...))``, indexing and slicing
    (a slice keeps the names), and PyTorch's list operations (``append, extend,
    insert, pop, del seq[i], seq[i] = m, +, +=``)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):   # keeps the original names, as PyTorch does
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return self._modules[self._key(i)]


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (keys ``0.weight``...);
    PyTorch's list operations (``append, extend, insert, pop, del ml[i], ml[i] = m,
    +, +=``); a slice is a new ModuleList, numbered from 0."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return self._modules[self._key(i)]


class ModuleDict(Module):
    """A dict of modules whose parameters are registered under their keys
    (``[key]``, ``del``, ``pop``, ``update``, ``clear``, ``keys/values/items``, as PyTorch's)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def pop(self, key):
        module = self._modules[key]
        del self._modules[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add or replace modules from a dict / ModuleDict or an iterable of (key, module) pairs."""
        pairs = modules.items() if isinstance(modules, (dict, ModuleDict)) else modules
        for k, m in pairs:
            self[k] = m

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
