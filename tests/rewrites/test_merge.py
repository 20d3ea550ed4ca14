"""merge (common subexpressions) and dead_code: each pass alone."""

import numpy as np

import theanine.tensor as T
from theanine.graph.rewrite import RewriteGraph, run_pipeline
from theanine.rewrites.merge import dead_code, merge
from theanine.tensor.shared_randomstreams import RandomStreams

from .helpers import check_rewrite


def test_equal_subgraphs_are_computed_once():
    x, y = T.matrix("x"), T.matrix("y")
    a = T.exp(x) * y
    b = T.exp(x) * y
    shared = T.exp(x) * y
    expected = shared + shared
    check_rewrite(merge, a + b, expected, [x, y])


def test_merge_cascades_through_outputs():
    x = T.vector("x")
    outs = [T.tanh(T.exp(x) + 1.0), T.tanh(T.exp(x) + 1.0)]
    t = T.tanh(T.exp(x) + 1.0)
    after = check_rewrite(merge, outs, [t, t], [x])
    assert after[0] is after[1]


def test_equal_constants_merge():
    x = T.vector("x")
    c1, c2 = T.constant(np.float64(2.0)), T.constant(np.float64(2.0))
    m = x * c1
    after = check_rewrite(merge, [x * c1, x * c2], [m, m], [x])
    assert after[0] is after[1]


def test_different_constants_do_not_merge():
    x = T.vector("x")
    after = check_rewrite(merge, [x * 2.0, x * -2.0], [x * 2.0, x * -2.0], [x])
    assert after[0] is not after[1]


def test_commutative_ops_merge_whatever_the_input_order():
    x, y = T.vectors("x", "y")
    s, m = x + y, T.maximum(y, x)
    check_rewrite(merge, [x + y, y + x, T.maximum(y, x), T.maximum(x, y)], [s, s, m, m], [x, y])
    after = check_rewrite(merge, [x - y, y - x], [x - y, y - x], [x, y])
    assert after[0] is not after[1]
    i = T.bvector("i")
    mixed = [T.add(i, i, x), T.add(x, i, i)]  # int8 + int8 may wrap first: order matters
    after = check_rewrite(merge, mixed, mixed, [x, i])
    assert after[0] is not after[1]


def test_different_ops_do_not_merge():
    x = T.matrix("x")
    after = check_rewrite(merge, [T.sum(x, axis=0), T.sum(x, axis=1)],
                          [T.sum(x, axis=0), T.sum(x, axis=1)], [x])
    assert after[0].owner is not after[1].owner


def test_random_draws_with_the_same_generator_merge_and_stay_equal():
    srng = RandomStreams(3)
    u = srng.uniform((3,))
    v = srng.uniform((3,))
    g = RewriteGraph([], [u, v])  # distinct generators: nothing in common
    run_pipeline(g, [merge])
    assert g.outputs[0] is not g.outputs[1]


def test_dead_code_sweeps_unreachable_nodes():
    x = T.vector("x")
    y = T.exp(x)
    g = RewriteGraph([x], [y, T.log(x)])
    # make the log node unreachable without telling the engine
    g.outputs[1] = y
    run_pipeline(g, [dead_code])
    assert len(g.nodes) == 1 and all(n.op == y.owner.op for n in g.nodes)
    assert not g.clients.get(x) or all(n in g.nodes for n, _ in g.clients[x])
