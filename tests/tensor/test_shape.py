"""Shape ops against NumPy: reshape, flatten, dimshuffle/transpose/swapaxes,
shape_pad*, broadcast flags, squeeze, join/concatenate/stack, alloc, zeros/ones,
*_like, fill, broadcast_to, shape/shape_i; values, dtypes, broadcastable
patterns, infer_shape, gradients (finite differences) and error messages."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.backends.py.linker import link
from theanine.gradient import verify_grad
from theanine.graph.fgraph import FunctionGraph
from theanine.tensor.shape import MakeVector, Shape_i, infer_shapes, shape_i
from theanine.tensor.sorting import Unique


def typed(v, name=None):
    """A symbolic variable of the value's dtype and ndim (nothing broadcastable)."""
    v = np.asarray(v)
    return T.TensorType(v.dtype.name, (False,) * v.ndim)(name)


def check_infer_shape(out, inputs, values):
    """The op's infer_shape, compiled, equals the shape of the computed output."""
    node = out.owner
    shapes = [tuple(shape_i(v, k) for k in range(v.ndim)) for v in node.inputs]
    inferred = node.op.infer_shape(node, shapes)[out.index]
    f = theano.function(inputs, [out, *inferred], on_unused_input="ignore")
    got, *dims = f(*values)
    assert tuple(int(d) for d in dims) == got.shape


# -- shape --------------------------------------------------------------------
def test_shape_and_shape_i(rng):
    x = T.tensor3()
    v = rng.random((2, 3, 4))
    s = T.shape(x)
    assert s.dtype == "int64" and s.ndim == 1
    f = theano.function([x], [s, x.shape, shape_i(x, 1), shape_i(x, -1)])
    sv, sv2, s1, sl = f(v)
    np.testing.assert_array_equal(sv, [2, 3, 4])
    np.testing.assert_array_equal(sv2, [2, 3, 4])
    assert int(s1) == 3 and int(sl) == 4
    assert isinstance(shape_i(x, 0).owner.op, Shape_i)
    assert isinstance(shape_i(T.row(), 0), T.TensorConstant)  # broadcastable: known 1
    with pytest.raises(IndexError, match="out of range"):
        shape_i(x, 3)
    assert T.get_vector_length(T.shape(x)) == 3
    with pytest.raises(ValueError, match="not known"):
        T.get_vector_length(T.lvector())


def test_make_vector_and_stack_of_scalars():
    a, b = T.lscalar("a"), T.iscalar("b")
    v = T.stack([a, b, 7])
    assert isinstance(v.owner.op, MakeVector) and v.dtype == "int64"
    np.testing.assert_array_equal(theano.function([a, b], v)(3, 4), [3, 4, 7])
    x = T.dscalar()
    y = T.stack(x, 2 * x)  # Theano's old form
    assert y.dtype == "float64"
    verify_grad(lambda s: T.stack([s, s * s, 3 * s]), [np.asarray(1.3)])
    f32 = T.fscalar()
    assert T.stack([f32, 0.5]).dtype == "float32"  # Python scalars are weak


# -- reshape ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
@pytest.mark.parametrize("src,dst", [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)),
                                     ((2, 3, 4), (4, -1, 2)), ((6,), (1, 6)),
                                     ((1,), ()), ((3, 4), (2, 1, 6))])
def test_reshape_values(src, dst, dtype, rng):
    v = (rng.random(src) * 10).astype(dtype)
    x = typed(v)
    out = T.reshape(x, dst)
    got = theano.function([x], out)(v)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, v.reshape(dst))
    assert out.broadcastable == tuple(d == 1 for d in dst)
    check_infer_shape(out, [x], [v])


def test_reshape_symbolic_shape(rng):
    x = T.matrix()
    n = T.lscalar("n")
    v = rng.random((4, 6))
    out = x.reshape((n, -1))
    assert out.ndim == 2
    f = theano.function([x, n], out)
    np.testing.assert_array_equal(f(v, 3), v.reshape(3, -1))
    check_infer_shape(out, [x, n], [v, 8])
    # a whole symbolic shape vector: needs ndim= when its length is unknown
    s = T.lvector("s")
    out2 = T.reshape(x, s, ndim=3)
    np.testing.assert_array_equal(theano.function([x, s], out2)(v, [2, -1, 3]),
                                  v.reshape(2, -1, 3))
    check_infer_shape(out2, [x, s], [v, np.array([2, -1, 3])])
    with pytest.raises(ValueError, match="pass ndim="):
        T.reshape(x, s)
    # a shape vector of static length (another tensor's shape)
    y = T.tensor3()
    out3 = x.reshape(y.shape)
    assert out3.ndim == 3
    np.testing.assert_array_equal(
        theano.function([x, y], out3)(v, np.zeros((2, 3, 4))), v.reshape(2, 3, 4))
    # method forms
    np.testing.assert_array_equal(x.reshape(6, 4).eval({x: v}), v.reshape(6, 4))


