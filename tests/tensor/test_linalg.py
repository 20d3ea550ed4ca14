"""T.dot, T.tensordot, T.batched_dot, T.batched_tensordot, T.outer against NumPy."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.linalg import BatchedDot, Dot

from .linalg_helpers import run, sym


def check_shape_inference(fn, *values):
    """The op's infer_shape agrees with the computed shape."""
    ins = [sym(v, f"x{i}") for i, v in enumerate(values)]
    out = fn(*ins)
    node = out.owner
    shapes = [tuple(T.shape(i)[k] for k in range(i.ndim)) for i in node.inputs]
    inferred = node.op.infer_shape(node, shapes)[out.index]
    got = theano.function(ins, list(inferred) + [out], on_unused_input="ignore")(*values)
    assert tuple(int(s) for s in got[:-1]) == got[-1].shape


def rand(rng, shape, dtype="float64"):
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


SHAPE_PAIRS = [
    ((), ()), ((), (3,)), ((3,), ()), ((), (2, 3)), ((3,), (3,)), ((3,), (3, 4)),
    ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (5, 4, 2)), ((2, 1, 3, 4), (2, 4, 3)),
]


@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
def test_dot_matches_numpy_for_every_ndim(rng, sa, sb):
    a, b = rand(rng, sa), rand(rng, sb)
    got, out = run(T.dot, a, b)
    expected = np.dot(a, b)
    assert out.ndim == expected.ndim
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("sa,sb", [s for s in SHAPE_PAIRS if s[0] and s[1]])
def test_dot_gradient(rng, sa, sb):
    verify_grad(T.dot, [rand(rng, sa), rand(rng, sb)], rng=rng)


@pytest.mark.parametrize("da,db", [("float32", "float32"), ("float64", "float32"),
                                   ("int32", "int32"), ("int8", "float32"),
                                   ("int64", "float64"), ("int16", "int8")])
def test_dot_dtype_is_the_upcast(rng, da, db):
    a, b = rand(rng, (3, 4), da), rand(rng, (4, 2), db)
    got, out = run(T.dot, a, b)
    expected = np.dot(a, b)
    assert out.dtype == expected.dtype.name == got.dtype.name
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dot_weak_python_scalar_keeps_dtype():
    x = T.fmatrix("x")
    assert T.dot(x, 0.5).dtype == "float32"
    assert T.dot(2, x).dtype == "float32"


def test_dot_broadcastable_pattern_and_matmul_operator(rng):
    r, c = T.row("r"), T.col("c")
    assert T.dot(r, c).broadcastable == (True, True)
    assert T.dot(c, r).broadcastable == (False, False)
    x, y = T.matrix("x"), T.matrix("y")
    a, b = rand(rng, (2, 3)), rand(rng, (3, 2))
    np.testing.assert_allclose(theano.function([x, y], x @ y)(a, b), a @ b)
    np.testing.assert_allclose(theano.function([x, y], x.dot(y))(a, b), a @ b)


def test_dot_shape_mismatch_names_shapes(rng):
    x, y = T.matrix("x"), T.matrix("y")
    f = theano.function([x, y], T.dot(x, y))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 2\)"):
        f(rand(rng, (2, 3)), rand(rng, (4, 2)))


def test_dot_op_rejects_bad_ndim():
    with pytest.raises(TypeError, match="argument a must be a vector or a matrix"):
        Dot()(T.tensor3(), T.matrix())
    with pytest.raises(TypeError, match="argument b"):
        Dot()(T.matrix(), T.scalar())


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
                                   ((2, 3), (3, 4))])
def test_dot_infer_shape(rng, sa, sb):
    check_shape_inference(T.dot, rand(rng, sa), rand(rng, sb))


def test_dot_gradient_float32(rng):
    verify_grad(T.dot, [rand(rng, (3, 4), "float32"), rand(rng, (4, 2), "float32")], rng=rng)


def test_dot_gradient_with_broadcastable_row(rng):
    r, y = T.row("r"), T.matrix("y")
    g = theano.grad(T.dot(r, y).sum(), [r, y])
    a, b = rand(rng, (1, 3)), rand(rng, (3, 2))
    ga, gb = theano.function([r, y], g)(a, b)
    np.testing.assert_allclose(ga, np.ones((1, 2)) @ b.T)
    np.testing.assert_allclose(gb, a.T @ np.ones((1, 2)))


