"""What ``scratchnet train / generate / evaluate`` do, as Python functions.

A run directory holds ``checkpoint.npz`` (latest), ``best.npz`` (best
validation loss), ``history.csv``/``history.json`` and ``loss.png``. Each
checkpoint stores the run's config and tokenizer, so it is self-describing:
``load_run(dir)`` rebuilds the model without any other file.
"""
import json
import math
import os
import time

import numpy as np

from ..data import BUNDLED_CORPORA, CharTokenizer, load_corpus, train_val_split, LMWindowLoader, ContiguousBatches
from ..data.tokenizers import tokenizer_from_dict
from ..dtypes import is_int
from ..random import manual_seed
from .presets import DEFAULTS, MODEL_DEFAULTS, PRESETS, RESUME_FIXED_KEYS, MODEL_TYPES
from .tasks import LanguageModelTask, RecurrentLMTask
from .trainer import Trainer, evaluate_model, load_checkpoint

_FLAG_KEYS = [k for k in DEFAULTS if k not in ("bias", "beta2", "val_fraction")]


# --------------------------------------------------------------------- config
def read_config_file(path):
    """Hyperparameters from a JSON or TOML file (a flat table of DEFAULTS' keys)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        if path.endswith(".toml"):
            try:
                import tomllib
            except ImportError:
                raise ValueError(f"{path}: reading TOML needs Python 3.11 or newer; use JSON") from None
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: not a valid {'TOML' if path.endswith('.toml') else 'JSON'} config ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config must be a table of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"{path}: unknown settings {unknown}; known: {sorted(DEFAULTS)}")
    return data


def resolve_config(args):
    """Merge defaults, model defaults, preset, config file and explicit flags."""
    file_cfg = read_config_file(args.config) if args.config else {}
    flags = {k: getattr(args, k) for k in _FLAG_KEYS if getattr(args, k, None) is not None}
    preset = PRESETS[args.preset] if args.preset else {}
    model = flags.get("model") or file_cfg.get("model") or preset.get("model") or DEFAULTS["model"]
    if model not in MODEL_TYPES:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_TYPES)}")
    config = {**DEFAULTS, **MODEL_DEFAULTS[model], **preset, **file_cfg, **flags, "model": model}
    if args.out == "":
        raise ValueError("--out must name a directory, got an empty string")
    config["out"] = args.out or os.path.join("runs", model)
    config["explicit"] = sorted(set(flags) | set(file_cfg))
    _shorten_default_warmup(config)
    if not args.resume:            # a resumed run is validated once merged with its checkpoint's config
        validate_config(config)
    return config


def _shorten_default_warmup(config):
    """A warm-up the user did not ask for never outlasts the run (``--steps 10``
    alone would otherwise meet the default 50 warm-up steps and fail)."""
    if "warmup" not in config["explicit"] and is_int(config["steps"]) and is_int(config["warmup"]):
        config["warmup"] = min(config["warmup"], max(config["steps"], 0))


_POSITIVE_INTS = ("steps", "batch_size", "seq_len", "hidden_size", "num_layers", "embedding_dim", "n_head",
                  "n_embd", "eval_every", "eval_batches", "checkpoint_every")
_NON_NEGATIVE_INTS = ("warmup", "seed", "sample_tokens")
_NON_NEGATIVE_NUMBERS = ("min_lr", "weight_decay", "grad_clip")


def option_name(key):
    """How the user set ``key``: its flag (``--batch-size``), or its config-file name."""
    return f"--{key.replace('_', '-')}" if key in _FLAG_KEYS else f"config setting {key!r}"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_types(c):
    """Every setting has the type and sign it needs (config files can hold anything)."""
    for k in _POSITIVE_INTS:
        if not is_int(c[k]) or c[k] <= 0:
            raise ValueError(f"{option_name(k)} must be a positive integer, got {c[k]!r}")
    for k in _NON_NEGATIVE_INTS:
        if not is_int(c[k]) or c[k] < 0:
            raise ValueError(f"{option_name(k)} must be an integer >= 0, got {c[k]!r}")
    if not _is_number(c["lr"]) or c["lr"] <= 0:
        raise ValueError(f"--lr must be a positive number, got {c['lr']!r}")
    for k in _NON_NEGATIVE_NUMBERS:
        if not _is_number(c[k]) or c[k] < 0:
            raise ValueError(f"{option_name(k)} must be a finite number >= 0, got {c[k]!r}")
    for k in ("dropout", "beta2"):
        if not _is_number(c[k]) or not 0 <= c[k] < 1:
            raise ValueError(f"{option_name(k)} must be in [0, 1), got {c[k]!r}")
    if not _is_number(c["val_fraction"]) or not 0 < c["val_fraction"] < 1:
        raise ValueError(f"{option_name('val_fraction')} must be in (0, 1), got {c['val_fraction']!r}")
    if not isinstance(c["bias"], bool):
        raise ValueError(f"{option_name('bias')} must be true or false, got {c['bias']!r}")
    if not isinstance(c["data"], str) or not c["data"]:
        raise ValueError(f"--data must be 'tinyshakespeare' or a path to a text file, got {c['data']!r}")


def validate_config(c):
    """Raise ValueError naming the option for any setting that cannot train."""
    _check_types(c)
    if c["min_lr"] > c["lr"]:
        raise ValueError(f"--min-lr must be between 0 and --lr ({c['lr']}), got {c['min_lr']}")
    if c["warmup"] > c["steps"]:
        raise ValueError(f"--warmup must be between 0 and --steps ({c['steps']}), got {c['warmup']}")
    if c["model"] == "gpt" and c["n_embd"] % c["n_head"]:
        raise ValueError(f"--n-embd ({c['n_embd']}) must be divisible by --n-head ({c['n_head']})")
    if c["model"] != "gpt" and "n_head" in c.get("explicit", ()):
        raise ValueError(f"--n-head applies to --model gpt, not {c['model']}")
    if c["model"] == "gpt" and "hidden_size" in c.get("explicit", ()):
        raise ValueError("--hidden-size applies to recurrent models; use --n-embd for gpt")


# ---------------------------------------------------------------------- model
def build_model(config, vocab_size):
    """The model a config describes (after seeding, so initialisation repeats)."""
    from ..models import CharRNN, GPT
    if config["model"] == "gpt":
        return GPT(vocab_size=vocab_size, block_size=config["seq_len"], n_layer=config["num_layers"],
                   n_head=config["n_head"], n_embd=config["n_embd"], dropout=config["dropout"],
                   bias=config["bias"])
    return CharRNN(vocab_size, cell=config["model"], hidden_size=config["hidden_size"],
                   num_layers=config["num_layers"], embedding_dim=config["embedding_dim"],
                   dropout=config["dropout"])


def build_optimizer(model, config):
    from .. import optim
    betas = (0.9, config["beta2"])
    if hasattr(model, "configure_optimizers"):
        return model.configure_optimizers(config["weight_decay"], config["lr"], betas)
    return optim.AdamW(model.parameters(), lr=config["lr"], betas=betas, weight_decay=config["weight_decay"])


def build_scheduler(optimizer, config):
    from ..optim.lr_scheduler import warmup_cosine
    return warmup_cosine(optimizer, config["warmup"], config["steps"], config["min_lr"])


def _loaders(config, train_ids, val_ids):
    if config["model"] == "gpt":
        train = LMWindowLoader(train_ids, config["seq_len"], config["batch_size"], seed=config["seed"])
        val = LMWindowLoader(val_ids, config["seq_len"], config["batch_size"], seed=config["seed"] + 1)
        return train, val, LanguageModelTask()
    train = ContiguousBatches(train_ids, config["batch_size"], config["seq_len"])
    val = ContiguousBatches(val_ids, config["batch_size"], config["seq_len"])
    return train, val, RecurrentLMTask()


def encode_text(tokenizer, text, source):
    """The token ids of ``text`` (int64); a character outside a checkpoint's
    vocabulary gives a ValueError naming ``source``."""
    try:
        return np.asarray(tokenizer.encode(text), dtype=np.int64)
    except ValueError as e:
        raise ValueError(f"{source}: the text does not fit the checkpoint's vocabulary: {e}") from None


def _encoded_corpus(config, tokenizer=None):
    text = load_corpus(config["data"])
    tokenizer = tokenizer or CharTokenizer().fit(text)
    ids = encode_text(tokenizer, text, config["data"])
    train_ids, val_ids = train_val_split(ids, config["val_fraction"])
    min_len = config["batch_size"] * (config["seq_len"] + 1)
    for split, split_ids in (("training", train_ids), ("validation", val_ids)):
        if len(split_ids) < min_len:
            raise ValueError(f"{config['data']}: the {split} split has {len(split_ids)} characters; "
                             f"batch size {config['batch_size']} x (seq len {config['seq_len']} + 1) needs "
                             f"{min_len}: use a longer text or smaller --batch-size/--seq-len")
    return text, tokenizer, train_ids, val_ids


def bigram_baseline(train_ids, val_ids, vocab_size):
    """Validation loss (nats/char) of a character bigram model with add-one smoothing."""
    counts = np.ones((vocab_size, vocab_size))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(-logp[val_ids[:-1], val_ids[1:]].mean())


# ---------------------------------------------------------------------- train
def _check_out_dir(config, resume):
    if os.path.exists(config["out"]) and not os.path.isdir(config["out"]):
        raise ValueError(f"--out {config['out']} is a file, not a directory")
    ckpt = os.path.join(config["out"], "checkpoint.npz")
    if resume and not os.path.exists(ckpt):
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}")
    if not resume and os.path.exists(ckpt):
        raise ValueError(f"{config['out']} already holds a run; pass --resume to continue it, "
                         f"or --out to train into another directory")
    return ckpt


_MODEL_KEYS = ("model", "seq_len", "num_layers", "hidden_size", "embedding_dim", "n_head", "n_embd", "dropout", "bias")


def _run_checkpoint(path):
    """(state, config, tokenizer) of a checkpoint written by ``scratchnet train``;
    a Trainer checkpoint saved from Python without them gets a clear error."""
    state = load_checkpoint(path)
    config, tok = state.get("config"), state.get("tokenizer")
    missing = [k for k in _MODEL_KEYS if k not in config] if isinstance(config, dict) else ["config"]
    if tok is None or missing:
        what = "a tokenizer" if tok is None else f"the settings {', '.join(missing)}"
        raise ValueError(f"{path}: this checkpoint does not hold {what}, which the command line needs to rebuild "
                         f"the model (a Trainer checkpoint saved without config= or tokenizer=); "
                         f"use Trainer.resume from Python instead")
    return state, config, tokenizer_from_dict(tok)


def _config_for_resume(config, ckpt):
    _, old, tokenizer = _run_checkpoint(ckpt)
    clashes = [k for k in RESUME_FIXED_KEYS if k in config["explicit"] and config[k] != old.get(k)]
    if clashes:
        given = ", ".join(f"{option_name(k)} {config[k]!r}" for k in clashes)
        saved_values = ", ".join(f"{option_name(k)} {old.get(k)!r}" for k in clashes)
        raise ValueError(f"--resume: {given} cannot change when resuming; the checkpoint in {config['out']} "
                         f"was trained with {saved_values}")
    merged = dict(old)
    for k in config["explicit"]:
        merged[k] = config[k]          # e.g. more --steps
    merged["out"], merged["explicit"] = config["out"], config["explicit"]
    return merged, tokenizer


def train_from_config(config, resume=False, progress=True, print_fn=print):
    """Train as ``scratchnet train`` does; returns the exit status."""
    ckpt = _check_out_dir(config, resume)
    tokenizer = None
    if resume:
        config, tokenizer = _config_for_resume(config, ckpt)
        _shorten_default_warmup(config)
        validate_config(config)
    manual_seed(config["seed"])
    _, tokenizer, train_ids, val_ids = _encoded_corpus(config, tokenizer)
    model = build_model(config, tokenizer.vocab_size)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config)
    train_loader, val_loader, task = _loaders(config, train_ids, val_ids)
    saved_config = {k: v for k, v in config.items() if k != "explicit"}
    trainer = Trainer(model, optimizer, train_loader, val_loader, task=task, scheduler=scheduler,
                      grad_clip=config["grad_clip"] or None, eval_every=config["eval_every"],
                      eval_batches=config["eval_batches"], checkpoint_every=config["checkpoint_every"],
                      out_dir=config["out"], progress=progress, config=saved_config, tokenizer=tokenizer)
    if resume:
        _resume(trainer, ckpt, config)
        print_fn(f"resuming {config['out']} at step {trainer.step}")
        if trainer.step >= config["steps"]:
            print_fn(f"nothing to train: the run is already at step {trainer.step} and --steps is "
                     f"{config['steps']}; pass a larger --steps to continue")
            return 0
    print_fn(f"training {config['model']} ({model.num_parameters():,} parameters) on {config['data']} "
             f"({len(train_ids):,} train / {len(val_ids):,} val characters, vocabulary {tokenizer.vocab_size}) "
             f"for {config['steps']} steps")
    start = time.perf_counter()
    trainer.fit(steps=config["steps"])
    elapsed = time.perf_counter() - start
    if trainer.interrupted:
        print_fn(f"interrupted at step {trainer.step}; checkpoint saved to {trainer.checkpoint_path} "
                 f"(continue with --resume)")
        return 130
    _report(trainer, tokenizer, train_ids, val_ids, elapsed, config, print_fn)
    return 0


def _resume(trainer, ckpt, config):
    """Load the checkpoint into ``trainer``, keeping the optimizer settings and
    the learning-rate schedule of ``config`` (so ``--resume --steps N`` follows
    the N-step schedule from the saved step on, as nanoGPT does; unchanged
    settings continue the run exactly). A checkpoint that no longer fits the
    data (the file changed since) is a clear error, not a loader traceback."""
    settings = _optimizer_settings(trainer)
    try:
        trainer.resume(ckpt)
    except ValueError as e:
        raise ValueError(f"--resume: {ckpt} does not fit {config['data']} as it is now "
                         f"(was the file changed since?): {e}") from None
    _apply_optimizer_settings(trainer, settings)


_SCHEDULE_KEYS = ("warmup_steps", "total_steps", "min_lr", "base_lrs")


def _optimizer_settings(trainer):
    """The hyperparameters of each parameter group (lr, betas, weight decay...)
    and the schedule's shape, as built from the config."""
    groups = [{k: v for k, v in group.items() if k != "params"} for group in trainer.optimizer.param_groups]
    schedule = {k: v for k, v in trainer.scheduler.state_dict().items() if k in _SCHEDULE_KEYS}
    return groups, schedule


