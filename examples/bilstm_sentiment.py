"""A bidirectional LSTM sentiment classifier on a generated corpus of short reviews.

    python examples/bilstm_sentiment.py            # about half a minute
    python examples/bilstm_sentiment.py --quick    # a few seconds, for CI

The corpus is generated at run time from word lists (nothing is downloaded): short
reviews such as "the plot was not very good but the acting was superb", labelled by
rules that depend on word order -- negation flips a clause, and after "but" or
"although" the last clause decides. A bag-of-words classifier (scikit-learn's logistic
regression, blind to order) is the baseline to beat.

The model (chapter 5 of Deep Learning with Theano): word embeddings, one LSTM reading
forwards and one reading backwards (``theano.scan(..., go_backwards=True)``), each
skipping the padding with a mask, their final states joined and fed to a logistic
output trained with ``T.nnet.binary_crossentropy``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the examples' shared helpers
import common  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402

SUBJECTS = ["the movie", "the film", "the plot", "the acting", "the story", "the music",
            "the ending", "the cast", "the dialogue", "the script", "this sequel",
            "the soundtrack", "the direction", "the pacing"]
VERBS = ["was", "is", "felt", "seemed", "looked"]
INTENSIFIERS = ["very", "really", "quite", "truly", "so", "rather", "pretty"]
POSITIVE = ["good", "great", "wonderful", "brilliant", "moving", "delightful", "superb",
            "charming", "excellent", "funny", "beautiful", "gripping", "clever", "fresh"]
NEGATIVE = ["bad", "dull", "boring", "awful", "terrible", "weak", "clumsy", "tedious",
            "poor", "bland", "messy", "predictable", "silly", "flat"]
OPENERS = ["", "", "", "honestly ,", "overall ,", "i think", "in my opinion ,", "frankly ,"]
PAD = "<pad>"


def make_clause(rng):
    """A clause and its sentiment (1 positive, 0 negative)."""
    positive = rng.random() < 0.5
    adj = rng.choice(POSITIVE if positive else NEGATIVE)
    negated = rng.random() < 0.35
    if negated:
        words = [rng.choice(SUBJECTS), rng.choice(["was", "is"]), rng.choice(["not", "never"])]
    else:
        words = [rng.choice(SUBJECTS), rng.choice(VERBS)]
    if rng.random() < 0.4:
        words.append(rng.choice(INTENSIFIERS))
    words.append(adj)
    return " ".join(words), int(positive != negated)


def make_review(rng):
    """A review and its label. After 'but' the second clause decides; after 'although
    A ,' the main clause B decides; 'and' joins clauses of the same sentiment."""
    first, s1 = make_clause(rng)
    opener = rng.choice(OPENERS)
    kind = rng.random()
    if kind < 0.45:
        text, label = first, s1
    elif kind < 0.7:
        second, s2 = make_clause(rng)
        text, label = f"{first} but {second}", s2
    elif kind < 0.85:
        second, s2 = make_clause(rng)
        text, label = f"although {first} , {second}", s2
    else:
        second, s2 = make_clause(rng)
        while s2 != s1:
            second, s2 = make_clause(rng)
        text, label = f"{first} and {second}", s1
    return f"{opener} {text}".strip(), label


def make_corpus(n, seed):
    rng = np.random.default_rng(seed)
    reviews = [make_review(rng) for _ in range(n)]
    return [r[0] for r in reviews], np.array([r[1] for r in reviews], dtype="int64")


class Vocabulary:
    def __init__(self, texts):
        words = sorted({w for t in texts for w in t.split()})
        self.words = [PAD] + words
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self):
        return len(self.words)

    def encode(self, texts):
        """Token ids (time, batch), padded at the end with 0, and the 0/1 mask."""
        seqs = [[self.index[w] for w in t.split()] for t in texts]
        length = max(len(s) for s in seqs)
        ids = np.zeros((length, len(seqs)), dtype="int64")
        mask = np.zeros((length, len(seqs)), dtype=theano.config.floatX)
        for j, s in enumerate(seqs):
            ids[:len(s), j] = s
            mask[:len(s), j] = 1.0
        return ids, mask


