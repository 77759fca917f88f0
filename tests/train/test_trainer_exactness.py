"""Trainer and loaders: an interrupted and resumed run is the uninterrupted run,
at epoch boundaries too; ``--resume`` with new settings follows them; evaluation
reads exactly the batches it is asked for and counts only real targets; best.npz
and the history files agree with the run."""
import json
import os
import signal

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import optim
from scratchnet.cli import main
from scratchnet.data import ClassificationBatches, ContiguousBatches, LMWindowLoader, load_corpus, random_window_batches
from scratchnet.models import GPT, CharRNN
from scratchnet.train import (LambdaCallback, LanguageModelTask, RecurrentLMTask, Trainer, evaluate_model,
                              load_checkpoint)

V = 13
DATA = np.random.default_rng(0).integers(0, V, 700)
TRAIN, VAL = DATA[:400], DATA[400:]
EPOCH = 6                        # batches per epoch of every training loader below


def _model_and_loaders(kind):
    """A tiny model, its training loader (EPOCH batches an epoch), validation loader and task."""
    if kind == "gpt":
        model = GPT(V, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.1)
        return (model, LMWindowLoader(TRAIN, 8, 4, seed=1, num_batches=EPOCH),
                LMWindowLoader(VAL, 8, 4, seed=2), None)
    model = CharRNN(V, cell=kind, hidden_size=8, embedding_dim=4, dropout=0.1)
    train = ContiguousBatches(TRAIN[:4 * (EPOCH * 8 + 1)], 4, 8)
    return model, train, ContiguousBatches(VAL, 4, 8), RecurrentLMTask()


def _trainer(kind, out_dir, checkpoint_every=None):
    sn.manual_seed(0)
    model, train, val, task = _model_and_loaders(kind)
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    sched = optim.lr_scheduler.warmup_cosine(opt, 2, 20, 1e-4)
    return Trainer(model, opt, train, val, task=task, scheduler=sched, grad_clip=1.0, eval_every=3,
                   eval_batches=2, checkpoint_every=checkpoint_every, out_dir=out_dir, progress=False)


def _outcome(trainer):
    """Everything a resumed run must reproduce (the step timings aside)."""
    history = [{k: v for k, v in row.items() if k != "tokens_per_s"} for row in trainer.history]
    return {"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(),
            "lr": trainer.optimizer.param_groups[0]["lr"], "epoch": trainer.epoch, "history": history,
            "val_loss": trainer.evaluate()["loss"]}


def _assert_same(got, want):
    for key in want["model"]:
        np.testing.assert_array_equal(got["model"][key], want["model"][key], err_msg=key)
    for key in want["optimizer"]["state"]:
        for name, value in want["optimizer"]["state"][key].items():
            np.testing.assert_array_equal(got["optimizer"]["state"][key][name], value)
    assert got["history"] == want["history"]
    assert (got["lr"], got["epoch"], got["val_loss"]) == (want["lr"], want["epoch"], want["val_loss"])


def _crash_after(step):
    """A callback that raises inside the step after ``step``, as a hard Ctrl-C would."""
    def crash(trainer, logs):
        if logs["step"] == step + 1:
            raise KeyboardInterrupt
    return LambdaCallback(on_step_end=crash)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gpt"])
def test_a_run_stopped_at_the_end_of_an_epoch_resumes_exactly(tmp_path, kind):
    full = _trainer(kind, tmp_path / "full")
    full.fit(steps=2 * EPOCH + 2)
    _trainer(kind, tmp_path / "part").fit(steps=EPOCH)
    resumed = _trainer(kind, tmp_path / "part").resume()
    resumed.fit(steps=2 * EPOCH + 2)
    _assert_same(_outcome(resumed), _outcome(full))


