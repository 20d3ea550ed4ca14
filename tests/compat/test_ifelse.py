"""ifelse as Theano's: branch values are ordinary inputs, so chains of ifelse build,
differentiate and compile in size linear in their length; only the branch taken runs
(its exclusive nodes, on py and numba); an ifelse with a constant condition (givens=
{is_training: 1}) is folded away."""

import pickle

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.rewrites.helpers import check_rewrite, check_unchanged
from theanine.compile.ops import as_op
from theanine.graph.inner_graph import InnerGraphOp
from theanine.graph.traversal import toposort
from theanine.ifelse import IfElse, LazyIfElse, ifelse, lazy_ifelse
from theanine.rewrites.ifelse import ifelse_constant_condition, ifelse_same_branches
from theanine.tensor.shared_randomstreams import RandomStreams

LEVELS = (10, 12, 14, 20)


def counter():
    """(op, calls): an identity as_op that records each run."""
    calls = []

    @as_op(itypes=[T.dscalar], otypes=[T.dscalar])
    def count(v):
        calls.append(float(v))
        return v.copy()

    return count, calls


def chain(n, c, x):
    s = x
    for _ in range(n):
        s = T.tanh(ifelse(c, s * 2.0, s)) + s
    return s


def chain_ref(n, c, x):
    """(value, d value / d x) in NumPy, forward mode."""
    s, ds = x, 1.0
    for _ in range(n):
        a, da = (2 * s, 2 * ds) if c else (s, ds)
        s, ds = np.tanh(a) + s, (1 - np.tanh(a) ** 2) * da + ds
    return s, ds


def _size(outputs, stop=()):
    """Nodes of the graph computing `outputs`, those inside every inner graph (ifelse
    branches, loop bodies: any op holding ``inner_outputs``) included, so a branch
    holding a private copy of what is upstream counts that copy."""
    total = 0
    for node in toposort(outputs, stop_at=list(stop)):
        total += 1
        inner = getattr(node.op, "inner_outputs", None)
        if inner:
            total += _size(inner, node.op.inner_inputs)
    return total


def _compiled_size(f):
    """Nodes of the compiled graph, those inside LazyIfElse branches included."""
    return _size(f.maker.fgraph.outputs, f.maker.fgraph.inputs)


def _linear(sizes):
    """sizes at LEVELS lie on one line (same increment per level)."""
    steps = [(b - a) / (m - n) for (n, a), (m, b) in zip(zip(LEVELS, sizes),
                                                          zip(LEVELS[1:], sizes[1:]))]
    return len(set(steps)) == 1, steps


def test_chains_build_and_compile_in_linear_size(mode):
    c, x = T.iscalar("c"), T.dscalar("x")
    graph, grads, compiled = [], [], []
    for n in LEVELS:
        s = chain(n, c, x)
        g = T.grad(s, x)
        graph.append(_size([s]))
        grads.append(_size([s, g]))
        compiled.append(_compiled_size(theano.function([c, x], [s, g], mode=mode)))
    for sizes in (graph, grads):
        ok, steps = _linear(sizes)
        assert ok, (sizes, steps)
    assert all(b <= 12 * n for b, n in zip(compiled, LEVELS)), compiled  # no blow-up
    # grad of k levels: two IfElse nodes per level, no inner graph copies
    s = chain(8, c, x)
    g = T.grad(s, x)
    nodes = toposort([g])
    assert sum(isinstance(nd.op, IfElse) for nd in nodes) == 8 * 3
    assert not any(isinstance(nd.op, LazyIfElse) for nd in nodes)


@pytest.mark.parametrize("cond", [0, 1])
def test_chain_values_and_gradients_against_numpy(mode, cond):
    c, x = T.iscalar("c"), T.dscalar("x")
    s = chain(14, c, x)
    f = theano.function([c, x], [s, T.grad(s, x)], mode=mode)
    for xv in (0.01, -0.3):
        got = f(cond, xv)
        np.testing.assert_allclose(got, chain_ref(14, cond, xv), rtol=1e-12)


def test_only_the_taken_branch_runs(mode):
    count, calls = counter()
    c, x = T.iscalar("c"), T.dscalar("x")
    shared_part = x * 3  # used by both branches: computed once, outside
    out = ifelse(c, T.exp(count(shared_part + 1)) * 2, shared_part - 1)
    f = theano.function([c, x], out, mode=mode)
    assert f(0, 1.0) == 2.0 and calls == []
    assert np.isclose(f(1, 1.0), 2 * np.exp(4.0)) and calls == [4.0]
    assert f(0, 2.0) == 5.0 and calls == [4.0]


