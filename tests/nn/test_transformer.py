"""Transformer encoder/decoder layers and stacks, positional encodings:
PyTorch parity (outputs, input and parameter gradients), gradcheck, keys, errors."""
import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import nn

D, NHEAD, FF, N, L, S = 8, 2, 16, 3, 4, 5
DTYPES = [(np.float32, 2e-5), (np.float64, 1e-12)]


def _t(rng, *shape, dtype=np.float64):
    return sn.tensor(rng.normal(size=shape).astype(dtype), requires_grad=True)


def _copy_from_torch(mine, theirs):
    assert list(mine.state_dict()) == list(theirs.state_dict())
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _torch_dtype(torch, dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _layer_pair(torch, kind, dtype, **kw):
    mine = getattr(nn, kind)(D, NHEAD, FF, dropout=0.0, **kw).to(dtype)
    theirs = getattr(torch.nn, kind)(D, NHEAD, FF, dropout=0.0, **kw).to(_torch_dtype(torch, dtype))
    _copy_from_torch(mine, theirs)
    return mine, theirs


def _check_parity(torch, mine, theirs, arrays, kw, atol):
    tkw = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    xs = [sn.tensor(a, requires_grad=True) for a in arrays]
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = mine(*xs, **kw), theirs(*txs, **tkw)
    assert out.dtype == arrays[0].dtype
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=atol, rtol=0)
    g = np.random.default_rng(99).normal(size=out.shape).astype(arrays[0].dtype)
    tout.backward(torch.tensor(g))
    params = [p for _, p in mine.named_parameters()]
    tparams = [p for _, p in theirs.named_parameters()]
    grads = sn.grad(out, xs + params, g)
    for mine_g, t in zip(grads, txs + tparams):
        assert mine_g.dtype == arrays[0].dtype
        np.testing.assert_allclose(mine_g, t.grad.numpy(), atol=20 * atol, rtol=0)


def _shape(batch_first, T):
    return (N, T, D) if batch_first else (T, N, D)


def _masks(rng, dtype):
    kpm = np.zeros((N, L), dtype=bool)
    kpm[1, -2:] = True
    bool_mask = rng.random((L, L)) > 0.7
    bool_mask[:, 0] = False                                    # no fully masked rows (PyTorch: NaN)
    causal = np.triu(np.full((L, L), -np.inf), k=1).astype(dtype)
    return {"none": {},
            "bool mask + padding": {"src_mask": bool_mask, "src_key_padding_mask": kpm},
            "float 3-D mask": {"src_mask": rng.normal(size=(N * NHEAD, L, L)).astype(dtype)},
            "causal": {"src_mask": causal, "is_causal": True}}


@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize("mask", ["none", "bool mask + padding", "float 3-D mask", "causal"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first, mask, dtype, atol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    mine, theirs = _layer_pair(torch, "TransformerEncoderLayer", dtype, activation=activation,
                               batch_first=batch_first, norm_first=norm_first)
    rng = np.random.default_rng(1)
    x = rng.normal(size=_shape(batch_first, L)).astype(dtype)
    _check_parity(torch, mine, theirs, [x], _masks(rng, dtype)[mask], atol)


@pytest.mark.parametrize("dtype,atol", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first, activation, batch_first, dtype, atol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    mine, theirs = _layer_pair(torch, "TransformerDecoderLayer", dtype, activation=activation,
                               batch_first=batch_first, norm_first=norm_first)
    rng = np.random.default_rng(3)
    tgt = rng.normal(size=_shape(batch_first, L)).astype(dtype)
    memory = rng.normal(size=_shape(batch_first, S)).astype(dtype)
    tgt_kpm = np.zeros((N, L), dtype=bool)
    tgt_kpm[0, -1] = True
    mem_kpm = np.zeros((N, S), dtype=bool)
    mem_kpm[2, :3] = True
    memory_mask = rng.random((L, S)) > 0.7
    memory_mask[:, -1] = False
    kw = {"tgt_mask": np.triu(np.full((L, L), -np.inf), k=1).astype(dtype), "tgt_is_causal": True,
          "memory_mask": memory_mask, "tgt_key_padding_mask": tgt_kpm,
          "memory_key_padding_mask": mem_kpm}
    _check_parity(torch, mine, theirs, [tgt, memory], kw, atol)


def test_stacks_match_torch_with_final_norm():
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0), 2,
                                norm=nn.LayerNorm(D)).double()
    tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0), 2,
                                       norm=torch.nn.LayerNorm(D), enable_nested_tensor=False).double()
    _copy_from_torch(enc, tenc)
    assert "layers.1.self_attn.in_proj_weight" in enc.state_dict() and "norm.weight" in enc.state_dict()
    rng = np.random.default_rng(5)
    src = rng.normal(size=(L, N, D))
    kpm = np.zeros((N, L), dtype=bool)
    kpm[0, -1] = True
    _check_parity(torch, enc, tenc, [src], {"src_key_padding_mask": kpm}, 1e-12)

    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0, norm_first=True), 2,
                                norm=nn.LayerNorm(D)).double()
    tdec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0,
                                                                        norm_first=True), 2,
                                       norm=torch.nn.LayerNorm(D)).double()
    _copy_from_torch(dec, tdec)
    memory = rng.normal(size=(S, N, D))
    mask = nn.generate_square_subsequent_mask(L, np.float64)
    _check_parity(torch, dec, tdec, [src, memory], {"tgt_mask": mask, "tgt_is_causal": True}, 1e-12)


