"""Numerical gradient checking: compare backprop with finite differences.

For f: inputs -> outputs, backprop gives vector-Jacobian products
J^T v. ``gradcheck`` builds the Jacobian two ways and compares them entry
by entry:

- numeric column j:  (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)   (central differences)
- analytic row i:    one backward pass with the one-hot cotangent e_i

An entry passes when |analytic - numeric| <= atol + rtol * |numeric|.

``fast_mode=True`` compares one random projection instead of the whole
Jacobian: with random u (over inputs) and v (over outputs),
v^T J u = (J^T v) . u  (one backward) against the directional derivative
(v.f(x + eps u) - v.f(x - eps u)) / (2 eps)  (two forwards).
Inputs must be float64: float32 finite differences are too coarse to
tell a wrong gradient from rounding.
"""
import numpy as np

from ..tensor import Tensor, grad as autograd_grad
from .grad_mode import no_grad


class GradcheckError(RuntimeError):
    """Analytic and numeric gradients disagree (the message says where)."""


def _flatten_outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: the function must return Tensors, got {type(o).__name__}")
    return [o for o in outs if o.dtype.kind == "f"]


def _differentiable_inputs(inputs):
    checked = []
    for k, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad:
            if t.dtype != np.float64:
                raise TypeError(f"gradcheck: input {k} has dtype {t.dtype}; gradcheck needs float64 "
                                f"inputs (finite differences in float32 are too coarse)")
            if not (t.data.flags.writeable and t.data.flags.c_contiguous):
                # perturbed in place through a flat view: a read-only or strided
                # array (a transpose, a broadcast) would be copied, not perturbed
                t.data = np.ascontiguousarray(t.data).copy()
            checked.append((k, t))
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    return checked


def _eval(fn, inputs):
    with no_grad():
        return [o.data.astype(np.float64).copy() for o in _flatten_outputs(fn(*inputs))]


def _analytic_vjp(fn, inputs, checked, cotangents):
    outs = _flatten_outputs(fn(*inputs))
    pairs = [(o, v) for o, v in zip(outs, cotangents) if o.requires_grad]
    if not pairs:
        return [np.zeros_like(t.data) for _, t in checked]
    grads = autograd_grad([o for o, _ in pairs], [t for _, t in checked],
                          grad_outputs=[v.astype(o.dtype) for o, v in pairs], allow_unused=True)
    result = []
    for (k, t), g in zip(checked, grads):
        if g is not None and (g.shape != t.shape or g.dtype != t.dtype):
            raise GradcheckError(f"gradcheck: gradient of input {k} has shape {g.shape} and dtype "
                                 f"{g.dtype}, but the input has shape {t.shape} and dtype {t.dtype}")
        result.append(np.zeros_like(t.data) if g is None else g)
    return result


def _numeric_jacobian(fn, inputs, t, eps, n_out):
    """Rows: output elements (all outputs concatenated); columns: t's elements."""
    flat = t.data.reshape(-1)       # a view: perturbs t in place
    jac = np.zeros((n_out, flat.size))
    for j in range(flat.size):
        orig = flat[j]
        flat[j] = orig + eps
        plus = np.concatenate([o.ravel() for o in _eval(fn, inputs)]) if n_out else np.zeros(0)
        flat[j] = orig - eps
        minus = np.concatenate([o.ravel() for o in _eval(fn, inputs)]) if n_out else np.zeros(0)
        flat[j] = orig
        jac[:, j] = (plus - minus) / (2 * eps)
    return jac


def _fail(message, raise_exception):
    if raise_exception:
        raise GradcheckError(message)
    return False


def _jacobians(fn, inputs, checked, eps):
    """Yield (k, tensor, numeric, analytic, output sizes, base outputs) per checked input."""
    base = _eval(fn, inputs)
    sizes = [o.size for o in base]
    n_out = int(np.sum(sizes))
    analytic_rows = []
    for i in range(n_out):                     # one backward per output element
        onehot = np.zeros(n_out)
        onehot[i] = 1.0
        cot = [c.reshape(o.shape) for c, o in zip(np.split(onehot, np.cumsum(sizes)[:-1]), base)]
        analytic_rows.append([g.reshape(-1) for g in _analytic_vjp(fn, inputs, checked, cot)])
    for pos, (k, t) in enumerate(checked):
        numeric = _numeric_jacobian(fn, inputs, t, eps, n_out)
        analytic = np.array([row[pos] for row in analytic_rows]).reshape(numeric.shape)
        yield k, t, numeric, analytic, sizes, base


