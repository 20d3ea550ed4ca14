"""Predict a generated time series with an LSTM, then let it forecast on its own.

    python examples/timeseries_lstm.py                 # about half a minute
    python examples/timeseries_lstm.py --quick         # a few seconds, for CI
    python examples/timeseries_lstm.py --plot ts.png   # the forecast against the truth

The series is generated (no data files): two sines of incommensurate periods, a slow
amplitude modulation and a little noise. The LSTM reads windows of the series and
predicts the next value at every step (sequence to sequence, mean squared error).
On held-out data its one-step error is compared with the persistence baseline
("tomorrow equals today"); then a second scan feeds each prediction back as the
next input and forecasts many steps ahead (chapter 10 of Deep Learning with Theano).
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


def make_series(n, seed=0, noise=0.02):
    """A deterministic-looking but non-trivial signal of length n (float array)."""
    t = np.arange(n, dtype=float)
    rng = np.random.default_rng(seed)
    envelope = 1.0 + 0.3 * np.sin(2 * np.pi * t / 400.0)
    x = envelope * (0.6 * np.sin(2 * np.pi * t / 37.0) + 0.3 * np.sin(2 * np.pi * t / 11.3))
    return x + noise * rng.standard_normal(n)


class Forecaster:
    def __init__(self, n_hidden, seed=0):
        rng = np.random.default_rng(seed)
        self.rnn = common.Recurrent("lstm", 1, n_hidden, rng, name="lstm")
        self.Wo = common.glorot(rng, (n_hidden, 1), "W_out")
        self.bo = common.zeros((1,), "b_out")
        self.params = self.rnn.params + [self.Wo, self.bo]

    def predict(self, x):
        """x (time, batch) -> next-value predictions (time, batch), and the final states."""
        hs, finals = self.rnn(x.dimshuffle(0, 1, "x"))
        return T.dot(hs, self.Wo)[:, :, 0] + self.bo[0], finals

    def compile(self, lr, clip):
        x, y = T.matrix("x"), T.matrix("y")
        pred, _ = self.predict(x)
        cost = T.mean((pred - y) ** 2)
        grads, _ = common.clip_by_global_norm(T.grad(cost, self.params), clip)
        train = theano.function([x, y], cost, updates=common.adam(self.params, grads, lr),
                                name="train")
        mse = theano.function([x, y], cost, name="mse")

        # free-running forecast: read a priming window, then feed predictions back
        prime, n = T.vector("prime"), T.lscalar("n")
        pred, states = self.predict(prime.dimshuffle(0, "x"))

        def step(y_prev, *states):
            new = self.rnn.step(self.rnn.project(y_prev.dimshuffle(0, "x")), *states)
            return [T.dot(new[0], self.Wo)[:, 0] + self.bo[0]] + new

        outs, _ = theano.scan(step, outputs_info=[pred[-1]] + states, n_steps=n,
                              name="forecast")
        forecast = theano.function([prime, n], T.concatenate([pred[-1], outs[0][:, 0]]),
                                   name="forecast")
        return train, mse, forecast


def windows(series, length, starts):
    """Inputs series[s:s+length] and targets series[s+1:s+length+1], time-major."""
    idx = np.asarray(starts)[None, :] + np.arange(length)[:, None]
    return series[idx], series[idx + 1]


def train(steps=600, n_hidden=32, seq_len=50, batch_size=32, lr=1e-2, clip=1.0,
          n_series=3000, horizon=150, seed=0, progress=True, floatX="float32"):
    with theano.config.change_flags(floatX=floatX):
        clock = common.Timer()
        series = common.floatx(make_series(n_series, seed))
        n_train = int(0.8 * n_series)
        train_part, test_part = series[:n_train], series[n_train:]
        model = Forecaster(n_hidden, seed)
        train_step, mse, forecast = model.compile(lr, clip)
        rng = np.random.default_rng(seed + 1)
        test_x, test_y = windows(test_part, seq_len, np.arange(0, len(test_part) - seq_len - 1,
                                                               seq_len))
        persistence = float(np.mean((test_x - test_y) ** 2))
        losses = []
        with common.single_threaded_blas():
            initial_test = float(mse(test_x, test_y))
            with common.progress(steps, "LSTM forecaster", progress) as bar:
                for step in range(steps):
                    starts = rng.integers(0, n_train - seq_len - 1, batch_size)
                    losses.append(float(train_step(*windows(train_part, seq_len, starts))))
                    bar.update(1)
                    if (step + 1) % 10 == 0:
                        bar.set_postfix(mse=f"{np.mean(losses[-10:]):.5f}", refresh=False)
            final_test = float(mse(test_x, test_y))
            prime_len = 100
            fc = forecast(test_part[:prime_len], horizon - 1)
        truth = test_part[prime_len:prime_len + horizon]
        return {
            "losses": losses, "initial_loss": losses[0], "final_loss": float(np.mean(losses[-20:])),
            "initial_test_mse": initial_test, "test_mse": final_test,
            "persistence_mse": persistence,
            "forecast": fc, "truth": truth, "prime": test_part[:prime_len],
            "forecast_mse": float(np.mean((fc - truth[:len(fc)]) ** 2)),
            "series_variance": float(np.var(test_part)), "seconds": clock(),
        }


def plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6))
    a1.plot(res["losses"], lw=0.8, label="training batch MSE")
    a1.axhline(res["persistence_mse"], ls="--", color="gray", label="persistence baseline")
    a1.set_yscale("log")
    a1.set_xlabel("training step")
    a1.legend(fontsize=8)
    n_p, n_f = len(res["prime"]), len(res["forecast"])
    a2.plot(np.arange(n_p), res["prime"], color="black", lw=1, label="priming window")
    a2.plot(np.arange(n_p, n_p + len(res["truth"])), res["truth"], color="gray", lw=1,
            label="truth")
    a2.plot(np.arange(n_p, n_p + n_f), res["forecast"], color="C3", lw=1.2,
            label="free-running forecast")
    a2.legend(fontsize=8)
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    ap.add_argument("--horizon", type=int, default=150, help="steps to forecast freely")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few steps (CI)")
    ap.add_argument("--plot", metavar="PNG", help="save the losses and the forecast")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    common.add_mode_argument(ap)
    args = ap.parse_args(argv)
    kw = dict(steps=args.steps, n_hidden=args.hidden, seq_len=args.seq_len,
              batch_size=args.batch_size, lr=args.lr, horizon=args.horizon, seed=args.seed,
              progress=not args.no_progress)
    if args.quick:
        kw.update(steps=40, n_hidden=16, seq_len=20, horizon=20)
    with common.use_mode(args.mode):
        res = train(**kw)
    print(f"trained {len(res['losses'])} steps; total {res['seconds']:.1f} s")
    print(f"training MSE:            {res['initial_loss']:.5f} -> {res['final_loss']:.5f}")
    print(f"held-out one-step MSE:   {res['initial_test_mse']:.5f} -> {res['test_mse']:.5f} "
          f"(persistence baseline {res['persistence_mse']:.5f}, series variance "
          f"{res['series_variance']:.4f})")
    print(f"free-running forecast MSE over {len(res['forecast'])} steps: "
          f"{res['forecast_mse']:.5f}")
    if args.plot:
        plot(res, args.plot)
        print(f"plot written to {args.plot}")
    return res


if __name__ == "__main__":
    main()
