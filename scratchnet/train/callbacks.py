"""Callbacks: hooks into the training loop for anything the Trainer does not do.

Subclass ``Callback`` and override what you need; set
``trainer.stop_training = True`` to stop after the current step.
"""


class Callback:
    def on_train_begin(self, trainer):
        pass

    def on_step_end(self, trainer, logs):
        """``logs``: step, loss, lr, tokens_per_s (and more) of the step just taken."""

    def on_evaluate(self, trainer, metrics):
        """``metrics``: val_loss, val_perplexity, val_bpc, val_accuracy at trainer.step."""

    def on_checkpoint(self, trainer, path):
        pass

    def on_train_end(self, trainer):
        pass


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_step_end=lambda t, logs: ...)``."""

    def __init__(self, **hooks):
        unknown = set(hooks) - {"on_train_begin", "on_step_end", "on_evaluate", "on_checkpoint", "on_train_end"}
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {sorted(unknown)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)
