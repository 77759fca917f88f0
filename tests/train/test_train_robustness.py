"""Saving, generation, sampling, metrics and the loss plot on unusual inputs."""
import os

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import metrics
from scratchnet.data import BPETokenizer, CharTokenizer
from scratchnet.models import GPT, CharRNN
from scratchnet.sampling import sample_next
from scratchnet.train import plot_history

TEXT = "héllo wörld 😀 日本語\n" * 10


# ------------------------------------------------------------------ save/load
def test_round_trip_keeps_values_types_and_dtypes(tmp_path):
    state = {"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "steps": np.arange(3, dtype=np.int64)},
             "nested": [1, 2.5, "日本 😀", True, False, None, [np.float32(1.5), {"empty": []}]],
             "big": 2 ** 70, 7: "int key", "half": np.zeros((0, 2), np.float16)}
    sn.save(state, tmp_path / "s.npz")
    back = sn.load(tmp_path / "s.npz")
    assert back["model"]["w"].dtype == np.float32 and back["model"]["steps"].dtype == np.int64
    np.testing.assert_array_equal(back["model"]["w"], state["model"]["w"])
    assert back["nested"][:6] == state["nested"][:6]
    assert type(back["nested"][6][0]) is np.float32 and back["nested"][6][1] == {"empty": []}
    assert back["big"] == 2 ** 70 and back[7] == "int key"
    assert back["half"].dtype == np.float16 and back["half"].shape == (0, 2)


def test_a_directory_is_named_in_load_and_save_errors(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"load: .*runs.* is a directory"):
        sn.load(folder)
    with pytest.raises(IsADirectoryError, match=r"cannot write .*runs.*: it is a directory"):
        sn.save({"a": 1}, folder)
    assert os.listdir(folder) == []                         # no temporary file left behind


# ----------------------------------------------------------------- generation
@pytest.fixture(scope="module")
def models():
    tok = CharTokenizer().fit(TEXT)
    sn.manual_seed(0)
    gpt = GPT(tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8)
    rnn = CharRNN(tok.vocab_size, cell="gru", hidden_size=8, embedding_dim=4)
    return tok, [gpt, rnn]


def test_seeded_sampling_repeats_with_a_prompt_longer_than_the_block(models):
    tok, nets = models
    prompt = TEXT[:30]                                      # block_size is 8
    for net in nets:
        runs = [sn.generate(net, tok, prompt, 12, top_k=3, top_p=0.9, seed=5) for _ in range(2)]
        assert runs[0] == runs[1] and runs[0].startswith(prompt) and len(runs[0]) == len(prompt) + 12
        assert sn.generate(net, tok, "h", 6, greedy=True) == sn.generate(net, tok, "h", 6, temperature=0)


def test_numpy_scalars_are_accepted_as_sampling_settings(models):
    tok, nets = models
    for net in nets:
        text = sn.generate(net, tok, "h", 4, temperature=np.float32(0.7), top_k=np.int64(3),
                           top_p=np.float32(0.8), seed=np.int64(2))
        assert text == sn.generate(net, tok, "h", 4, temperature=0.7, top_k=3, top_p=0.8, seed=2)


@pytest.mark.parametrize("bad, error", [({"max_new_tokens": True}, TypeError), ({"max_new_tokens": 2.0}, TypeError),
                                        ({"max_new_tokens": -1}, ValueError), ({"seed": -1}, ValueError),
                                        ({"seed": 1.5}, TypeError), ({"temperature": True}, TypeError),
                                        ({"temperature": -0.5}, ValueError), ({"top_k": True}, TypeError),
                                        ({"top_k": 0}, ValueError), ({"top_p": "0.9"}, TypeError),
                                        ({"top_p": 1.5}, ValueError)])
def test_impossible_generation_settings(models, bad, error):
    # API.md: a wrong type is a TypeError, a wrong value a ValueError, each naming the argument
    tok, nets = models
    kwargs = {"max_new_tokens": 3, **bad}
    with pytest.raises(error, match=next(iter(bad))):
        sn.generate(nets[0], tok, "h", **kwargs)


def test_a_prompt_that_encodes_to_no_tokens_starts_from_bos():
    # was: "GRU: the input sequence is empty" for a whitespace prompt and a word tokenizer
    from scratchnet.data import WordTokenizer
    tok = WordTokenizer().fit("to be or not to be")
    sn.manual_seed(0)
    net = CharRNN(tok.vocab_size, cell="gru", hidden_size=8, embedding_dim=4)
    text = sn.generate(net, tok, "   ", 4, seed=1)
    assert text == sn.generate(net, tok, "", 4, seed=1)
    assert len(text.split()) == 4


def test_an_empty_prompt_starts_from_bos_without_printing_it():
    tok = BPETokenizer(vocab_size=270, min_frequency=1).fit(TEXT)
    sn.manual_seed(0)
    gpt = GPT(tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8)
    text = sn.generate(gpt, tok, "", 5, seed=0)
    assert not text.startswith("<bos>")
    ids = sn.generation.generate_ids(gpt, [tok.bos_id], 5, rng=np.random.default_rng(0))
    assert text == tok.decode(ids)


def test_nan_logits_are_an_error_not_a_silent_token():
    rng = np.random.default_rng(0)
    for greedy in (False, True):
        with pytest.raises(ValueError, match="NaN"):
            sample_next(np.array([0.1, np.nan, 0.3]), rng, greedy=greedy)


# -------------------------------------------------------------------- metrics
@pytest.mark.parametrize("fn", [metrics.perplexity, metrics.bits_per_char])
@pytest.mark.parametrize("bad", ["abc", None, True])
def test_loss_metrics_name_themselves_for_a_non_number(fn, bad):
    with pytest.raises(TypeError, match=fn.__name__):
        fn(bad)


def test_loss_metrics_on_edge_values():
    assert metrics.perplexity(0.0) == 1.0 and metrics.bits_per_char(0.0) == 0.0
    assert metrics.perplexity(1e6) == float("inf")
    assert metrics.perplexity(sn.tensor(np.log(4.0))) == pytest.approx(4.0, rel=1e-6)
    assert metrics.bits_per_char(np.float32(np.log(2.0))) == pytest.approx(1.0, rel=1e-6)


# ----------------------------------------------------------------- loss plot
def test_a_failing_plot_leaves_the_old_png_and_no_temporary_file(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.figure
    png = tmp_path / "loss.png"
    history = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "val_loss": 1.7}]
    plot_history(history, str(png))
    old = png.read_bytes()
    assert old.startswith(b"\x89PNG")

    def half_written(self, f, **kwargs):
        f.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    with pytest.raises(KeyboardInterrupt):
        plot_history(history, str(png))
    assert png.read_bytes() == old and os.listdir(tmp_path) == ["loss.png"]


class _FixedDraw:
    """A generator whose every draw is the given number (just below 1)."""

    def __init__(self, value):
        self.value = value

    def random(self, n):
        return np.full(n, self.value)


def test_a_draw_at_the_top_of_the_range_never_picks_a_filtered_token():
    # was: these top-4 probabilities sum to 0.9999999999999998, so a draw above that
    # counted past every token and was clamped to the last one, which top_k had removed
    logits = np.array([5.0717059360181915, 1.8663756648173462, -4.587278624785339, 6.080337285729579,
                       -1.1850296264963793, -2.63837914411295])
    kept = set(np.argsort(-logits)[:4].tolist())
    for draw in (1 - 2 ** -53, 1 - 2 ** -52):
        assert int(sample_next(logits, _FixedDraw(draw), top_k=4)) in kept
