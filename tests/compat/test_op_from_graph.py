"""theano.OpFromGraph (theanine/builders.py): an op defined by a graph, with its
gradient, shared variables as implicit inputs, inline expansion, and (as an
InnerGraphOp) its inner graph rewritten by the pipeline around it."""

import pickle

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.rewrites.helpers import check_rewrite, check_unchanged
from theanine.graph.inner_graph import InnerGraphOp
from theanine.graph.traversal import toposort
from theanine.rewrites.inline import inline_op_from_graph


def _axpy():
    x, y = T.dscalars("xy")
    return theano.OpFromGraph([x, y], [2 * x + y], name="axpy")


def test_op_from_graph_values_and_gradient(mode):
    axpy = _axpy()
    a, b = T.dscalar("a"), T.dscalar("b")
    z = axpy(a, b) * axpy(b, a)
    f = theano.function([a, b], [z] + T.grad(z, [a, b]), mode=mode)
    val, ga, gb = f(1.5, -0.5)
    u, v = 2 * 1.5 - 0.5, 2 * -0.5 + 1.5
    np.testing.assert_allclose([val, ga, gb], [u * v, 2 * v + u, v + 2 * u])
    theano.gradient.verify_grad(lambda p, q: axpy(p, q) * axpy(q, p), [1.5, -0.5],
                                rng=np.random.default_rng(0))


def test_op_from_graph_several_outputs_and_shared_variables(mode):
    x = T.dvector("x")
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    op = theano.OpFromGraph([x], [x * w, (x * w).sum()])
    v = T.dvector("v")
    prod, total = op(v)
    f = theano.function([v], [prod, total, T.grad(total + prod[0], v)], mode=mode)
    p, t, g = f(np.array([3.0, 4.0]))
    np.testing.assert_allclose(p, [3.0, 8.0])
    assert t == 11.0
    np.testing.assert_allclose(g, [2.0, 2.0])
    w.set_value(np.array([10.0, 0.0]))  # the shared value is read when the node runs
    assert f(np.array([3.0, 4.0]))[1] == 30.0
    gw = theano.function([v], T.grad(total, w), mode=mode)(np.array([3.0, 4.0]))
    np.testing.assert_allclose(gw, [3.0, 4.0])


def test_op_from_graph_in_a_loop_and_inline(mode):
    x = T.dvector("x")
    for inline in (False, True):
        op = theano.OpFromGraph([x], [T.tanh(x) * 2], inline=inline)
        seq = T.dmatrix("seq")
        out, _ = theano.scan(op, sequences=[seq])
        f = theano.function([seq], [out, T.grad(out.sum(), seq)], mode=mode)
        s = np.arange(6.0).reshape(3, 2) / 6
        o, g = f(s)
        np.testing.assert_allclose(o, np.tanh(s) * 2)
        np.testing.assert_allclose(g, 2 * (1 - np.tanh(s) ** 2))
        kinds = {type(n.op).__name__ for n in theano.function([x], op(x)).maker.fgraph.toposort()}
        assert ("OpFromGraph" in kinds) == (not inline)


def test_op_from_graph_refuses_free_variables_and_overrides_gradients(mode):
    x, y = T.dscalars("xy")
    with pytest.raises(theano.MissingInputError, match="not among its inputs"):
        theano.OpFromGraph([x], [x + y])
    op = theano.OpFromGraph([x], [x ** 2], grad_overrides=lambda ins, gs: [gs[0] * 10])
    a = T.dscalar("a")
    assert theano.function([a], T.grad(op(a), a), mode=mode)(3.0) == 10.0
    assert op == theano.OpFromGraph([y], [y ** 2], grad_overrides=op.grad_overrides)
    assert op != theano.OpFromGraph([y], [y ** 3], grad_overrides=op.grad_overrides)


def test_op_from_graph_pickles():
    axpy = _axpy()
    a = T.dscalar("a")
    f = theano.function([a], axpy(a, a), mode=theano.Mode(linker="py"))
    g = pickle.loads(pickle.dumps(f))
    assert g(2.0) == 6.0


def test_inline_rule_alone():
    x, a = T.dvector("x"), T.dvector("a")
    inlined = theano.OpFromGraph([x], [T.exp(x) * 2], inline=True)
    check_rewrite(inline_op_from_graph, inlined(a) + 1, T.exp(a) * 2 + 1, [a])
    kept = theano.OpFromGraph([x], [T.exp(x) * 2])
    check_unchanged(inline_op_from_graph, kept(a) + 1, [a])


def _compiled_op(f, name=None):
    (op,) = [n.op for n in f.maker.fgraph.toposort()
             if isinstance(n.op, theano.OpFromGraph) and n.op.name == name]
    return op


def _inner_ops(op):
    """The inner graph's ops (an Elemwise by its scalar op)."""
    return [type(getattr(n.op, "scalar_op", n.op)).__name__
            for n in toposort(op.inner_outputs, stop_at=op.inner_inputs)]


