"""The training loop: fit, evaluate, checkpoint, resume.

    trainer = Trainer(model, optimizer, train_loader, val_loader, out_dir="runs/x")
    trainer.fit(steps=2000)

One step: ``loss = task.loss(model, batch)``; ``zero_grad``; ``backward``;
clip the gradient norm; ``optimizer.step()``; ``scheduler.step()``. Every
``eval_every`` steps, and after the last step, the model is evaluated on the
same validation batches (so the numbers are comparable); every ``checkpoint_every`` steps, at the
best validation loss and at the end, a checkpoint is written atomically
(``history.csv``/``history.json`` along with ``checkpoint.npz``; ``loss.png`` at the end).

A checkpoint holds everything the next step depends on: model, optimizer,
scheduler, scratchnet's RNG, the loader's position and RNG, a carried hidden
state, the step, history and config. So ``resume()`` continues exactly: the
losses of an interrupted and resumed run equal those of an uninterrupted one.

Ctrl-C (SIGINT) finishes the current step, writes a checkpoint and stops.
A NaN or infinite loss stops training with ``NonFiniteLossError`` before the
bad step touches the weights; the last checkpoint on disk stays the last good one.
"""
import csv
import io as _io
import itertools
import json
import math
import os
import signal
import threading
import time

import numpy as np

from .. import io as snio
from ..autograd.grad_mode import no_grad
from ..metrics import bits_per_char, perplexity
from ..nn.utils import clip_grad_norm_
from ..random import get_rng_state, set_rng_state
from .tasks import LanguageModelTask

