"""Choosing the next token from a model's logits (NumPy only, no autograd).

    p = softmax(logits / temperature), restricted to
      - the ``top_k`` most likely tokens, and/or
      - the smallest set of most likely tokens whose probabilities add up to
        at least ``top_p`` (nucleus sampling; the most likely token is always kept),
    renormalised, then one token is drawn with the given generator.
``greedy=True`` (or ``temperature == 0``) takes the argmax instead.
"""

import numpy as np

from .dtypes import is_int, is_real


def check_seed(seed, where="generate"):
    """TypeError unless seed is an int (NumPy ints accepted, bools not),
    ValueError if it is negative (None is for the caller to handle)."""
    if not is_int(seed):
        raise TypeError(f"{where}: seed must be a non-negative int or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{where}: seed must be a non-negative int or None, got {seed!r}")


def check_sampling_args(temperature, top_k, top_p, where="generate", greedy=False):
    """TypeError naming the argument unless temperature is a number, top_k an
    int and top_p a number (or None; NumPy scalars are accepted, bools are not)
    and greedy a bool; ValueError unless temperature >= 0 (finite), top_k >= 1,
    top_p in (0, 1]."""
    if not isinstance(greedy, (bool, np.bool_)):                 # 'no' would otherwise mean greedy
        raise TypeError(f"{where}: greedy must be a bool, got {greedy!r}")
    if not is_real(temperature):
        raise TypeError(f"{where}: temperature must be a finite number >= 0, got {temperature!r}")
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"{where}: temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None:
        if not is_int(top_k):
            raise TypeError(f"{where}: top_k must be a positive int or None, got {top_k!r}")
        if top_k < 1:
            raise ValueError(f"{where}: top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None:
        if not is_real(top_p):
            raise TypeError(f"{where}: top_p must be in (0, 1] or None, got {top_p!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"{where}: top_p must be in (0, 1] or None, got {top_p!r}")


def filtered_probabilities(logits, temperature=1.0, top_k=None, top_p=None):
    """The sampling distribution over the last axis of ``logits`` (float64)."""
    z = np.asarray(logits, dtype=np.float64) / max(float(temperature), 1e-8)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[..., -top_k][..., None]        # k-th largest per row
        z = np.where(z < kth, -np.inf, z)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p        # mass of the more likely tokens
        keep_sorted = before < top_p                            # the first token always stays
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    return p


def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None, greedy=False):
    """One token id per row of ``logits`` (..., V) -> int array (...)."""
    logits = np.asarray(logits)
    if np.isnan(logits).any():
        raise ValueError("sample_next: the logits contain NaN (did the model's weights diverge?)")
    if greedy or temperature == 0:
        return np.argmax(logits, axis=-1)
    p = filtered_probabilities(logits, temperature, top_k, top_p)
    flat = p.reshape(-1, p.shape[-1])                           # (rows, V)
    cum = np.cumsum(flat, axis=-1)                              # (rows, V)
    u = rng.random(flat.shape[0])[:, None] * cum[:, -1:]        # uniform in [0, total mass)
    idx = (cum <= u).sum(axis=-1)        # the first token whose cumulative mass passes u: never
    return idx.reshape(p.shape[:-1])     # a zero-probability (filtered) token, never past the end