def test_inner_graph_goes_through_the_pipeline(mode):
    """log(1 + x) inside the op becomes log1p (stabilize) fused with the product
    (fusion): exact at 1e-20, where the graph as written gives 0, on every backend."""
    x = T.dvector("x")
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    op = theano.OpFromGraph([x], [T.log(1 + x) * w], name="lp", inline=False)
    assert isinstance(op, InnerGraphOp) and "Log" in _inner_ops(op)
    v = T.dvector("v")
    f = theano.function([v], [op(v), T.grad(op(v).sum(), v)], mode=mode)
    new = _compiled_op(f, "lp")
    assert _inner_ops(new) == ["Composite"]
    assert "Composite" in _inner_ops(_compiled_op(f, "grad_lp"))
    assert new.name == "lp" and not new.inline and new.shared_inputs == op.shared_inputs
    assert new.inner_inputs == op.inner_inputs and new != op
    val, g = f(np.array([1e-20, 1e-18]))
    np.testing.assert_allclose(val, [1e-20, 2e-18], rtol=1e-12)
    np.testing.assert_allclose(g, [1.0, 2.0], rtol=1e-12)
    assert "Log" in _inner_ops(op)  # the op the user built is unchanged


def test_fast_compile_leaves_the_inner_graph_as_written():
    x = T.dvector("x")
    op = theano.OpFromGraph([x], [T.log(1 + x)])
    f = theano.function([x], op(x), mode=theano.Mode(linker="py", optimizer="fast_compile"))
    assert "Log" in _inner_ops(_compiled_op(f))


def test_equal_graphs_make_equal_ops_and_merge(mode):
    def make():
        x = T.dvector("x")
        return theano.OpFromGraph([x], [T.tanh(x) * 2])

    a, b = make(), make()
    assert a == b and hash(a) == hash(b) and a.key == b.key
    v = T.dvector("v")
    f = theano.function([v], a(v) + b(v), mode=mode)
    assert len([n for n in f.maker.fgraph.toposort()
                if isinstance(n.op, theano.OpFromGraph)]) == 1
    np.testing.assert_allclose(f(np.array([0.5])), 4 * np.tanh([0.5]))


def test_pickling_comes_from_the_base():
    axpy = _axpy()
    axpy.inner_function()
    state = axpy.__getstate__()
    assert "inner_state" in state and "_cache" not in state
    again = pickle.loads(pickle.dumps(axpy))
    assert again == axpy and again.key == axpy.key and again.name == "axpy"
    a = T.dscalar("a")
    assert theano.function([a], again(a, 1.0), mode=theano.Mode(linker="py"))(2.0) == 5.0


def test_rop_default_and_override(mode):
    x = T.dvector("x")
    square = theano.OpFromGraph([x], [x ** 2])
    assert square.R_op is None  # Rop goes through the gradient
    v, e = T.dvector("v"), T.dvector("e")
    f = theano.function([v, e], T.Rop(square(v), v, e), mode=mode)
    np.testing.assert_allclose(f(np.array([1.0, 3.0]), np.array([1.0, 2.0])), [2.0, 12.0])
    fake = theano.OpFromGraph([x], [x ** 2], rop_overrides=lambda ins, evs: [evs[0] * 7])
    f = theano.function([v, e], T.Rop(fake(v), v, e), mode=mode, on_unused_input="ignore")
    np.testing.assert_allclose(f(np.array([1.0, 3.0]), np.array([1.0, 2.0])), [7.0, 14.0])
    with pytest.raises(TypeError, match="rop_overrides must be 'default' or a callable"):
        theano.OpFromGraph([x], [x ** 2], rop_overrides=3)


def test_given_connection_pattern_is_used():
    x, y = T.dscalars("xy")
    op = theano.OpFromGraph([x, y], [x * y], connection_pattern=[[True], [False]])
    a, b = T.dscalars("ab")
    node = op(a, b).owner
    assert op.connection_pattern(node) == [[True], [False]]
    with pytest.raises(theano.gradient.DisconnectedInputError):
        T.grad(op(a, b), b)


def _loop_ref(xv, c):
    h, hs = 0.0, []
    for a in xv:
        h = np.tanh(a * 2.0 + h)
        hs.append(h)
    return hs[-1] * np.log1p(xv[0]) if c else sum(hs)


def test_inner_graph_holding_a_loop_and_an_ifelse(mode):
    """Nested inner graphs (a Scan, an ifelse) inside the op: rewritten, run (only
    the branch taken) and differentiated on every backend."""
    x, c = T.dvector("x"), T.iscalar("c")
    h, _ = theano.scan(lambda a, h: T.tanh(a * 2.0 + h), sequences=x,
                       outputs_info=T.constant(0.0))
    op = theano.OpFromGraph([x, c], [theano.ifelse.ifelse(c, h[-1] * T.log(1 + x[0]),
                                                          h.sum())], name="loopy")
    v, k = T.dvector("v"), T.iscalar("k")
    out = op(v, k)
    f = theano.function([v, k], [out, T.grad(out, v)], mode=mode)
    inner = [str(n.op) for n in toposort(_compiled_op(f, "loopy").inner_outputs)]
    assert "IfElse" in inner and any(s.startswith("Scan") for s in inner)
    assert "Elemwise{log}" not in inner and any("log1p" in s for s in inner)
    vals = np.array([0.1, -0.2, 0.3])
    for cond in (1, 0):
        val, g = f(vals, cond)
        np.testing.assert_allclose(val, _loop_ref(vals, cond), rtol=1e-12)
        eps, num = 1e-6, np.zeros(3)
        for i in range(3):
            d = np.zeros(3)
            d[i] = eps
            num[i] = (_loop_ref(vals + d, cond) - _loop_ref(vals - d, cond)) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-6)
