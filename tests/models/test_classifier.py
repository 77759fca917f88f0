"""TransformerClassifier: shapes, padding invariance, keys, learning, errors."""
import numpy as np
import pytest

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import optim
from scratchnet.models import TransformerClassifier

SMALL = dict(d_model=16, nhead=2, num_layers=2, dim_feedforward=32, max_len=12, dropout=0.0)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_the_prediction(pooling):
    sn.manual_seed(0)
    model = TransformerClassifier(20, 3, pooling=pooling, **SMALL).double()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20, size=(3, 5))
    out = model(ids)
    assert out.shape == (3, 3) and out.dtype == np.float64
    padded = np.concatenate([ids, np.zeros((3, 4), dtype=ids.dtype)], axis=1)   # (3, 9): 4 pads
    np.testing.assert_allclose(model(padded).data, out.data, atol=1e-12)
    garbage = padded.copy()
    garbage[:, 5:] = 7                                          # junk behind an explicit mask
    np.testing.assert_allclose(model(garbage, padded != 0).data, out.data, atol=1e-12)


def test_keys_and_float32():
    model = TransformerClassifier(20, 4, pooling="cls", **SMALL)
    keys = list(model.state_dict())
    assert keys[0] == "cls_token" and "embedding.weight" in keys
    assert "encoder.layers.1.self_attn.in_proj_weight" in keys and "encoder.norm.weight" in keys
    assert keys[-2:] == ["head.weight", "head.bias"]
    out = model(np.array([[1, 2, 3]]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(model.embedding.weight.data[0], 0)   # padding row


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_learns_which_token_is_present(pooling):
    """Class = whether token 3 appears anywhere in a variable-length sequence."""
    sn.manual_seed(1)
    rng = np.random.default_rng(1)
    lengths = rng.integers(2, 9, size=64)
    ids = np.zeros((64, 8), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.choice([4, 5, 6, 7], size=n)
    labels = rng.integers(0, 2, size=64)
    for i in np.flatnonzero(labels):
        ids[i, rng.integers(0, lengths[i])] = 3
    model = TransformerClassifier(8, 2, pooling=pooling, **SMALL)
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = F.cross_entropy(model(ids), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (model(ids).data.argmax(-1) == labels).mean()
    assert acc > 0.95, acc


def test_errors():
    with pytest.raises(ValueError, match="pooling"):
        TransformerClassifier(10, 2, pooling="max")
    model = TransformerClassifier(10, 2, **SMALL)
    with pytest.raises(ValueError, match="max_len 12"):
        model(np.ones((1, 13), dtype=np.int64))
    with pytest.raises(ValueError, match="mask"):
        model(np.ones((2, 3), dtype=np.int64), np.ones((2, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(np.ones(3, dtype=np.int64))