def test_encoder_layer_gradcheck():
    sn.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True, activation="gelu").double()
    rng = np.random.default_rng(6)
    x = _t(rng, 2, 3, 4)
    kpm = np.array([[False, False, True], [False, False, False]])
    params = list(layer.parameters())
    assert sn.gradcheck(lambda x, *ps: layer(x, src_key_padding_mask=kpm, is_causal=True), [x] + params)


def test_encoder_deep_copies_layers():
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF)
    enc = nn.TransformerEncoder(layer, 3)
    ws = [enc.layers[i].linear1.weight for i in range(3)]
    assert len({id(w) for w in ws}) == 3 and all(w is not layer.linear1.weight for w in ws)
    np.testing.assert_array_equal(ws[0].data, ws[2].data)   # copies start equal ...
    ws[0].data[0, 0] += 1.0
    assert ws[0].data[0, 0] != ws[2].data[0, 0]             # ... but are independent
    assert enc.num_parameters() == 3 * layer.num_parameters()


def test_dropout_only_in_training():
    sn.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.3)
    x = sn.tensor(np.random.default_rng(7).normal(size=(L, N, D)).astype(np.float32))
    assert not np.allclose(layer(x).data, layer(x).data)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)


def test_callable_activation_and_bad_activation():
    layer = nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, activation=lambda t: t.tanh())
    x = sn.tensor(np.ones((L, N, D), np.float32))
    assert layer(x).shape == (L, N, D)
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(D, NHEAD, activation="swish")


def _tutorial_pe(max_len, d_model):
    """The PyTorch tutorial's table, written out with NumPy."""
    pe = np.zeros((max_len, d_model))
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            angle = pos * math.exp(i * (-math.log(10000.0) / d_model))
            pe[pos, i] = math.sin(angle)
            if i + 1 < d_model:
                pe[pos, i + 1] = math.cos(angle)
    return pe


@pytest.mark.parametrize("d_model", [6, 7])
def test_positional_encoding_table_and_layouts(d_model):
    pe = nn.PositionalEncoding(d_model, max_len=12, dropout=0.0)
    np.testing.assert_allclose(pe.pe, _tutorial_pe(12, d_model), atol=1e-6)
    assert "pe" not in pe.state_dict()                                # non-persistent buffer
    x = np.zeros((5, 2, d_model), np.float32)
    out = pe(sn.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, np.broadcast_to(pe.pe[:5, None], (5, 2, d_model)))
    bf = nn.PositionalEncoding(d_model, max_len=12, dropout=0.0, batch_first=True)
    np.testing.assert_allclose(bf(sn.tensor(x.swapaxes(0, 1))).data, out.data.swapaxes(0, 1))
    with pytest.raises(ValueError, match="max_len 12"):
        pe(sn.tensor(np.zeros((13, 1, d_model), np.float32)))


def test_learned_positional_embedding_gets_gradient():
    sn.manual_seed(0)
    emb = nn.LearnedPositionalEmbedding(10, 4, batch_first=True)
    assert list(emb.state_dict()) == ["weight"] and abs(emb.weight.data.std() - 0.02) < 0.01
    x = sn.tensor(np.zeros((2, 3, 4), np.float32), requires_grad=True)
    out = emb(x)
    out.backward(np.ones(out.shape, np.float32))
    np.testing.assert_array_equal(emb.weight.grad[:3], 2.0)
    np.testing.assert_array_equal(emb.weight.grad[3:], 0.0)