def jacobian_errors(fn, inputs, eps=1e-6):
    """Worst absolute and relative error between the numeric and analytic
    Jacobians over all checked inputs (for reports such as ``scratchnet gradcheck``)."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    worst_abs = worst_rel = 0.0
    for _, _, numeric, analytic, _, _ in _jacobians(fn, inputs, _differentiable_inputs(inputs), eps):
        err = np.abs(analytic - numeric)
        if err.size:
            worst_abs = max(worst_abs, float(err.max()))
            # relative to |numeric|, floored at 1e-6 so entries that are ~0 on both sides do not dominate
            worst_rel = max(worst_rel, float((err / np.maximum(np.abs(numeric), 1e-6)).max()))
    return worst_abs, worst_rel


def _dense(fn, inputs, checked, eps, atol, rtol, raise_exception):
    for k, t, numeric, analytic, sizes, base in _jacobians(fn, inputs, checked, eps):
        err = np.abs(analytic - numeric)
        allowed = atol + rtol * np.abs(numeric)
        bad = ~(err <= allowed)
        if bad.any():
            i, j = np.unravel_index(np.argmax(np.where(bad, err - allowed, -np.inf)), err.shape)
            worst = np.unravel_index(np.argmax(np.where(np.isnan(err), np.inf, err)), err.shape)
            elem = np.unravel_index(j, t.shape) if t.shape else ()
            out_idx = _output_index(i, sizes, base)
            return _fail(
                f"gradcheck failed for input {k} (shape {t.shape}) at element {tuple(map(int, elem))}, "
                f"w.r.t. {out_idx}: numeric {numeric[i, j]:.8g} vs analytic {analytic[i, j]:.8g} "
                f"(error {err[i, j]:.3g} > allowed {allowed[i, j]:.3g} = atol {atol:g} + rtol {rtol:g} * |numeric|); "
                f"{int(bad.sum())} of {bad.size} Jacobian entries fail; worst error {err[worst]:.3g}",
                raise_exception)
    return True


def _output_index(i, sizes, base):
    start = 0
    for n, (size, o) in enumerate(zip(sizes, base)):
        if i < start + size:
            elem = np.unravel_index(i - start, o.shape) if o.shape else ()
            return f"output {n} element {tuple(map(int, elem))}"
        start += size
    return f"output element {i}"


def _fast(fn, inputs, checked, eps, atol, rtol, raise_exception, rng):
    base = _eval(fn, inputs)
    vs = [rng.standard_normal(o.shape) for o in base]
    us = [rng.standard_normal(t.shape) for _, t in checked]
    analytic = sum(float(np.sum(g * u)) for g, u in
                   zip(_analytic_vjp(fn, inputs, checked, vs), us))
    originals = [t.data.copy() for _, t in checked]

    def projected(sign):
        for (_, t), x0, u in zip(checked, originals, us):
            t.data[...] = x0 + sign * eps * u
        return sum(float(np.sum(o * v)) for o, v in zip(_eval(fn, inputs), vs))

    try:
        numeric = (projected(1) - projected(-1)) / (2 * eps)
    finally:
        for (_, t), x0 in zip(checked, originals):
            t.data[...] = x0
    err = abs(analytic - numeric)
    allowed = atol + rtol * abs(numeric)
    if not err <= allowed:
        return _fail(f"gradcheck (fast_mode) failed: random projection v^T J u: numeric {numeric:.8g} "
                     f"vs analytic {analytic:.8g} (error {err:.3g} > allowed {allowed:.3g}) for inputs "
                     f"{[k for k, _ in checked]}; rerun with fast_mode=False to find the element",
                     raise_exception)
    return True


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              fast_mode=False, seed=0):
    """Check ``fn``'s backward against finite differences (see module docstring).

    ``inputs`` is a Tensor or a sequence of arguments; the float64 Tensors that
    require grad are checked. Returns True, or on failure raises
    ``GradcheckError`` (or returns False when ``raise_exception=False``) with
    a message naming the input, the element, numeric vs analytic and the worst
    error.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = _differentiable_inputs(inputs)
    if fast_mode:
        return _fast(fn, inputs, checked, eps, atol, rtol, raise_exception, np.random.default_rng(seed))
    return _dense(fn, inputs, checked, eps, atol, rtol, raise_exception)
