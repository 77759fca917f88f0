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


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_before_or_between_tokens_does_not_change_the_prediction(pooling):
    """Positions count real tokens only: pad_sequences' default 'pre' padding (and
    padding in the middle) gives the logits of the unpadded rows (it used to shift
    every real token's sinusoidal position)."""
    from scratchnet.data import pad_sequences
    sn.manual_seed(2)
    model = TransformerClassifier(20, 3, pooling=pooling, **SMALL).double()
    rows = [[5, 6, 7], [8, 9], [4]]
    alone = np.concatenate([model(np.array([r])).data for r in rows])
    for padding in ("pre", "post"):
        np.testing.assert_allclose(model(pad_sequences(rows, maxlen=6, padding=padding)).data, alone, atol=1e-12)
    middle = np.array([[5, 0, 6, 0, 7], [0, 8, 0, 0, 9], [0, 0, 4, 0, 0]])
    np.testing.assert_allclose(model(middle).data, alone, atol=1e-12)


def test_negative_pad_idx_is_the_last_row_as_in_embedding():
    sn.manual_seed(3)
    model = TransformerClassifier(9, 2, pad_idx=-1, **SMALL).double()
    assert model.embedding.padding_idx == 8
    np.testing.assert_allclose(model(np.array([[1, 2, 8, 8]])).data, model(np.array([[1, 2]])).data, atol=1e-12)
    everything = TransformerClassifier(9, 2, pad_idx=None, **SMALL)   # no padding id: every token is real
    assert everything(np.zeros((1, 3), np.int64)).shape == (1, 2)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(num_classes=0), ValueError, "num_classes must be >= 1, got 0"),
    (dict(vocab_size=0), ValueError, "vocab_size must be >= 1, got 0"),
    (dict(max_len=0), ValueError, "max_len must be >= 1, got 0"),
    (dict(d_model=8.0), TypeError, "d_model must be an int, got 8.0"),
    (dict(num_layers=-1), ValueError, "num_layers must be >= 0, got -1"),
    (dict(dropout=1.5), ValueError, r"dropout must be a number in \[0, 1\], got 1.5"),
])
def test_size_errors_name_the_classifier(kwargs, exc, match):
    with pytest.raises(exc, match="TransformerClassifier: " + match):
        TransformerClassifier(**{"vocab_size": 9, "num_classes": 2, **kwargs})


def test_bad_ids_name_the_classifier():
    model = TransformerClassifier(9, 2, **SMALL)
    with pytest.raises(IndexError, match="TransformerClassifier: index 9 is out of range"):
        model(np.array([[1, 9]]))
    with pytest.raises(TypeError, match="TransformerClassifier: ids must be integers"):
        model(np.array([[1.0, 2.0]]))


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_gradcheck_tiny_classifier_with_padding(pooling):
    sn.manual_seed(4)
    model = TransformerClassifier(6, 2, d_model=4, nhead=2, num_layers=1, dim_feedforward=8, max_len=4,
                                  dropout=0.0, pooling=pooling).double()
    ids = np.array([[0, 1, 2], [3, 4, 0]])                       # padding on either side
    assert sn.gradcheck(lambda *ps: model(ids).sum(), list(model.parameters()))
