"""README.md as a new user reads it: every Python snippet run in a fresh
process (the 2000-step training one with 20 steps), every command-line example
on a small setting, the configurations the README describes, and the help
texts. A README edit that breaks an example fails here."""
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet.cli import _build_parser, main
from scratchnet.data import load_corpus
from scratchnet.train.presets import DEFAULTS, MODEL_DEFAULTS
from scratchnet.train.run import _FLAG_KEYS, resolve_config

README = os.path.normpath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "README.md"))


def _blocks(lang):
    with open(README, encoding="utf-8") as f:
        return re.findall(rf"^```{lang}\n(.*?)^```", f.read(), flags=re.S | re.M)


# Each snippet runs as written, then the check that follows it (in the same
# process) asserts what the README's comments claim.
CHECKS = {
    "sn.grad((x * x).sum(), [x])": """
assert isinstance(x.grad, np.ndarray) and x.grad.shape == x.shape and x.dtype == x.grad.dtype == np.float32
assert isinstance(w.grad, np.ndarray) and w.grad.shape == w.shape and w.grad.dtype == np.float32
assert not z.requires_grad
np.testing.assert_allclose(gx, 2 * x.data)
# sn.grad left .grad alone: it still holds d sum(tanh(x @ w)) / dx
np.testing.assert_allclose(x.grad, (1 - np.tanh(x.data @ w.data) ** 2) @ w.data.T, rtol=1e-5)
""",
    "class Tanh(sn.Function)": """
assert y.shape == (3,) and y.requires_grad
assert sn.gradcheck(Tanh.apply, [sn.tensor(np.random.randn(4), requires_grad=True)])
""",
    "t.softmax(axis=-1)": """
assert x.dtype == np.float64
assert sn.gradcheck(lambda t: t.softmax(axis=-1), [x]) is True
""",
    "model.summary((1, 2))": """
state = sn.load("mlp.npz")
assert set(state) == {"model", "opt"}
for key, value in model.state_dict().items():
    np.testing.assert_array_equal(state["model"][key], value)
with np.load("mlp.npz", allow_pickle=False) as z:      # no pickle
    [z[k] for k in z.files]
""",
    "trainer.fit(": """
files = set(os.listdir("runs/gpt"))
assert {"checkpoint.npz", "best.npz", "history.csv", "history.json"} <= files, files
assert trainer.step == 20
text = sn.generate(model, tok, "ROMEO:", 200, temperature=0.8, top_k=40, seed=0)
assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 200
""",
}
# What the training snippet runs for 2000 steps, shortened here.
SHORTER = [("trainer.fit(steps=2000)", "trainer.fit(steps=20)"), ("eval_every=250", "eval_every=10")]


def _check_for(snippet):
    found = [check for marker, check in CHECKS.items() if marker in snippet]
    assert len(found) == 1, f"no single check for the README snippet:\n{snippet}"
    return found[0]


def test_the_readme_has_the_python_snippets_this_file_checks():
    snippets = _blocks("python")
    assert len(snippets) == len(CHECKS)
    for snippet in snippets:
        _check_for(snippet)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_snippet_runs_as_written_in_a_fresh_process(index, tmp_path):
    snippet = _blocks("python")[index]
    for old, new in SHORTER:
        if "trainer.fit(" in snippet:
            assert old in snippet, f"the training snippet no longer has {old!r}"
            snippet = snippet.replace(old, new)
    source = snippet + "\nimport os\n" + _check_for(snippet)
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"README snippet {index} failed:\n{snippet}\n{result.stderr}"
    if "model.summary" in snippet:
        assert "Total params: 322" in result.stdout            # Keras-style table


# ------------------------------------------------------------- command line
def _commands():
    """The `scratchnet ...` lines of the README's "Training from the command line" block."""
    block = next(b for b in _blocks("bash") if "scratchnet generate" in b)
    return [shlex.split(line, comments=True)[1:] for line in block.splitlines() if line.strip()]


SMALL_RECURRENT = ["--steps", "4", "--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "4",
                   "--seq-len", "16", "--eval-every", "2", "--checkpoint-every", "2", "--eval-batches", "1",
                   "--sample-tokens", "10", "--no-progress"]
SMALL_GPT = ["--steps", "3", "--eval-every", "3", "--eval-batches", "1", "--sample-tokens", "0", "--no-progress"]


def _config(argv):
    return resolve_config(_build_parser().parse_args(argv))