# -- tensordot --------------------------------------------------------------------------
TENSORDOT_CASES = [
    ((2, 3, 4), (3, 4, 5), 2), ((2, 3, 4), (4, 5), 1), ((2, 3), (4, 5), 0),
    ((3, 4), (3, 4), 2), ((2, 3, 4), (2, 3, 4), 3), ((2, 3, 4), (4, 3, 5), [[1, 2], [1, 0]]),
    ((2, 3, 4), (5, 2), [[0], [1]]), ((2, 3, 4), (4, 2, 3), [[-1, 0], [0, 1]]),
    ((3,), (3, 4), 1), ((2, 3, 4, 5), (5, 4, 6), [[3, 2], [0, 1]]), ((4,), (4,), [[0], [0]]),
]


@pytest.mark.parametrize("sa,sb,axes", TENSORDOT_CASES)
def test_tensordot_matches_numpy(rng, sa, sb, axes):
    a, b = rand(rng, sa), rand(rng, sb)
    got, out = run(lambda x, y: T.tensordot(x, y, axes), a, b)
    expected = np.tensordot(a, b, axes)
    assert out.ndim == expected.ndim
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("sa,sb,axes", TENSORDOT_CASES[:8])
def test_tensordot_gradient(rng, sa, sb, axes):
    verify_grad(lambda x, y: T.tensordot(x, y, axes), [rand(rng, sa), rand(rng, sb)], rng=rng)


def test_tensordot_default_axes_and_dtype(rng):
    a, b = rand(rng, (2, 3, 4), "float32"), rand(rng, (3, 4, 2), "int32")
    got, out = run(T.tensordot, a, b)
    assert out.dtype == np.tensordot(a, b).dtype.name
    np.testing.assert_allclose(got, np.tensordot(a, b), rtol=1e-5)


def test_tensordot_keeps_broadcastable_free_dims():
    x = T.TensorType("float64", (True, False, False))("x")
    y = T.TensorType("float64", (False, True))("y")
    assert T.tensordot(x, y, 1).broadcastable == (True, False, True)


@pytest.mark.parametrize("axes,msg", [(3, "more than the number"), ([[0, 1], [0]], "as many"),
                                      ([[5], [0]], "out of range for argument a"),
                                      ([[0, 0], [0, 1]], "repeat"), ("x", "int or a pair")])
def test_tensordot_bad_axes(axes, msg):
    with pytest.raises(ValueError, match=msg):
        T.tensordot(T.matrix(), T.matrix(), axes)


def test_tensordot_runtime_length_mismatch(rng):
    x, y = T.matrix("x"), T.matrix("y")
    f = theano.function([x, y], T.tensordot(x, y, [[1], [0]]))
    with pytest.raises(ValueError):
        f(rand(rng, (2, 3)), rand(rng, (4, 2)))


# -- batched_dot / batched_tensordot ---------------------------------------------------
def batched_reference(a, b):
    return np.array([np.dot(x, y) for x, y in zip(a, b)])


BATCHED_CASES = [((4, 2, 3), (4, 3, 5)), ((4, 2, 3), (4, 3)), ((4, 3), (4, 3, 5)),
                 ((4, 3), (4, 3)), ((4,), (4, 2, 3)), ((4, 2, 3), (4,)), ((4,), (4,)),
                 ((4, 2, 3, 5), (4, 5, 2)), ((4, 2, 5), (4, 3, 5, 2)), ((1, 2, 3), (1, 3, 2))]


@pytest.mark.parametrize("sa,sb", BATCHED_CASES)
def test_batched_dot_matches_loop_of_dots(rng, sa, sb):
    a, b = rand(rng, sa), rand(rng, sb)
    got, out = run(T.batched_dot, a, b)
    expected = batched_reference(a, b) if len(sa) > 1 and len(sb) > 1 else (
        a.reshape(a.shape + (1,) * (b.ndim - 1)) * b if a.ndim == 1
        else a * b.reshape(b.shape + (1,) * (a.ndim - 1)))
    assert out.ndim == expected.ndim
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("sa,sb", BATCHED_CASES)
def test_batched_dot_gradient(rng, sa, sb):
    verify_grad(T.batched_dot, [rand(rng, sa), rand(rng, sb)], rng=rng)