def test_only_the_taken_branch_runs_in_a_chain_and_a_loop(mode):
    count, calls = counter()
    c, x = T.iscalar("c"), T.dscalar("x")
    s = x
    for _ in range(5):
        s = ifelse(c, count(s) * 2, s + 1)
    f = theano.function([c, x], s, mode=mode)
    assert f(0, 1.0) == 6.0 and calls == []
    assert f(1, 1.0) == 32.0 and calls == [1.0, 2.0, 4.0, 8.0, 16.0]
    del calls[:]
    seq = T.dvector("seq")
    h, _ = theano.scan(lambda e, acc: ifelse(T.gt(e, 0), count(acc) + e, acc * 2),
                       sequences=seq, outputs_info=T.constant(1.0))
    g = theano.function([seq], h, mode=mode)
    np.testing.assert_array_equal(g(np.array([1.0, -1.0, 2.0])), [2.0, 4.0, 6.0])
    assert calls == [1.0, 4.0]


def test_nested_ifelse_runs_only_its_path(mode):
    count, calls = counter()
    a, b, x = T.iscalar("a"), T.iscalar("b"), T.dscalar("x")
    inner = ifelse(b, count(x + 10) * 1, x * 5)
    out = ifelse(a, inner + 1, count(x + 20) * 1)
    f = theano.function([a, b, x], out, mode=mode)
    assert f(1, 1, 1.0) == 12.0 and calls == [11.0]
    assert f(1, 0, 1.0) == 6.0 and calls == [11.0]
    assert f(0, 1, 1.0) == 21.0 and calls == [11.0, 21.0]


def test_constant_condition_is_folded(mode):
    count, calls = counter()
    is_training = T.iscalar("is_training")
    x = T.dscalar("x")
    out = ifelse(is_training, x * 2, count(x) + 1)
    train = theano.function([x], out, givens={is_training: np.int32(1)}, mode=mode)
    assert not any(isinstance(n.op, (IfElse, LazyIfElse)) for n in
                   train.maker.fgraph.toposort())
    assert train(3.0) == 6.0 and calls == []
    test = theano.function([x], out, givens={is_training: np.int32(0)}, mode=mode)
    assert test(3.0) == 4.0 and calls == [3.0]
    same = theano.function([is_training, x], ifelse(is_training, x * 2, x * 2), mode=mode)
    assert not any(isinstance(n.op, (IfElse, LazyIfElse)) for n in
                   same.maker.fgraph.toposort())


def test_several_outputs_shapes_and_gradients(mode):
    c = T.iscalar("c")
    a, b = T.dmatrix("a"), T.dmatrix("b")
    p, q = ifelse(c, [T.dot(a, b), a.sum()], [a[:1] + b[:1], b.sum() * 2])
    cost = (p ** 2).sum() + q
    f = theano.function([c, a, b], [p, q, p.shape] + T.grad(cost, [a, b]), mode=mode)
    av, bv = np.arange(6.0).reshape(2, 3) / 6, np.arange(9.0).reshape(3, 3) / 9
    bv2 = bv[::-1].copy()
    pv, qv, shp, ga, gb = f(1, av, bv)
    np.testing.assert_allclose(pv, av @ bv)
    np.testing.assert_array_equal(shp, [2, 3])
    np.testing.assert_allclose(ga, 2 * (av @ bv) @ bv.T + 1)
    np.testing.assert_allclose(gb, 2 * av.T @ (av @ bv))
    pv, qv, shp, ga, gb = f(0, av, bv2)
    np.testing.assert_array_equal(shp, [1, 3])
    np.testing.assert_allclose(qv, bv2.sum() * 2)
    expect_a = np.zeros_like(av)
    expect_a[:1] = 2 * (av[:1] + bv2[:1])
    np.testing.assert_allclose(ga, expect_a)
    expect_b = np.full_like(bv2, 2.0)
    expect_b[:1] += 2 * (av[:1] + bv2[:1])
    np.testing.assert_allclose(gb, expect_b)


def test_random_draw_in_a_branch_still_advances(mode):
    srng = RandomStreams(3)
    c, x = T.iscalar("c"), T.dvector("x")
    out = ifelse(c, x * srng.uniform(size=(3,)), x)
    f = theano.function([c, x], out, mode=mode)
    a, b = f(1, np.ones(3)), f(1, np.ones(3))
    assert not np.allclose(a, b) and np.all((a >= 0) & (a < 1))
    np.testing.assert_array_equal(f(0, np.ones(3)), np.ones(3))