def build_model(vocab_size, n_embed, n_hidden, lr, seed=0):
    rng = np.random.default_rng(seed)
    embed = theano.shared(common.floatx(0.1 * rng.standard_normal((vocab_size, n_embed))),
                          name="embeddings")
    forward = common.Recurrent("lstm", n_embed, n_hidden, rng, name="fwd")
    backward = common.Recurrent("lstm", n_embed, n_hidden, rng, name="bwd")
    w = common.glorot(rng, (2 * n_hidden, 1), "W_out")
    b = common.zeros((1,), "b_out")
    params = [embed] + forward.params + backward.params + [w, b]

    ids, mask, y = T.lmatrix("ids"), T.matrix("mask"), T.lvector("y")
    x = embed[ids]                                            # (time, batch, n_embed)
    _, (h_fwd, _) = forward(x, mask=mask)                     # read left to right
    _, (h_bwd, _) = backward(x, mask=mask, go_backwards=True)  # right to left
    features = T.concatenate([h_fwd, h_bwd], axis=1)
    p = T.nnet.sigmoid(T.dot(features, w)[:, 0] + b[0])
    cost = T.mean(T.nnet.binary_crossentropy(p, y))
    grads, _ = common.clip_by_global_norm(T.grad(cost, params), 5.0)
    train = theano.function([ids, mask, y], cost, updates=common.adam(params, grads, lr),
                            name="train")
    evaluate = theano.function([ids, mask, y], [cost, T.mean(T.eq(p > 0.5, y))],
                               name="evaluate")
    predict = theano.function([ids, mask], p, name="predict")
    return train, evaluate, predict


def bag_of_words_accuracy(train_texts, y_train, test_texts, y_test):
    """Accuracy of a logistic regression on word counts: the order-blind baseline."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(token_pattern=r"[^ ]+")
    clf = LogisticRegression(max_iter=2000)
    clf.fit(vec.fit_transform(train_texts), y_train)
    return float(clf.score(vec.transform(test_texts), y_test))


def train(steps=400, n_train=4000, n_test=1000, n_embed=24, n_hidden=32, batch_size=32,
          lr=1e-2, seed=0, progress=True, floatX="float32"):
    with theano.config.change_flags(floatX=floatX):
        clock = common.Timer()
        texts, labels = make_corpus(n_train + n_test, seed)
        tr_texts, y_tr = texts[:n_train], labels[:n_train]
        te_texts, y_te = texts[n_train:], labels[n_train:]
        vocab = Vocabulary(texts)
        train_step, evaluate, predict = build_model(len(vocab), n_embed, n_hidden, lr, seed)
        te_ids, te_mask = vocab.encode(te_texts)
        rng = np.random.default_rng(seed + 1)
        losses = []
        with common.single_threaded_blas():
            initial_loss, initial_acc = map(float, evaluate(te_ids, te_mask, y_te))
            with common.progress(steps, "BiLSTM sentiment", progress) as bar:
                for step in range(steps):
                    idx = rng.integers(0, n_train, batch_size)
                    ids, mask = vocab.encode([tr_texts[i] for i in idx])
                    losses.append(float(train_step(ids, mask, y_tr[idx])))
                    bar.update(1)
                    if (step + 1) % 10 == 0:
                        bar.set_postfix(loss=f"{np.mean(losses[-10:]):.4f}", refresh=False)
            test_loss, test_acc = map(float, evaluate(te_ids, te_mask, y_te))
            p = predict(te_ids[:, :8], te_mask[:, :8])
        return {
            "losses": losses, "initial_loss": losses[0],
            "final_loss": float(np.mean(losses[-20:])),
            "initial_test_loss": initial_loss, "initial_test_accuracy": initial_acc,
            "test_loss": test_loss, "test_accuracy": test_acc,
            "bag_of_words_accuracy": bag_of_words_accuracy(tr_texts, y_tr, te_texts, y_te),
            "examples": list(zip(te_texts[:8], y_te[:8].tolist(), p.tolist())),
            "seconds": clock(),
        }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few steps (CI)")
    ap.add_argument("--plot", metavar="PNG", help="save the loss curve")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    common.add_mode_argument(ap)
    args = ap.parse_args(argv)
    kw = dict(steps=args.steps, n_hidden=args.hidden, batch_size=args.batch_size, lr=args.lr,
              seed=args.seed, progress=not args.no_progress)
    if args.quick:
        kw.update(steps=60, n_train=2000, n_test=200, n_hidden=16, n_embed=12, lr=2e-2)
    with common.use_mode(args.mode):
        res = train(**kw)
    print(f"trained {len(res['losses'])} steps; total {res['seconds']:.1f} s")
    print(f"training loss:  {res['initial_loss']:.4f} -> {res['final_loss']:.4f}")
    print(f"test accuracy:  {100 * res['initial_test_accuracy']:.1f} % -> "
          f"{100 * res['test_accuracy']:.1f} % (bag-of-words baseline "
          f"{100 * res['bag_of_words_accuracy']:.1f} %)")
    for text, label, p in res["examples"]:
        print(f"  {'+' if label else '-'} p(positive)={p:.2f}  {text}")
    if args.plot:
        steps = np.arange(1, len(res["losses"]) + 1)
        common.plot_curves(args.plot, {"minibatch": (steps, res["losses"]),
                                       "running mean": (steps, common.smooth(res["losses"]))},
                           ylabel="binary cross-entropy", title="BiLSTM sentiment")
        print(f"loss curve written to {args.plot}")
    return res


if __name__ == "__main__":
    main()
