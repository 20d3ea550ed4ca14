"""Elemwise and DimShuffle mechanics: padding, broadcast patterns, runtime
broadcast checks, shape inference, gradient reduction to each input's shape."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theanine as theano
import theanine.tensor as T
from theanine.gradient import disconnected_type, verify_grad
from theanine.tensor import scalar_ops as so
from theanine.tensor.elemwise import DimShuffle, Elemwise, sum_to


def test_elemwise_props_equality():
    assert Elemwise(so.Add()) == Elemwise(so.Add())
    assert hash(Elemwise(so.Cast("int8"))) == hash(Elemwise(so.Cast("int8")))
    assert Elemwise(so.Cast("int8")) != Elemwise(so.Cast("int16"))
    assert Elemwise(so.Add()) != Elemwise(so.Mul())
    assert "add" in str(Elemwise(so.Add()))


def test_make_node_pads_and_infers_pattern():
    v, m, s = T.vector(), T.matrix(), T.scalar()
    out = v + m
    assert out.ndim == 2 and out.broadcastable == (False, False)
    node = out.owner
    assert all(i.ndim == 2 for i in node.inputs)
    assert node.inputs[0].broadcastable == (True, False)
    assert (T.row() + T.col()).broadcastable == (False, False)
    assert (T.row() * s).broadcastable == (True, False)
    assert (s + s).broadcastable == ()
    t = T.TensorType("float64", (True, False, True))()
    assert (t + T.TensorType("float64", (True, True, True))()).broadcastable == (True, False,
                                                                                 True)


def test_wrong_arity():
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        T.sub(T.vector(), T.vector(), T.vector())


@st.composite
def broadcast_case(draw):
    ndim = draw(st.integers(0, 4))
    full = draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim))
    shapes = []
    for _ in range(draw(st.integers(2, 3))):
        nd = draw(st.integers(0, ndim))
        shp = [1 if draw(st.booleans()) else n for n in full[ndim - nd:]]
        shapes.append(tuple(shp))
    return shapes


@settings(max_examples=40, deadline=None)
@given(broadcast_case(), st.sampled_from(["add", "mul", "maximum", "sub"]))
def test_broadcasting_hypothesis(shapes, name):
    rng = np.random.default_rng(len(shapes))
    values = [rng.uniform(-2, 2, size=s) for s in shapes]
    xs = [T.TensorType("float64", tuple(n == 1 for n in s))() for s in shapes]
    fn = getattr(T, name)
    out, want = xs[0], values[0]
    npfn = {"add": np.add, "mul": np.multiply, "maximum": np.maximum,
            "sub": np.subtract}[name]
    for x, v in zip(xs[1:], values[1:]):
        out, want = fn(out, x), npfn(want, v)
    got = theano.function(xs, out)(*values)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want)
    assert out.broadcastable == tuple(n == 1 for n in want.shape)
    # the gradient of each input has the input's shape and sums the broadcast dims
    gs = theano.function(xs, T.grad(T.sum(out * 1.5), xs))(*values)
    for g, v in zip(gs, values):
        assert g.shape == v.shape


@settings(max_examples=25, deadline=None)
@given(broadcast_case())
def test_broadcast_grad_hypothesis(shapes):
    rng = np.random.default_rng(7)
    values = [rng.uniform(0.5, 2, size=s) for s in shapes]
    verify_grad(lambda *xs: T.mul(*xs) + T.add(*xs) ** 2, values, rng=rng)


def test_runtime_length1_on_non_broadcastable_dim_is_refused():
    x, y = T.matrix(), T.matrix()
    f = theano.function([x, y], x * y)
    with pytest.raises(ValueError, match=r"input 1 has length 1 in dimension 0.*addbroadcast"):
        f(np.ones((3, 2)), np.ones((1, 2)))
    g = theano.function([x, y], x * T.addbroadcast(y, 0))
    np.testing.assert_array_equal(g(np.ones((3, 2)), np.full((1, 2), 2.0)), np.full((3, 2), 2))


def test_empty_and_scalar_inputs():
    x, y = T.matrix(), T.row()
    got = theano.function([x, y], T.exp(x) + y)(np.zeros((0, 3)), np.ones((1, 3)))
    assert got.shape == (0, 3)
    s = T.scalar()
    out = theano.function([s], [T.exp(s), s * 2, s > 0])(np.asarray(1.5))
    assert all(isinstance(o, np.ndarray) and o.shape == () for o in out)
    np.testing.assert_allclose(out[0], np.exp(1.5))


def test_elemwise_infer_shape(rng):
    x, r = T.matrix(), T.row()
    out = T.maximum(x, r)
    shapes = [tuple(v.shape[i] for i in range(v.ndim)) for v in out.owner.inputs]
    inferred = out.owner.op.infer_shape(out.owner, shapes)[0]
    f = theano.function([x, r], list(inferred), on_unused_input="ignore")
    assert [int(n) for n in f(rng.random((3, 5)), rng.random((1, 5)))] == [3, 5]
    assert theano.function([x, r], out.shape)(rng.random((3, 5)),
                                              rng.random((1, 5))).tolist() == [3, 5]


# -- DimShuffle ----------------------------------------------------------------------------
@pytest.mark.parametrize("bcast, pattern, shape", [
    ((False, False), (1, 0), (2, 3)),
    ((False, False), ("x", 0, 1), (2, 3)),
    ((False, False), (0, "x", 1, "x"), (2, 3)),
    ((False, True), (0,), (2, 1)),
    ((True, False, False), (2, 1), (1, 3, 4)),
    ((), ("x", "x"), ()),
    ((False, False, False), (2, 0, 1), (2, 3, 4)),
])
def test_dimshuffle_values_and_grad(bcast, pattern, shape, rng):
    x = T.TensorType("float64", bcast)()
    out = x.dimshuffle(*pattern)
    v = rng.random(shape)
    keep = [p for p in pattern if p != "x"]
    dropped = [d for d in range(len(shape)) if d not in keep]
    want = np.transpose(v, keep + dropped).reshape(
        [1 if p == "x" else shape[p] for p in pattern])
    np.testing.assert_array_equal(theano.function([x], out)(v), want)
    assert out.broadcastable == tuple(True if p == "x" else bcast[p] for p in pattern)
    verify_grad(lambda a: a.dimshuffle(*pattern) * 2, [v], rng=rng)


def test_dimshuffle_errors():
    m = T.matrix()
    with pytest.raises(ValueError, match="cannot drop dimension 1"):
        m.dimshuffle(0)
    with pytest.raises(ValueError, match="repeats"):
        m.dimshuffle(0, 0)
    with pytest.raises(ValueError, match="2 is not a dimension of a 2-d"):
        m.dimshuffle(0, 2)
    with pytest.raises(TypeError, match="expected a 2-d input, got 1-d"):
        DimShuffle((False, False), (1, 0))(T.vector())


def test_dimshuffle_more_specific_input():
    op = DimShuffle((False, False), (1, 0))
    r = T.row()
    out = op(r)
    assert out.broadcastable == (False, True)


def test_sum_to():
    g = T.matrix()
    for target, axes in [(T.row(), (0,)), (T.col(), (1,)), (T.matrix(), ()),
                         (T.TensorType("float64", (True, True))(), (0, 1))]:
        r = sum_to(g, target)
        assert r.broadcastable == target.broadcastable
        v = np.arange(6.0).reshape(2, 3)
        want = v.sum(axis=axes, keepdims=True) if axes else v
        np.testing.assert_array_equal(theano.function([g], r)(v), want)


def test_grad_method_and_disconnected_output_grad(rng):
    x, y, gz = T.matrix(), T.row(), T.matrix()
    op = Elemwise(so.Mul())
    gx, gy = op.grad([x, y], [gz])
    assert gy.broadcastable == (True, False)
    xv, yv, gv = rng.random((3, 4)), rng.random((1, 4)), rng.random((3, 4))
    a, b = theano.function([x, y, gz], [gx, gy])(xv, yv, gv)
    np.testing.assert_allclose(a, gv * yv)
    np.testing.assert_allclose(b, (gv * xv).sum(0, keepdims=True))
    out = op(x, y)
    res = op.L_op([x, y], [out], [disconnected_type()])
    assert all(str(r.type) == "DisconnectedType" for r in res)


def test_second_connection_pattern():
    x, y = T.matrix(), T.scalar()
    node = T.second(x, y).owner
    assert node.op.connection_pattern(node) == [[False], [True]]
    node = T.add(x, y).owner
    assert node.op.connection_pattern(node) == [[True], [True]]
