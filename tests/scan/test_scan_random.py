"""Random streams inside scan: default updates collected, new draws every call,
reproducible for a seed, and gradients that reuse the forward pass's draws."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.sandbox.rng_mrg import MRG_RandomStreams
from theanine.tensor.shared_randomstreams import RandomStreams


def _noisy_walk(srng, n=4):
    r, upd = theano.scan(lambda h: h + srng.uniform(size=(2,)),
                         outputs_info=T.constant(np.zeros(2)), n_steps=n)
    return r, upd


def test_random_stream_updates_are_returned_and_advance():
    srng = RandomStreams(seed=42)
    r, upd = _noisy_walk(srng)
    assert len(upd) == 1
    f = theano.function([], r, updates=upd)
    a, b = f(), f()
    assert a.shape == (4, 2)
    assert not np.allclose(a, b)
    steps = np.diff(np.vstack([np.zeros(2), a]), axis=0)
    assert np.all((steps >= 0) & (steps < 1))
    assert len({tuple(s) for s in steps}) == 4  # a new draw at every step


def test_reproducible_for_a_seed():
    outs = []
    for _ in range(2):
        srng = MRG_RandomStreams(seed=7)
        r, upd = _noisy_walk(srng)
        f = theano.function([], r, updates=upd)
        outs.append((f(), f()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


def test_without_updates_the_draws_repeat():
    srng = RandomStreams(seed=3)
    r, upd = _noisy_walk(srng)
    f = theano.function([], r, no_default_updates=True)
    np.testing.assert_array_equal(f(), f())


def test_gradient_uses_the_same_draws_as_the_forward_pass():
    srng = RandomStreams(seed=5)
    w = T.dscalar("w")
    x = T.dvector("x")

    def step(e, h):
        mask = srng.binomial(size=(), p=0.5, dtype="float64")
        return T.tanh(h * w + e) * mask + h * (1 - mask)

    r, upd = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
    f = theano.function([x, w], [r, T.grad(T.sum(r), w)], no_default_updates=True)
    fr = theano.function([x, w], T.sum(r), no_default_updates=True)
    xv = np.linspace(-1, 1, 6)
    _, g = f(xv, 0.7)
    eps = 1e-6
    num = (fr(xv, 0.7 + eps) - fr(xv, 0.7 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6)
