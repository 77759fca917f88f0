"""`scratchnet train / generate / evaluate` on unusual corpora and impossible
settings: one line on stderr naming the option or file, exit status 2, and
no run directory or checkpoint touched by a refused command."""
import json
import os

import pytest

from scratchnet.cli import main

TINY = ["--batch-size", "2", "--seq-len", "8", "--eval-every", "2", "--eval-batches", "1",
        "--checkpoint-every", "2", "--sample-tokens", "0", "--no-progress", "--hidden-size", "8",
        "--embedding-dim", "4"]
TEXT = "Zürich café naïve 日本語 emoji😀 hello world.\n" * 80


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "unicode.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, corpus):
    out = str(tmp_path_factory.mktemp("runs") / "lstm")
    assert main(["train", "--data", corpus, "--out", out, "--steps", "4"] + TINY) == 0
    return out


def _error(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "[Errno" not in err, err
    return lines[0]


@pytest.mark.parametrize("setting,value", [("lr", "0.1"), ("dropout", "0.1"), ("steps", True), ("bias", "yes"),
                                           ("val_fraction", 1.5), ("val_fraction", 0), ("beta2", 2),
                                           ("data", 5), ("seed", -1)])
def test_config_file_values_of_the_wrong_type_or_range_name_the_setting(tmp_path, corpus, capsys, setting, value):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({setting: value}))
    flags = {"--data": corpus, "--steps": "4"}
    flags.pop("--" + setting, None)                                # a flag would override the file
    line = _error(["train", "--out", str(tmp_path / "run"), "--config", str(config)]
                  + [a for item in flags.items() for a in item] + TINY, capsys)
    assert setting.replace("_", "-") in line or setting in line, line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag,value", [("--weight-decay", "-1"), ("--weight-decay", "nan"), ("--grad-clip", "nan"),
                                        ("--seed", "-1"), ("--sample-tokens", "-1"), ("--min-lr", "nan")])
def test_impossible_flags_are_refused_before_training(tmp_path, corpus, capsys, flag, value):
    line = _error(["train", "--data", corpus, "--out", str(tmp_path / "run"), "--steps", "4"] + TINY + [flag, value],
                  capsys)
    assert flag in line and value in line, line
    assert not (tmp_path / "run").exists()


def test_a_few_steps_without_warmup_flag_train(tmp_path, corpus, capsys):
    """The default warm-up (50 steps) shrinks to a shorter run instead of failing."""
    assert main(["train", "--data", corpus, "--out", str(tmp_path / "run"), "--steps", "3"] + TINY) == 0, \
        capsys.readouterr().err


def test_explicit_warmup_longer_than_the_run_is_still_an_error(tmp_path, corpus, capsys):
    line = _error(["train", "--data", corpus, "--out", str(tmp_path / "run"), "--steps", "3", "--warmup", "5"]
                  + TINY, capsys)
    assert "--warmup" in line


def test_corpus_without_newline_trains_samples_and_generates(tmp_path, capsys):
    data = tmp_path / "one_line.txt"
    data.write_text("abcab" * 200, encoding="utf-8")
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(data), "--out", out, "--steps", "2"] + TINY + ["--sample-tokens", "12"]) == 0, \
        capsys.readouterr().err
    assert "sample:" in capsys.readouterr().out
    assert main(["generate", "--checkpoint", out, "--tokens", "5", "--seed", "0"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert len(text) == 6 and set(text) <= set("abc")


def test_windows_line_endings_give_the_same_vocabulary_as_unix_ones(tmp_path, run_dir, capsys):
    crlf = tmp_path / "windows.txt"
    crlf.write_bytes(TEXT.replace("\n", "\r\n").encode("utf-8"))
    assert main(["evaluate", "--checkpoint", run_dir, "--data", str(crlf), "--batches", "1"]) == 0, \
        capsys.readouterr().err
    assert "windows.txt" in capsys.readouterr().out


def test_out_that_is_a_file_or_empty(tmp_path, corpus, capsys):
    not_a_dir = tmp_path / "notes.txt"
    not_a_dir.write_text("keep me")
    line = _error(["train", "--data", corpus, "--out", str(not_a_dir), "--steps", "2"] + TINY, capsys)
    assert "notes.txt" in line and "not a directory" in line
    assert not_a_dir.read_text() == "keep me"
    assert "--out" in _error(["train", "--data", corpus, "--out", "", "--steps", "2"] + TINY, capsys)


def test_data_that_is_a_directory_or_missing(tmp_path, capsys):
    line = _error(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--steps", "2"] + TINY, capsys)
    assert str(tmp_path) in line and "directory" in line
    line = _error(["train", "--data", "tinyshakespear", "--out", str(tmp_path / "run"), "--steps", "2"] + TINY,
                  capsys)
    assert "tinyshakespear" in line and "tinyshakespeare" in line


def test_text_too_short_for_the_training_split(tmp_path, capsys):
    data = tmp_path / "short.txt"
    data.write_text("x" * 25 + "y" * 75)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"val_fraction": 0.9}))
    line = _error(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "2",
                   "--config", str(config)] + TINY, capsys)
    assert "short.txt" in line and "training split" in line


