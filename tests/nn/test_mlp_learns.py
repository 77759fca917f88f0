"""An MLP built from nn layers learns two interleaved spirals (a task no
linear model can fit) to >= 95% training accuracy with F.cross_entropy and
optim.Adam, in float32 throughout."""
import numpy as np

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import nn, optim


def two_spirals(n_per_class=100, noise=0.1, seed=0):
    """Points (2 * n, 2) on two interleaved spirals (1.75 turns each), labels (2 * n,)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.02, 1.0, n_per_class)) * 3.5 * np.pi      # angle
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.5 * np.pi)
    x = np.concatenate([arm, -arm]) + noise / (3.5 * np.pi) * rng.standard_normal((2 * n_per_class, 2))
    y = np.repeat([0, 1], n_per_class)
    return x.astype(np.float32), y


def _train(model, x, y, steps, lr=0.01):
    opt = optim.Adam(model.parameters(), lr=lr)
    xt = sn.Tensor(x)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
    model.eval()
    with sn.no_grad():
        accuracy = (model(xt).data.argmax(axis=1) == y).mean()
    return accuracy, loss


def test_mlp_learns_two_spirals():
    sn.manual_seed(0)
    x, y = two_spirals()
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    accuracy, loss = _train(model, x, y, steps=300)
    assert loss.dtype == np.float32 and all(p.dtype == np.float32 for p in model.parameters())
    assert accuracy >= 0.95, f"training accuracy {accuracy:.3f} (final loss {loss.item():.4f})"


def test_a_linear_model_cannot_fit_the_spirals():
    sn.manual_seed(0)
    x, y = two_spirals()
    accuracy, _ = _train(nn.Linear(2, 2), x, y, steps=200, lr=0.05)
    assert accuracy < 0.8
