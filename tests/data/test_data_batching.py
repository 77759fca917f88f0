"""pad_sequences (Keras semantics) and the batch iterators."""

import json

import numpy as np
import pytest

from scratchnet.data import (
    ClassificationBatches,
    ContiguousBatches,
    LMWindowLoader,
    get_batch,
    pad_sequences,
    random_window_batches,
)


# --- pad_sequences ---------------------------------------------------------------

KERAS = [[1], [2, 3], [4, 5, 6]]  # the example of Keras' pad_sequences docstring


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
        ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
        ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
        ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
        ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
        ({"maxlen": 2, "padding": "post", "truncating": "post"}, [[1, 0], [2, 3], [4, 5]]),
        ({"maxlen": 2, "padding": "post"}, [[1, 0], [2, 3], [5, 6]]),
        ({"maxlen": 5}, [[0, 0, 0, 0, 1], [0, 0, 0, 2, 3], [0, 0, 4, 5, 6]]),
        ({"maxlen": 5, "padding": "post"}, [[1, 0, 0, 0, 0], [2, 3, 0, 0, 0], [4, 5, 6, 0, 0]]),
        ({"maxlen": 1, "truncating": "post", "padding": "post"}, [[1], [2], [4]]),
    ],
)
def test_pad_sequences_keras_cases(kwargs, expected):
    out = pad_sequences(KERAS, **kwargs)
    assert out.dtype == np.int64
    assert out.tolist() == expected


def test_pad_sequences_details():
    assert pad_sequences([[1, 2], [], [3]]).tolist() == [[1, 2], [0, 0], [0, 3]]  # empty -> all padding
    out = pad_sequences([[1.5, 2.5], [3.5]], dtype="float32", padding="post", value=-1.0)
    assert out.dtype == np.float32 and out.tolist() == [[1.5, 2.5], [3.5, -1.0]]
    steps = pad_sequences([np.ones((3, 2)), np.ones((1, 2))], maxlen=2)  # vectors as steps
    assert steps.shape == (2, 2, 2) and steps[1].tolist() == [[0, 0], [1, 1]]
    assert pad_sequences([np.array([7, 8, 9])], maxlen=2).tolist() == [[8, 9]]
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"padding": "middle"}, "padding"), ({"truncating": "mid"}, "truncating"), ({"maxlen": -1}, "maxlen"),
     ({"maxlen": 2.5}, "maxlen")],
)
def test_pad_sequences_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        pad_sequences(KERAS, **kwargs)


