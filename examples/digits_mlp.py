"""Train a small MLP on scikit-learn's bundled 8x8 handwritten digits with theanine.

    python examples/digits_mlp.py               # full run, prints the test accuracy
    python examples/digits_mlp.py --quick       # one epoch, for CI
    python examples/digits_mlp.py --plot loss.png

Written as Theano code: shared weights, a symbolic cost, ``T.grad`` for the
gradients, and ``theano.function(..., updates=...)`` for SGD with momentum.
The data ships with scikit-learn (``load_digits``), so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import theanine as theano
import theanine.tensor as T

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the examples' shared helpers
import common  # noqa: E402

N_CLASSES = 10


def load_data(seed=0, test_fraction=0.2):
    """The digits as floatX pixels in [0, 1] and int labels, split train/test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(theano.config.floatX)
    y = digits.target.astype("int64")
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def _init(rng, n_in, n_out, name):
    """Glorot-uniform weights and zero biases as shared variables."""
    bound = np.sqrt(6.0 / (n_in + n_out))
    w = rng.uniform(-bound, bound, size=(n_in, n_out)).astype(theano.config.floatX)
    b = np.zeros(n_out, dtype=theano.config.floatX)
    return theano.shared(w, name=f"W_{name}"), theano.shared(b, name=f"b_{name}")


def log_softmax(z):
    """Row-wise log-softmax, shifted by the row maximum for numerical stability."""
    z = z - T.max(z, axis=1, keepdims=True)
    return z - T.log(T.sum(T.exp(z), axis=1, keepdims=True))


def build_model(n_in, n_hidden, lr, momentum, seed=0):
    """Compile the training step, the loss and the predictor.

    Returns (train(x, y) -> minibatch loss, loss(x, y), predict(x) -> labels), where
    y holds integer class labels.
    """
    rng = np.random.default_rng(seed)
    w1, b1 = _init(rng, n_in, n_hidden, "hidden")
    w2, b2 = _init(rng, n_hidden, N_CLASSES, "out")
    params = [w1, b1, w2, b2]

    x = T.matrix("x")
    y = T.lvector("y")  # class labels
    hidden = T.tanh(T.dot(x, w1) + b1)
    logp = log_softmax(T.dot(hidden, w2) + b2)
    # mean negative log-likelihood: pick each row's log-probability of its label
    cost = -T.mean(logp[T.arange(y.shape[0]), y])

    grads = T.grad(cost, params)
    updates = []
    for p, g in zip(params, grads):
        velocity = theano.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
        new_v = momentum * velocity - lr * g
        updates.append((velocity, new_v))
        updates.append((p, p + new_v))

    train = theano.function([x, y], cost, updates=updates, name="train")
    loss = theano.function([x, y], cost, name="loss")
    predict = theano.function([x], T.argmax(logp, axis=1), name="predict")
    return train, loss, predict


def minibatches(rng, n, batch_size, epochs, max_steps=None):
    """(number of steps, iterator of (epoch, indices)): shuffled minibatches of n
    examples, `epochs` passes, cut at max_steps."""
    n_batches = -(-n // batch_size)
    total = epochs * n_batches if max_steps is None else min(max_steps, epochs * n_batches)

    def batches():
        for step in range(total):
            epoch, k = divmod(step, n_batches)
            if k == 0:
                order = rng.permutation(n)
            yield epoch, order[k * batch_size:(k + 1) * batch_size]

    return total, batches()


def train_model(epochs=20, batch_size=32, n_hidden=64, lr=0.1, momentum=0.9, seed=0,
                max_steps=None, progress=True):
    """Train and evaluate; returns a dict of the losses and accuracies."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    x_tr, y_tr, x_te, y_te = load_data(seed)
    train, loss, predict = build_model(x_tr.shape[1], n_hidden, lr, momentum, seed)
    t_compiled = time.perf_counter()

    initial_loss = float(loss(x_tr, y_tr))
    rng = np.random.default_rng(seed + 1)
    total, batches = minibatches(rng, len(y_tr), batch_size, epochs, max_steps)
    losses = []
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress,
               file=sys.stdout, leave=True)
    with bar:
        for epoch, idx in batches:
            losses.append(float(train(x_tr[idx], y_tr[idx])))
            bar.update(1)
            if len(losses) % 10 == 0:
                bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-10:]):.4f}",
                                refresh=False)
    t_trained = time.perf_counter()
    return {
        "initial_loss": initial_loss,
        "final_loss": float(loss(x_tr, y_tr)),
        "batch_losses": losses,
        "train_accuracy": float(np.mean(predict(x_tr) == y_tr)),
        "test_accuracy": float(np.mean(predict(x_te) == y_te)),
        "steps": len(losses),
        "compile_seconds": t_compiled - t0,
        "train_seconds": t_trained - t_compiled,
    }


def plot_losses(losses, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("minibatch cross-entropy")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64, help="hidden units")
    ap.add_argument("--lr", type=float, default=0.1, help="learning rate")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one epoch only (smoke test, CI)")
    ap.add_argument("--plot", metavar="PNG", help="save the loss curve (needs matplotlib)")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    common.add_mode_argument(ap)
    args = ap.parse_args(argv)
    epochs = 1 if args.quick else args.epochs

    with common.use_mode(args.mode):
        res = train_model(epochs=epochs, batch_size=args.batch_size, n_hidden=args.hidden,
                          lr=args.lr, momentum=args.momentum, seed=args.seed,
                          progress=not args.no_progress)
    print(f"compiled in {res['compile_seconds']:.2f} s; trained {res['steps']} steps "
          f"in {res['train_seconds']:.2f} s")
    print(f"training loss: {res['initial_loss']:.4f} -> {res['final_loss']:.4f}")
    print(f"train accuracy: {100 * res['train_accuracy']:.2f} %")
    print(f"test accuracy:  {100 * res['test_accuracy']:.2f} %")
    if args.plot:
        plot_losses(res["batch_losses"], args.plot)
        print(f"loss curve written to {args.plot}")
    return res


if __name__ == "__main__":
    main()
