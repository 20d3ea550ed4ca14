"""extra_ops, part 2: repeat, tile, roll, bincount, diagonals (values vs NumPy,
gradients by verify_grad, errors)."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor import extra_ops

from .test_extra_ops import check_infer_shape, run


# -- repeat / tile / roll / bincount --------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int16"])
def test_repeat_scalar(axis, dtype, rng):
    v = (rng.random((2, 3)) * 10).astype(dtype)
    out, got = run(lambda a: T.repeat(a, 3, axis), v)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.repeat(v, 3, axis))
    check_infer_shape(out, [out.owner.inputs[0]], [v])


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_repeat_symbolic_and_grad(axis, rng):
    v = rng.random((2, 3))
    x, r = T.matrix(), T.lscalar()
    out = T.repeat(x, r, axis)
    for reps in (0, 1, 2):
        np.testing.assert_array_equal(theano.function([x, r], out)(v, reps),
                                      np.repeat(v, reps, axis))
    verify_grad(lambda a: T.repeat(a, 2, axis), [v])
    n = v.size if axis is None else v.shape[axis]
    reps = np.arange(n) % 3
    xr = T.lvector()
    out = T.repeat(x, xr, axis)
    np.testing.assert_array_equal(theano.function([x, xr], out)(v, reps),
                                  np.repeat(v, reps, axis))
    check_infer_shape(out, [x, xr], [v, reps])
    verify_grad(lambda a: T.repeat(a, reps, axis), [v])
    np.testing.assert_array_equal(x.repeat(2, 0).eval({x: v}), v.repeat(2, 0))


def test_repeat_second_order(rng):
    x = T.vector()
    g = T.grad(T.sum(T.repeat(x, [1, 2, 3]) ** 2), x)
    h = theano.function([x], T.grad(T.sum(g), x))(rng.random(3))
    np.testing.assert_allclose(h, [2.0, 4.0, 6.0])  # d/dx (2 * r_i * x_i)


def test_repeat_errors(rng):
    x = T.vector()
    r = T.lvector()
    f = theano.function([x, r], T.repeat(x, r))
    with pytest.raises(ValueError, match="repeats has 2 entries but x has 3"):
        f(np.ones(3), np.array([1, 2]))
    with pytest.raises(ValueError, match=">= 0"):
        f(np.ones(2), np.array([1, -2]))
    with pytest.raises(TypeError, match="integer scalar or vector"):
        T.repeat(x, T.dscalar())
    with pytest.raises(ValueError, match="axis in"):
        T.repeat(x, 2, axis=1)


@pytest.mark.parametrize("shape,reps", [((3,), 2), ((2, 3), (2, 1)), ((2, 3), (3,)),
                                        ((2, 3), (2, 1, 2)), ((2, 1, 2), (1, 3, 2)),
                                        ((3,), (0,))])
def test_tile(shape, reps, rng):
    v = rng.random(shape)
    out, got = run(lambda a: T.tile(a, reps), v)
    np.testing.assert_array_equal(got, np.tile(v, reps))
    verify_grad(lambda a: T.tile(a, reps), [v])


def test_tile_symbolic_and_ndim(rng):
    v = rng.random((2, 3))
    x = T.matrix()
    r = T.lscalar()
    f = theano.function([x, r], T.tile(x, (r, 2)))
    np.testing.assert_array_equal(f(v, 3), np.tile(v, (3, 2)))
    rv = T.lvector()
    f = theano.function([x, rv], T.tile(x, [rv[0], rv[1]]))
    np.testing.assert_array_equal(f(v, np.array([2, 2])), np.tile(v, (2, 2)))
    out = T.tile(x, 2, ndim=3)
    assert out.ndim == 3
    np.testing.assert_array_equal(out.eval({x: v}), np.tile(v, (1, 1, 2)))
    with pytest.raises(ValueError, match="must be >= x.ndim"):
        T.tile(x, (2, 2), ndim=1)
    with pytest.raises(ValueError, match="not known statically"):
        T.tile(x, rv)
    f = theano.function([x, rv], T.tile(x, rv, ndim=3))
    np.testing.assert_array_equal(f(v, np.array([2, 1, 3])), np.tile(v, (2, 1, 3)))


@pytest.mark.parametrize("shift,axis", [(1, None), (-2, None), (7, 0), (2, 1), (-1, -1),
                                        ((1, 2), (0, 1)), (0, 1)])
def test_roll(shift, axis, rng):
    v = rng.random((3, 4))
    out, got = run(lambda a: T.roll(a, shift, axis), v)
    np.testing.assert_array_equal(got, np.roll(v, shift, axis))
    verify_grad(lambda a: T.roll(a, shift, axis), [v])


def test_roll_symbolic_shift(rng):
    x, s = T.tensor3(), T.iscalar()
    v = rng.random((2, 3, 4))
    f = theano.function([x, s], [T.roll(x, s, 2), T.roll(x, s)])
    for k in (-5, 0, 3):
        a, b = f(v, k)
        np.testing.assert_array_equal(a, np.roll(v, k, 2))
        np.testing.assert_array_equal(b, np.roll(v, k))
    with pytest.raises(ValueError, match="axis in"):
        T.roll(x, 1, 3)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_bincount(dtype, rng):
    v = rng.integers(0, 6, size=20).astype(dtype)
    out, got = run(T.bincount, v)
    assert got.dtype == dtype  # Theano: counts have x's dtype
    np.testing.assert_array_equal(got, np.bincount(v))
    _, got = run(lambda a: T.bincount(a, minlength=10), v)
    np.testing.assert_array_equal(got, np.bincount(v, minlength=10))
    w = rng.random(20).astype("float32")
    _, got = run(lambda a, b: T.bincount(a, b), v, w)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.bincount(v, w), rtol=1e-5)


def test_bincount_grad_and_errors(rng):
    idx = np.array([0, 3, 3, 1, 0], dtype="int64")
    verify_grad(lambda w: T.bincount(idx, w), [rng.random(5)])
    x = T.lvector()
    f = theano.function([x], T.bincount(x))
    with pytest.raises(ValueError, match="non-negative"):
        f(np.array([1, -1]))
    np.testing.assert_array_equal(f(np.zeros(0, "int64")), np.zeros(0))
    with pytest.raises(TypeError, match="integer vector"):
        T.bincount(T.vector())


# -- diagonal / trace / diag / fill_diagonal -------------------------------------
@pytest.mark.parametrize("offset", [0, 1, -1, 2, -3, 9])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 2)])
def test_diagonal_trace(offset, shape, rng):
    v = rng.random(shape)
    out, got = run(lambda a: T.diagonal(a, offset), v)
    np.testing.assert_array_equal(got, np.diagonal(v, offset))
    check_infer_shape(out, [out.owner.inputs[0]], [v])
    _, got = run(lambda a: T.trace(a, offset), v)
    np.testing.assert_allclose(got, np.trace(v, offset))
    verify_grad(lambda a: T.diagonal(a, offset), [v])
    verify_grad(lambda a: T.trace(a, offset), [v])


@pytest.mark.parametrize("offset,axis1,axis2", [(0, 0, 1), (1, 1, 2), (-1, 2, 0), (0, -1, 1)])
def test_diagonal_3d(offset, axis1, axis2, rng):
    v = rng.random((3, 4, 5))
    out, got = run(lambda a: T.diagonal(a, offset, axis1, axis2), v)
    np.testing.assert_array_equal(got, np.diagonal(v, offset, axis1, axis2))
    check_infer_shape(out, [out.owner.inputs[0]], [v])
    verify_grad(lambda a: T.diagonal(a, offset, axis1, axis2), [v])
    _, got = run(lambda a: a.trace(), v)
    np.testing.assert_allclose(got, np.trace(v))


def test_diagonal_errors():
    with pytest.raises(ValueError, match="at least 2 dims"):
        T.diagonal(T.vector())
    with pytest.raises(ValueError, match="must differ"):
        T.diagonal(T.matrix(), 0, 1, -1)
    with pytest.raises(TypeError, match="offset must be an int"):
        T.diagonal(T.matrix(), T.lscalar())


@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag(k, rng):
    v = rng.random(3)
    _, got = run(lambda a: T.diag(a, k), v)
    np.testing.assert_array_equal(got, np.diag(v, k))
    verify_grad(lambda a: T.diag(a, k), [v])
    m = rng.random((3, 4))
    _, got = run(lambda a: T.diag(a, k), m)
    np.testing.assert_array_equal(got, np.diag(m, k))
    iv = np.arange(3, dtype="int32")
    _, got = run(T.diag, iv)
    assert got.dtype == np.int32
    with pytest.raises(ValueError, match="vector or a matrix"):
        T.diag(T.tensor3())


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 5), (3, 3, 3)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_fill_diagonal(shape, dtype, rng):
    v = (rng.random(shape) * 10).astype(dtype)
    out, got = run(lambda a: T.fill_diagonal(a, 5), v)
    want = v.copy()
    np.fill_diagonal(want, 5)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    if dtype == "float64":
        verify_grad(lambda a, s: T.fill_diagonal(a, s), [v, np.asarray(0.5)])


def test_fill_diagonal_offset_and_errors(rng):
    v = rng.random((3, 4))
    for off in (-2, -1, 0, 1, 3, 5):
        _, got = run(lambda a, off=off: T.fill_diagonal_offset(a, 7.0, off), v)
        want = v.copy()
        rows = np.arange(3)
        cols = rows + off
        ok = (cols >= 0) & (cols < 4)
        want[rows[ok], cols[ok]] = 7.0
        np.testing.assert_array_equal(got, want)
        verify_grad(lambda a, s, off=off: T.fill_diagonal_offset(a, s, off),
                    [v, np.asarray(0.2)])
    f32 = T.fmatrix()
    assert T.fill_diagonal(f32, 0.5).dtype == "float32"  # Python scalars are weak
    with pytest.raises(TypeError, match="cannot be stored"):
        T.fill_diagonal(f32, T.dscalar())
    with pytest.raises(TypeError, match="val must be a scalar"):
        T.fill_diagonal(T.matrix(), T.vector())
    with pytest.raises(ValueError, match="at least 2 dims"):
        T.fill_diagonal(T.vector(), 1.0)
    with pytest.raises(ValueError, match="must be a matrix"):
        T.fill_diagonal_offset(T.tensor3(), 1.0, 1)


def test_extra_ops_module_exports():
    for name in extra_ops.__all__:
        assert getattr(T, name) is getattr(extra_ops, name)
    assert T.extra_ops.cumsum is T.cumsum


# -- bartlett / unravel_index / ravel_multi_index -------------------------------
def test_bartlett():
    m = T.lscalar()
    out = T.bartlett(m)
    f = theano.function([m], out)
    for n in (0, 1, 2, 5, 8):
        got = f(n)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, np.bartlett(n))
    check_infer_shape(out, [m], [6])
    with pytest.raises(TypeError, match="M must be an integer scalar"):
        T.bartlett(T.dscalar())


@pytest.mark.parametrize("order", ["C", "F"])
def test_unravel_ravel_index(order, rng):
    dims = (2, 3, 4)
    flat = rng.integers(0, 24, size=(2, 5)).astype("int32")
    i = T.imatrix()
    outs = T.unravel_index(i, dims, order)
    assert len(outs) == 3 and all(o.dtype == "int32" for o in outs)
    got = theano.function([i], list(outs))(flat)
    want = np.unravel_index(flat, dims, order)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    a, b, c = T.imatrix(), T.imatrix(), T.imatrix()
    back = T.ravel_multi_index((a, b, c), dims, order=order)
    np.testing.assert_array_equal(theano.function([a, b, c], back)(*got), flat)
    x = T.tensor3()  # dims from a symbolic shape
    f = theano.function([i, x], list(T.unravel_index(i, x.shape, order)))
    for g, w in zip(f(flat, np.zeros(dims)), want):
        np.testing.assert_array_equal(g, w)


def test_ravel_multi_index_modes_and_errors():
    a, b = T.lvector(), T.lvector()
    av, bv = np.array([1, 5]), np.array([-1, 2])
    for mode in ("wrap", "clip"):
        got = theano.function([a, b], T.ravel_multi_index((a, b), (3, 4), mode=mode))(av, bv)
        np.testing.assert_array_equal(got, np.ravel_multi_index((av, bv), (3, 4), mode=mode))
    f = theano.function([a, b], T.ravel_multi_index((a, b), (3, 4)))
    with pytest.raises(ValueError, match="ravel_multi_index"):
        f(av, bv)
    with pytest.raises(ValueError, match="tuple of 2 index arrays"):
        T.ravel_multi_index((a,), (3, 4))
    with pytest.raises(ValueError, match="order must be"):
        T.unravel_index(a, (3, 4), order="K")
    with pytest.raises(ValueError, match="known statically"):
        T.unravel_index(a, T.lvector())


# -- float32 gradients ------------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda a: T.cumsum(a, 1), lambda a: T.cumprod(a, 0), lambda a: T.sort(a, 1),
    lambda a: T.repeat(a, 2, 0), lambda a: T.tile(a, (2, 1)), lambda a: T.roll(a, 1, 1),
    lambda a: T.diagonal(a, 1), lambda a: T.diff(a), lambda a: T.fill_diagonal(a, 0.0),
    lambda a: T.reshape(a, (-1,)), lambda a: T.concatenate([a, 2 * a], 1),
])
def test_float32_grads(fn, rng):
    # well separated values: a finite-difference step must not reorder sort's input
    v = (0.5 + 0.1 * rng.permutation(12).reshape(3, 4)).astype("float32")
    x = T.fmatrix()
    out = fn(x)
    assert out.dtype == "float32"
    g = T.grad(T.sum(out), x)
    assert g.dtype == "float32"
    verify_grad(fn, [v])