def test_pad_sequences_bad_sequences():
    with pytest.raises(ValueError, match=r"sequences\[1\]"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


# --- random windows -----------------------------------------------------------------

def test_random_windows_shapes_and_shift():
    data = np.arange(1000)
    x, y = random_window_batches(data, block_size=8, batch_size=4, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8) and x.dtype == y.dtype == np.int64
    assert np.array_equal(y, x + 1)  # y is x shifted by one
    assert np.array_equal(np.diff(x, axis=1), np.ones((4, 7)))  # contiguous windows
    assert x.min() >= 0 and y.max() <= 999
    assert get_batch is random_window_batches


def test_random_windows_reach_the_end_and_are_seeded():
    data = np.arange(11)  # block 10: the only window is data[0:10] -> data[1:11]
    x, y = random_window_batches(data, 10, 3, rng=5)
    assert x.tolist() == [list(range(10))] * 3 and y[0].tolist() == list(range(1, 11))
    a = random_window_batches(np.arange(500), 4, 6, rng=1)
    b = random_window_batches(np.arange(500), 4, 6, rng=np.random.default_rng(1))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_random_windows_leave_global_rng_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    random_window_batches(np.arange(100), 4, 2, rng=0)
    assert np.array_equal(np.random.get_state()[1], before)


def test_random_windows_errors():
    with pytest.raises(ValueError, match=r"5 tokens.*block_size \+ 1 = 9"):
        random_window_batches(np.arange(5), block_size=8, batch_size=2, rng=0)
    with pytest.raises(ValueError, match="batch_size"):
        random_window_batches(np.arange(50), 8, 0, rng=0)
    with pytest.raises(ValueError, match="block_size"):
        random_window_batches(np.arange(50), -1, 2, rng=0)
    with pytest.raises(TypeError, match="rng"):
        random_window_batches(np.arange(50), 8, 2, rng=None)
    with pytest.raises(ValueError, match="1-D"):
        random_window_batches(np.zeros((5, 5), int), 2, 2, rng=0)


def test_lm_loader_resumes_exactly(tmp_path):
    from scratchnet import io as sio

    data = np.arange(10_000) % 97
    loader = LMWindowLoader(data, block_size=16, batch_size=4, seed=7)
    for _ in range(3):
        next(loader)
    state = loader.state_dict()
    expected = [next(loader) for _ in range(2)]

    # through JSON and through a checkpoint file, as the Trainer would store it
    state = json.loads(json.dumps(state))
    sio.save({"loader": state}, tmp_path / "c.npz")
    state = sio.load(tmp_path / "c.npz")["loader"]

    resumed = LMWindowLoader(data, block_size=16, batch_size=4, rng=np.random.default_rng(999))
    resumed.load_state_dict(state)
    assert resumed.step == 3
    for (x, y), (ex, ey) in zip((next(resumed) for _ in range(2)), expected):
        assert np.array_equal(x, ex) and np.array_equal(y, ey)


def test_lm_loader_len_and_errors():
    loader = LMWindowLoader(np.arange(100), 8, 2, seed=0, num_batches=3)
    assert len(loader) == 3 and len(list(loader)) == 3
    with pytest.raises(ValueError, match="exactly one"):
        LMWindowLoader(np.arange(100), 8, 2)
    with pytest.raises(ValueError, match="block_size"):
        LMWindowLoader(np.arange(100), 8, 2, seed=0).load_state_dict(
            LMWindowLoader(np.arange(100), 4, 2, seed=0).state_dict()
        )


# --- contiguous batches ---------------------------------------------------------------

def test_contiguous_tracks_continue_across_batches():
    data = np.arange(103)
    batches = ContiguousBatches(data, batch_size=4, seq_len=5)  # tracks of 25 tokens
    assert len(batches) == 4  # 24 positions with a target -> 4 full windows of 5
    got = list(batches)
    assert len(got) == 4
    for x, y in got:
        assert x.shape == y.shape == (4, 5) and x.dtype == np.int64
        assert np.array_equal(y, x + 1)
    for (x0, y0), (x1, _) in zip(got, got[1:]):
        assert np.array_equal(x1[:, 0], y0[:, -1])  # row b continues where it stopped
    rows = np.concatenate([x for x, _ in got], axis=1)  # (4, 20)
    assert np.array_equal(rows, np.arange(100).reshape(4, 25)[:, :20])


def test_contiguous_drop_last_false_covers_everything():
    batches = ContiguousBatches(np.arange(103), batch_size=4, seq_len=5, drop_last=False)
    got = list(batches)
    assert len(batches) == len(got) == 5 and got[-1][0].shape == (4, 4)
    xs = np.concatenate([x for x, _ in got], axis=1)
    ys = np.concatenate([y for _, y in got], axis=1)
    tracks = np.arange(100).reshape(4, 25)
    assert np.array_equal(xs, tracks[:, :-1]) and np.array_equal(ys, tracks[:, 1:])


def test_contiguous_epochs_and_resume():
    data = np.arange(400)
    a = ContiguousBatches(data, 3, 7)
    first_epoch = [x.copy() for x, _ in a]
    assert a.epoch == 1
    it = iter(a)
    next(it)
    next(it)
    state = json.loads(json.dumps(a.state_dict()))
    rest = [x for x, _ in it]

    b = ContiguousBatches(data, 3, 7)
    b.load_state_dict(state)
    assert (b.epoch, b.position) == (1, 2)
    rest_b = [x for x, _ in b]
    assert len(rest_b) == len(rest) and all(np.array_equal(p, q) for p, q in zip(rest, rest_b))
    assert all(np.array_equal(p, q) for p, q in zip(first_epoch[2:], rest_b))
    assert b.epoch == 2

    # breaking right after the last batch: the next loop is a full new epoch
    c = ContiguousBatches(data, 3, 7)
    for k, _ in enumerate(c):
        if k == len(c) - 1:
            break
    assert len(list(c)) == len(c) and c.epoch == 2


def test_contiguous_errors():
    with pytest.raises(ValueError, match=r"10 tokens.*batch_size=4.*seq_len=5"):
        ContiguousBatches(np.arange(10), 4, 5)
    with pytest.raises(ValueError, match="seq_len"):
        ContiguousBatches(np.arange(100), 4, 0)
    with pytest.raises(ValueError, match="seq_len"):
        ContiguousBatches(np.arange(100), 4, 5).load_state_dict(ContiguousBatches(np.arange(100), 4, 6).state_dict())


# --- classification batches --------------------------------------------------------------

SEQS = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10, 11], [12, 13], [14]]
LABELS = [0, 1, 0, 1, 1, 0]