def _apply_optimizer_settings(trainer, settings):
    """Put ``settings`` back after a checkpoint was loaded, and set each group's
    lr to the schedule's value at the resumed step."""
    groups, schedule = settings
    trainer.scheduler.load_state_dict(schedule)
    for group, saved, lr in zip(trainer.optimizer.param_groups, groups, trainer.scheduler.get_lr()):
        group.update(saved, lr=lr)


def _report(trainer, tokenizer, train_ids, val_ids, elapsed, config, print_fn):
    from ..generation import default_prompt, generate
    metrics = trainer.evaluate()
    bigram = bigram_baseline(train_ids, val_ids, tokenizer.vocab_size)
    last = trainer.history[-1]["loss"] if trainer.history else float("nan")
    print_fn(f"done: {trainer.step} steps in {elapsed:.0f} s; train loss {last:.4f}; "
             f"val loss {metrics['loss']:.4f} nats/char (perplexity {metrics['perplexity']:.2f}, "
             f"{metrics['bpc']:.3f} bits/char, accuracy {metrics['accuracy']:.3f}); "
             f"character bigram baseline {bigram:.4f}")
    print_fn(f"checkpoints: {trainer.checkpoint_path} (latest), {trainer.best_path} (best val)")
    if config["sample_tokens"]:
        print_fn("sample:\n" + generate(trainer.model, tokenizer, default_prompt(tokenizer),
                                        config["sample_tokens"], temperature=0.8, seed=config["seed"]))