def _checkpoint_bytes(run_dir):
    with open(os.path.join(run_dir, "checkpoint.npz"), "rb") as f:
        return f.read()


def test_resume_with_another_batch_size_is_refused(run_dir, capsys):
    before = _checkpoint_bytes(run_dir)
    line = _error(["train", "--out", run_dir, "--resume", "--steps", "6", "--batch-size", "3", "--no-progress"],
                  capsys)
    assert "--batch-size" in line and "3" in line and "2" in line
    assert _checkpoint_bytes(run_dir) == before


def test_resume_after_the_data_file_changed(tmp_path, capsys):
    data = tmp_path / "data.txt"
    data.write_text(TEXT)
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(data), "--out", out, "--steps", "2"] + TINY) == 0
    before = _checkpoint_bytes(out)
    data.write_text(TEXT + "Ω")
    line = _error(["train", "--out", out, "--resume", "--steps", "4", "--no-progress"], capsys)
    assert "data.txt" in line and "'Ω'" in line
    data.write_text(TEXT[: len(TEXT) // 2] * 3)              # same characters, another length
    line = _error(["train", "--out", out, "--resume", "--steps", "4", "--no-progress"], capsys)
    assert "--resume" in line and "data.txt" in line
    assert _checkpoint_bytes(out) == before


def test_resume_past_the_last_step_trains_nothing(run_dir, capsys):
    before = _checkpoint_bytes(run_dir)
    assert main(["train", "--out", run_dir, "--resume", "--steps", "3", "--no-progress"]) == 0
    assert "nothing to train" in capsys.readouterr().out
    assert _checkpoint_bytes(run_dir) == before


@pytest.mark.parametrize("flag,value", [("--seed", "-1"), ("--tokens", "-1"), ("--top-k", "0"), ("--top-p", "0"),
                                        ("--top-p", "1.5"), ("--temperature", "-1"), ("--temperature", "nan")])
def test_generate_names_the_impossible_flag(run_dir, capsys, flag, value):
    line = _error(["generate", "--checkpoint", run_dir, flag, value], capsys)
    assert flag in line and value in line, line


def test_generate_edge_settings_that_are_allowed(run_dir, capsys):
    for extra in (["--tokens", "0"], ["--temperature", "0"], ["--top-k", "100000"], ["--top-p", "1"]):
        assert main(["generate", "--checkpoint", run_dir, "--prompt", "Zü", "--seed", "1"] + extra) == 0, extra
        assert capsys.readouterr().out.startswith("Zü")


def test_evaluate_errors_name_the_option_or_file(tmp_path, run_dir, capsys):
    assert "--batches" in _error(["evaluate", "--checkpoint", run_dir, "--batches", "0"], capsys)
    unseen = tmp_path / "greek.txt"
    unseen.write_text("αβγ" * 50)
    line = _error(["evaluate", "--checkpoint", run_dir, "--data", str(unseen)], capsys)
    assert "greek.txt" in line and "'α'" in line
    short = tmp_path / "short.txt"
    short.write_text("café")
    line = _error(["evaluate", "--checkpoint", run_dir, "--data", str(short)], capsys)
    assert "short.txt" in line and "--seq-len 8" in line


def test_trainer_checkpoint_without_config_or_tokenizer(tmp_path, capsys):
    """A checkpoint written by Trainer from Python (no config=, no tokenizer=)."""
    import numpy as np
    import scratchnet as sn
    from scratchnet.data import LMWindowLoader
    from scratchnet.models import GPT
    from scratchnet.train import Trainer
    model = GPT(5, block_size=4, n_layer=1, n_head=1, n_embd=4)
    ids = np.arange(100) % 5
    Trainer(model, sn.optim.AdamW(model.parameters()), LMWindowLoader(ids, 4, 2, seed=0), out_dir=str(tmp_path),
            progress=False).fit(steps=1)
    for argv in (["generate", "--checkpoint", str(tmp_path)], ["evaluate", "--checkpoint", str(tmp_path)],
                 ["train", "--out", str(tmp_path), "--resume", "--steps", "2"]):
        line = _error(argv, capsys)
        assert "checkpoint.npz" in line and "tokenizer" in line, line


def test_evaluate_when_the_training_text_is_gone(tmp_path, capsys):
    data = tmp_path / "gone.txt"
    data.write_text(TEXT)
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(data), "--out", out, "--steps", "2"] + TINY) == 0
    data.unlink()
    line = _error(["evaluate", "--checkpoint", out], capsys)
    assert "gone.txt" in line and "--data" in line