def test_reshape_broadcastable_from_symbolic_entries():
    x = T.vector()
    col = x.reshape((x.shape[0], 1))
    assert col.broadcastable == (False, True)
    m = T.matrix()
    v = np.arange(3.0)
    got = theano.function([x, m], m + x.reshape((x.shape[0], 1)))(v, np.zeros((3, 2)))
    np.testing.assert_array_equal(got, np.zeros((3, 2)) + v[:, None])


def test_reshape_errors(rng):
    x = T.matrix()
    f = theano.function([x], x.reshape((5, -1)))
    with pytest.raises(ValueError, match=r"cannot reshape an array of shape \(2, 3\)"):
        f(rng.random((2, 3)))
    with pytest.raises(ValueError, match="at most one -1"):
        x.reshape((-1, -1))
    with pytest.raises(TypeError, match="must be integers"):
        T.reshape(x, T.dvector(), ndim=2)
    with pytest.raises(ValueError, match="ndim=3 does not match"):
        T.reshape(x, (2, 3), ndim=3)
    with pytest.raises(TypeError, match="shape entry 0 must be an integer scalar"):
        x.reshape((T.dscalar(), 2))


@pytest.mark.parametrize("dst", [(6, 2), (-1,), (3, 2, 2)])
def test_reshape_grad(dst, rng):
    verify_grad(lambda a: T.reshape(a, dst), [rng.random((3, 4))])


def test_reshape_grad_symbolic():
    n = T.lscalar()
    x = T.matrix()
    g = T.grad(T.sum(x.reshape((n, -1)) ** 2), x)
    v = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(theano.function([x, n], g)(v, 3), 2 * v)


# -- flatten ------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3, 4), (5,), (1, 3, 1, 2)])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_flatten(shape, ndim, rng):
    if ndim > len(shape):
        return
    v = rng.random(shape)
    x = typed(v)
    out = T.flatten(x, ndim)
    assert out.ndim == ndim
    expected = v.reshape(shape[:ndim - 1] + (-1,))
    np.testing.assert_array_equal(theano.function([x], out)(v), expected)
    np.testing.assert_array_equal(theano.function([x], T.flatten(x, outdim=ndim))(v), expected)
    np.testing.assert_array_equal(x.flatten(ndim).eval({x: v}), expected)
    verify_grad(lambda a: T.flatten(a, ndim), [v])


def test_flatten_broadcastable_and_errors():
    r = T.row()
    assert T.flatten(r).broadcastable == (False,)
    t = T.TensorType("float64", (False, True, True))()
    assert T.flatten(t, 2).broadcastable == (False, True)
    with pytest.raises(ValueError, match=r"ndim must be in \[1, 2\]"):
        T.flatten(T.matrix(), 3)


def test_flatten_scalar():
    s = T.dscalar()
    np.testing.assert_array_equal(theano.function([s], T.flatten(s))(2.0), [2.0])


# -- dimshuffle / transpose / swapaxes / padding ------------------------------
def test_dimshuffle_transpose_swapaxes(rng):
    v = rng.random((2, 3, 4))
    x = typed(v)
    cases = [
        (x.dimshuffle(2, 0, 1), v.transpose(2, 0, 1)),
        (x.dimshuffle((1, "x", 0, 2)), v.transpose(1, 0, 2)[:, None]),
        (T.dimshuffle(x, (0, 2, 1)), v.transpose(0, 2, 1)),
        (x.T, v.T),
        (T.transpose(x), v.T),
        (T.transpose(x, (1, 0, 2)), v.transpose(1, 0, 2)),
        (x.transpose(2, 1, 0), v.transpose(2, 1, 0)),
        (T.transpose(x, (-1, 0, 1)), v.transpose(2, 0, 1)),
        (T.swapaxes(x, 0, 2), np.swapaxes(v, 0, 2)),
        (x.swapaxes(-1, 1), np.swapaxes(v, -1, 1)),
    ]
    f = theano.function([x], [c[0] for c in cases])
    for got, (_, want) in zip(f(v), cases):
        np.testing.assert_array_equal(got, want)
    verify_grad(lambda a: T.swapaxes(a, 0, 2), [v])
    verify_grad(lambda a: a.dimshuffle(1, "x", 2, 0), [v])
    with pytest.raises(ValueError, match="not a permutation"):
        T.transpose(x, (0, 0, 1))
    with pytest.raises(ValueError, match="out of range"):
        T.swapaxes(x, 0, 3)
    with pytest.raises(ValueError, match="not broadcastable"):
        x.dimshuffle(0, 1)