CHECKPOINT_FORMAT = "scratchnet-trainer"
CHECKPOINT_VERSION = 1


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class Trainer:
    """Train ``model`` with ``optimizer`` on batches from ``train_loader``.

    Arguments:
        task: how a batch becomes a loss (default ``LanguageModelTask``).
        val_loader: validation batches; its state at construction is restored
            before every evaluation, so every evaluation sees the same batches.
        scheduler: an ``optim.lr_scheduler`` stepped after every step.
        grad_clip: max global gradient norm (None: no clipping).
        eval_every, eval_batches: evaluation period (steps) and size (batches);
            with a ``val_loader`` the last step is evaluated in any case.
        checkpoint_every: checkpoint period in steps (None: only at the end,
            at the best validation loss and on Ctrl-C); needs ``out_dir``.
        patience: early stopping after this many evaluations without a new
            best validation loss (None: never).
        config, tokenizer: stored in the checkpoint (a JSON-able dict, and a
            tokenizer with ``to_dict()``), so a checkpoint is self-describing.
    """

    def __init__(self, model, optimizer, train_loader, val_loader=None, task=None, scheduler=None,
                 grad_clip=None, eval_every=None, eval_batches=20, checkpoint_every=None,
                 out_dir=None, callbacks=(), progress=True, patience=None, config=None,
                 tokenizer=None):
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"Trainer: grad_clip must be positive or None, got {grad_clip}")
        for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every),
                            ("eval_batches", eval_batches), ("patience", patience)):
            if value is not None and (not isinstance(value, (int, np.integer)) or value <= 0):
                raise ValueError(f"Trainer: {name} must be a positive int or None, got {value!r}")
        if checkpoint_every is not None and out_dir is None:
            raise ValueError("Trainer: checkpoint_every needs out_dir")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.train_loader, self.val_loader = train_loader, val_loader
        self.task = task or LanguageModelTask()
        self.grad_clip, self.eval_every, self.eval_batches = grad_clip, eval_every, eval_batches
        self.checkpoint_every, self.patience = checkpoint_every, patience
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.callbacks = list(callbacks)
        self.progress = progress
        self.config = dict(config or {})
        self.tokenizer = tokenizer
        self.step = 0
        self.epoch = 0
        self.batches_into_epoch = 0    # training batches drawn in the current epoch
        self.best_val_loss = math.inf                # best of every evaluation (best.npz)
        self.best_periodic_val_loss = math.inf       # best of the eval_every evaluations (patience)
        self.evals_without_improvement = 0
        self.history = []          # one dict per step: step, loss, lr, tokens_per_s (+ val_* when evaluated)
        self.stop_training = False
        self._batch_iter = None
        self._val_state = val_loader.state_dict() if hasattr(val_loader, "state_dict") else None
        self._interrupted = False

    # ------------------------------------------------------------------ paths
    @property
    def checkpoint_path(self):
        return None if self.out_dir is None else os.path.join(self.out_dir, "checkpoint.npz")

    @property
    def best_path(self):
        return None if self.out_dir is None else os.path.join(self.out_dir, "best.npz")

    # -------------------------------------------------------------------- fit
    def fit(self, steps=None, epochs=None):
        """Train until ``steps`` total steps (counted from the very start, so a
        resumed run stops at the same place) or for ``epochs`` epochs of the loader."""
        total = self._total_steps(steps, epochs)
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        bar = self._progress_bar(total)
        previous_handler = self._catch_sigint()
        start_step = self.step
        try:
            while self.step < total and not self.stop_training:
                logs = self._train_step()
                self.history.append(logs)
                if self.eval_every and self.step % self.eval_every == 0 and self.val_loader is not None:
                    self._evaluate_and_track()
                if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self._save_progress()
                for cb in self.callbacks:
                    cb.on_step_end(self, logs)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(_postfix(logs), refresh=False)
                if self._interrupted:
                    self.stop_training = True
            if self._ends_between_evaluations(start_step, total):
                self._evaluate_and_track(final=True)
        finally:
            if bar is not None:
                bar.close()
            self._restore_sigint(previous_handler)
        if self.out_dir is not None:
            self._save_progress(plot=True)
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _ends_between_evaluations(self, start_step, total):
        """True when a run with a validation loader that reached ``total`` steps
        (even with a Ctrl-C during the last one, or without ``eval_every``) did
        not evaluate at its last step: it is evaluated once more, so that the
        best checkpoint and the history cover the final model."""
        evaluated = self.eval_every and self.step % self.eval_every == 0
        return self.val_loader is not None and self.step == total > start_step and not evaluated

    @property
    def interrupted(self):
        """True when the last ``fit`` stopped because of Ctrl-C."""
        return self._interrupted

    def _total_steps(self, steps, epochs):
        if (steps is None) == (epochs is None):
            raise ValueError("Trainer.fit: pass exactly one of steps= or epochs=")
        if steps is not None:
            if not isinstance(steps, (int, np.integer)) or steps < 0:
                raise ValueError(f"Trainer.fit: steps must be a non-negative int, got {steps!r}")
            return int(steps)
        try:
            per_epoch = len(self.train_loader)
        except TypeError:
            raise ValueError("Trainer.fit: epochs= needs a loader with a length; pass steps=") from None
        return int(epochs) * per_epoch

    def _next_batch(self):
        """The next training batch; at the end of the loader a new epoch
        starts (and a carried hidden state is reset)."""
        for _ in range(2):
            if self._batch_iter is None:
                self._batch_iter = iter(self.train_loader)
            try:
                batch = next(self._batch_iter)
            except StopIteration:
                self._start_new_epoch()
                continue
            self.batches_into_epoch += 1
            return batch
        raise ValueError("Trainer: the training loader yields no batches")

    def _start_new_epoch(self):
        self._batch_iter = None
        self.epoch += 1
        self.batches_into_epoch = 0
        self.task.reset()

    def _restore_epoch_position(self, batches_into_epoch):
        """Continue the epoch where the saved run was. A run saved after the last
        batch of an epoch starts the next epoch as the uninterrupted run does
        (epoch count, reset hidden state); a loader without ``state_dict`` (a
        list of batches) skips the batches the saved run already trained on."""
        self._batch_iter = None
        self.batches_into_epoch = batches_into_epoch
        if batches_into_epoch and batches_into_epoch == _length(self.train_loader):
            self._start_new_epoch()
        elif not hasattr(self.train_loader, "state_dict"):
            self._batch_iter = iter(self.train_loader)
            for _ in range(batches_into_epoch):
                next(self._batch_iter)

    def _train_step(self):
        start = time.perf_counter()
        batch = self._next_batch()
        self.model.train()
        loss, stats = self.task.loss(self.model, batch, training=True)
        value = float(loss.item())
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"training loss became {value} at step {self.step + 1}; stopped before updating the "
                f"weights. " + (f"The last good checkpoint is {self.checkpoint_path}."
                               if self.checkpoint_path and os.path.exists(self.checkpoint_path)
                               else "No checkpoint was written yet.")
                + " Try a lower learning rate or gradient clipping.")
        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = None
        if self.grad_clip is not None:
            grad_norm = float(clip_grad_norm_(self.model.parameters(), self.grad_clip))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        elapsed = time.perf_counter() - start
        logs = {"step": self.step, "epoch": self.epoch, "loss": value, "lr": float(lr),
                "tokens_per_s": stats.get("tokens", 0) / elapsed if elapsed > 0 else 0.0}
        if grad_norm is not None:
            logs["grad_norm"] = grad_norm
        return logs

    # --------------------------------------------------------------- evaluate
    def evaluate(self, loader=None, max_batches=None):
        """Mean loss, perplexity, bits per token and accuracy over ``loader``
        (default: the validation loader, from its initial state) in eval mode
        without recording a graph."""
        if loader is None:
            loader = self.val_loader
            if loader is None:
                raise ValueError("Trainer.evaluate: no validation loader")
            if self._val_state is not None:
                loader.load_state_dict(self._val_state)
            max_batches = max_batches or self.eval_batches
        # a fresh task: evaluation never touches the carried training state
        return evaluate_model(self.model, loader, type(self.task)(), max_batches)

    def _evaluate_and_track(self, final=False):
        """Evaluate, add the metrics to the last history row and keep the best
        checkpoint (which so holds its own step's row). Early stopping counts
        only the periodic evaluations (against the best of those), not the
        ``final`` one after a last step between them, so that splitting a run
        in two never changes when the longer run stops."""
        metrics = {f"val_{k}": v for k, v in self.evaluate().items()}
        row = self.history[-1]
        row.update(metrics)
        for cb in self.callbacks:
            cb.on_evaluate(self, metrics)
        if metrics["val_loss"] < self.best_val_loss:
            self.best_val_loss = metrics["val_loss"]
            if self.out_dir is not None:
                self.save_checkpoint(self.best_path)
        if not final:
            self._count_for_early_stopping(row)

    def _count_for_early_stopping(self, row):
        if row["val_loss"] < self.best_periodic_val_loss:
            self.best_periodic_val_loss = row["val_loss"]
            self.evals_without_improvement = 0
            return
        self.evals_without_improvement += 1
        if self.patience is not None and self.evals_without_improvement >= self.patience:
            self.stop_training = True
            row["early_stopped"] = True

    # ------------------------------------------------------------ checkpoints
    def state_dict(self):
        """Everything needed to continue training exactly."""
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": get_rng_state(),
            "train_loader": self.train_loader.state_dict() if hasattr(self.train_loader, "state_dict") else None,
            "task": self.task.state_dict(),
            "step": self.step, "epoch": self.epoch, "batches_into_epoch": self.batches_into_epoch,
            "best_val_loss": self.best_val_loss,
            "best_periodic_val_loss": self.best_periodic_val_loss,
            "evals_without_improvement": self.evals_without_improvement,
            "history": self.history,
            "config": self.config,
            "tokenizer": None if self.tokenizer is None else self.tokenizer.to_dict(),
        }

    def save_checkpoint(self, path=None):
        """Write the trainer's state atomically (default ``out_dir/checkpoint.npz``)."""
        path = path or self.checkpoint_path
        if path is None:
            raise ValueError("Trainer.save_checkpoint: no path and no out_dir")
        snio.save(self.state_dict(), path)
        for cb in self.callbacks:
            cb.on_checkpoint(self, path)
        return path

    def resume(self, path=None):
        """Load a checkpoint written by ``save_checkpoint`` and continue from it."""
        path = path or self.checkpoint_path
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        if state.get("train_loader") is not None and hasattr(self.train_loader, "load_state_dict"):
            self.train_loader.load_state_dict(state["train_loader"])
        self.task.load_state_dict(state.get("task") or {})
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self._restore_epoch_position(int(state.get("batches_into_epoch", 0)))
        self.best_val_loss = float(state["best_val_loss"])
        self.best_periodic_val_loss = float(state.get("best_periodic_val_loss", self.best_val_loss))
        self.evals_without_improvement = int(state["evals_without_improvement"])
        self.history = list(state["history"])
        return self

    def _save_progress(self, plot=False):
        """``checkpoint.npz`` and the history files (and ``loss.png`` when
        ``plot``), so that after a crash the files on disk agree with the last
        checkpoint."""
        self.save_checkpoint()
        self._write_history(plot)

    # ---------------------------------------------------------------- history
    def _write_history(self, plot):
        if not self.history:
            return
        keys = []
        for row in self.history:
            keys.extend(k for k in row if k not in keys)
        buf = _io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.history)
        snio.atomic_write_bytes(os.path.join(self.out_dir, "history.csv"), buf.getvalue().encode())
        snio.atomic_write_bytes(os.path.join(self.out_dir, "history.json"),
                                json.dumps(self.history, indent=1).encode())
        if plot:
            plot_history(self.history, os.path.join(self.out_dir, "loss.png"))

    # --------------------------------------------------------------- plumbing
    def _progress_bar(self, total):
        if not self.progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                    mininterval=0.5, leave=True)

    def _catch_sigint(self):
        """Ctrl-C sets a flag; the loop stops after the current step and saves."""
        self._interrupted = False
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._interrupted:          # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._interrupted = True

        return signal.signal(signal.SIGINT, handler)

    def _restore_sigint(self, previous):
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _length(loader):
    """``len(loader)``, or None for a loader without a length (an endless one)."""
    try:
        return len(loader)
    except TypeError:
        return None


