"""The `scratchnet` command end to end on a small slice, and its bad-input errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.cli import main
from scratchnet.data import load_corpus

SMALL = ["--steps", "6", "--batch-size", "4", "--seq-len", "16", "--eval-every", "3", "--eval-batches", "2",
         "--checkpoint-every", "3", "--warmup", "2", "--sample-tokens", "20", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "small.txt"
    path.write_text(load_corpus("tinyshakespeare")[:6000], encoding="utf-8")
    return str(path)


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model,extra", [("lstm", ["--hidden-size", "16", "--embedding-dim", "8"]),
                                         ("gpt", ["--num-layers", "1", "--n-embd", "16", "--n-head", "2"])])
def test_train_generate_evaluate_resume(tmp_path, corpus, capsys, model, extra):
    out_dir = str(tmp_path / model)
    code, out, err = _run(["train", "--model", model, "--data", corpus, "--out", out_dir] + SMALL + extra, capsys)
    assert code == 0, err
    assert "val loss" in out and "bigram baseline" in out and "sample:" in out
    assert {"checkpoint.npz", "best.npz", "history.csv", "history.json"} <= set(os.listdir(out_dir))

    code, out, err = _run(["generate", "--checkpoint", out_dir, "--prompt", "RO", "--tokens", "15", "--seed", "3"], capsys)
    assert code == 0, err
    assert out.startswith("RO") and len(out.rstrip("\n")) >= 15
    code2, out2, _ = _run(["generate", "--checkpoint", out_dir, "--prompt", "RO", "--tokens", "15", "--seed", "3"], capsys)
    assert out2 == out                                     # seeded generation repeats

    code, out, err = _run(["evaluate", "--checkpoint", out_dir, "--batches", "2"], capsys)
    assert code == 0, err
    assert "perplexity" in out and "bpc" in out

    code, out, err = _run(["train", "--out", out_dir, "--resume", "--steps", "9", "--no-progress",
                           "--sample-tokens", "0"], capsys)
    assert code == 0, err
    assert "resuming" in out and "at step 6" in out
    history = json.load(open(os.path.join(out_dir, "history.json")))
    assert [h["step"] for h in history] == list(range(1, 10))


def test_ctrl_c_then_resume_equals_uninterrupted_run(tmp_path, corpus, capsys):
    """SIGINT a real `scratchnet train` process mid-run, resume it, and compare
    the loss sequence with an uninterrupted run of the same config."""
    import signal
    import time
    base = ["--model", "lstm", "--data", corpus, "--hidden-size", "16", "--embedding-dim", "8",
            "--batch-size", "4", "--seq-len", "16", "--eval-every", "5", "--eval-batches", "2",
            "--warmup", "2", "--sample-tokens", "0", "--no-progress", "--steps", "40", "--checkpoint-every", "1"]
    assert _run(["train", "--out", str(tmp_path / "a")] + base, capsys)[0] == 0
    run_b = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-m", "scratchnet", "train", "--out", str(run_b)] + base,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run_b / "checkpoint.npz").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err
    if proc.returncode == 130:
        assert "interrupted at step" in out and "--resume" in out
    assert _run(["train", "--out", str(run_b), "--resume", "--no-progress"], capsys)[0] == 0
    la = [h["loss"] for h in json.load(open(tmp_path / "a" / "history.json"))]
    lb = [h["loss"] for h in json.load(open(run_b / "history.json"))]
    assert len(la) == 40 and la == lb


def _error(argv, capsys):
    code, out, err = _run(argv, capsys)
    assert code != 0
    lines = [l for l in err.strip().splitlines() if l]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_inputs_give_one_clear_line(tmp_path, corpus, capsys):
    missing = str(tmp_path / "nope.txt")
    assert "nope.txt" in _error(["train", "--data", missing, "--out", str(tmp_path / "x")] + SMALL, capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in _error(["train", "--data", str(empty), "--out", str(tmp_path / "x")] + SMALL, capsys)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    assert "UTF-8" in _error(["train", "--data", str(binary), "--out", str(tmp_path / "x")] + SMALL, capsys)
    assert "--n-head" in _error(["train", "--model", "lstm", "--n-head", "2", "--out", str(tmp_path / "x")] + SMALL, capsys)
    assert "divisible" in _error(["train", "--model", "gpt", "--n-embd", "10", "--n-head", "3", "--out", str(tmp_path / "x")] + SMALL, capsys)
    assert "no checkpoint" in _error(["train", "--out", str(tmp_path / "fresh"), "--resume"] + SMALL, capsys)
    assert "does not exist" in _error(["generate", "--checkpoint", missing], capsys)


def test_checkpoint_errors(tmp_path, corpus, capsys):
    run = str(tmp_path / "run")
    assert _run(["train", "--data", corpus, "--out", run, "--hidden-size", "16", "--embedding-dim", "8"] + SMALL, capsys)[0] == 0
    line = _error(["generate", "--checkpoint", run, "--prompt", "héllo ☃"], capsys)
    assert "☃" in line or "é" in line                      # names the character outside the vocabulary
    line = _error(["train", "--data", corpus, "--out", run] + SMALL, capsys)
    assert "--resume" in line                                # would overwrite a run
    line = _error(["train", "--out", run, "--resume", "--hidden-size", "32"] + SMALL, capsys)
    assert "--hidden-size" in line
    foreign = tmp_path / "foreign.npz"
    sn.save({"weights": np.ones(3)}, foreign)
    assert "not a scratchnet training checkpoint" in _error(["generate", "--checkpoint", str(foreign)], capsys)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(open(os.path.join(run, "checkpoint.npz"), "rb").read()[:500])
    assert "trunc.npz" in _error(["evaluate", "--checkpoint", str(truncated)], capsys)


def test_console_script_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "scratchnet", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout


def test_gradcheck_command_checks_every_op_and_layer(capsys):
    from scratchnet.ops.registry import REGISTRY
    code, out, err = _run(["gradcheck"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["op", "/", "layer"]
    assert lines[-1].endswith(" passed, 0 failed")
    for name in list(REGISTRY)[:5] + ["Linear", "LSTM (fused, bidirectional)", "TransformerEncoderLayer"]:
        assert any(l.startswith(name) for l in lines), name


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_config_file_sets_hyperparameters_and_flags_override_it(tmp_path, corpus, capsys, fmt):
    pytest.importorskip("tomllib") if fmt == "toml" else None
    settings = {"hidden_size": 12, "embedding_dim": 6, "batch_size": 4, "seq_len": 16, "steps": 4,
                "eval_every": 2, "eval_batches": 1, "checkpoint_every": 2, "warmup": 1, "sample_tokens": 0}
    path = tmp_path / f"cfg.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(settings))
    else:
        path.write_text("\n".join(f"{k} = {v}" for k, v in settings.items()))
    out_dir = tmp_path / "run"
    code, out, err = _run(["train", "--data", corpus, "--config", str(path), "--out", str(out_dir),
                           "--steps", "3", "--no-progress"], capsys)
    assert code == 0, err
    config = sn.load(out_dir / "checkpoint.npz")["config"]
    assert config["hidden_size"] == 12 and config["embedding_dim"] == 6 and config["steps"] == 3


def test_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hidden_size": 8, "colour": "blue"}')
    assert "colour" in _error(["train", "--config", str(bad), "--out", str(tmp_path / "x")], capsys)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "broken.json" in _error(["train", "--config", str(broken), "--out", str(tmp_path / "x")], capsys)
