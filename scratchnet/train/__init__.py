"""Training: the Trainer, tasks (how a batch becomes a loss) and callbacks."""
from .trainer import Trainer, NonFiniteLossError, evaluate_model, load_checkpoint, plot_history
from .tasks import LanguageModelTask, RecurrentLMTask, lm_loss
from .callbacks import Callback, LambdaCallback