def test_generate_square_subsequent_mask():
    m = nn.generate_square_subsequent_mask(3)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])


@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_accept_unbatched_numpy_inputs_like_torch(norm_first):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, mem = rng.standard_normal((5, 8), dtype=np.float32), rng.standard_normal((7, 8), dtype=np.float32)
    for kind, args in (("Encoder", (x,)), ("Decoder", (x, mem))):
        mine = getattr(nn, f"Transformer{kind}Layer")(8, 2, 16, dropout=0.0, norm_first=norm_first)
        theirs = getattr(torch.nn, f"Transformer{kind}Layer")(8, 2, 16, dropout=0.0, norm_first=norm_first)
        theirs.load_state_dict({k: torch.tensor(v) for k, v in mine.state_dict().items()})
        theirs.eval()
        expected = theirs(*map(torch.tensor, args)).detach().numpy()
        np.testing.assert_allclose(mine(*args).data, expected, atol=1e-5)


def _f32(*shape):
    return np.zeros(shape, np.float32)


_ENC = lambda **kw: nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, **kw)   # noqa: E731
_DEC = lambda **kw: nn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0, **kw)   # noqa: E731
M = L + 2                                                       # memory length


@pytest.mark.parametrize("make, call, exc, message", [
    (_ENC, lambda m: m(_f32(L, N, D + 1)), ValueError,
     rf"TransformerEncoderLayer: expected feature sizes \(d_model\) = \({D}\), got src \({L}, {N}, {D + 1}\)"),
    (lambda: _ENC(norm_first=True), lambda m: m(_f32(L, N, D + 1)), ValueError,   # was layer_norm's error
     rf"TransformerEncoderLayer: expected feature sizes \(d_model\) = \({D}\), got src"),
    (lambda: _ENC(norm_first=True), lambda m: m(np.zeros((L, N, D), np.int64)), TypeError,
     r"TransformerEncoderLayer: src must be a floating-point tensor, got dtype int64"),
    (_ENC, lambda m: m(_f32(1, L, N, D)), ValueError,
     rf"TransformerEncoderLayer: src must be 3-D \(batched\) or 2-D \(unbatched\); got src \(1, {L}, {N}, {D}\)"),
    (_ENC, lambda m: m(_f32(L, N, D), src_mask=np.zeros((L, L + 1), bool)), ValueError,
     rf"TransformerEncoderLayer: src_mask of shape \({L}, {L + 1}\) must be \(L, S\) = \({L}, {L}\)"),
    (_ENC, lambda m: m(_f32(L, N, D), src_mask=np.zeros((L, L), np.int64)), TypeError,
     "TransformerEncoderLayer: src_mask must be boolean or float, got dtype int64"),
    (_ENC, lambda m: m(_f32(L, N, D), src_key_padding_mask=np.zeros((L, N), bool)), ValueError,
     rf"TransformerEncoderLayer: src_key_padding_mask of shape \({L}, {N}\) must be \({N}, {L}\)"),
    (_ENC, lambda m: m(_f32(L, D), src_key_padding_mask=np.zeros((1, L), bool)), ValueError,
     rf"TransformerEncoderLayer: src_key_padding_mask of shape \(1, {L}\) must be \({L},\) \(source length\)"),
    (_DEC, lambda m: m(_f32(L, N, D), _f32(M, N, D + 1)), ValueError,
     rf"TransformerDecoderLayer: expected feature sizes \(d_model, d_model\) = \({D}, {D}\), got tgt "
     rf"\({L}, {N}, {D}\), memory \({M}, {N}, {D + 1}\)"),
    (_DEC, lambda m: m(_f32(L, N, D), _f32(M, N + 1, D)), ValueError,
     rf"TransformerDecoderLayer: tgt \({L}, {N}, {D}\) and memory \({M}, {N + 1}, {D}\) have different batch sizes"),
    (_DEC, lambda m: m(_f32(L, N, D), _f32(M, D)), ValueError,
     r"TransformerDecoderLayer: tgt and memory must both be 3-D \(batched\) or 2-D \(unbatched\)"),
    (_DEC, lambda m: m(_f32(L, N, D), _f32(M, N, D), tgt_mask=np.zeros((L, M), bool)), ValueError,
     rf"TransformerDecoderLayer: tgt_mask of shape \({L}, {M}\) must be \(L, S\) = \({L}, {L}\)"),
    (_DEC, lambda m: m(_f32(L, N, D), _f32(M, N, D), memory_mask=np.zeros((L, L), bool)), ValueError,
     rf"TransformerDecoderLayer: memory_mask of shape \({L}, {L}\) must be \(L, S\) = \({L}, {M}\) or "
     rf"\(N \* num_heads, L, S\) = \({N * NHEAD}, {L}, {M}\)"),
    (lambda: _DEC(batch_first=True), lambda m: m(_f32(N, L, D), _f32(N, M, D),
                                                 memory_key_padding_mask=np.zeros((N, L), bool)), ValueError,
     rf"TransformerDecoderLayer: memory_key_padding_mask of shape \({N}, {L}\) must be \({N}, {M}\)"),
    (_DEC, lambda m: m(_f32(L, N, D), _f32(M, N, D), tgt_key_padding_mask=np.ones((N, L), np.int32)), TypeError,
     "TransformerDecoderLayer: tgt_key_padding_mask must be boolean or float, got dtype int32"),
    (lambda: nn.TransformerEncoderLayer(5, 2), None, ValueError,
     r"TransformerEncoderLayer: d_model \(5\) must be a positive multiple of nhead \(2\)"),
    (lambda: nn.TransformerDecoderLayer(D, NHEAD, -1), None, ValueError,
     "TransformerDecoderLayer: dim_feedforward must be >= 0, got -1"),
    (lambda: nn.TransformerDecoderLayer(D, NHEAD, dropout=1.5), None, ValueError,
     r"TransformerDecoderLayer: dropout probability p must be a number in \[0, 1\], got 1.5"),
    (lambda: nn.TransformerDecoderLayer(D, NHEAD, activation="swish"), None, ValueError,
     "TransformerDecoderLayer: activation should be 'relu', 'gelu' or a callable, got 'swish'"),
    (lambda: nn.TransformerEncoder(_ENC(), 2, norm=3), None, TypeError,
     "TransformerEncoder: norm must be a Module such as LayerNorm"),
], ids=[
    'enc-src-features', 'enc-norm-first-features', 'enc-norm-first-int', 'enc-4-d', 'enc-src-mask-shape',
    'enc-src-mask-int', 'enc-kpm-shape', 'enc-unbatched-kpm', 'dec-memory-features', 'dec-batch',
    'dec-ranks', 'dec-tgt-mask', 'dec-memory-mask', 'dec-memory-kpm', 'dec-tgt-kpm-int', 'enc-d-model-nhead',
    'dec-dim-feedforward', 'dec-dropout', 'dec-activation', 'stack-norm'
])
def test_layer_errors_name_the_layer_and_its_arguments(make, call, exc, message):
    """Bad inputs, masks and sizes are reported under the Transformer layer's own
    names (were MultiheadAttention's 'attn_mask'/'query'/'key', layer_norm's or
    Linear's, so tgt_mask and memory_mask errors read alike; a non-callable final
    norm was Python's "'int' object is not callable" at the first forward)."""
    with pytest.raises(exc, match=message):
        m = make()
        call(m)


def test_layer_input_checks_keep_torch_parity_for_masks_given_as_lists_and_tensors():
    """The up-front checks hand MultiheadAttention the same masks: lists, Tensors
    and float masks that require grad (which get their gradient, as in PyTorch)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    rng = np.random.default_rng(21)
    mine, theirs = _layer_pair(torch, "TransformerDecoderLayer", np.float64, batch_first=True)
    tgt, mem = rng.normal(size=(N, L, D)), rng.normal(size=(N, M, D))
    bias = rng.normal(size=(L, M))
    kpm = np.zeros((N, L), dtype=bool)
    kpm[0, -1] = True
    b, tb = sn.tensor(bias, requires_grad=True), torch.tensor(bias, requires_grad=True)
    out = mine(tgt, mem, tgt_key_padding_mask=kpm.tolist(), memory_mask=b)
    tout = theirs(torch.tensor(tgt), torch.tensor(mem), tgt_key_padding_mask=torch.tensor(kpm), memory_mask=tb)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-12, rtol=0)
    g = rng.normal(size=out.shape)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(sn.grad(out, b, g), tb.grad.numpy(), atol=1e-11, rtol=0)
