"""inc_zeros_to_join: sums of increments of zeros tiling one axis become a join."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.rewrites.join_increments import inc_zeros_to_join
from theanine.tensor.join import Join

from .helpers import check_rewrite, check_unchanged, rewritten


def _gates(z, H):
    return [z[:, 0:H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]]


def test_increments_of_zeros_tiling_an_axis_become_a_join():
    z = T.matrix("z")
    gs = T.matrices("g0", "g1", "g2", "g3")
    zeros = T.zeros_like(z)
    terms = [T.inc_subtensor(zeros[:, a:b], g)
             for (a, b), g in zip([(0, 2), (2, 4), (4, 6), (6, None)], gs)]
    out = terms[2] + terms[0] + terms[3] + terms[1]  # any order
    vals = [np.ones((3, 8))] + [np.random.default_rng(k).normal(size=(3, 2)) for k in range(4)]
    check_rewrite(inc_zeros_to_join, out, Join(1)(*gs), [z, *gs], values=vals)


def test_other_terms_of_the_sum_are_kept():
    x = T.matrix("x")
    a, b, c = T.matrices("a", "b", "c")
    zeros = T.zeros_like(x)
    out = T.inc_subtensor(zeros[1:], b) + c + T.inc_subtensor(zeros[0:1], a)
    vals = [np.ones((3, 2)), np.ones((1, 2)), np.full((2, 2), 2.0), np.full((3, 2), 5.0)]
    check_rewrite(inc_zeros_to_join, out, Join(0)(a, b) + c, [x, a, b, c], values=vals)


def test_not_a_tiling_is_unchanged():
    z = T.matrix("z")
    g0, g1 = T.matrices("g0", "g1")
    zeros = T.zeros_like(z)
    for s0, s1 in [((0, 2), (3, None)),      # a gap
                   ((1, 2), (2, None)),      # does not start at 0
                   ((0, 2), (2, 4))]:        # does not reach the end
        out = T.inc_subtensor(zeros[:, s0[0]:s0[1]], g0) + T.inc_subtensor(
            zeros[:, s1[0]:s1[1]], g1)
        check_unchanged(inc_zeros_to_join, out, [z, g0, g1])
    ones = T.ones_like(z)  # not zeros
    out = T.inc_subtensor(ones[:, :2], g0) + T.inc_subtensor(ones[:, 2:], g1)
    check_unchanged(inc_zeros_to_join, out, [z, g0, g1])
    other = T.zeros_like(g0)  # two different zero arrays
    out = T.inc_subtensor(zeros[:, :2], g0) + T.inc_subtensor(other[:, 2:], g1)
    check_unchanged(inc_zeros_to_join, out, [z, g0, g1])
    out = T.set_subtensor(zeros[:, :2], g0) + T.inc_subtensor(zeros[:, 2:], g1)
    check_unchanged(inc_zeros_to_join, out, [z, g0, g1])
    r = T.row("r")  # a broadcast value
    out = T.inc_subtensor(zeros[:, :2], r) + T.inc_subtensor(zeros[:, 2:], g1)
    check_unchanged(inc_zeros_to_join, out, [z, r, g1])


def test_lstm_gate_gradient_is_a_join_in_fast_run():
    H = 3
    x, W = T.matrix("x"), T.matrix("W")
    z = T.dot(x, W)
    i, f, o, g = _gates(z, H)
    cost = (T.nnet.sigmoid(i) * T.tanh(g) + T.nnet.sigmoid(f) * T.nnet.sigmoid(o)).sum()
    gW = theano.grad(cost, W)
    fn = theano.function([x, W], gW, mode="FAST_RUN")
    ops = [type(n.op).__name__ for n in fn.maker.fgraph.toposort()]
    assert "Join" in ops and "IncSubtensor" not in ops
    rng = np.random.default_rng(0)
    xv, Wv = rng.normal(size=(2, 4)), rng.normal(size=(4, 4 * H))
    ref = theano.function([x, W], gW, mode=theano.Mode("py", "fast_compile"))(xv, Wv)
    np.testing.assert_allclose(fn(xv, Wv), ref, rtol=1e-12)
    after = rewritten([gW], inc_zeros_to_join, [x, W])
    assert after[0].type == gW.type