# ------------------------------------------------------------ generate/evaluate
def _checkpoint_file(path):
    if os.path.isdir(path):
        for name in ("best.npz", "checkpoint.npz"):
            if os.path.exists(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(f"{path} holds no checkpoint (best.npz or checkpoint.npz)")
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return path


def load_run(path):
    """(model in eval mode, tokenizer, config) from a run directory or checkpoint file."""
    path = _checkpoint_file(path)
    state, config, tokenizer = _run_checkpoint(path)
    model = build_model(config, tokenizer.vocab_size)
    try:
        model.load_state_dict(state["model"])
    except ValueError as e:
        raise ValueError(f"{path}: the weights do not fit a {config.get('model')} model: {e}") from None
    return model.eval(), tokenizer, config


def evaluate_run(path, data=None, batches=50):
    """Loss, perplexity, bits per character and accuracy of a checkpoint on
    ``data`` (a corpus name or path), or on its own validation split."""
    if isinstance(batches, bool) or not isinstance(batches, int) or batches <= 0:
        raise ValueError(f"--batches must be a positive integer, got {batches!r}")
    model, tokenizer, config = load_run(path)
    if data is not None:
        val_ids = encode_text(tokenizer, load_corpus(data), data)
        source = data
        if len(val_ids) < config["seq_len"] + 1:
            raise ValueError(f"{data}: {len(val_ids)} characters is too short to evaluate a model trained "
                             f"with --seq-len {config['seq_len']}; it needs at least {config['seq_len'] + 1}")
    else:
        if config["data"] not in BUNDLED_CORPORA and not os.path.exists(config["data"]):
            raise FileNotFoundError(f"{path} was trained on {config['data']}, which does not exist (any more); "
                                    f"pass --data to evaluate on another text")
        _, _, _, val_ids = _encoded_corpus(config, tokenizer)
        source = f"{config['data']} (validation split)"
    config = dict(config, batch_size=min(config["batch_size"], max(1, len(val_ids) // (config["seq_len"] + 1))))
    _, val_loader, task = _loaders(config, val_ids, val_ids)
    metrics = evaluate_model(model, val_loader, task, max_batches=batches)
    return {"data": source, "tokens": int(len(val_ids)), **metrics}