@pytest.mark.parametrize("kind", ["lstm", "gpt"])
def test_a_crash_after_the_checkpoint_at_the_end_of_an_epoch_resumes_exactly(tmp_path, kind):
    full = _trainer(kind, tmp_path / "full")
    full.fit(steps=2 * EPOCH + 2)
    crashed = _trainer(kind, tmp_path / "crash", checkpoint_every=EPOCH)
    crashed.callbacks.append(_crash_after(EPOCH))
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(steps=2 * EPOCH + 2)
    resumed = _trainer(kind, tmp_path / "crash", checkpoint_every=EPOCH).resume()
    resumed.fit(steps=2 * EPOCH + 2)
    _assert_same(_outcome(resumed), _outcome(full))


def test_a_plain_list_of_batches_resumes_mid_epoch(tmp_path):
    rng = np.random.default_rng(5)
    batches = [random_window_batches(TRAIN, 8, 4, rng) for _ in range(EPOCH)]

    def trainer():
        sn.manual_seed(0)
        model = GPT(V, block_size=8, n_layer=1, n_head=2, n_embd=8)
        return Trainer(model, optim.SGD(model.parameters(), lr=0.1), batches, out_dir=tmp_path, progress=False)

    full = trainer()
    full.fit(steps=EPOCH + 3)
    trainer().fit(steps=EPOCH - 2)
    resumed = trainer().resume()
    resumed.fit(steps=EPOCH + 3)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]


def test_lm_window_loader_with_num_batches_gives_a_new_epoch_each_iteration():
    loader = LMWindowLoader(TRAIN, 8, 4, seed=0, num_batches=3)
    first, second = [x for x, _ in loader], [x for x, _ in loader]
    assert len(first) == len(second) == 3
    assert not np.array_equal(first[0], second[0])          # fresh random windows


def test_shuffled_classification_batches_resumed_at_the_end_of_an_epoch_draw_the_next_order():
    sequences, labels = [[i] * (1 + i % 3) for i in range(10)], list(range(10))
    whole = ClassificationBatches(sequences, labels, 5, shuffle=True, rng=0)
    first_epoch = [y.tolist() for _, _, y in whole]
    second_epoch = [y.tolist() for _, _, y in whole]
    stopped = ClassificationBatches(sequences, labels, 5, shuffle=True, rng=0)
    batches = iter(stopped)
    assert [next(batches)[2].tolist() for _ in range(2)] == first_epoch   # the generator is not finished
    resumed = ClassificationBatches(sequences, labels, 5, shuffle=True, rng=0)
    resumed.load_state_dict(stopped.state_dict())
    assert [y.tolist() for _, _, y in resumed] == second_epoch


def test_evaluate_draws_exactly_max_batches_from_a_loader():
    trainer = _trainer("gpt", None)
    loader = LMWindowLoader(VAL, 8, 4, seed=0)
    trainer.evaluate(loader, max_batches=2)
    assert loader.step == 2


def test_best_checkpoint_holds_the_history_up_to_its_own_step(tmp_path):
    trainer = _trainer("gpt", tmp_path)
    trainer.fit(steps=6)
    best = load_checkpoint(tmp_path / "best.npz")
    assert [row["step"] for row in best["history"]] == list(range(1, best["step"] + 1))
    assert best["history"][-1]["val_loss"] == best["best_val_loss"]


CLI_SMALL = ["--hidden-size", "8", "--embedding-dim", "4", "--batch-size", "4", "--seq-len", "8",
             "--eval-every", "4", "--eval-batches", "1", "--sample-tokens", "0", "--no-progress"]


def _cli_history(argv, out_dir):
    """Run ``scratchnet train --out out_dir *argv`` and return its history rows."""
    assert main(["train", "--out", str(out_dir)] + argv) == 0
    return json.loads((out_dir / "history.json").read_text())