def test_default_train_and_nanogpt_preset_are_what_the_readme_says():
    commands = _commands()
    assert ["train"] in commands
    c = _config(["train"])                # "defaults: 1-layer LSTM, hidden 256, 4000 steps of 32x64 characters"
    assert (c["model"], c["num_layers"], c["hidden_size"], c["steps"], c["batch_size"], c["seq_len"]) == \
        ("lstm", 1, 256, 4000, 32, 64)
    assert c["out"] == os.path.join("runs", "lstm") and c["data"] == "tinyshakespeare"

    assert ["train", "--model", "gpt", "--preset", "nanogpt-cpu"] in commands
    for argv in (["train", "--model", "gpt", "--preset", "nanogpt-cpu"], ["train", "--preset", "nanogpt-cpu"]):
        c = _config(argv)                 # nanoGPT's README, "baby GPT" on a CPU (config/train_shakespeare_char.py)
        assert c["out"] == os.path.join("runs", "gpt")
        assert {k: c[k] for k in ("model", "seq_len", "batch_size", "num_layers", "n_head", "n_embd", "steps",
                                  "dropout", "bias", "lr", "min_lr", "warmup", "weight_decay", "beta2",
                                  "grad_clip", "eval_every", "eval_batches")} == dict(
            model="gpt", seq_len=64, batch_size=12, num_layers=4, n_head=4, n_embd=128, steps=2000,
            dropout=0.0, bias=False, lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1, beta2=0.99,
            grad_clip=1.0, eval_every=250, eval_batches=20)


def test_command_line_examples_on_a_small_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.txt").write_text(load_corpus("tinyshakespeare")[:20000], encoding="utf-8")
    ran = []
    for argv in _commands():
        command = argv[0]
        if command in ("gradcheck", "bench"):        # minutes of work; tests/cli/test_cli.py runs gradcheck
            assert _build_parser().parse_args(argv).command == command
            continue
        if command == "train" and "--resume" in argv:
            extra = ["--steps", "6", "--no-progress", "--sample-tokens", "0"]
        elif command == "train":
            extra = SMALL_GPT if "gpt" in argv else SMALL_RECURRENT
        else:
            extra = []
        code = main(argv + extra)
        out, err = capsys.readouterr()
        assert code == 0, f"scratchnet {' '.join(argv + extra)}: {err}"
        ran.append((argv, out))

    outputs = {" ".join(argv): out for argv, out in ran}
    expected = {"checkpoint.npz", "best.npz", "history.csv", "history.json"}
    if importlib.util.find_spec("matplotlib") is not None:
        expected.add("loss.png")
    for run in ("runs/lstm", "runs/gpt", "runs/mine"):
        assert expected <= set(os.listdir(run)), run
    assert "resuming runs/lstm at step 4" in outputs["train --out runs/lstm --resume"]
    with open("runs/lstm/history.json") as f:
        assert [h["step"] for h in json.load(f)] == list(range(1, 7))
    assert sn.load("runs/mine/checkpoint.npz")["config"]["model"] == "gru"

    generate = next(argv for argv, _ in ran if argv[0] == "generate")
    text = outputs[" ".join(generate)].rstrip("\n")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 300
    main(generate)
    assert capsys.readouterr().out.rstrip("\n") == text            # --seed repeats
    evaluation = outputs["evaluate --checkpoint runs/lstm"]
    assert {line.split()[0] for line in evaluation.splitlines()} >= {"loss", "perplexity", "bpc"}


def test_help_of_the_command_and_of_each_subcommand():
    result = subprocess.run([sys.executable, "-m", "scratchnet", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "{train,generate,evaluate,gradcheck,bench}" in result.stdout
    parser = _build_parser()
    for command in ("train", "generate", "evaluate", "gradcheck", "bench"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0


def test_train_help_gives_each_setting_its_default():
    train = _build_parser()._subparsers._group_actions[0].choices["train"]
    helps = {action.dest: action.help for action in train._actions}
    for key in _FLAG_KEYS:
        if key in ("data", "model"):
            continue
        assert f"default {DEFAULTS[key]}" in helps[key], key
        for model, values in MODEL_DEFAULTS.items():
            if key in values and values[key] != DEFAULTS[key]:
                assert f"{model}: {values[key]}" in helps[key], (key, model)
    assert f"default {DEFAULTS['model']}" in helps["model"]


# ------------------------------------------------------------------ API.md
TENSOR_METHODS = ["sum", "mean", "max", "min", "logsumexp", "var", "exp", "log", "sqrt", "abs", "tanh",
                  "sigmoid", "relu", "reshape", "transpose", "swapaxes", "squeeze", "unsqueeze", "masked_fill"]


@pytest.mark.parametrize("name", TENSOR_METHODS)
def test_api_md_tensor_methods_are_also_functions_of_F_and_sn(name):
    """API.md: "Methods (each also in F/sn as a function)"; F lacked all but tanh, sigmoid, relu."""
    x = sn.tensor(np.arange(1.0, 7.0).reshape(2, 3, 1))
    args = {"reshape": (3, 2), "transpose": (2, 1, 0), "swapaxes": (0, 2), "unsqueeze": (0,),
            "masked_fill": (np.arange(6).reshape(2, 3, 1) > 2, 0.0)}.get(name, ())
    expected = getattr(x, name)(*args).data
    for module in (F, sn):
        np.testing.assert_array_equal(getattr(module, name)(x, *args).data, expected, err_msg=module.__name__)