def test_ifelse_rules_alone():
    x, y, c = T.dvector("x"), T.dvector("y"), T.iscalar("c")
    check_rewrite(ifelse_constant_condition, ifelse(T.constant(np.int32(1)), x * 2, y),
                  x * 2, [x, y])
    check_rewrite(ifelse_constant_condition, ifelse(T.constant(np.int8(0)), x * 2, y), y,
                  [x, y])
    check_unchanged(ifelse_constant_condition, ifelse(c, x * 2, y), [c, x, y])
    check_rewrite(ifelse_same_branches, ifelse(c, [x, y], [x, y]), [x, y], [c, x, y])
    check_unchanged(ifelse_same_branches, ifelse(c, [x, y], [y, x]), [c, x, y])


def _lazy_op():
    """The LazyIfElse op lazy_ifelse makes of ifelse(c, exp(x) * 2, x - 1)."""
    c, x = T.iscalar("c"), T.dscalar("x")
    (out,) = lazy_ifelse([c, x], [ifelse(c, T.exp(x) * 2, x - 1)])
    assert isinstance(out.owner.op, LazyIfElse)
    return out.owner.op


def test_lazy_ifelse_is_an_inner_graph_op():
    """One inner-graph mechanism (issue 11): the structural key, pickling and the
    rebuild around a rewritten graph come from InnerGraphOp; each branch is linked on
    its own, once."""
    op = _lazy_op()
    assert isinstance(op, InnerGraphOp)
    assert op.inner_outputs == op.then_outs + op.else_outs and op.n_outs == 1
    assert op == _lazy_op() and hash(op) == hash(_lazy_op())
    again = pickle.loads(pickle.dumps(op))
    assert again == op and again.n_outs == 1
    c, x = T.iscalar("c"), T.dscalar("x")
    node = again.make_node(c, x)
    half = np.array(0.5)
    assert again.compute(node, 1, half) == 2 * np.exp(0.5)
    assert again.compute(node, 0, half) == -0.5
    fns = again.branch_functions()
    assert again.branch_functions() is fns  # linked once
    swapped = op.with_inner_outputs(op.else_outs + op.then_outs)
    assert swapped != op and swapped.compute(swapped.make_node(c, x), 1, half) == -0.5
    with pytest.raises(ValueError, match="1 then-outputs but 2 else-outputs"):
        LazyIfElse(op.inner_inputs, op.then_outs, op.else_outs * 2)


def test_compiled_function_with_ifelse_pickles():
    c, x = T.iscalar("c"), T.dscalar("x")
    f = theano.function([c, x], ifelse(c, T.exp(x) * 2, x - 1), mode=theano.Mode(linker="py"))
    assert any(isinstance(n.op, LazyIfElse) for n in f.maker.fgraph.toposort())
    g = pickle.loads(pickle.dumps(f))
    assert g(1, 0.5) == f(1, 0.5) == 2 * np.exp(0.5) and g(0, 0.5) == -0.5



def test_lazy_ifelse_branches_go_through_the_pipeline(mode):
    """A LazyIfElse node in a graph being compiled (an InnerGraphOp, as a loop body):
    the pipeline's inner_graphs step rewrites its branches, so log(1 + x) in the
    then-branch becomes log1p, exact at 1e-20 where the graph as written gives 0."""
    c, x = T.iscalar("c"), T.dvector("x")
    (out,) = lazy_ifelse([c, x], [ifelse(c, T.log(1 + x) * 2, x - 1)])
    op = out.owner.op
    f = theano.function([c, x], out, mode=mode)
    (new,) = [n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, LazyIfElse)]
    written = [str(n.op) for n in toposort(op.then_outs)]
    rewritten = [str(n.op) for n in toposort(new.then_outs)]
    assert "Elemwise{log}" in written and new != op
    assert "Elemwise{log}" not in rewritten and any("log1p" in s for s in rewritten)
    assert new.inner_inputs == op.inner_inputs and new.n_outs == op.n_outs
    np.testing.assert_allclose(f(1, np.array([1e-20, 3e-18])), [2e-20, 6e-18], rtol=1e-12)
    np.testing.assert_allclose(f(0, np.array([1e-20, 3.0])), [-1.0, 2.0])
