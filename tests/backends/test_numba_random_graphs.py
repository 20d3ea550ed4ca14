"""Hypothesis-generated graphs (elementwise chains, reductions, indexing, scans
with taps): values and gradients are the same on py and numba."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA, assert_same, backend_mode
from theanine.backends.numba import linker

hyp = pytest.importorskip("hypothesis")
st = hyp.strategies

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")]

UNARY = [T.tanh, T.exp, lambda v: T.log(T.abs_(v) + 1), T.nnet.sigmoid, lambda v: v * v,
         T.sin, lambda v: -v]
BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
          lambda a, b: a / (T.abs_(b) + 1), T.maximum]
REDUCE = [lambda v: v.sum(), lambda v: v.max(axis=0).sum(), lambda v: v.mean(axis=1).sum(),
          lambda v: v[1:, ::2].sum(), lambda v: v[0].sum() + v[:, -1].prod()]


def _both(inputs, outputs, args):
    ref = theano.function(inputs, outputs, mode=backend_mode("py"))(*args)
    with linker.policy("strict", "all"):
        got = theano.function(inputs, outputs, mode=backend_mode("numba"))(*args)
    assert_same(ref, got, rtol=1e-7)


@hyp.settings(max_examples=6, deadline=None)
@hyp.given(ops=st.lists(st.tuples(st.integers(0, len(UNARY) - 1),
                                  st.integers(0, len(BINARY) - 1)), min_size=1, max_size=4),
           red=st.integers(0, len(REDUCE) - 1), seed=st.integers(0, 2 ** 16))
def test_elementwise_chain_reduction_and_grad(ops, red, seed):
    x, y = T.matrix("x"), T.matrix("y")
    z = x
    for u, b in ops:
        z = BINARY[b](UNARY[u](z), y)
    cost = REDUCE[red](z)
    gx, gy = theano.grad(cost, [x, y])
    rng = np.random.default_rng(seed)
    _both([x, y], [z, cost, gx, gy], [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))])


@hyp.settings(max_examples=5, deadline=None)
@hyp.given(seq_taps=st.sampled_from([[0], [-1, 0], [-2, 1], [0, 2]]),
           out_taps=st.sampled_from([[-1], [-2, -1], [-3, -1]]),
           u=st.integers(0, len(UNARY) - 1), seed=st.integers(0, 2 ** 16))
def test_scan_with_taps_values_and_grad(seq_taps, out_taps, u, seed):
    x = T.vector("x")
    w = T.scalar("w")
    m = -min(out_taps)
    init = T.vector("init")

    def step(*args):
        seq, outs, w_ = args[:len(seq_taps)], args[len(seq_taps):-1], args[-1]
        acc = sum(outs) * w_
        return UNARY[u](acc * 0.5 + sum(seq))

    h, _ = theano.scan(step, sequences=dict(input=x, taps=seq_taps),
                       outputs_info=dict(initial=init, taps=out_taps), non_sequences=w)
    cost = (h ** 2).sum()
    gx, gw, gi = theano.grad(cost, [x, w, init])
    rng = np.random.default_rng(seed)
    _both([x, w, init], [h, cost, gx, gw, gi],
          [rng.normal(size=8) * 0.5, np.float64(0.7), rng.normal(size=m) * 0.5])
