"""Bad inputs to the nn layers raise API.md's exception types (shape/value problems
ValueError, wrong types TypeError) with a message naming the layer and what is
wrong, and leave the layer's parameters and buffers as they were."""
import re

import numpy as np
import pytest

import scratchnet.functional as F
from scratchnet import nn


def f32(*shape):
    return np.ones(shape, np.float32)


def i64(*shape):
    return np.ones(shape, np.int64)


def _pe(**kw):
    return nn.PositionalEncoding(8, max_len=10, dropout=0.0, **kw)


def _encoder_layer():
    return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)


_RECURRENT = [(nn.RNN, (3, 2, 4), (2, 2, 5)), (nn.LSTM, (3, 2, 4), (2, 2, 5)), (nn.GRU, (3, 2, 4), (2, 2, 5)),
              (nn.RNNCell, (2, 4), (2, 5)), (nn.LSTMCell, (2, 4), (2, 5)), (nn.GRUCell, (2, 4), (2, 5))]


def _recurrent_cases():
    for cls, x_shape, h_shape in _RECURRENT:
        name = cls.__name__
        make = (lambda c=cls: c(4, 5, 2)) if name in ("RNN", "LSTM", "GRU") else (lambda c=cls: c(4, 5))
        pair = name.startswith("LSTM")
        hx = (lambda s=h_shape: (i64(*s), f32(*s))) if pair else (lambda s=h_shape: i64(*s))
        shape = re.escape(str(x_shape))
        yield pytest.param(make, lambda m, s=x_shape: m(i64(*s)), TypeError,
                           rf"{name}: input must hold floating-point numbers, got dtype int64 \(shape {shape}\)",
                           id=f"{name}-int-input")
        yield pytest.param(make, lambda m, s=x_shape: m(np.ones(s, bool)), TypeError,
                           rf"{name}: input must hold floating-point numbers, got dtype bool", id=f"{name}-bool-input")
        yield pytest.param(make, lambda m, s=x_shape: m(i64(*s).tolist()), TypeError,
                           rf"{name}: input must hold floating-point numbers, got dtype int64", id=f"{name}-int-list")
        yield pytest.param(make, lambda m: m([["a"] * 4] * 2), TypeError,
                           rf"{name}: input must be a Tensor or an array of numbers or booleans, got list "
                           r"\(dtype <U1\)",
                           id=f"{name}-list-of-str")
        yield pytest.param(make, lambda m, s=x_shape, h=hx: m(f32(*s), h()), TypeError,
                           rf"{name}: hx must hold floating-point numbers, got dtype int64", id=f"{name}-int-hx")


