"""``Module.summary``: a table of layers, output shapes and parameter counts."""
import numpy as np

from ..autograd.grad_mode import no_grad
from ..dtypes import get_default_dtype
from ..tensor import Tensor


def _example_input(example, dtype):
    if isinstance(example, Tensor):
        return example
    if isinstance(example, tuple) and all(isinstance(n, (int, np.integer)) for n in example):
        dtype = np.dtype(dtype or get_default_dtype())
        if dtype.kind == "f":   # own generator: printing a summary must not shift sn.manual_seed's stream
            return Tensor(np.random.default_rng(0).standard_normal(example).astype(dtype))
        return Tensor(np.zeros(example, dtype=dtype))
    return Tensor(np.asarray(example))


def _shape_of(out):
    if isinstance(out, Tensor):
        return str(tuple(out.shape))
    if isinstance(out, (tuple, list)):
        return "[" + ", ".join(_shape_of(o) for o in out if o is not None) + "]"
    return type(out).__name__


def summarize(model, example, dtype=None, print_fn=print):
    rows, handles = [], []
    for name, mod in model.named_modules():
        def hook(m, inputs, out, name=name):
            own = sum(p.size for p in m.parameters(recurse=False))
            rows.append((name or "(model)", type(m).__name__, _shape_of(out), own))
        handles.append(mod.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            model(_example_input(example, dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    # hooks fire on the way out: order rows as the modules were entered
    order = {n or "(model)": i for i, (n, _) in enumerate(model.named_modules())}
    rows.sort(key=lambda r: order.get(r[0], len(order)))
    header = ("Layer", "Type", "Output shape", "Params")
    table = [header] + [(n, t, s, f"{p:,}") for n, t, s, p in rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    line = "-" * (sum(widths) + 6)

    def fmt(r):
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    total = model.num_parameters()
    trainable = model.num_parameters(trainable_only=True)
    lines = [line, fmt(header), line] + [fmt(r) for r in table[1:]] + [
        line, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}", line]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