def test_shape_padding(rng):
    v = rng.random((2, 3))
    x = typed(v)
    assert T.shape_padleft(x).broadcastable == (True, False, False)
    assert T.shape_padleft(x, 2).broadcastable == (True, True, False, False)
    assert T.shape_padright(x, 2).broadcastable == (False, False, True, True)
    assert T.shape_padaxis(x, 1).broadcastable == (False, True, False)
    assert T.shape_padaxis(x, -1).broadcastable == (False, False, True)
    f = theano.function([x], [T.shape_padleft(x, 2), T.shape_padright(x), T.shape_padaxis(x, 1),
                              T.shape_padaxis(x, -1)])
    for got, want in zip(f(v), [v[None, None], v[..., None], v[:, None], v[..., None]]):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(IndexError, match="out of range"):
        T.shape_padaxis(x, 3)
    verify_grad(lambda a: T.shape_padaxis(a, 1), [v])


def test_broadcast_flags(rng):
    m = T.matrix()
    r = T.addbroadcast(m, 0)
    assert r.broadcastable == (True, False)
    assert T.unbroadcast(r, 0).broadcastable == (False, False)
    assert T.patternbroadcast(m, (False, True)).broadcastable == (False, True)
    assert T.addbroadcast(m, -1).broadcastable == (False, True)
    v = rng.random((1, 3))
    np.testing.assert_array_equal(theano.function([m], r)(v), v)
    f = theano.function([m], r)
    with pytest.raises(ValueError, match="dimension 0 was declared broadcastable"):
        f(rng.random((2, 3)))
    with pytest.raises(ValueError, match="out of range"):
        T.addbroadcast(m, 2)
    with pytest.raises(ValueError, match="has 1 entries for a 2-d"):
        T.patternbroadcast(m, (True,))
    # r broadcasts against a (4, 3) matrix now
    n = T.matrix()
    got = theano.function([m, n], r + n)(v, np.ones((4, 3)))
    np.testing.assert_array_equal(got, v + np.ones((4, 3)))
    verify_grad(lambda a: T.addbroadcast(a, 0) * np.ones((4, 3)), [v])
    verify_grad(lambda a: T.unbroadcast(a, 0), [v])


def test_squeeze(rng):
    t = T.TensorType("float64", (True, False, True))()
    v = rng.random((1, 3, 1))
    assert T.squeeze(t).ndim == 1
    np.testing.assert_array_equal(T.squeeze(t).eval({t: v}), v.squeeze())
    m = T.tensor3()
    sq = T.squeeze(m, axis=1)
    w = rng.random((2, 1, 3))
    np.testing.assert_array_equal(theano.function([m], sq)(w), w.squeeze(1))
    with pytest.raises(ValueError, match="declared broadcastable"):
        theano.function([m], sq)(rng.random((2, 2, 3)))
    verify_grad(T.squeeze, [v])
    np.testing.assert_array_equal(t.squeeze().eval({t: v}), v.squeeze())


# -- join / concatenate / stack -----------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_join(axis, rng):
    a, b = rng.random((2, 3)), rng.random((2, 3))
    x, y = T.matrix(), T.matrix()
    want = np.concatenate([a, b], axis=axis)
    np.testing.assert_array_equal(theano.function([x, y], T.concatenate([x, y], axis))(a, b),
                                  want)
    np.testing.assert_array_equal(theano.function([x, y], T.join(axis, x, y))(a, b), want)
    out = T.join(axis, x, y, x)
    check_infer_shape(out, [x, y], [a, b])
    verify_grad(lambda p, q: T.concatenate([p, q, p], axis=axis), [a, b])


def test_join_mixed_dtypes_and_lengths(rng):
    x, y = T.fmatrix(), T.imatrix()
    out = T.concatenate([x, y], axis=0)
    assert out.dtype == "float64"
    a = rng.random((2, 3)).astype("float32")
    b = np.arange(12, dtype="int32").reshape(4, 3)
    got = theano.function([x, y], out)(a, b)
    np.testing.assert_array_equal(got, np.concatenate([a, b]))
    assert got.dtype == np.float64
    verify_grad(lambda p, q: T.concatenate([p, q], axis=1),
                [rng.random((2, 1)), rng.random((2, 4))])


