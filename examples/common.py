"""Helpers shared by the examples: parameters, recurrent cells, optimizers, progress, plots.

Everything here is ordinary Theano-style code (shared variables, symbolic expressions,
update lists), kept in one place so that each example reads as its model and its
training loop. The examples import it as ``common`` from their own folder.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np

import theanine as theano
import theanine.tensor as T


def floatx(a):
    return np.asarray(a, dtype=theano.config.floatX)


# --------------------------------------------------------------------------- parameters

def glorot(rng, shape, name):
    """A shared weight matrix, Glorot-uniform."""
    bound = np.sqrt(6.0 / (shape[0] + shape[-1]))
    return theano.shared(floatx(rng.uniform(-bound, bound, size=shape)), name=name)


def orthogonal(rng, n, n_blocks, name):
    """A shared (n, n_blocks * n) matrix of side-by-side orthogonal blocks (recurrent weights)."""
    blocks = [np.linalg.qr(rng.standard_normal((n, n)))[0] for _ in range(n_blocks)]
    return theano.shared(floatx(np.concatenate(blocks, axis=1)), name=name)


def zeros(shape, name, value=0.0):
    return theano.shared(floatx(np.full(shape, value)), name=name)


# --------------------------------------------------------------------------- recurrent cells

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


class Recurrent:
    """One recurrent layer (tanh RNN, GRU or LSTM) run by ``theano.scan``.

    The input projection ``x W + b`` is computed for every step at once, outside the loop
    (``project``), so the loop body holds one matrix product per step (two for the GRU).
    The LSTM carries (h, c); the others carry h alone. Gate blocks are side by side in W
    and U: LSTM [input, forget, output | candidate], GRU [update, reset | candidate].
    """

    def __init__(self, cell, n_in, n_hidden, rng, name="rnn"):
        if cell not in GATES:
            raise ValueError(f"cell must be one of {sorted(GATES)}, got {cell!r}")
        self.cell, self.n_hidden = cell, n_hidden
        g = GATES[cell]
        self.W = glorot(rng, (n_in, g * n_hidden), f"{name}_W")
        self.U = orthogonal(rng, n_hidden, g, f"{name}_U")
        bias = np.zeros(g * n_hidden)
        if cell == "lstm":
            bias[n_hidden:2 * n_hidden] = 1.0  # forget gate starts open
        self.b = theano.shared(floatx(bias), name=f"{name}_b")
        self.params = [self.W, self.U, self.b]

    @property
    def n_states(self):
        return 2 if self.cell == "lstm" else 1

    def project(self, x):
        """x: integer ids (a lookup of rows of W) or features (a dot); returns x W + b."""
        if x.dtype.startswith("int") or x.dtype.startswith("uint"):
            return self.W[x] + self.b
        return T.dot(x, self.W) + self.b

    def step(self, xp, *states):
        """One step from the projected input xp (batch, gates*H); returns the new states."""
        H, U = self.n_hidden, self.U
        h = states[0]
        if self.cell == "rnn":
            return [T.tanh(xp + T.dot(h, U))]
        if self.cell == "lstm":
            z = xp + T.dot(h, U)
            ifo = T.nnet.sigmoid(z[:, :3 * H])
            c = ifo[:, H:2 * H] * states[1] + ifo[:, :H] * T.tanh(z[:, 3 * H:])
            return [ifo[:, 2 * H:] * T.tanh(c), c]
        zr = T.nnet.sigmoid(xp[:, :2 * H] + T.dot(h, U[:, :2 * H]))
        u, r = zr[:, :H], zr[:, H:]
        n = T.tanh(xp[:, 2 * H:] + T.dot(r * h, U[:, 2 * H:]))
        return [u * h + (1.0 - u) * n]

    def initial_states(self, batch_size):
        return [T.zeros((batch_size, self.n_hidden), dtype=theano.config.floatX)
                for _ in range(self.n_states)]

    def __call__(self, x, states=None, go_backwards=False, truncate_gradient=-1, mask=None):
        """Run over x (time, batch, ...). Returns (hidden states (time, batch, H), final states).

        With mask (time, batch) of 0/1, a step where the mask is 0 keeps the previous
        states (padding at the end of shorter sequences)."""
        xp = self.project(x)
        if states is None:
            states = self.initial_states(x.shape[1])
        n = self.n_states

        if mask is None:
            def fn(xp_t, *prev):
                out = self.step(xp_t, *prev)
                return out if n > 1 else out[0]

            seqs = [xp]
        else:
            def fn(xp_t, m_t, *prev):
                new = self.step(xp_t, *prev)
                m = m_t.dimshuffle(0, "x")
                out = [m * s + (1.0 - m) * p for s, p in zip(new, prev)]
                return out if n > 1 else out[0]

            seqs = [xp, mask]
        result, _ = theano.scan(fn, sequences=seqs, outputs_info=list(states),
                                go_backwards=go_backwards, truncate_gradient=truncate_gradient,
                                name=f"{self.cell}_scan")
        result = result if n > 1 else [result]
        return result[0], [r[-1] for r in result]


# --------------------------------------------------------------------------- optimizers

def clip_by_global_norm(grads, max_norm):
    """Scale all gradients together so that their joint L2 norm is at most max_norm."""
    norm = T.sqrt(sum(T.sum(g ** 2) for g in grads))
    scale = T.minimum(1.0, max_norm / (norm + 1e-8))
    return [g * scale for g in grads], norm


def adam(params, grads, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (Kingma and Ba, 2015) as an update list for theano.function(updates=...)."""
    t = theano.shared(floatx(0.0), name="adam_t")
    t1 = t + 1.0
    step = lr * T.sqrt(1.0 - beta2 ** t1) / (1.0 - beta1 ** t1)
    updates = [(t, t1)]
    for p, g in zip(params, grads):
        m = theano.shared(np.zeros_like(p.get_value()), name=f"m_{p.name}")
        v = theano.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
        m1 = beta1 * m + (1.0 - beta1) * g
        v1 = beta2 * v + (1.0 - beta2) * g * g
        updates += [(m, m1), (v, v1), (p, p - step * m1 / (T.sqrt(v1) + eps))]
    return updates