def test_classification_batches_padding_and_mask():
    batches = ClassificationBatches(SEQS, LABELS, batch_size=4, shuffle=False, pad_value=-1)
    got = list(batches)
    assert len(batches) == len(got) == 2
    ids, mask, labels = got[0]
    assert ids.dtype == np.int64 and mask.dtype == bool and labels.dtype == np.int64
    assert ids.tolist() == [[1, 2, 3, -1, -1], [4, -1, -1, -1, -1], [5, 6, -1, -1, -1], [7, 8, 9, 10, 11]]
    assert mask.tolist() == (ids != -1).tolist()
    assert labels.tolist() == [0, 1, 0, 1]
    ids, mask, labels = got[1]  # padded to this batch's own longest sequence
    assert ids.tolist() == [[12, 13], [14, -1]] and mask.sum() == 3 and labels.tolist() == [1, 0]


def test_classification_batches_maxlen_and_drop_last():
    ids, mask, _ = next(iter(ClassificationBatches(SEQS, LABELS, 4, maxlen=2)))
    assert ids.tolist() == [[1, 2], [4, 0], [5, 6], [7, 8]] and mask[1].tolist() == [True, False]
    assert len(ClassificationBatches(SEQS, LABELS, 4, drop_last=True)) == 1


def test_classification_shuffle_is_seeded_and_complete():
    def epoch_labels(seed):
        batches = ClassificationBatches(SEQS, np.arange(6), 4, shuffle=True, rng=seed)
        return [lab.tolist() for _, _, lab in batches] + [lab.tolist() for _, _, lab in batches]

    a = epoch_labels(3)
    assert a == epoch_labels(3)
    assert sorted(a[0] + a[1]) == list(range(6)) and sorted(a[2] + a[3]) == list(range(6))
    assert a[:2] != a[2:]  # a new order each epoch (for this seed)


def test_classification_resume_mid_epoch():
    make = lambda rng: ClassificationBatches(SEQS, np.arange(6), 2, shuffle=True, rng=rng)
    a = make(11)
    list(a)  # one full epoch
    it = iter(a)
    next(it)
    state = json.loads(json.dumps(a.state_dict()))
    expected = [lab.tolist() for _, _, lab in it] + [lab.tolist() for _, _, lab in a]

    b = make(np.random.default_rng(0))
    b.load_state_dict(state)
    got = [lab.tolist() for _, _, lab in b] + [lab.tolist() for _, _, lab in b]
    assert got == expected


def test_classification_errors():
    with pytest.raises(ValueError, match="labels"):
        ClassificationBatches(SEQS, LABELS[:3], 2)
    with pytest.raises(ValueError, match="batch_size"):
        ClassificationBatches(SEQS, LABELS, 0)
    with pytest.raises(ValueError, match="rng"):
        ClassificationBatches(SEQS, LABELS, 2, shuffle=True)