def test_join_errors_and_single(rng):
    x, v = T.matrix(), T.vector()
    with pytest.raises(TypeError, match="tensor 1 has 1"):
        T.concatenate([x, v])
    with pytest.raises(TypeError, match="list or tuple"):
        T.concatenate(x)
    with pytest.raises(ValueError, match="out of range"):
        T.join(2, x, x)
    with pytest.raises(TypeError, match="constant int"):
        T.join(T.lscalar(), x, x)
    assert T.join(0, x) is x
    with pytest.raises(ValueError, match="differ outside that axis"):
        theano.function([x], T.concatenate([x, x.T], axis=0))(rng.random((2, 3)))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack(axis, rng):
    a, b, c = (rng.random((2, 3)) for _ in range(3))
    x, y, z = T.matrix(), T.matrix(), T.matrix()
    want = np.stack([a, b, c], axis=axis)
    got = theano.function([x, y, z], T.stack([x, y, z], axis=axis))(a, b, c)
    np.testing.assert_array_equal(got, want)
    verify_grad(lambda p, q: T.stack([p, q], axis=axis), [a, b])


def test_stack_old_form_and_errors(rng):
    x, y = T.vector(), T.vector()
    a, b = rng.random(3), rng.random(3)
    np.testing.assert_array_equal(theano.function([x, y], T.stack(x, y))(a, b),
                                  np.stack([a, b]))
    np.testing.assert_array_equal(theano.function([x, y], T.stack([x, y], 1))(a, b),
                                  np.stack([a, b], 1))
    with pytest.raises(ValueError, match="same ndim"):
        T.stack([x, T.matrix()])
    with pytest.raises(ValueError, match="at least one"):
        T.stack([])
    with pytest.raises(ValueError, match="out of range"):
        T.stack([x, y], axis=3)


def test_horizontal_vertical_stack(rng):
    a, b = rng.random((2, 3)), rng.random((2, 2))
    x, y = T.matrix(), T.matrix()
    np.testing.assert_array_equal(theano.function([x, y], T.horizontal_stack(x, y))(a, b),
                                  np.hstack([a, b]))
    np.testing.assert_array_equal(theano.function([x, y], T.vertical_stack(x, y))(a.T, b.T),
                                  np.vstack([a.T, b.T]))
    u, w = T.vector(), T.vector()
    np.testing.assert_array_equal(
        theano.function([u, w], T.vertical_stack(u, w))(a[0], a[1]), np.vstack([a[0], a[1]]))


# -- alloc / zeros / ones / *_like / fill / broadcast_to -----------------------
@pytest.mark.parametrize("dtype", ["float64", "float32", "int16"])
def test_alloc(dtype, rng):
    v = (rng.random(3) * 10).astype(dtype)
    x = typed(v)
    n = T.lscalar()
    out = T.alloc(x, 2, n, 3)
    assert out.dtype == dtype and out.broadcastable == (False, False, False)
    got = theano.function([x, n], out)(v, 4)
    np.testing.assert_array_equal(got, np.broadcast_to(v, (2, 4, 3)))
    check_infer_shape(out, [x, n], [v, 4])
    assert T.alloc(x, 1, 3).broadcastable == (True, False)
    assert T.alloc(x, (2, 3)).ndim == 2  # a tuple works too


def test_alloc_grad_and_errors(rng):
    verify_grad(lambda a: T.alloc(a, 2, 4, 3), [rng.random(3)])
    verify_grad(lambda a: T.alloc(a, 3, 4), [rng.random((1, 4))])
    verify_grad(lambda a: T.alloc(a, 2, 3), [np.asarray(1.5)])
    x = T.vector()
    f = theano.function([x], T.alloc(x, 2, 3))
    with pytest.raises(ValueError, match="value dim 0 has length 1 and is not broadcastable"):
        f(np.ones(1))
    with pytest.raises(ValueError, match="cannot broadcast"):
        f(np.ones(2))
    with pytest.raises(TypeError, match=r"shape\[0\] must be an integer scalar"):
        T.alloc(x, T.dscalar(), 3)
    with pytest.raises(TypeError, match="more than"):
        T.alloc(T.matrix(), 3)
    with pytest.raises(ValueError, match=">= 0"):
        T.alloc(x, -1, 3)