def _postfix(logs):
    out = {"loss": f"{logs['loss']:.4f}", "lr": f"{logs['lr']:.2e}", "tok/s": f"{logs['tokens_per_s']:.0f}"}
    if "val_loss" in logs:
        out["val"] = f"{logs['val_loss']:.4f}"
    return out


def evaluate_model(model, loader, task, max_batches=None):
    """Mean loss (nats/token), perplexity, bits per token and accuracy of
    ``model`` over ``loader``, in eval mode and without recording a graph."""
    if max_batches is None and getattr(loader, "endless", False):
        raise ValueError(f"evaluate: {type(loader).__name__} without num_batches never ends; "
                         "pass max_batches= (or build the loader with num_batches=)")
    was_training = model.training
    model.eval()
    totals = {"loss_sum": 0.0, "tokens": 0, "correct": 0}
    try:
        with no_grad():
            for batch in itertools.islice(loader, max_batches):     # draws no batch beyond max_batches
                _, stats = task.loss(model, batch, training=False)
                for k in totals:
                    totals[k] += stats[k]
    finally:
        model.train(was_training)
    if totals["tokens"] == 0:
        raise ValueError("evaluate: the loader yielded no batches (or only targets equal to the ignore index -100)")
    loss = totals["loss_sum"] / totals["tokens"]
    return {"loss": loss, "perplexity": perplexity(loss), "bpc": bits_per_char(loss),
            "accuracy": totals["correct"] / totals["tokens"]}


def load_checkpoint(path):
    """Load and check a Trainer checkpoint; a clear ValueError names the file otherwise."""
    state = snio.load(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a scratchnet training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {state.get('version')} is not supported "
                         f"(this scratchnet reads version {CHECKPOINT_VERSION})")
    return state


def plot_history(history, path):
    """A loss-curve PNG (train loss per step, validation loss where measured)
    when matplotlib is installed; silently nothing otherwise."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [h["loss"] for h in history], lw=0.8, label="train")
    val = [(h["step"], h["val_loss"]) for h in history if "val_loss" in h]
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend()
    fig.tight_layout()
    try:
        snio.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)
    return path