@pytest.mark.parametrize("sa,sb", BATCHED_CASES[:4])
def test_batched_dot_infer_shape_and_float32(rng, sa, sb):
    check_shape_inference(T.batched_dot, rand(rng, sa), rand(rng, sb))
    a, b = rand(rng, sa, "float32"), rand(rng, sb, "float32")
    got, out = run(T.batched_dot, a, b)
    assert out.dtype == got.dtype == np.float32
    np.testing.assert_allclose(got, batched_reference(a, b), rtol=1e-5)


def test_batched_dot_errors(rng):
    with pytest.raises(TypeError, match="argument a must have at least one"):
        T.batched_dot(T.scalar(), T.matrix())
    with pytest.raises(TypeError, match="argument a must have 2 or 3"):
        BatchedDot()(T.vector(), T.matrix())
    x, y = T.tensor3("x"), T.tensor3("y")
    f = theano.function([x, y], T.batched_dot(x, y))
    with pytest.raises(ValueError, match="batch sizes"):
        f(rand(rng, (3, 2, 2)), rand(rng, (4, 2, 2)))


BT_CASES = [((3, 2, 4), (3, 4, 5), [[2], [1]]), ((3, 2, 4, 5), (3, 4, 5, 2), 2),
            ((3, 2, 4, 5), (3, 5, 6, 4), [[2, 3], [3, 1]]), ((3, 4), (3, 4), 1),
            ((3, 2, 4), (3, 4), [[2], [1]]), ((3, 4, 2), (3, 2, 4), [[1, 2], [2, 1]])]


def bt_reference(a, b, axes):
    if isinstance(axes, int):
        axes = [list(range(a.ndim - axes, a.ndim)), list(range(1, axes + 1))]
    ax = [[d - 1 for d in axes[0]], [d - 1 for d in axes[1]]]
    return np.array([np.tensordot(x, y, ax) for x, y in zip(a, b)])


@pytest.mark.parametrize("sa,sb,axes", BT_CASES)
def test_batched_tensordot_matches_loop(rng, sa, sb, axes):
    a, b = rand(rng, sa), rand(rng, sb)
    got, _ = run(lambda x, y: T.batched_tensordot(x, y, axes), a, b)
    np.testing.assert_allclose(got, bt_reference(a, b, axes), rtol=1e-12)


@pytest.mark.parametrize("sa,sb,axes", BT_CASES[:3])
def test_batched_tensordot_gradient(rng, sa, sb, axes):
    verify_grad(lambda x, y: T.batched_tensordot(x, y, axes), [rand(rng, sa), rand(rng, sb)],
                rng=rng)


def test_batched_tensordot_rejects_batch_axis():
    with pytest.raises(ValueError, match="batch axis"):
        T.batched_tensordot(T.tensor3(), T.tensor3(), [[0], [1]])


# -- outer ---------------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 3), (4,)), ((3,), (2, 2))])
def test_outer(rng, sa, sb):
    a, b = rand(rng, sa), rand(rng, sb)
    got, out = run(T.outer, a, b)
    np.testing.assert_allclose(got, np.outer(a, b))
    verify_grad(T.outer, [a, b], rng=rng)


def test_outer_int_dtype(rng):
    a, b = rand(rng, (3,), "int32"), rand(rng, (2,), "int8")
    got, out = run(T.outer, a, b)
    assert got.dtype == np.outer(a, b).dtype
    np.testing.assert_array_equal(got, np.outer(a, b))


def test_numpy_constants_and_second_order(rng):
    a, b = rand(rng, (2, 3)), rand(rng, (3,))
    np.testing.assert_allclose(theano.function([], T.dot(a, b))(), a @ b)
    x = T.matrix("x")
    np.testing.assert_allclose(theano.function([x], T.tensordot(x, a.T, 1))(a), a @ a.T)
    verify_grad(lambda m: theano.grad(T.tensordot(m, m, [[0], [1]]).sum(), m),
                [rand(rng, (3, 3))], rng=rng)
    verify_grad(lambda m: theano.grad((T.batched_dot(m, m) ** 2).sum(), m),
                [rand(rng, (2, 3, 3))], rng=rng)
