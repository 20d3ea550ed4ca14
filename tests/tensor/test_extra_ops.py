"""extra_ops against NumPy: arange, eye/tri/tril/triu/identity_like, to_one_hot,
cumsum/cumprod/diff, sort/argsort/searchsorted/unique/inverse_permutation/compress,
repeat/tile/roll/bincount, diagonal/trace/diag/fill_diagonal: values, dtypes,
infer_shape, gradients (finite differences) and error messages."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.shape import shape_i

FLOATX = theano.config.floatX


def typed(v, name=None):
    v = np.asarray(v)
    return T.TensorType(v.dtype.name, (False,) * v.ndim)(name)


def run(fn, *values):
    xs = [typed(v) for v in values]
    out = fn(*xs)
    return out, theano.function(xs, out)(*values)


def check_infer_shape(out, inputs, values):
    node = out.owner
    shapes = [tuple(shape_i(v, k) for k in range(v.ndim)) for v in node.inputs]
    inferred = node.op.infer_shape(node, shapes)[out.index]
    f = theano.function(inputs, [out, *inferred], on_unused_input="ignore")
    got, *dims = f(*values)
    assert tuple(int(d) for d in dims) == got.shape


# -- arange -------------------------------------------------------------------
@pytest.mark.parametrize("args", [(5,), (2, 9), (2, 9, 3), (9, 2, -2), (5, 2), (0,),
                                  (-3, 3, 1)])
def test_arange_int_values(args):
    out = T.arange(*args)
    assert out.dtype == "int64"
    np.testing.assert_array_equal(out.eval(), np.arange(*args))


@pytest.mark.parametrize("args", [(2.5,), (0.5, 3.0, 0.7), (3.0, 0.0, -0.4), (1, 2, 0.25)])
def test_arange_float_values(args):
    out = T.arange(*args)
    assert out.dtype == FLOATX
    np.testing.assert_allclose(out.eval(), np.arange(*args))
    check_infer_shape(out, [], [])


def test_arange_dtypes_symbolic():
    i32, f32, u8 = T.iscalar(), T.fscalar(), T.TensorType("uint8", ())()
    assert T.arange(i32).dtype == "int64"
    assert T.arange(f32).dtype == "float32"
    assert T.arange(0, u8).dtype == "uint64"  # 0 is weak: uint8, widened to uint64
    assert T.arange(T.constant(np.int8(-3)), u8).dtype == "int64"  # int16, widened
    assert T.arange(f32, 3, 0.5).dtype == "float32"  # Python scalars are weak
    assert T.arange(f32, T.dscalar()).dtype == "float64"
    assert T.arange(3, dtype="float32").dtype == "float32"
    f = theano.function([i32, f32], [T.arange(i32, 20, 3), T.arange(f32, 3, 0.5)])
    a, b = f(2, np.float32(0.25))
    np.testing.assert_array_equal(a, np.arange(2, 20, 3))
    np.testing.assert_allclose(b, np.arange(np.float32(0.25), 3, 0.5, dtype="float32"))
    assert b.dtype == np.float32
    check_infer_shape(T.arange(i32, 20, 3), [i32], [2])
    check_infer_shape(T.arange(i32, 2, -3), [i32], [20])
    check_infer_shape(T.arange(i32, 2, 1), [i32], [20])  # empty


def test_arange_grad_and_errors():
    verify_grad(lambda a, s: T.arange(a, a + 3.05, s), [np.asarray(0.3), np.asarray(0.5)])
    with pytest.raises(ValueError, match="step must not be 0"):
        T.arange(0, 5, 0)
    s = T.lscalar()
    with pytest.raises(ValueError, match="step must not be 0"):
        theano.function([s], T.arange(0, 5, s))(0)
    with pytest.raises(TypeError, match="stop must be a scalar"):
        T.arange(T.vector())
    with pytest.raises(TypeError, match="int or float scalar"):
        T.arange(T.constant(True))


# -- eye / tri / tril / triu / identity_like / to_one_hot -----------------------
@pytest.mark.parametrize("n,m,k", [(3, None, 0), (3, 5, 1), (4, 2, -1), (3, 3, 5), (0, 2, 0)])
def test_eye_tri(n, m, k):
    e, t = T.eye(n, m, k), T.tri(n, m, k)
    assert e.dtype == FLOATX and t.dtype == FLOATX
    np.testing.assert_array_equal(e.eval(), np.eye(n, m, k))
    np.testing.assert_array_equal(t.eval(), np.tri(n, m, k))
    np.testing.assert_array_equal(T.eye(n, m, k, dtype="int32").eval(),
                                  np.eye(n, m, k, dtype="int32"))


def test_eye_symbolic_and_identity_like(rng):
    n, k = T.lscalar(), T.iscalar()
    f = theano.function([n, k], T.eye(n, n + 1, k))
    np.testing.assert_array_equal(f(3, -1), np.eye(3, 4, -1))
    x = T.fmatrix()
    il = T.identity_like(x)
    assert il.dtype == "float32"
    np.testing.assert_array_equal(il.eval({x: np.zeros((2, 4), "float32")}), np.eye(2, 4))
    with pytest.raises(TypeError, match="must be a matrix"):
        T.identity_like(T.vector())
    with pytest.raises(TypeError, match="N must be an integer scalar"):
        T.eye(T.dscalar())


@pytest.mark.parametrize("k", [0, 1, -1, 3])
@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (2, 4, 3)])
def test_tril_triu(k, shape, rng):
    v = rng.random(shape)
    for fn, ref in [(T.tril, np.tril), (T.triu, np.triu)]:
        out, got = run(lambda a, fn=fn: fn(a, k), v)
        np.testing.assert_array_equal(got, ref(v, k))
        assert got.dtype == v.dtype
    verify_grad(lambda a: T.tril(a, k), [v])
    verify_grad(lambda a: T.triu(a, k), [v])
    iv = np.arange(9, dtype="int16").reshape(3, 3)
    _, got = run(T.tril, iv)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, np.tril(iv))
    with pytest.raises(ValueError, match="at least 2 dims"):
        T.tril(T.vector())


def test_to_one_hot():
    y = T.ivector()
    out = T.to_one_hot(y, 4)
    assert out.dtype == FLOATX
    f = theano.function([y], out)
    np.testing.assert_array_equal(f(np.array([0, 3, 1], "int32")), np.eye(4)[[0, 3, 1]])
    o2 = T.to_one_hot(y, 3, dtype="int8")
    got = theano.function([y], o2)(np.array([2, 2], "int32"))
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, [[0, 0, 1], [0, 0, 1]])
    check_infer_shape(out, [y], [np.array([0, 1], "int32")])
    with pytest.raises(ValueError, match="class index 4 out of range for nb_class=4"):
        f(np.array([4], "int32"))
    with pytest.raises(TypeError, match="integer vector"):
        T.to_one_hot(T.vector(), 3)


# -- cumsum / cumprod / diff --------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "int32", "bool"])
def test_cumsum_cumprod_values(axis, dtype, rng):
    v = (rng.random((3, 4)) * 3).astype(dtype)
    for fn, ref in [(T.cumsum, np.cumsum), (T.cumprod, np.cumprod)]:
        out, got = run(lambda a, fn=fn: fn(a, axis), v)
        want = ref(v, axis=axis)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6)
        if axis is not None:
            check_infer_shape(out, [out.owner.inputs[0]], [v])


def test_cum_methods_and_errors(rng):
    x = T.tensor3()
    v = rng.random((2, 3, 2))
    np.testing.assert_allclose(x.cumsum(1).eval({x: v}), v.cumsum(1))
    np.testing.assert_allclose(x.cumprod().eval({x: v}), v.cumprod())
    with pytest.raises(ValueError, match="axis in"):
        T.cumsum(x, 3)
    with pytest.raises(ValueError, match="0-d"):
        T.cumsum(T.scalar(), 0)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_cumsum_grad(axis, rng):
    verify_grad(lambda a: T.cumsum(a, axis), [rng.random((3, 4))])


@pytest.mark.parametrize("v", [
    np.array([0.5, 1.5, -2.0, 0.7]),
    np.array([0.5, 0.0, -2.0, 0.7]),
    np.array([0.0, 1.5, 0.0, 0.7]),
    np.array([0.5, 1.5, 0.0, 0.0]),
    np.array([[1.1, 0.0, 2.0], [0.0, 0.0, 3.0], [0.3, -1.2, 0.9]]),
])
def test_cumprod_grad_with_zeros(v):
    verify_grad(lambda a: T.cumprod(a, -1), [v])
    verify_grad(lambda a: T.cumprod(a, 0), [v])
    verify_grad(T.cumprod, [v])


def test_cumprod_grad_exact_values():
    x = T.vector()
    g = T.grad(T.sum(T.cumprod(x)), x)
    v = np.array([2.0, 0.0, 3.0, 4.0])
    # d/dx_i sum_j prod_{k<=j} x_k, computed by hand
    want = [1.0, 2 + 2 * 3 + 2 * 3 * 4, 0.0, 0.0]
    np.testing.assert_allclose(theano.function([x], g)(v), want)


def test_cumsum_second_order(rng):
    x = T.vector()
    c = T.sum(T.cumsum(x) ** 2)
    g = T.grad(c, x)
    h = T.grad(T.sum(g * np.arange(3.0)), x)
    v = rng.random(3)
    # c = sum_j (L x)_j^2, so the Hessian is 2 L^T L with L lower-triangular ones
    L = np.tril(np.ones((3, 3)))
    np.testing.assert_allclose(theano.function([x], h)(v), 2 * L.T @ L @ np.arange(3.0))


@pytest.mark.parametrize("n", [0, 1, 2, 3])
@pytest.mark.parametrize("axis", [-1, 0])
def test_diff(n, axis, rng):
    v = rng.random((4, 5))
    _, got = run(lambda a: T.diff(a, n, axis), v)
    np.testing.assert_allclose(got, np.diff(v, n, axis))
    verify_grad(lambda a: T.diff(a, n, axis), [v])
    iv = np.array([1, 4, 9, 16], "int32")
    _, got = run(lambda a: T.diff(a, n), iv)
    np.testing.assert_array_equal(got, np.diff(iv, n))
    bv = np.array([True, False, False, True])
    _, got = run(lambda a: T.diff(a, n), bv)
    np.testing.assert_array_equal(got, np.diff(bv, n))


def test_diff_errors():
    with pytest.raises(ValueError, match="at least one dimension"):
        T.diff(T.scalar())
    with pytest.raises(ValueError, match="non-negative int"):
        T.diff(T.vector(), -1)


# -- sort / argsort / searchsorted / unique / permutations ------------------------
@pytest.mark.parametrize("axis", [-1, 0, 1, None])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_sort_argsort(axis, dtype, rng):
    v = (rng.standard_normal((3, 5)) * 10).astype(dtype)
    out, got = run(lambda a: T.sort(a, axis), v)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.sort(v, axis))
    out, got = run(lambda a: T.argsort(a, axis, kind="stable"), v)
    assert out.dtype == "int64" and got.dtype == np.int64
    np.testing.assert_array_equal(got, np.argsort(v, axis, kind="stable"))
    if dtype == "float64":
        verify_grad(lambda a: T.sort(a, axis), [v])


def test_sort_kinds_methods_errors(rng):
    v = rng.random(7)
    x = T.vector()
    for kind in ("quicksort", "mergesort", "heapsort", "stable"):
        np.testing.assert_array_equal(T.sort(x, kind=kind).eval({x: v}), np.sort(v))
    np.testing.assert_array_equal(x.sort().eval({x: v}), np.sort(v))
    np.testing.assert_array_equal(x.argsort().eval({x: v}), np.argsort(v))
    with pytest.raises(ValueError, match="kind must be one of"):
        T.sort(x, kind="bogo")
    with pytest.raises(ValueError, match="structured arrays"):
        T.sort(x, order="f")
    with pytest.raises(ValueError, match="axis in"):
        T.sort(x, axis=1)


def test_sort_grad_values(rng):
    x = T.vector()
    w = np.array([1.0, 10.0, 100.0])
    g = T.grad(T.sum(T.sort(x) * w), x)
    np.testing.assert_array_equal(theano.function([x], g)(np.array([3.0, 1.0, 2.0])),
                                  [100.0, 1.0, 10.0])


def test_inverse_permutation(rng):
    p = T.lvector()
    perm = rng.permutation(6)
    got = theano.function([p], T.inverse_permutation(p))(perm)
    np.testing.assert_array_equal(got, np.argsort(perm))
    m = T.imatrix()
    perms = np.stack([rng.permutation(4) for _ in range(3)]).astype("int32")
    got = theano.function([m], T.inverse_permutation(m))(perms)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.argsort(perms, axis=1))


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(side, rng):
    x = np.array([1.0, 2.0, 2.0, 3.5, 7.0])
    v = np.array([[0.0, 2.0], [3.5, 9.0]])
    out, got = run(lambda a, b: T.searchsorted(a, b, side=side), x, v)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.searchsorted(x, v, side=side))
    check_infer_shape(out, out.owner.inputs, [x, v])
    unsorted = rng.permutation(x)
    sorter = np.argsort(unsorted)
    _, got = run(lambda a, b, s: T.searchsorted(a, b, side, s), unsorted, v, sorter)
    np.testing.assert_array_equal(got, np.searchsorted(unsorted, v, side, sorter))
    with pytest.raises(ValueError, match="side must be"):
        T.searchsorted(T.vector(), T.vector(), side="middle")
    with pytest.raises(TypeError, match="x must be a vector"):
        T.searchsorted(T.matrix(), T.vector())


@pytest.mark.parametrize("flags", [(False, False, False), (True, False, False),
                                   (False, True, False), (False, False, True),
                                   (True, True, True)])
def test_unique(flags, rng):
    v = rng.integers(0, 5, size=(3, 4)).astype("int32")
    x = T.imatrix()
    out = T.unique(x, *flags)
    f = theano.function([x], out)
    got = f(v)
    want = np.unique(v, *flags)
    if not any(flags):
        got, want = [got], [want]
    assert len(got) == len(want)
    assert got[0].dtype == np.int32
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, np.asarray(w).reshape(g.shape))
    for g in got[1:]:
        assert g.dtype == np.int64 and g.ndim == 1


def test_unique_axis(rng):
    v = np.array([[1, 2], [3, 4], [1, 2]], dtype="float64")
    x = T.matrix()
    vals, counts = T.unique(x, return_counts=True, axis=0)
    got = theano.function([x], [vals, counts])(v)
    want = np.unique(v, return_counts=True, axis=0)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_compress(rng):
    v = rng.random((3, 4))
    c = np.array([True, False, True, True])
    x, cond = T.matrix(), T.vector(dtype="bool")
    f = theano.function([x, cond], [T.compress(cond, x, axis=1), T.compress(cond, x)])
    a, b = f(v, c)
    np.testing.assert_array_equal(a, np.compress(c, v, axis=1))
    np.testing.assert_array_equal(b, np.compress(c, v))
    verify_grad(lambda a: T.compress(c, a, axis=1), [v])