LAYER_CASES = [
    pytest.param(lambda: nn.Linear(4, 3), lambda m: m(None), TypeError,
                 "Linear: expected a Tensor, array or number, got NoneType", id="Linear-None"),
    pytest.param(lambda: nn.Linear(4, 3), lambda m: m("abcd"), TypeError,
                 "Linear: expected a Tensor, array or number, got str",
                 id="Linear-str"),
    pytest.param(lambda: nn.Linear(4, 3), lambda m: m(i64(2, 4)), TypeError,
                 r"Linear: input must be a floating-point tensor, got dtype int64 \(shape \(2, 4\)\)", id="Linear-int"),
    *_recurrent_cases(),
    pytest.param(lambda: nn.MultiheadAttention(8, 2), lambda m: m(i64(3, 2, 8), i64(3, 2, 8), i64(3, 2, 8)),
                 TypeError, r"MultiheadAttention: query must be a floating-point tensor, got dtype int64 "
                 r"\(shape \(3, 2, 8\)\)", id="MHA-int-inputs"),
    pytest.param(lambda: nn.MultiheadAttention(8, 2), lambda m: m(f32(3, 2, 8), f32(3, 2, 8), np.ones((3, 2, 8), bool)),
                 TypeError, "MultiheadAttention: value must be a floating-point tensor, got dtype bool",
                 id="MHA-bool-value"),
    pytest.param(_encoder_layer, lambda m: m(i64(3, 2, 8)), TypeError,
                 r"TransformerEncoderLayer: src must be a floating-point tensor, got dtype int64 "
                 r"\(shape \(3, 2, 8\)\)", id="EncoderLayer-int-src"),
    pytest.param(lambda: nn.AdditiveAttention(4, 6, 5), lambda m: m(f32(2, 5), f32(2, 3, 6), f32(2, 3, 7)),
                 ValueError, r"AdditiveAttention: expected query \(\.\.\., 4\) and keys \(B, S, 6\).* got query "
                 r"\(2, 5\), keys \(2, 3, 6\)", id="Additive-query-size"),
    pytest.param(lambda: nn.AdditiveAttention(4, 6, 5), lambda m: m(f32(2, 4), f32(2, 3, 5), f32(2, 3, 7)),
                 ValueError, r"AdditiveAttention: .*keys \(2, 3, 5\)", id="Additive-key-size"),
    pytest.param(lambda: nn.AdditiveAttention(4, 6, 5), lambda m: m(f32(2, 4), f32(2, 3, 6), i64(2, 3, 7)),
                 TypeError, "AdditiveAttention: values must be a floating-point tensor, got dtype int64",
                 id="Additive-int-values"),
    pytest.param(lambda: nn.AdditiveAttention(4, 6, 5),
                 lambda m: m(f32(2, 4), f32(2, 3, 6), f32(2, 3, 7), projected_keys=f32(2, 4, 5)), ValueError,
                 r"AdditiveAttention: projected_keys has shape \(2, 4, 5\), expected .* \(2, 3, 5\)",
                 id="Additive-projected-keys"),
    pytest.param(nn.DotProductAttention, lambda m: m(i64(2, 6), f32(2, 3, 6), f32(2, 3, 7)), TypeError,
                 "DotProductAttention: query must be a floating-point tensor, got dtype int64", id="DotProduct-int"),
    pytest.param(_pe, lambda m: m(f32(8)), ValueError, r"PositionalEncoding: input must be \(S, N, E\) or \(S, E\), "
                 r"got shape \(8,\)", id="PE-1d"),
    pytest.param(_pe, lambda m: m(f32(3, 2, 2, 8)), ValueError, r"PositionalEncoding: .*got shape \(3, 2, 2, 8\)",
                 id="PE-4d"),
    pytest.param(lambda: _pe(batch_first=True), lambda m: m(np.float32(1)), ValueError,
                 r"PositionalEncoding: input must be \(N, S, E\) or \(S, E\), got shape \(\)", id="PE-0d"),
    pytest.param(_pe, lambda m: m(None), TypeError, "PositionalEncoding: expected a Tensor", id="PE-None"),
    pytest.param(_pe, lambda m: m("abc"), TypeError, "PositionalEncoding: expected a Tensor, array or number, got str",
                 id="PE-str"),
    pytest.param(_pe, lambda m: m(i64(3, 2, 8)), TypeError, "PositionalEncoding: input must be a floating-point",
                 id="PE-int"),
    pytest.param(lambda: nn.LearnedPositionalEmbedding(10, 8), lambda m: m(f32(8)), ValueError,
                 r"LearnedPositionalEmbedding: .*got shape \(8,\)", id="LearnedPE-1d"),
]


@pytest.mark.parametrize("make, call, exc, match", LAYER_CASES)
def test_bad_forward_input_raises_a_named_error_and_leaves_the_layer_unchanged(make, call, exc, match):
    layer = make()
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    buffers = {k: np.array(v, copy=True) for k, v in layer.named_buffers()}
    with pytest.raises(exc, match=match):
        call(layer)
    after = layer.state_dict()
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)
    assert all(np.array_equal(v, buffers[k]) for k, v in layer.named_buffers())


def test_positional_encoding_takes_a_python_list():
    out = _pe()([[0.0] * 8] * 3)                      # (S, E) from a list, as every other layer takes it
    np.testing.assert_allclose(out.numpy(), _pe().pe[:3], rtol=1e-6)