def test_resuming_with_more_steps_and_a_new_lr_follows_the_schedule_of_the_new_settings(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(load_corpus("tinyshakespeare")[:2000], encoding="utf-8")
    data = ["--data", str(text)] + CLI_SMALL
    settings = ["--steps", "12", "--warmup", "2", "--lr", "0.002", "--min-lr", "0.0001"]
    planned = _cli_history(data + settings, tmp_path / "planned")
    _cli_history(data + ["--steps", "4", "--warmup", "2"], tmp_path / "extended")
    extended = _cli_history(["--resume", "--no-progress"] + settings, tmp_path / "extended")
    assert [row["lr"] for row in extended[4:]] == [row["lr"] for row in planned[4:]]


def test_the_history_files_on_disk_match_the_last_checkpoint_after_a_crash(tmp_path):
    trainer = _trainer("gpt", tmp_path, checkpoint_every=4)
    trainer.callbacks.append(_crash_after(8))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(steps=12)
    rows = json.loads((tmp_path / "history.json").read_text())
    assert rows == load_checkpoint(tmp_path / "checkpoint.npz")["history"]
    assert [row["step"] for row in rows] == list(range(1, 9))
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 1 + 8


def test_evaluation_counts_only_targets_that_are_not_ignored():
    """Targets of -100 (cross_entropy's ignore_index) are neither in the mean
    loss nor in the accuracy; a smaller last batch weighs by its tokens."""
    sn.manual_seed(0)
    model = sn.nn.Embedding(V, V)                             # logits[b, t] = table[x[b, t]]
    rng = np.random.default_rng(3)
    x1, x2 = rng.integers(0, V, (2, 6)), rng.integers(0, V, (1, 6))
    y1, y2 = rng.integers(0, V, (2, 6)), rng.integers(0, V, (1, 6))
    y1[0, :5] = -100
    metrics = evaluate_model(model, [(x1, y1), (x2, y2)], LanguageModelTask())
    x, y = np.concatenate([x1.ravel(), x2.ravel()]), np.concatenate([y1.ravel(), y2.ravel()])
    x, y = x[y != -100], y[y != -100]
    logits = model.weight.data[x].astype(np.float64)         # (N, V)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert metrics["loss"] == pytest.approx(-log_probs[np.arange(len(y)), y].mean(), rel=1e-6)
    assert metrics["accuracy"] == np.mean(logits.argmax(axis=1) == y)


def test_ctrl_c_during_the_last_step_still_evaluates_the_final_model(tmp_path):
    trainer = _trainer("gpt", tmp_path)
    trainer.callbacks.append(LambdaCallback(
        on_step_end=lambda tr, logs: logs["step"] == 7 and os.kill(os.getpid(), signal.SIGINT)))
    trainer.fit(steps=7)                                          # eval_every=3: evaluated at 3, 6 and 7
    assert trainer.interrupted and trainer.step == 7
    assert [row["step"] for row in trainer.history if "val_loss" in row] == [3, 6, 7]


def test_a_run_without_eval_every_still_evaluates_its_final_model(tmp_path):
    sn.manual_seed(0)
    model, train, val, task = _model_and_loaders("gpt")
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), train, val, eval_batches=2, out_dir=tmp_path,
                      progress=False)
    trainer.fit(steps=4)
    assert [row["step"] for row in trainer.history if "val_loss" in row] == [4]
    assert load_checkpoint(tmp_path / "best.npz")["step"] == 4


def test_evaluating_an_endless_loader_without_max_batches_is_an_error_not_a_hang():
    # was: trainer.evaluate(LMWindowLoader(...)) looped forever
    sn.manual_seed(0)
    model = GPT(5, block_size=4, n_layer=1, n_head=1, n_embd=4)
    data = np.arange(40) % 5
    with pytest.raises(ValueError, match="max_batches"):
        evaluate_model(model, LMWindowLoader(data, 4, 2, seed=0), LanguageModelTask())
    metrics = evaluate_model(model, LMWindowLoader(data, 4, 2, seed=0), LanguageModelTask(), max_batches=2)
    assert np.isfinite(metrics["loss"])
    assert np.isfinite(evaluate_model(model, LMWindowLoader(data, 4, 2, seed=0, num_batches=2),
                                      LanguageModelTask())["loss"])
