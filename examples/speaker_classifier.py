"""Who said it? Attribute lines of tiny-shakespeare to their speaker.

Every line of verse in tiny-shakespeare belongs to a speech headed by the
speaker's name ("ROMEO:"). We keep the ``--speakers`` characters with the most
lines, split their lines at random into train and held-out sets, and train a
``TransformerClassifier`` (word tokens, sinusoidal positions, a pre-norm
encoder, mean pooling over the real tokens, padding masked out) to name the
speaker of a single line. The held-out accuracy is printed next to the
majority-class baseline (always answering the most frequent speaker).

    python examples/speaker_classifier.py [--speakers 5] [--epochs 8] [--seed 0]

Runs in a minute or two on a laptop CPU.
"""
import argparse
import time
from collections import Counter

import numpy as np

import scratchnet as sn
import scratchnet.functional as F
from scratchnet import optim
from scratchnet.data import ClassificationBatches, WordTokenizer, load_corpus
from scratchnet.models import TransformerClassifier
from scratchnet.optim.lr_scheduler import warmup_cosine


def speaker_lines(text):
    """(speaker, line) for every line of every speech."""
    pairs = []
    for block in text.split("\n\n"):
        lines = [l for l in block.strip("\n").split("\n") if l.strip()]
        if len(lines) >= 2 and lines[0].endswith(":"):
            pairs.extend((lines[0][:-1], l) for l in lines[1:])
    return pairs


def dataset(n_speakers, val_fraction, seed):
    pairs = speaker_lines(load_corpus("tinyshakespeare"))
    top = [s for s, _ in Counter(s for s, _ in pairs).most_common(n_speakers)]
    pairs = [(top.index(s), line) for s, line in pairs if s in top]
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = int(len(pairs) * val_fraction)
    val = [pairs[i] for i in order[:n_val]]
    train = [pairs[i] for i in order[n_val:]]
    tok = WordTokenizer(min_freq=2).fit("\n".join(line for _, line in train))
    encode = lambda ps: ([tok.encode(l) or [1] for _, l in ps], np.array([s for s, _ in ps]))  # noqa: E731
    return top, tok, encode(train), encode(val)


def evaluate(model, batches):
    model.eval()
    correct = total = 0
    with sn.no_grad():
        for ids, mask, labels in batches:
            pred = model(ids, mask).data.argmax(axis=-1)
            correct += int((pred == labels).sum())
            total += len(labels)
    model.train()
    return correct / total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speakers", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    sn.manual_seed(args.seed)
    speakers, tok, (x_train, y_train), (x_val, y_val) = dataset(args.speakers, args.val_fraction, args.seed)
    counts = np.bincount(y_train, minlength=len(speakers))
    print(f"{len(x_train)} train / {len(x_val)} held-out lines, {tok.vocab_size} word types; speakers:")
    for s, c in zip(speakers, counts):
        print(f"  {s:<18}{c:>5} train lines")
    maxlen = 32
    train = ClassificationBatches(x_train, y_train, args.batch_size, shuffle=True, rng=args.seed, maxlen=maxlen)
    val = ClassificationBatches(x_val, y_val, 256, maxlen=maxlen)
    model = TransformerClassifier(tok.vocab_size, len(speakers), d_model=args.d_model, nhead=4,
                                  num_layers=args.layers, dim_feedforward=2 * args.d_model, max_len=maxlen,
                                  dropout=0.2, pooling="mean", pad_idx=0)
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    steps = args.epochs * len(train)
    sched = warmup_cosine(opt, steps // 20, steps, args.lr / 20)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        losses = []
        for ids, mask, labels in train:
            loss = F.cross_entropy(model(ids, mask), labels)
            opt.zero_grad()
            loss.backward()
            sn.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        print(f"epoch {epoch + 1}: train loss {np.mean(losses):.3f}  held-out accuracy "
              f"{evaluate(model, val):.3f}  ({time.perf_counter() - start:.0f} s)", flush=True)
    majority = np.mean(y_val == np.argmax(counts))
    accuracy = evaluate(model, val)
    print(f"\n{'held-out lines':<28}{len(y_val):>8}")
    print(f"{'majority-class baseline':<28}{majority:>8.3f}   (always '{speakers[np.argmax(counts)]}')")
    print(f"{'TransformerClassifier':<28}{accuracy:>8.3f}")
    return accuracy, majority


if __name__ == "__main__":
    main()
