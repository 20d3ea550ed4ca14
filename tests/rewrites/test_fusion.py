"""fusion: groups of elementwise nodes -> one Composite; the Composite op itself and its
py implementation (buffer reuse, dtype rules, broadcast errors, gradient)."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.backends.py.linker import py_funcify
from theanine.graph.traversal import toposort
from theanine.rewrites import fusion as F
from theanine.rewrites.composite import Composite
from theanine.rewrites.merge import merge
from theanine.tensor import scalar_ops as so

from .helpers import NO_REWRITES, check_rewrite, check_same_values, check_unchanged, rewritten


def test_a_chain_becomes_one_composite():
    x, y = T.matrix("x"), T.matrix("y")
    before = T.tanh(x * y + 1.0)
    one = before.owner.inputs[0].owner.inputs[1]  # the constant 1.0 (a graph input now)
    op = Composite(3, [(so.Mul(), (0, 1), "float64"), (so.Add(), (3, 2), "float64"),
                       (so.Tanh(), (4,), "float64")])
    check_rewrite(F.fusion, before, op(x, y, one), [x, y])


def test_shared_intermediates_stay_outside_or_inside_as_their_users_allow():
    x = T.vector("x")
    e = T.exp(x)
    diamond = T.tanh(e) + T.sqrt(e)  # e is used twice, both inside: fused
    out = rewritten(diamond, F.fusion, [x])
    assert isinstance(out.owner.op, Composite) and len(toposort([out])) == 1
    outs = rewritten([T.tanh(e) + 1.0, e], F.fusion, [x])  # e is also an output
    assert outs[1].owner.op == e.owner.op
    assert e.owner.op not in [p[0] for p in outs[0].owner.op.program]
    check_same_values([x], [T.tanh(e) + 1.0, e], outs)


def test_single_nodes_and_non_elementwise_ops_are_not_fused():
    x = T.matrix("x")
    check_unchanged(F.fusion, T.exp(x), [x])
    check_unchanged(F.fusion, T.exp(T.sum(T.exp(x), axis=0)), [x])


def test_groups_are_capped():
    x = T.vector("x")
    y = x
    for _ in range(F.MAX_STEPS + 10):
        y = T.tanh(y)
    out = rewritten(y, F.fusion, [x])
    nodes = toposort([out])
    assert len(nodes) == 2 and all(isinstance(n.op, Composite) for n in nodes)
    assert sum(len(n.op.program) for n in nodes) == F.MAX_STEPS + 10
    check_same_values([x], [y], [out])


def test_mixed_dtypes_and_integer_inputs_follow_elemwise():
    i, f = T.ivector("i"), T.fvector("f")
    b = T.bvector("b")
    y = T.exp(i) * f + T.cast(b, "float32") - (b + b)
    out = rewritten(y, F.fusion, [i, f, b])
    assert isinstance(out.owner.op, Composite) and out.type == y.type
    rng = np.random.default_rng(0)
    vals = [rng.integers(-3, 3, 4).astype("int32"), rng.normal(size=4).astype("float32"),
            np.array([100, 120, -128, 3], dtype="int8")]  # b + b wraps around in int8
    check_same_values([i, f, b], [y], [out], values=vals, rtol=1e-6)


def test_broadcasting_inside_a_group():
    r, m = T.row("r"), T.matrix("m")
    y = T.exp(r) * m + T.log(r)
    out = rewritten(y, F.fusion, [r, m])
    assert isinstance(out.owner.op, Composite)
    vals = [np.full((1, 3), 0.5), np.arange(6.0).reshape(2, 3)]
    check_same_values([r, m], [y], [out], values=vals)


def test_runtime_broadcast_of_a_non_broadcastable_dim_is_refused():
    a, b = T.matrix("a"), T.matrix("b")
    f = theano.function([a, b], T.exp(a) + T.tanh(b), mode=theano.compile.mode.Mode("py"))
    assert isinstance(f.maker.fgraph.toposort()[0].op, Composite)
    with pytest.raises(ValueError, match="not broadcastable"):
        f(np.ones((1, 3)), np.ones((2, 3)))


def test_composite_grad_is_the_chain_grad():
    x, y = T.vector("x"), T.vector("y")
    op = Composite(2, [(so.Mul(), (0, 1), "float64"), (so.Tanh(), (2,), "float64")])
    theano.gradient.verify_grad(lambda a, b: op(a, b),
                                [np.array([0.1, -0.3]), np.array([2.0, 0.5])])
    g = T.grad(op(x, y).sum(), [x, y])
    f = theano.function([x, y], g, mode=NO_REWRITES)
    xv, yv = np.array([0.1, -0.3]), np.array([2.0, 0.5])
    gx, gy = f(xv, yv)
    np.testing.assert_allclose(gx, yv * (1 - np.tanh(xv * yv) ** 2))


def test_composite_checks_its_program():
    x = T.vector("x")
    with pytest.raises(ValueError, match="not yet computed"):
        Composite(1, [(so.Exp(), (1,), "float64")])
    with pytest.raises(TypeError, match="the program says"):
        Composite(1, [(so.Exp(), (0,), "float32")])(x)
    op = Composite(2, [(so.Second(), (0, 1), "float64"), (so.Exp(), (2,), "float64")])
    assert op.connection_pattern(op(x, x).owner) == [[False], [True]]
    assert str(op) == "Composite{exp(second(i0, i1))}"
    assert op == Composite(2, op.program) and hash(op) == hash(Composite(2, op.program))


def test_py_implementation_reuses_buffers_and_matches_compute():
    x, y = T.matrix("x"), T.matrix("y")
    ex = T.exp(x)
    y_expr = T.add(T.tanh(ex * y), ex, x, y)
    out = rewritten(y_expr, F.fusion, [x, y])
    node = out.owner
    fn = py_funcify(node.op, node)
    assert "out=" in fn.source
    rng = np.random.default_rng(1)
    xv, yv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    xc, yc = xv.copy(), yv.copy()
    np.testing.assert_allclose(fn(xv, yv), node.op.compute(node, xv, yv))
    np.testing.assert_array_equal(xv, xc)  # inputs are never written
    np.testing.assert_array_equal(yv, yc)


def test_py_implementation_of_a_scalar_composite():
    x = T.scalar("x")
    out = rewritten(T.exp(x) * 2.0 + 1.0, F.fusion, [x])
    node = out.owner
    r = py_funcify(node.op, node)(np.array(0.5), *[c.data for c in node.inputs[1:]])
    assert isinstance(r, np.ndarray) and r.shape == () and np.isclose(r, np.exp(0.5) * 2 + 1)


def test_long_chain_fuses_in_linear_time():
    x = T.vector("x")
    y = x
    for _ in range(20000):
        y = T.tanh(y) * 1.0001
    out = rewritten(y, [merge, F.fusion], [x])  # merged: one constant 1.0001
    assert len(toposort([out])) == -(-40000 // F.MAX_STEPS)


def test_sum_with_a_repeated_temporary_does_not_overwrite_it():
    a = T.matrix("a")
    t = T.exp(a) * 2.0
    y = T.add(T.tanh(a), T.tanh(a) * 0 + 1, t, t)
    out = rewritten(y, F.fusion, [a])
    node = out.owner
    v = np.random.default_rng(0).normal(size=(2, 3))
    args = [v] + [c.data for c in node.inputs[1:]]
    np.testing.assert_allclose(py_funcify(node.op, node)(*args), node.op.compute(node, *args))
    check_same_values([a], [y], [out])
