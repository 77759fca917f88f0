"""``Dropout``: random zeroing while training, the identity in eval mode."""
from .. import functional as F
from ..ops.layers import check_p
from .module import Module


class Dropout(Module):
    """Training: y = x * m / (1 - p) with m ~ Bernoulli(1 - p) per element (drawn from
    ``scratchnet.random.default_generator()``, so ``sn.manual_seed`` repeats it);
    p = 1 gives zeros. Eval mode (``model.eval()``): y = x. ``inplace`` is
    accepted for PyTorch compatibility and ignored."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p = check_p(p, "Dropout")
        self.inplace = inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
