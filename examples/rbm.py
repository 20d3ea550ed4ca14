"""A restricted Boltzmann machine trained by contrastive divergence on binarized digits.

    python examples/rbm.py                   # about half a minute
    python examples/rbm.py --k 5 --persistent
    python examples/rbm.py --quick           # a few seconds, for CI
    python examples/rbm.py --plot rbm.png    # the reconstruction error and chain samples

The Gibbs chain is a ``theano.scan`` whose body draws binomial samples from a
``RandomStreams``; scan returns the random generators' updates, and the training
step adds the parameter updates to that same dictionary before compiling it
(chapter 12 of Deep Learning with Theano). The gradient is that of the free-energy
gap between the data and the end of the chain, with the chain held constant
(``T.grad(..., consider_constant=[...])``): CD-k, or persistent CD with
``--persistent``, where the chain continues from one minibatch to the next.

The data are scikit-learn's 8x8 digits, thresholded to 0/1 pixels. Progress is
measured by the cross-entropy of the mean-field reconstructions of held-out digits.
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
from theanine.tensor.shared_randomstreams import RandomStreams  # noqa: E402


def load_binary_digits(seed=0, test_fraction=0.2):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = common.floatx(digits.data / 16.0 > 0.35)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    return x[order[n_test:]], x[order[:n_test]]


class RBM:
    """Binary visible and hidden units; energy E(v, h) = -v W h - b v - c h."""

    def __init__(self, n_visible, n_hidden, seed=0):
        rng = np.random.default_rng(seed)
        self.W = theano.shared(common.floatx(0.01 * rng.standard_normal((n_visible, n_hidden))),
                               name="W")
        self.vbias = common.zeros((n_visible,), "vbias")
        self.hbias = common.zeros((n_hidden,), "hbias")
        self.params = [self.W, self.vbias, self.hbias]
        self.srng = RandomStreams(seed=seed + 1)

    def free_energy(self, v):
        """F(v) = -b v - sum_j softplus(c_j + v W_j): log p(v) = -F(v) - log Z."""
        return -T.dot(v, self.vbias) - T.sum(T.nnet.softplus(T.dot(v, self.W) + self.hbias),
                                              axis=1)

    def hidden_given(self, v):
        return T.nnet.sigmoid(T.dot(v, self.W) + self.hbias)

    def visible_given(self, h):
        return T.nnet.sigmoid(T.dot(h, self.W.T) + self.vbias)

    def gibbs_step(self, v):
        """v -> h -> v', sampling both layers; returns (p(v' = 1), v')."""
        p_h = self.hidden_given(v)
        h = self.srng.binomial(size=p_h.shape, n=1, p=p_h, dtype=theano.config.floatX)
        p_v = self.visible_given(h)
        v_next = self.srng.binomial(size=p_v.shape, n=1, p=p_v, dtype=theano.config.floatX)
        return p_v, v_next

    def chain(self, v_start, n_steps):
        """n_steps of Gibbs sampling in a scan; returns (p(v = 1) trace, v trace, updates)."""
        (p_v, v), updates = theano.scan(self.gibbs_step, outputs_info=[None, v_start],
                                        n_steps=n_steps, name="gibbs")
        return p_v, v, updates

    def reconstruction_cost(self, v):
        """Mean cross-entropy between v and its mean-field reconstruction (per pixel)."""
        p = self.visible_given(self.hidden_given(v))
        return T.mean(T.nnet.binary_crossentropy(T.clip(p, 1e-6, 1 - 1e-6), v))

    def compile_train(self, lr, k, batch_size, persistent):
        v = T.matrix("v")
        if persistent:
            # the chain lives in a shared variable and continues across minibatches
            self.chain_state = common.zeros((batch_size, self.W.get_value().shape[0]), "chain")
            start = self.chain_state
        else:
            start = v
        _, v_trace, updates = self.chain(start, k)
        v_model = v_trace[-1]
        cost = T.mean(self.free_energy(v)) - T.mean(self.free_energy(v_model))
        grads = T.grad(cost, self.params, consider_constant=[v_model])
        # scan's updates hold the random generators' new states; add ours to them
        for p, g in zip(self.params, grads):
            updates[p] = p - lr * g
        if persistent:
            updates[self.chain_state] = v_model
        return theano.function([v], self.reconstruction_cost(v), updates=updates,
                               name="cd_step")

    def compile_sampler(self, n_steps, every):
        """sample(start) -> the chain's p(v = 1) every `every` steps: (n_steps//every, n, 64)."""
        start = T.matrix("start")
        p_v, _, updates = self.chain(start, n_steps)
        return theano.function([start], p_v[every - 1::every], updates=updates, name="sample")


