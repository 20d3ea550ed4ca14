"""A reduced version of the book's chapter 10 models (Deep Learning with Theano): a
stacked LSTM and a recurrent highway network (RHN) whose dropout is an ifelse on an
``is_training`` flag, trained with ``givens={is_training: 1}``. Shared by the test
(tests/compat/test_chapter10.py) and the benchmark (benchmarks/ifelse_bench.py)."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.ifelse import ifelse
from theanine.tensor.shared_randomstreams import RandomStreams

FLOATX = "float64"


def _param(rng, *shape):
    return theano.shared(rng.normal(scale=0.3, size=shape).astype(FLOATX))


class Dropout:
    """x * mask / keep in training, x otherwise; `use_ifelse=False` builds the training
    graph directly (the reference the ifelse version must equal)."""

    def __init__(self, is_training, seed, p=0.25, use_ifelse=True):
        self.is_training, self.srng, self.p = is_training, RandomStreams(seed), p
        self.use_ifelse = use_ifelse

    def mask(self, shape):
        return self.srng.binomial(size=shape, p=1 - self.p, dtype=FLOATX) / (1 - self.p)

    def __call__(self, x, mask=None):
        dropped = x * (self.mask(x.shape) if mask is None else mask)
        if not self.use_ifelse:
            return dropped
        return ifelse(self.is_training, dropped, x)


def lstm_layer(x, n_in, n_hid, rng, drop):
    """x: (steps, batch, n_in) -> (steps, batch, n_hid); the recurrent state gets one
    dropout mask for all steps (variational), drawn before the loop."""
    W, U, b = _param(rng, n_in, 4 * n_hid), _param(rng, n_hid, 4 * n_hid), _param(rng, 4 * n_hid)
    h0 = T.zeros((x.shape[1], n_hid), dtype=FLOATX)
    mask = drop.mask(h0.shape)

    def step(x_t, h, c):
        z = T.dot(x_t, W) + T.dot(drop(h, mask), U) + b
        i, f = T.nnet.sigmoid(z[:, :n_hid]), T.nnet.sigmoid(z[:, n_hid:2 * n_hid])
        o, g = T.nnet.sigmoid(z[:, 2 * n_hid:3 * n_hid]), T.tanh(z[:, 3 * n_hid:])
        c = f * c + i * g
        return o * T.tanh(c), c

    (h, _), _ = theano.scan(step, sequences=[x], outputs_info=[h0, h0])
    return h, [W, U, b]


def rhn_layer(x, n_in, n_hid, depth, rng, drop):
    """A recurrent highway network: `depth` highway micro-layers per step, each with an
    ifelse dropout on its state."""
    W = _param(rng, n_in, 2 * n_hid)
    Rs = [_param(rng, n_hid, 2 * n_hid) for _ in range(depth)]
    bs = [_param(rng, 2 * n_hid) for _ in range(depth)]
    s0 = T.zeros((x.shape[1], n_hid), dtype=FLOATX)

    def step(x_t, s):
        xw = T.dot(x_t, W)
        for d in range(depth):
            z = T.dot(drop(s), Rs[d]) + bs[d] + (xw if d == 0 else 0)
            hh, t = T.tanh(z[:, :n_hid]), T.nnet.sigmoid(z[:, n_hid:])
            s = hh * t + s * (1 - t)
        return s

    s, updates = theano.scan(step, sequences=[x], outputs_info=[s0])
    return s, [W] + Rs + bs, updates


def build(kind, n_layers=3, n_in=6, n_hid=8, depth=3, seed=0, use_ifelse=True):
    """(inputs, cost, params, updates, is_training) of a stacked model on x (steps,
    batch, n_in) predicting y (steps, batch, n_in)."""
    rng = np.random.default_rng(seed)
    x, y = T.tensor3("x", dtype=FLOATX), T.tensor3("y", dtype=FLOATX)
    is_training = T.iscalar("is_training")
    drop = Dropout(is_training, seed + 1, use_ifelse=use_ifelse)
    h, n, params, updates = x, n_in, [], {}
    for _ in range(n_layers):
        h = drop(h)
        if kind == "lstm":
            h, p = lstm_layer(h, n, n_hid, rng, drop)
        else:
            h, p, u = rhn_layer(h, n, n_hid, depth, rng, drop)
            updates.update(u)
        params += p
        n = n_hid
    V = _param(rng, n_hid, n_in)
    params.append(V)
    pred = T.dot(drop(h), V)
    cost = ((pred - y) ** 2).mean()
    return [x, y], cost, params, updates, is_training


def train_function(kind, mode=None, lr=0.1, **kw):
    """The compiled training step (givens={is_training: 1}) and its parameters."""
    inputs, cost, params, updates, is_training = build(kind, **kw)
    grads = T.grad(cost, params)
    updates = dict(updates)
    updates.update((p, p - lr * g) for p, g in zip(params, grads))
    givens = {is_training: np.int32(1)} if kw.get("use_ifelse", True) else None
    f = theano.function(inputs, [cost] + grads, updates=updates, givens=givens, mode=mode,
                        on_unused_input="ignore")
    return f, params
