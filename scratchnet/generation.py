"""Text generation from a trained language model.

``generate(model, tokenizer, prompt, max_new_tokens, ...)`` encodes the
prompt, lets the model extend it token by token, and returns the prompt
followed by the generated text. Sampling (temperature, top-k, top-p, greedy)
is in ``scratchnet.sampling``; with ``seed`` the result repeats exactly.

Models plug in through one of two methods:
- ``model.generate_ids(ids, max_new_tokens, choose)``: the model runs its own
  loop (GPT uses a key/value cache) and calls ``choose(logits) -> token`` for
  every new token;
- ``model.step(token_ids, state) -> (logits, state)`` with
  ``model(ids, state) -> (logits, state)``: recurrent models, O(1) per token.
"""
import numpy as np

from .autograd.grad_mode import no_grad
from .dtypes import is_int
from .random import default_generator
from .sampling import check_sampling_args, check_seed, sample_next
from .tensor import Tensor


def generate(model, tokenizer, prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
             greedy=False, seed=None):
    """Prompt plus ``max_new_tokens`` generated tokens, decoded to text (an
    empty prompt starts the model from ``<bos>``, which is not part of the text)."""
    check_sampling_args(temperature, top_k, top_p, greedy=greedy)
    _check_count("max_new_tokens", max_new_tokens)
    if not isinstance(prompt, str):
        raise TypeError(f"generate: prompt must be a string, got {type(prompt).__name__}")
    if seed is not None:
        check_seed(seed)
    ids = _encode_prompt(tokenizer, prompt)
    rng = np.random.default_rng(int(seed)) if seed is not None else default_generator()
    new = generate_ids(model, ids or _bos_start(tokenizer, prompt), max_new_tokens, temperature, top_k,
                       top_p, greedy, rng)
    return tokenizer.decode(ids + list(new))


def _check_count(name, value):
    """TypeError for a non-int (bools included), ValueError for a negative int."""
    if not is_int(value):
        raise TypeError(f"generate: {name} must be a non-negative int, got {value!r}")
    if value < 0:
        raise ValueError(f"generate: {name} must be a non-negative int, got {value!r}")


def default_prompt(tokenizer):
    """A newline when the vocabulary has one (samples then start like a new
    line of the text), otherwise the vocabulary's first non-special token."""
    try:
        if tokenizer.decode(tokenizer.encode("\n")) == "\n":
            return "\n"
    except ValueError:
        pass
    special = set(getattr(tokenizer, "special_ids", {}).values())
    first = next(i for i in range(tokenizer.vocab_size) if i not in special)
    return tokenizer.decode([first])


def _encode_prompt(tokenizer, prompt):
    """The prompt's token ids (a list, empty for an empty prompt)."""
    try:
        return list(tokenizer.encode(prompt)) if prompt else []
    except (ValueError, KeyError) as e:
        raise ValueError(f"generate: the prompt cannot be encoded: {e}") from None


def _bos_start(tokenizer, prompt):
    """Where generation starts for a prompt that encodes to no tokens (empty, or
    only whitespace for a word tokenizer): ``<bos>``, which is not shown."""
    bos = getattr(tokenizer, "bos_id", None)
    if bos is None:
        raise ValueError(f"generate: the prompt {prompt!r} encodes to no tokens and the tokenizer has "
                         "no <bos> token; give at least one token of the vocabulary (e.g. a newline)")
    return [bos]


def generate_ids(model, ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, greedy=False, rng=None):
    """The ``max_new_tokens`` token ids that follow ``ids``."""
    rng = rng if rng is not None else default_generator()

    def choose(logits):
        return int(sample_next(np.asarray(logits, dtype=np.float64).reshape(-1), rng,
                               temperature, top_k, top_p, greedy))

    was_training = model.training
    model.eval()
    try:
        with no_grad():
            if hasattr(model, "generate_ids"):
                return list(model.generate_ids(list(ids), max_new_tokens, choose))
            return _recurrent_loop(model, ids, max_new_tokens, choose)
    finally:
        model.train(was_training)


def _recurrent_loop(model, ids, max_new_tokens, choose):
    logits, state = model(Tensor(np.asarray([ids], dtype=np.int64)), None)   # (1, T, V)
    new = []
    last = logits.data[0, -1]
    for _ in range(max_new_tokens):
        token = choose(last)
        new.append(token)
        logits, state = model.step(np.array([token], dtype=np.int64), state)  # (1, V)
        last = logits.data.reshape(-1)
    return new