def train(steps=1500, n_hidden=100, lr=0.05, k=1, persistent=False, batch_size=20,
          seed=0, progress=True, chain_steps=500, floatX="float32"):
    with theano.config.change_flags(floatX=floatX):
        clock = common.Timer()
        x_tr, x_te = load_binary_digits(seed)
        rbm = RBM(x_tr.shape[1], n_hidden, seed)
        cd_step = rbm.compile_train(lr, k, batch_size, persistent)
        test_cost = theano.function([], rbm.reconstruction_cost(theano.shared(x_te)),
                                    name="test_cost")
        every = max(chain_steps // 5, 1)
        sampler = rbm.compile_sampler(chain_steps, every)
        rng = np.random.default_rng(seed + 1)
        costs = []
        with common.single_threaded_blas():
            initial_test = float(test_cost())
            with common.progress(steps, f"RBM CD-{k}", progress) as bar:
                for step in range(steps):
                    idx = rng.integers(0, len(x_tr), batch_size)
                    costs.append(float(cd_step(x_tr[idx])))
                    bar.update(1)
                    if (step + 1) % 20 == 0:
                        bar.set_postfix(recon=f"{np.mean(costs[-20:]):.4f}", refresh=False)
            final_test = float(test_cost())
            samples = sampler(x_te[:10])
        return {
            "costs": costs, "initial_cost": costs[0], "final_cost": float(np.mean(costs[-20:])),
            "initial_test_cost": initial_test, "test_cost": final_test,
            "samples": samples, "starts": x_te[:10], "seconds": clock(),
            "sample_every": every,
        }


def plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [res["starts"]] + list(res["samples"])
    fig = plt.figure(figsize=(8, 7))
    ax = fig.add_axes([0.1, 0.62, 0.85, 0.33])
    ax.plot(res["costs"], lw=0.6, label="minibatch")
    ax.plot(common.smooth(res["costs"], 50), lw=1.2, label="running mean")
    ax.set_xlabel("training step")
    ax.set_ylabel("reconstruction cross-entropy")
    ax.legend(fontsize=8)
    tile = lambda im: np.pad(im.reshape(8, 8), 1)  # a blank border between digits
    grid = np.concatenate([np.concatenate([tile(im) for im in row], axis=1) for row in rows])
    ax2 = fig.add_axes([0.1, 0.03, 0.85, 0.5])
    ax2.imshow(grid, cmap="gray_r", interpolation="nearest")
    ax2.set_title(f"held-out digits (top row), then the Gibbs chain every "
                  f"{res['sample_every']} steps", fontsize=9)
    ax2.axis("off")
    common.save_figure(fig, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--k", type=int, default=1, help="Gibbs steps per update (CD-k)")
    ap.add_argument("--persistent", action="store_true", help="persistent CD")
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few steps (CI)")
    ap.add_argument("--plot", metavar="PNG", help="save the costs and chain samples")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    common.add_mode_argument(ap)
    args = ap.parse_args(argv)
    kw = dict(steps=args.steps, n_hidden=args.hidden, lr=args.lr, k=args.k,
              persistent=args.persistent, batch_size=args.batch_size, seed=args.seed,
              progress=not args.no_progress)
    if args.quick:
        kw.update(steps=60, n_hidden=32, chain_steps=20)
    with common.use_mode(args.mode):
        res = train(**kw)
    print(f"trained {len(res['costs'])} steps; total {res['seconds']:.1f} s")
    print(f"training reconstruction cross-entropy: {res['initial_cost']:.4f} -> "
          f"{res['final_cost']:.4f}")
    print(f"held-out reconstruction cross-entropy: {res['initial_test_cost']:.4f} -> "
          f"{res['test_cost']:.4f}")
    if args.plot:
        plot(res, args.plot)
        print(f"plot written to {args.plot}")
    return res


if __name__ == "__main__":
    main()