@pytest.mark.parametrize("fn,npfn", [(T.zeros, np.zeros), (T.ones, np.ones)])
def test_zeros_ones(fn, npfn, rng):
    n = T.lscalar()
    x = T.tensor3()
    cases = [(fn((2, 3)), npfn((2, 3)), theano.config.floatX),
             (fn((n, 3), dtype="int32"), npfn((4, 3)), "int32"),
             (fn(5, dtype="float32"), npfn(5), "float32"),
             (fn(x.shape), npfn((2, 1, 3)), theano.config.floatX),
             (fn(n), npfn(4), theano.config.floatX)]
    f = theano.function([n, x], [c[0] for c in cases], on_unused_input="ignore")
    for got, (out, want, dt) in zip(f(4, np.zeros((2, 1, 3))), cases):
        assert out.dtype == dt and got.dtype == dt
        np.testing.assert_array_equal(got, want)
    assert fn((1, 3)).broadcastable == (True, False)
    with pytest.raises(ValueError, match="static length"):
        fn(T.lvector())


def test_like_and_fill(rng):
    v = rng.random((2, 3)).astype("float32")
    x = T.fmatrix()
    outs = [T.zeros_like(x), T.ones_like(x), T.zeros_like(x, dtype="int8"), T.fill(x, 2.5),
            x.zeros_like(), x.ones_like(dtype="int32"), T.fill(x, T.constant(3, dtype="int64"))]
    assert [o.dtype for o in outs] == ["float32", "float32", "int8", "float32", "float32",
                                       "int32", "int64"]
    got = theano.function([x], outs)(v)
    wants = [np.zeros_like(v), np.ones_like(v), np.zeros((2, 3)), np.full((2, 3), 2.5),
             np.zeros((2, 3)), np.ones((2, 3)), np.full((2, 3), 3)]
    for g, w in zip(got, wants):
        np.testing.assert_array_equal(g, w)
    verify_grad(lambda a: T.ones_like(a) * a, [rng.random((2, 3))])
    verify_grad(lambda s: T.fill(np.zeros((2, 3)), s), [np.asarray(0.7)])


def test_broadcast_to(rng):
    v = rng.random(3)
    x = T.vector()
    m = T.matrix()
    out = T.broadcast_to(x, (4, 3))
    np.testing.assert_array_equal(theano.function([x], out)(v), np.broadcast_to(v, (4, 3)))
    out2 = T.broadcast_to(x, m.shape)
    np.testing.assert_array_equal(theano.function([x, m], out2)(v, np.zeros((2, 3))),
                                  np.broadcast_to(v, (2, 3)))
    verify_grad(lambda a: T.broadcast_to(a, (4, 3)), [v])
    with pytest.raises(ValueError, match="static length"):
        T.broadcast_to(x, T.lvector())


def test_infer_shape_misc(rng):
    v = rng.random((2, 3, 4))
    x = typed(v)
    for out in [x.dimshuffle(2, "x", 0, 1), T.addbroadcast(x[:1], 0), T.flatten(x, 2),
                T.shape(x)]:
        check_infer_shape(out, [x], [v])


# -- infer_shapes -------------------------------------------------------------
def _eval_shapes(shapes, inputs, values):
    flat = [e for s in shapes for e in s]
    res = link(FunctionGraph(inputs, flat))(*values)
    out, it = [], iter(res)
    for s in shapes:
        out.append(tuple(int(next(it)) for _ in s))
    return out


def test_infer_shapes_reads_no_value_where_ops_can_say():
    """An index past the end of an empty matrix has a shape all the same (a zero-step
    loop's per-step output): infer_shapes never computes it."""

    m, i = T.dmatrix("m"), T.lscalar("i")
    outs = [T.exp(m[i]) * 2, T.dot(m, m.T), m.T[:, 1:]]
    shapes = infer_shapes(outs, [m, i])
    got = _eval_shapes(shapes, [m, i], [np.zeros((0, 4)), np.int64(5)])
    assert got == [(4,), (0, 0), (4, 0)]
    with pytest.raises(IndexError):
        theano.function([m, i], outs[0], mode="FAST_COMPILE")(np.zeros((0, 4)), 5)


def test_infer_shapes_computes_an_output_whose_op_cannot_say():
    x = T.dvector("x")
    u = Unique(False, False, False, None)(x)
    (shape_u,) = infer_shapes([u], [x])
    assert isinstance(shape_u[0].owner.op, Shape_i) and shape_u[0].owner.inputs[0] is u
    assert _eval_shapes([shape_u], [x], [np.array([3.0, 1.0, 3.0])]) == [(2,)]
    assert infer_shapes([T.dscalar("s")], [])[0] == ()
