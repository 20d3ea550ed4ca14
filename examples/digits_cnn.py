"""A small convolutional network on scikit-learn's bundled 8x8 handwritten digits.

    python examples/digits_cnn.py              # 10 epochs, prints the test accuracy
    python examples/digits_cnn.py --quick      # a few steps, for CI
    python examples/digits_cnn.py --plot cnn_loss.png

Two convolution + max-pooling stages (``T.nnet.conv2d`` with ``border_mode="half"``,
``theano.tensor.signal.pool.pool_2d``), a ReLU hidden layer and a softmax output,
trained with Adam on the mean negative log-likelihood; the companion of
digits_mlp.py (chapter 2 of Deep Learning with Theano). No downloads: the digits
ship with scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the examples' shared helpers
import common  # noqa: E402
from digits_mlp import load_data, minibatches  # noqa: E402

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.tensor.signal.pool import pool_2d  # noqa: E402

N_CLASSES = 10


def conv_layer(rng, x, n_in, n_out, name):
    """3x3 convolution keeping the image size, ReLU, then 2x2 max pooling."""
    fan_in, fan_out = n_in * 9, n_out * 9
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    w = theano.shared(common.floatx(rng.uniform(-bound, bound, (n_out, n_in, 3, 3))),
                      name=f"W_{name}")
    b = common.zeros((n_out,), f"b_{name}")
    z = T.nnet.conv2d(x, w, filter_shape=(n_out, n_in, 3, 3), border_mode="half")
    h = T.nnet.relu(z + b.dimshuffle("x", 0, "x", "x"))
    return pool_2d(h, ws=(2, 2), ignore_border=True, mode="max"), [w, b]


def build_model(lr=2e-3, n_filters=(16, 32), n_hidden=64, seed=0):
    """Returns (train(x, y) -> loss, loss(x, y), predict(x)); x is (batch, 64) pixels."""
    rng = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.lvector("y")
    images = x.reshape((x.shape[0], 1, 8, 8))
    h1, p1 = conv_layer(rng, images, 1, n_filters[0], "conv1")        # (batch, 16, 4, 4)
    h2, p2 = conv_layer(rng, h1, n_filters[0], n_filters[1], "conv2")  # (batch, 32, 2, 2)
    flat = h2.flatten(2)
    w3 = common.glorot(rng, (n_filters[1] * 4, n_hidden), "W_hidden")
    b3 = common.zeros((n_hidden,), "b_hidden")
    w4 = common.glorot(rng, (n_hidden, N_CLASSES), "W_out")
    b4 = common.zeros((N_CLASSES,), "b_out")
    hidden = T.nnet.relu(T.dot(flat, w3) + b3)
    probs = T.nnet.softmax(T.dot(hidden, w4) + b4)
    cost = T.mean(T.nnet.categorical_crossentropy(probs, y))
    params = p1 + p2 + [w3, b3, w4, b4]
    updates = common.adam(params, T.grad(cost, params), lr)
    train = theano.function([x, y], cost, updates=updates, name="train")
    loss = theano.function([x, y], cost, name="loss")
    predict = theano.function([x], T.argmax(probs, axis=1), name="predict")
    return train, loss, predict


def train_model(epochs=10, batch_size=32, lr=2e-3, seed=0, max_steps=None, progress=True):
    clock = common.Timer()
    x_tr, y_tr, x_te, y_te = load_data(seed)
    train, loss, predict = build_model(lr, seed=seed)
    with common.single_threaded_blas():
        initial_loss = float(loss(x_tr, y_tr))
        t_compiled = clock()
        rng = np.random.default_rng(seed + 1)
        total, batches = minibatches(rng, len(y_tr), batch_size, epochs, max_steps)
        losses = []
        with common.progress(total, "digits CNN", progress) as bar:
            for _, idx in batches:
                losses.append(float(train(x_tr[idx], y_tr[idx])))
                bar.update(1)
                if len(losses) % 10 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-10:]):.4f}", refresh=False)
        t_trained = clock()
        return {
            "initial_loss": initial_loss, "final_loss": float(loss(x_tr, y_tr)),
            "batch_losses": losses, "steps": len(losses),
            "train_accuracy": float(np.mean(predict(x_tr) == y_tr)),
            "test_accuracy": float(np.mean(predict(x_te) == y_te)),
            "compile_seconds": t_compiled, "train_seconds": t_trained - t_compiled,
        }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="30 steps only (CI)")
    ap.add_argument("--plot", metavar="PNG", help="save the loss curve")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    common.add_mode_argument(ap)
    args = ap.parse_args(argv)
    with common.use_mode(args.mode):
        res = train_model(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          seed=args.seed, max_steps=30 if args.quick else None,
                          progress=not args.no_progress)
    print(f"compiled in {res['compile_seconds']:.2f} s; trained {res['steps']} steps "
          f"in {res['train_seconds']:.2f} s")
    print(f"training loss: {res['initial_loss']:.4f} -> {res['final_loss']:.4f}")
    print(f"train accuracy: {100 * res['train_accuracy']:.2f} %")
    print(f"test accuracy:  {100 * res['test_accuracy']:.2f} %")
    if args.plot:
        steps = np.arange(1, res["steps"] + 1)
        common.plot_curves(args.plot, {"minibatch": (steps, res["batch_losses"]),
                                       "running mean": (steps, common.smooth(res["batch_losses"]))},
                           ylabel="cross-entropy", title="digits CNN", logy=True)
        print(f"loss curve written to {args.plot}")
    return res


if __name__ == "__main__":
    main()
