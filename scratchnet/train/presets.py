"""Hyperparameters of ``scratchnet train``: defaults, per-model defaults and presets.

Resolution order (later wins): DEFAULTS, MODEL_DEFAULTS[model], the preset,
a ``--config`` file, then the flags given on the command line.
"""
MODEL_TYPES = ("lstm", "gru", "rnn", "gpt")

DEFAULTS = {
    "model": "lstm",
    "data": "tinyshakespeare",
    "steps": 4000,
    "batch_size": 32,
    "seq_len": 64,
    "lr": 3e-3,
    "min_lr": 3e-4,
    "warmup": 50,
    "weight_decay": 0.0,
    "beta2": 0.999,
    "grad_clip": 1.0,
    "hidden_size": 256,
    "num_layers": 1,
    "embedding_dim": 64,
    "n_head": 4,
    "n_embd": 128,
    "bias": False,
    "dropout": 0.0,
    "eval_every": 250,
    "eval_batches": 20,
    "checkpoint_every": 250,
    "seed": 1337,
    "sample_tokens": 300,
    "val_fraction": 0.1,
}

# The baby GPT of nanoGPT's README ("shakespeare_char" on a CPU).
NANOGPT_CPU = {
    "model": "gpt", "steps": 2000, "batch_size": 12, "seq_len": 64, "num_layers": 4, "n_head": 4,
    "n_embd": 128, "dropout": 0.0, "bias": False, "lr": 1e-3, "min_lr": 1e-4, "warmup": 100,
    "weight_decay": 0.1, "beta2": 0.99, "grad_clip": 1.0, "eval_every": 250, "eval_batches": 20,
}

MODEL_DEFAULTS = {
    "lstm": {},
    "gru": {},
    "rnn": {"lr": 2e-3},
    "gpt": {k: v for k, v in NANOGPT_CPU.items() if k != "model"},
}

PRESETS = {
    "quick": {"steps": 300, "hidden_size": 128, "eval_every": 100, "checkpoint_every": 100,
              "eval_batches": 10, "warmup": 20, "sample_tokens": 200},
    "default": {},
    "nanogpt-cpu": NANOGPT_CPU,
}

# What fixes the architecture, the data and the batches: a resumed run must keep these.
RESUME_FIXED_KEYS = ("model", "hidden_size", "num_layers", "embedding_dim", "n_head", "n_embd", "bias",
                     "seq_len", "data", "val_fraction", "batch_size")