CONSTRUCTOR_CASES = [
    pytest.param(lambda: nn.LayerNorm(4, eps="x"), TypeError, "LayerNorm: eps must be a number, got str 'x'",
                 id="LayerNorm-eps-str"),
    *[pytest.param(lambda c=c: c(4, 5, 2, dropout="a"), TypeError,
                   rf"{c.__name__}: dropout must be a number in \[0, 1\], got 'a'", id=f"{c.__name__}-dropout-str")
      for c in (nn.RNN, nn.LSTM, nn.GRU)],
    pytest.param(lambda: nn.MultiheadAttention("8", 2), TypeError, "MultiheadAttention: embed_dim must be an int",
                 id="MHA-embed-str"),
    pytest.param(lambda: nn.MultiheadAttention(8.0, 2), TypeError, "MultiheadAttention: embed_dim must be an int, "
                 "got float 8.0", id="MHA-embed-float"),
    pytest.param(lambda: nn.MultiheadAttention(8, 2, dropout="a"), TypeError,
                 "MultiheadAttention: dropout must be a number", id="MHA-dropout-str"),
    pytest.param(lambda: nn.MultiheadAttention(8, 2, kdim=-1), ValueError,
                 "MultiheadAttention: kdim must be >= 0, got -1", id="MHA-kdim-neg"),
    pytest.param(lambda: nn.MultiheadAttention(8, 2, vdim=2.5), TypeError,
                 "MultiheadAttention: vdim must be an int", id="MHA-vdim-float"),
    pytest.param(lambda: nn.AdditiveAttention(4, 6, -1), ValueError,
                 "AdditiveAttention: hidden_size must be >= 0, got -1", id="Additive-hidden-neg"),
    pytest.param(lambda: nn.AdditiveAttention("4", 6, 5), TypeError,
                 "AdditiveAttention: query_size must be an int", id="Additive-query-str"),
    pytest.param(lambda: nn.TransformerEncoder(_encoder_layer(), -1), ValueError,
                 "TransformerEncoder: num_layers must be >= 0, got -1", id="Encoder-layers-neg"),
    pytest.param(lambda: nn.TransformerEncoder(_encoder_layer(), 2.5), TypeError,
                 "TransformerEncoder: num_layers must be an int, got float 2.5", id="Encoder-layers-float"),
    pytest.param(lambda: nn.TransformerEncoder("layer", 2), TypeError,
                 "TransformerEncoder: encoder_layer must be a Module, got str", id="Encoder-layer-str"),
    pytest.param(lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), -2), ValueError,
                 "TransformerDecoder: num_layers must be >= 0, got -2", id="Decoder-layers-neg"),
    pytest.param(lambda: nn.TransformerDecoder(None, 2), TypeError,
                 "TransformerDecoder: decoder_layer must be a Module, got NoneType", id="Decoder-layer-None"),
    pytest.param(lambda: nn.PositionalEncoding(-8), ValueError, "PositionalEncoding: d_model must be >= 0, got -8",
                 id="PE-d_model-neg"),
    pytest.param(lambda: nn.PositionalEncoding(8, max_len=-1), ValueError,
                 "PositionalEncoding: max_len must be >= 0, got -1", id="PE-max_len-neg"),
    pytest.param(lambda: nn.PositionalEncoding(8.5), TypeError, "PositionalEncoding: d_model must be an int",
                 id="PE-d_model-float"),
    pytest.param(lambda: nn.LearnedPositionalEmbedding(-1, 8), ValueError,
                 "LearnedPositionalEmbedding: max_len must be >= 0, got -1", id="LearnedPE-max_len-neg"),
]


@pytest.mark.parametrize("make, exc, match", CONSTRUCTOR_CASES)
def test_bad_constructor_argument_raises_a_named_error(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("name", ["relu", "gelu", "softmax", "layer_norm"])
def test_a_list_of_strings_is_reported_by_its_dtype(name):
    args = ([["a", "b"]],) + ((2,) if name == "layer_norm" else ())   # a list is accepted: its dtype is the problem
    with pytest.raises(TypeError, match=rf"{name}: unsupported data of dtype <U1 \(shape \(1, 2\)\)"):
        getattr(F, name)(*args)