def rmsprop(params, grads, lr=1e-3, rho=0.9, eps=1e-6):
    """RMSProp (Tieleman and Hinton, 2012) as an update list."""
    updates = []
    for p, g in zip(params, grads):
        acc = theano.shared(np.zeros_like(p.get_value()), name=f"ms_{p.name}")
        acc1 = rho * acc + (1.0 - rho) * g * g
        updates += [(acc, acc1), (p, p - lr * g / (T.sqrt(acc1) + eps))]
    return updates


# --------------------------------------------------------------------------- running

MODE_HELP = ("compilation mode: FAST_RUN (the default backend, numba), NUMBA, JAX (needs "
             "pip install theanine[jax]), PY; THEANINE_BACKEND=jax or THEANO_FLAGS=mode=JAX "
             "in the environment do the same")


def add_mode_argument(ap):
    """The examples' --mode option (see ``use_mode``)."""
    ap.add_argument("--mode", default=None, help=MODE_HELP)


@contextlib.contextmanager
def use_mode(mode):
    """Compile every function made in the block with `mode` (a mode name such as 'JAX';
    None: config.mode, which the environment may set)."""
    if mode is None:
        yield
        return
    with theano.config.change_flags(mode=mode):
        yield


@contextlib.contextmanager
def single_threaded_blas():
    """Run NumPy's BLAS on one thread.

    The examples multiply small matrices thousands of times; on a small shared machine
    a multi-threaded BLAS spends longer synchronising its threads than multiplying
    (measured here: 5 to 10 times slower per training step on 2 busy cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl ships with scikit-learn; without it, run as is
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def progress(total, desc, enabled=True):
    """A tqdm bar counting training steps (shows steps/s); a no-op bar when disabled."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stdout,
                dynamic_ncols=True, leave=True)


def say(bar, text):
    """Print a line without breaking the progress bar."""
    if bar.disable:
        print(text)
    else:
        bar.write(text)


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self):
        return time.perf_counter() - self.t0


def smooth(values, k=20):
    """A running mean over the last k values (as long as values)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - k, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_curves(path, curves, ylabel, title=None, hlines=None, logy=False):
    """Write a PNG: curves is {label: (steps, values)}, hlines {label: y} (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, (xs, ys) in curves.items():
        ax.plot(xs, ys, label=label, lw=1.2)
    for label, y in (hlines or {}).items():
        ax.axhline(y, ls="--", lw=1.0, color="gray")
        ax.annotate(label, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(-4, 4),
                    textcoords="offset points", ha="right", fontsize=8, color="dimgray")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def save_figure(fig, path):
    """Save a matplotlib figure as PNG, creating the folder; then close it."""
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
