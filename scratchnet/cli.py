"""The ``scratchnet`` command: train, generate, evaluate, gradcheck, bench.

    scratchnet train                         # LSTM on tiny-shakespeare, ~2 minutes on 2 cores
    scratchnet train --model gpt --preset nanogpt-cpu
    scratchnet generate --checkpoint runs/lstm --prompt "ROMEO:" --tokens 300
    scratchnet evaluate --checkpoint runs/lstm
    scratchnet gradcheck
    scratchnet bench

Bad input (a missing or binary file, a checkpoint of another model, a prompt
with characters outside the vocabulary, impossible flags) gets one line on
stderr and a non-zero exit status; ``SCRATCHNET_DEBUG=1`` shows the traceback.
"""
import argparse
import math
import os
import sys

EXIT_ERROR, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def main(argv=None):
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("scratchnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # one clear line, never a traceback (unless asked for)
        if os.environ.get("SCRATCHNET_DEBUG"):
            raise
        from .train import NonFiniteLossError
        print(f"scratchnet {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_DIVERGED if isinstance(e, NonFiniteLossError) else EXIT_ERROR


def _one_line(e):
    """The exception as one line; an OSError without its "[Errno N]" prefix, naming its file once."""
    text = str(e) or type(e).__name__
    if isinstance(e, OSError) and e.strerror:
        text = e.strerror
        if e.filename is not None and str(e.filename) not in text:
            text = f"{e.filename}: {text}"
    return " ".join(text.split())


# --------------------------------------------------------------------- parser
def _build_parser():
    from .train.presets import PRESETS, MODEL_TYPES
    p = argparse.ArgumentParser(prog="scratchnet", description="scratchnet: train, sample and check neural networks on a CPU.")
    sub = p.add_subparsers(dest="command")

    t = sub.add_parser("train", help="train a character-level language model",
                       description="Train a character-level language model. Settings come from the defaults, "
                                   "the model's defaults, --preset, --config, then the flags (later wins).")
    d = _defaults_text
    t.add_argument("--model", choices=MODEL_TYPES, help=f"model type ({d('model')})")
    t.add_argument("--data", help="'tinyshakespeare' (bundled, default) or a path to a UTF-8 text file")
    t.add_argument("--preset", choices=sorted(PRESETS),
                   help="a named set of hyperparameters: nanogpt-cpu is nanoGPT's baby GPT "
                        f"(implies --model gpt); quick a {PRESETS['quick']['steps']}-step run with hidden size "
                        f"{PRESETS['quick']['hidden_size']}; default changes nothing")
    t.add_argument("--config", help="a JSON or TOML file of hyperparameters (flags override it)")
    t.add_argument("--steps", type=int, help=f"total training steps ({d('steps')})")
    t.add_argument("--out", help="output directory for checkpoints and history (default runs/<model>)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    t.add_argument("--batch-size", type=int, help=f"sequences per batch ({d('batch_size')})")
    t.add_argument("--seq-len", type=int, help=f"sequence length, block size for gpt ({d('seq_len')})")
    t.add_argument("--lr", type=float, help=f"peak learning rate ({d('lr')})")
    t.add_argument("--min-lr", type=float, help=f"learning rate at the end of the cosine decay ({d('min_lr')})")
    t.add_argument("--warmup", type=int, help=f"linear warm-up steps ({d('warmup')}; at most --steps "
                                              f"unless given)")
    t.add_argument("--weight-decay", type=float, help=f"AdamW weight decay ({d('weight_decay')})")
    t.add_argument("--grad-clip", type=float, help=f"max gradient norm, 0: off ({d('grad_clip')})")
    t.add_argument("--hidden-size", type=int, help=f"recurrent models: hidden units ({d('hidden_size')})")
    t.add_argument("--num-layers", type=int,
                   help=f"recurrent layers, or transformer blocks for gpt ({d('num_layers')})")
    t.add_argument("--embedding-dim", type=int, help=f"recurrent models: embedding size ({d('embedding_dim')})")
    t.add_argument("--n-head", type=int, help=f"gpt: attention heads ({d('n_head')})")
    t.add_argument("--n-embd", type=int, help=f"gpt: embedding size ({d('n_embd')})")
    t.add_argument("--dropout", type=float, help=f"dropout probability ({d('dropout')})")
    t.add_argument("--eval-every", type=int, help=f"steps between validation evaluations ({d('eval_every')})")
    t.add_argument("--eval-batches", type=int, help=f"validation batches per evaluation ({d('eval_batches')})")
    t.add_argument("--checkpoint-every", type=int,
                   help=f"steps between writes of OUT/checkpoint.npz ({d('checkpoint_every')})")
    t.add_argument("--seed", type=int, help=f"seed of initialisation, batches and sampling ({d('seed')})")
    t.add_argument("--sample-tokens", type=int,
                   help=f"characters to sample at the end, 0: none ({d('sample_tokens')})")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(handler=_cmd_train)

    g = sub.add_parser("generate", help="sample text from a checkpoint")
    g.add_argument("--checkpoint", required=True, help="a run directory or a .npz checkpoint")
    g.add_argument("--prompt", help="text to continue (default: a newline, or the vocabulary's first "
                                     "character when the training text had none)")
    g.add_argument("--tokens", type=int, default=300, help="characters to generate (default %(default)s)")
    g.add_argument("--temperature", type=float, default=1.0,
                   help="softmax temperature, 0: always the most likely (default %(default)s)")
    g.add_argument("--top-k", type=int, help="sample only from the k most likely characters")
    g.add_argument("--top-p", type=float, help="sample only from the smallest set of characters whose "
                                                "probabilities add up to p (nucleus sampling)")
    g.add_argument("--greedy", action="store_true", help="always the most likely character")
    g.add_argument("--seed", type=int, help="seed for repeatable samples")
    g.set_defaults(handler=_cmd_generate)

    e = sub.add_parser("evaluate", help="loss, perplexity and bits per character of a checkpoint")
    e.add_argument("--checkpoint", required=True, help="a run directory or a .npz checkpoint")
    e.add_argument("--data", help="text to evaluate on (default: the validation split of the training data)")
    e.add_argument("--batches", type=int, default=50, help="batches to evaluate (default %(default)s)")
    e.set_defaults(handler=_cmd_evaluate)

    c = sub.add_parser("gradcheck", help="gradcheck every registered op and layer, print a table")
    c.add_argument("--fast", action="store_true", help="random projections instead of full Jacobians")
    c.set_defaults(handler=_cmd_gradcheck)

    b = sub.add_parser("bench", help="run the benchmarks and print their tables")
    b.add_argument("names", nargs="*", help="benchmark names (default: overhead kernels mlp recurrent gpt-step)")
    b.add_argument("--compile", action="store_true", help="report cold and warm kernel compile times")
    b.set_defaults(handler=_cmd_bench)
    return p


def _defaults_text(key):
    """'default X' for a train flag's help, and each model type whose default differs."""
    from .train.presets import DEFAULTS, MODEL_DEFAULTS
    base = DEFAULTS[key]
    others = [f"{model}: {values[key]}" for model, values in MODEL_DEFAULTS.items()
              if key in values and values[key] != base]
    return "; ".join([f"default {base}"] + others)


# ---------------------------------------------------------------------- train
def _cmd_train(args):
    from .train.run import train_from_config, resolve_config
    config = resolve_config(args)
    return train_from_config(config, resume=args.resume, progress=not args.no_progress)


def _check_generate_flags(args):
    """Name the flag, before loading anything, when a sampling setting is impossible."""
    if args.tokens < 0:
        raise CLIError(f"--tokens must be an integer >= 0, got {args.tokens}")
    if not math.isfinite(args.temperature) or args.temperature < 0:
        raise CLIError(f"--temperature must be a finite number >= 0 (0: always the most likely), "
                       f"got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise CLIError(f"--top-k must be a positive integer, got {args.top_k}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise CLIError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.seed is not None and args.seed < 0:
        raise CLIError(f"--seed must be an integer >= 0, got {args.seed}")


def _cmd_generate(args):
    from .train.run import load_run
    from .generation import default_prompt, generate
    _check_generate_flags(args)
    model, tokenizer, _ = load_run(args.checkpoint)
    prompt = default_prompt(tokenizer) if args.prompt is None else args.prompt
    text = generate(model, tokenizer, prompt, args.tokens, temperature=args.temperature,
                    top_k=args.top_k, top_p=args.top_p, greedy=args.greedy, seed=args.seed)
    print(text)


def _cmd_evaluate(args):
    from .train.run import evaluate_run
    metrics = evaluate_run(args.checkpoint, data=args.data, batches=args.batches)
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        print(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}")


def _cmd_gradcheck(args):
    from .train.checks import gradcheck_table
    ok = gradcheck_table(fast=args.fast)
    return 0 if ok else 1


def _cmd_bench(args):
    from .train.checks import run_benchmarks
    return run_benchmarks(args.names, compile_times=args.compile)


if __name__ == "__main__":
    sys.exit(main())
