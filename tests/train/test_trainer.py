"""Trainer: exact resume, NaN guard, atomic checkpoints, early stopping, Ctrl-C, history."""
import json
import math
import os
import signal

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn
import scratchnet.optim as optim
from scratchnet.data import LMWindowLoader, ContiguousBatches
from scratchnet.train import Trainer, NonFiniteLossError, RecurrentLMTask, LambdaCallback, load_checkpoint

V = 11
DATA = np.random.default_rng(0).integers(0, V, 3000)


class Bigram(nn.Module):
    """logits[t] = table[x_t]: the smallest language model."""

    def __init__(self, vocab):
        super().__init__()
        self.table = nn.Embedding(vocab, vocab)
        self.drop = nn.Dropout(0.1)           # exercises the RNG in the resume test

    def forward(self, idx):
        return self.drop(self.table(idx))


class CarryModel(nn.Module):
    """A toy recurrent model: the state is a running mean of embeddings."""

    def __init__(self, vocab):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.out = nn.Linear(8, vocab)

    def forward(self, idx, state=None):
        e = self.emb(idx)                                   # (B, T, 8)
        if state is not None:
            e = e + state.unsqueeze(1) * 0.5
        return self.out(e), e.mean(axis=1)                  # (B, T, V), (B, 8)


def _trainer(out_dir=None, model_cls=Bigram, lr=0.05, recurrent=False, schedule=True, **kw):
    sn.manual_seed(0)
    model = model_cls(V)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.warmup_cosine(opt, 5, 40, 1e-3) if schedule else None
    if recurrent:
        train, val, task = ContiguousBatches(DATA[:2500], 4, 8), ContiguousBatches(DATA[2500:], 4, 8), RecurrentLMTask()
    else:
        train, val, task = LMWindowLoader(DATA[:2500], 8, 4, seed=1), LMWindowLoader(DATA[2500:], 8, 4, seed=2), None
    return Trainer(model, opt, train, val, task=task, scheduler=sched, grad_clip=1.0, eval_every=5,
                   eval_batches=3, checkpoint_every=5 if out_dir else None, out_dir=out_dir,
                   progress=False, **kw)


@pytest.mark.parametrize("recurrent", [False, True])
def test_resumed_run_repeats_the_uninterrupted_losses_exactly(tmp_path, recurrent):
    model_cls = CarryModel if recurrent else Bigram
    full = _trainer(tmp_path / "full", model_cls, recurrent=recurrent)
    full.fit(steps=30)
    part = _trainer(tmp_path / "part", model_cls, recurrent=recurrent)
    part.fit(steps=15)
    resumed = _trainer(tmp_path / "part", model_cls, recurrent=recurrent).resume()
    assert resumed.step == 15
    resumed.fit(steps=30)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    for k, v in full.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[k], v)


def test_loss_falls_and_history_files_are_written(tmp_path):
    t = _trainer(tmp_path)
    history = t.fit(steps=40)
    assert history[-1]["loss"] < history[0]["loss"]
    assert {"step", "loss", "lr", "tokens_per_s"} <= set(history[0])
    assert any("val_loss" in h for h in history)
    rows = json.loads((tmp_path / "history.json").read_text())
    assert len(rows) == 40
    assert (tmp_path / "history.csv").read_text().startswith("step,")
    assert (tmp_path / "best.npz").exists() and (tmp_path / "checkpoint.npz").exists()
    metrics = t.evaluate()
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
    assert metrics["bpc"] == pytest.approx(metrics["loss"] / math.log(2))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    t = _trainer(tmp_path)
    t.fit(steps=10)
    good = load_checkpoint(tmp_path / "checkpoint.npz")
    with sn.no_grad():
        t.model.table.weight.data[...] = np.nan
    with pytest.raises(NonFiniteLossError, match="step 11.*last good checkpoint"):
        t.fit(steps=20)
    after = load_checkpoint(tmp_path / "checkpoint.npz")
    assert after["step"] == good["step"] == 10
    np.testing.assert_array_equal(after["model"]["table.weight"], good["model"]["table.weight"])


def test_crash_during_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    t = _trainer(tmp_path)
    t.fit(steps=5)
    before = (tmp_path / "checkpoint.npz").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        t.fit(steps=10)
    monkeypatch.undo()
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert load_checkpoint(tmp_path / "checkpoint.npz")["step"] == 5
    assert not [p for p in os.listdir(tmp_path) if p not in ("checkpoint.npz", "best.npz", "loss.png")
                and not p.startswith("history")]          # no temporary file left behind


def test_early_stopping(tmp_path):
    t = _trainer(tmp_path, lr=0.0, schedule=False, patience=2)   # lr 0: validation never improves
    t.fit(steps=40)
    assert t.step == 15                                  # evals at 5 (best), 10, 15 -> stop
    assert t.history[-1].get("early_stopped")


def test_ctrl_c_finishes_the_step_saves_and_stops(tmp_path):
    t = _trainer(tmp_path)
    t.callbacks.append(LambdaCallback(on_step_end=lambda tr, logs: logs["step"] == 7 and os.kill(os.getpid(), signal.SIGINT)))
    t.fit(steps=40)
    assert t.interrupted and t.step == 7
    assert load_checkpoint(tmp_path / "checkpoint.npz")["step"] == 7
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_fit_by_epochs():
    sn.manual_seed(0)
    model = CarryModel(V)
    loader = ContiguousBatches(DATA[:400], 4, 8)
    t = Trainer(model, optim.SGD(model.parameters(), lr=0.1), loader, task=RecurrentLMTask(), progress=False)
    t.fit(epochs=2)
    assert t.step == 2 * len(loader) and t.epoch >= 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="exactly one of steps= or epochs="):
        _trainer().fit()
    with pytest.raises(ValueError, match="eval_every"):
        Trainer(Bigram(V), None, [], eval_every=0)
    with pytest.raises(ValueError, match="checkpoint_every needs out_dir"):
        Trainer(Bigram(V), None, [], checkpoint_every=5)
    with pytest.raises(ValueError, match="not a scratchnet training checkpoint"):
        path = "/tmp/_sn_not_a_trainer_ckpt.npz"
        sn.save({"a": np.ones(2)}, path)
        load_checkpoint(path)


def test_a_run_ending_between_evaluations_is_evaluated_once_more(tmp_path):
    seen = []
    t = _trainer(tmp_path, callbacks=[LambdaCallback(on_evaluate=lambda tr, m: seen.append(tr.step))])
    t.fit(steps=7)                                   # eval_every=5: at 5, then once after step 7
    assert seen == [5, 7]
    assert "val_loss" in t.history[-1] and t.history[-1]["step"] == 7
    assert (tmp_path / "best.npz").exists()
    assert t.best_val_loss == min(h["val_loss"] for h in t.history if "val_loss" in h)
    seen.clear()
    t.fit(steps=10)                                  # ends on an evaluation step: no extra one
    assert seen == [10]


def test_splitting_a_run_does_not_change_early_stopping(tmp_path):
    def run(stops):
        sn.manual_seed(0)
        t = _trainer(None, lr=0.3, schedule=False, patience=2)
        for s in stops:
            t.fit(steps=s)
        return [(h["step"], h["loss"], h.get("val_loss"), h.get("early_stopped")) for h in t.history
                if h["step"] % 5 == 0], t.step
    whole, whole_step = run([60])
    split, split_step = run([17, 23, 60])
    assert split == whole and split_step == whole_step
