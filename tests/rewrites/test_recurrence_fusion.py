"""fuse_recurrence alone, before-graph -> expected-graph (values unchanged): producers
of the operands, consumers of the trace and of the states before each step, the states
with h0 joined, wrappers of cut sequences; and what it must leave alone."""

import numpy as np

import theanine.tensor as T
from tests.rewrites.helpers import check_rewrite, check_unchanged
from theanine.rewrites.recurrence_fusion import fuse_recurrence
from theanine.scan.fused_recurrence import FusedRecurrence
from theanine.scan.utils import CheckSteps
from theanine.tensor import scalar_ops as so
from theanine.tensor.recurrence import LinearRecurrence

F = "float64"


def gated():
    k, v, h0 = T.dmatrix("k"), T.dmatrix("v"), T.dvector("h0")
    n = k.shape[0]
    a, b = T.nnet.sigmoid(k), v * 2.0
    tr, fin = LinearRecurrence("affine")(n, h0, a, b)
    return k, v, h0, n, a, b, tr, fin


def values(n=7):
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, 3)), rng.normal(size=(n, 3)), rng.normal(size=3)]


def test_producers_of_the_operands():
    k, v, h0, n, a, b, tr, fin = gated()
    two = b.owner.inputs[1]
    # B's node first (the last operand is examined first), then A's
    op = FusedRecurrence("affine", 3, [(so.Mul(), (0, 1), F), (so.Sigmoid(), (2,), F)],
                         (6, 5), (), store=True)
    expected = op(n, h0, v, two, k)
    check_rewrite(fuse_recurrence, [tr, fin], expected, [k, v, h0], values=values())


def test_consumers_of_the_trace_and_of_the_states_before_each_step():
    k, v, h0, n, a, b, tr, fin = gated()
    two = b.owner.inputs[1]
    prev = T.concatenate([h0[None], tr])[:-1]
    y = tr * v + prev  # read outside, so an output; the trace is not stored
    # values: 0 v, 1 two, 2 k, 3 hp, 4 hn; y's steps first (it was found first)
    program = [(so.Mul(), (4, 0), F), (so.Add(), (5, 3), F),
               (so.Mul(), (0, 1), F), (so.Sigmoid(), (2,), F)]
    op = FusedRecurrence("affine", 3, program, (8, 7), (6,), store=False)
    fin2, y2 = op(n, h0, v, two, k)
    check_rewrite(fuse_recurrence, [y, fin], [y2, fin2], [k, v, h0], values=values())


def test_states_with_h0_joined_are_stored_with_an_initial_row():
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    n = x.shape[0]
    tr, fin = LinearRecurrence("affine")(n, h0, T.exp(x), x)
    both = T.concatenate([T.shape_padleft(h0), tr])
    op = FusedRecurrence("affine", 1, [(so.Exp(), (0,), F)], (3, 0), (), store=True,
                         init_row=True)
    states, fin2 = op(n, h0, x)
    check_rewrite(fuse_recurrence, [both * 2, fin], [states * 2, fin2], [x, h0],
                  values=values()[1:])


def test_backwards_states_joined_after_the_trace():
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    n = x.shape[0]
    tr, fin = LinearRecurrence("add", reverse=True)(n, h0, x)
    both = T.concatenate([tr, T.shape_padleft(h0)])
    y = both[1:] * x  # the states before each step, backwards
    program = [(so.Mul(), (1, 0), F)]  # values: 0 x, 1 hp, 2 hn
    op = FusedRecurrence("add", 1, program, (0,), (3,), reverse=True, store=False)
    fin2, y2 = op(n, h0, x)
    check_rewrite(fuse_recurrence, [y, fin], [y2, fin2], [x, h0], values=values()[1:])


def test_operands_cut_to_n_steps_are_read_cut():
    """A Composite behind Subtensor{:n}(CheckSteps(., n)) (as the scan rules leave a
    sequence): its inputs are cut the same way."""
    x, h0, n = T.dmatrix("x"), T.dvector("h0"), T.lscalar("n")
    e = T.exp(x)
    cut = CheckSteps()(e, n)[:n]
    tr, fin = LinearRecurrence("add")(n, h0, cut)
    op = FusedRecurrence("add", 1, [(so.Exp(), (0,), F)], (3,), (), store=True)
    expected = op(n, h0, CheckSteps()(x, n)[:n])
    rng = np.random.default_rng(1)
    check_rewrite(fuse_recurrence, [tr, fin], expected, [x, h0, n],
                  values=[rng.normal(size=(9, 3)), rng.normal(size=3), np.int64(6)])


def test_left_alone():
    k, v, h0, n, a, b, tr, fin = gated()
    # operands other nodes read (here: returned) are computed once, outside
    check_unchanged(fuse_recurrence, [tr, a, b], [k, v, h0])
    # nothing to take in: a plain recurrence stays
    x = T.dmatrix("x")
    tr2, _ = LinearRecurrence("affine")(x.shape[0], h0, x, x)
    check_unchanged(fuse_recurrence, tr2, [x, h0])
    # a consumer that also reads the recurrence's final state must stay after it
    fin2 = tr2.owner.outputs[1]
    check_unchanged(fuse_recurrence, [tr2 * fin2, tr2], [x, h0])
    # modes other than affine, add, mul
    tr3, _ = LinearRecurrence("max")(x.shape[0], h0, T.exp(x))
    check_unchanged(fuse_recurrence, tr3, [x, h0])
