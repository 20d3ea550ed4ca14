"""Scan compiled as a native loop agrees with py: taps, until, symbolic and zero
n_steps, nested scans, gradients (reverse scans), float32 recurrences."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import assert_same, backend_mode

R = np.random.default_rng(11)


def test_scalar_recurrence(run_both):
    x, c = T.vector("x"), T.scalar("c")
    h, _ = theano.scan(lambda a, h, c: c * h + a, sequences=x, outputs_info=T.constant(0.0),
                       non_sequences=c)
    run_both([x, c], [h, h[-1]], [R.normal(size=50), np.float64(0.9)])


def test_taps_and_per_step_outputs(run_both):
    x = T.vector("x")
    init = T.vector("init")

    def step(xm1, x0, xp1, h2, h1):
        new = 0.5 * h1 - 0.25 * h2 + xm1 * x0 + xp1
        return new, new * 2

    (h, y), _ = theano.scan(step, sequences=dict(input=x, taps=[-1, 0, 1]),
                            outputs_info=[dict(initial=init, taps=[-2, -1]), None])
    run_both([x, init], [h, y], [R.normal(size=12), R.normal(size=2)])


def test_until_and_symbolic_n_steps(run_both):
    n = T.lscalar("n")
    lim = T.scalar("lim")
    v, _ = theano.scan(lambda h, lim: (h * 2, theano.scan_module.until(h * 2 > lim)),
                       outputs_info=T.constant(1.0), non_sequences=lim, n_steps=n)
    run_both([n, lim], [v], [np.int64(20), np.float64(100.0)])
    run_both([n, lim], [v], [np.int64(3), np.float64(100.0)])


def test_zero_steps(run_both):
    n = T.lscalar("n")
    x0 = T.vector("x0")
    (h, y), _ = theano.scan(lambda h: (h + 1, (h * 2).sum()), outputs_info=[x0, None],
                            n_steps=n)
    ref, got = run_both([n, x0], [h, y], [np.int64(0), np.ones(3)])
    assert got[0].shape == (0, 3) and got[1].shape == (0,)


def test_nested_scan(run_both):
    X = T.matrix("X")

    def outer(row, acc):
        inner, _ = theano.scan(lambda v, a: a + v * v, sequences=row,
                               outputs_info=T.constant(0.0))
        return acc + inner[-1]

    h, _ = theano.scan(outer, sequences=X, outputs_info=T.constant(0.0))
    run_both([X], [h], [R.normal(size=(4, 5))])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rnn_forward_and_bptt(run_both, dtype):
    X = T.tensor3("X", dtype=dtype)
    W, U = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    h0 = T.matrix("h0", dtype=dtype)
    hs, _ = theano.scan(lambda xt, h, W, U, b: T.tanh(T.dot(xt, W) + T.dot(h, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b])
    cost = (hs[-1] ** 2).sum()
    grads = theano.grad(cost, [W, U, b, h0])
    args = [R.normal(size=(6, 3, 4)), R.normal(size=(4, 5)) * 0.4,
            R.normal(size=(5, 5)) * 0.4, R.normal(size=5), np.zeros((3, 5))]
    run_both([X, W, U, b, h0], [cost] + grads, [a.astype(dtype) for a in args])


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_second_order_gradient_of_scan(run_both):
    x = T.vector("x")
    w = T.scalar("w")
    h, _ = theano.scan(lambda a, h, w: T.tanh(w * h + a), sequences=x,
                       outputs_info=T.constant(0.1), non_sequences=w)
    g = theano.grad(h[-1], w)
    gg = theano.grad(g, w)
    run_both([x, w], [g, gg], [R.normal(size=5), np.float64(0.7)])


def test_scan_with_shared_updates_matches_py(backend):
    acc = theano.shared(np.float64(0.0), name="acc")
    x = T.vector("x")
    h, upd = theano.scan(lambda a, s: s + a, sequences=x, outputs_info=acc)
    outs = []
    for be in ("py", backend):
        acc.set_value(np.float64(1.0))
        f = theano.function([x], h, updates=[(acc, h[-1])], mode=backend_mode(be))
        f(np.arange(3.0))
        outs.append((f(np.arange(3.0)), acc.get_value()))
    assert_same(list(outs[0]), list(outs[1]))


def test_short_sequence_raises(backend):
    x, n = T.vector("x"), T.lscalar("n")
    h, _ = theano.scan(lambda a, h: h + a, sequences=x, outputs_info=T.constant(0.0),
                       n_steps=n)
    f = theano.function([x, n], h, mode=backend_mode(backend))
    with pytest.raises(ValueError):
        f(np.ones(3), 5)
