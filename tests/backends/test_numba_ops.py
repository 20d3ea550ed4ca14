"""Every op implementation of the numba backend agrees with py (values, dtype, shape)."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA, backend_mode

if HAVE_NUMBA:
    from theanine.backends.numba import linker

R = np.random.default_rng(7)


def f64(*shape):
    return R.normal(size=shape)


def f32(*shape):
    return R.normal(size=shape).astype("float32")


UNARY_FLOAT = ["exp", "log", "tanh", "sqrt", "sin", "cos", "log1p", "expm1", "sigmoid",
               "abs_", "sgn", "sqr", "floor", "ceil", "arctan", "sinh", "erf", "gamma",
               "gammaln", "psi", "softplus", "round", "neg", "inv", "exp2", "log2", "log10",
               "cosh", "arcsinh", "deg2rad", "tan", "trunc", "erfc"]


def _unary(name):
    if name == "sigmoid":
        return T.nnet_sigmoid if hasattr(T, "nnet_sigmoid") else T.nnet.sigmoid
    if name == "softplus":
        return T.nnet.softplus if hasattr(T, "nnet") else T.softplus
    return getattr(T, name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary_float_ops(run_both, dtype):
    x = T.vector("x", dtype=dtype)
    outs = [_unary(n)(x) for n in UNARY_FLOAT]
    v = np.concatenate([np.linspace(0.05, 4.5, 9), [0.5, 1.0, 2.5, 3.0]]).astype(dtype)
    with np.errstate(all="ignore"):
        run_both([x], outs, [v])


def test_binary_and_int_ops(run_both):
    x, y = T.matrix("x"), T.matrix("y")
    i, j = T.imatrix("i"), T.imatrix("j")
    b = T.bmatrix("b")
    outs = [x + y, x - y, x * y, x / y, x ** 2, T.maximum(x, y), T.minimum(x, y),
            T.clip(x, -0.5, 0.5), T.switch(T.gt(x, y), x, y), T.eq(x, y), T.lt(x, 0),
            i // j, i % j, i + j, i * 3, i / j, T.and_(i, j), T.or_(i, j), T.xor(i, j),
            ~i, T.cast(x, "int32"), T.cast(i, "float32"), T.arctan2(x, y), T.isnan(x / 0.0),
            T.isinf(x / 0.0), T.cast(x > 0, "int8"), b + b, T.ones_like(x) * 2, abs(i),
            T.pow(i, 2), x * i]
    xv, yv = f64(3, 4), f64(3, 4)
    iv = R.integers(-9, 9, size=(3, 4)).astype("int32")
    jv = R.integers(1, 5, size=(3, 4)).astype("int32")
    bv = R.integers(-3, 3, size=(3, 4)).astype("int8")
    with np.errstate(all="ignore"):
        run_both([x, y, i, j, b], outs, [xv, yv, iv, jv, bv])


def test_bool_ops(run_both):
    a, c = T.vector("a"), T.vector("c")
    p, q = a > 0, c > 0
    outs = [T.and_(p, q), T.or_(p, q), T.xor(p, q), ~p, T.eq(p, q), p * q, T.cast(p, "float64")]
    run_both([a, c], outs, [f64(6), f64(6)])


def test_broadcasting_and_scalars(run_both):
    x, r, c, s = T.matrix("x"), T.row("r"), T.col("c"), T.scalar("s")
    outs = [x + r, x * c + s, r + c, s * s + 1, T.exp(s), x + s]
    run_both([x, r, c, s], outs, [f64(3, 4), f64(1, 4), f64(3, 1), np.float64(0.3)])


def test_broadcast_mismatch_raises(backend):
    x, y = T.matrix("x"), T.matrix("y")
    f = theano.function([x, y], T.exp(x) * T.log(y), mode=backend_mode(backend))
    with pytest.raises(ValueError):
        f(f64(3, 4), np.abs(f64(3, 1)))


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_compiled_elementwise_shape_mismatch_raises():
    """A fused elementwise kernel checks every input's length in each dimension (one
    check per dimension, whichever input differs): a mismatch raises, with the
    reference's message and the node (never reads past an input's end)."""
    x, y, z = T.matrix("x"), T.matrix("y"), T.matrix("z")
    with linker.policy("strict", granularity="all"):
        f = theano.function([x, y, z], T.exp(x) * y + z, mode=backend_mode("numba"))
    assert all(k.ready() for k in f.fn.kernels)
    a = f64(300, 4)
    np.testing.assert_allclose(f(a, a, a), np.exp(a) * a + a)
    with pytest.raises(ValueError, match=r"cannot be broadcast(.|\n)*Composite"):
        f(a, a, f64(300, 5))
    with pytest.raises(ValueError, match=r"cannot be broadcast(.|\n)*Composite"):
        f(a, f64(299, 4), a)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2)])
def test_reductions(run_both, axis):
    x = T.tensor3("x")
    i = T.itensor3("i")
    outs = [x.sum(axis=axis), x.prod(axis=axis), x.max(axis=axis), x.min(axis=axis),
            T.all(x > 0, axis=axis), T.any(x > 1, axis=axis), i.sum(axis=axis),
            x.mean(axis=axis), x.sum(axis=axis, keepdims=True)]
    run_both([x, i], outs, [f64(2, 3, 4), R.integers(-5, 5, size=(2, 3, 4)).astype("int32")])


def test_argmax(run_both):
    x = T.matrix("x")
    v = f64(4, 5)
    v[1, 2] = np.nan
    run_both([x], [T.argmax(x, axis=0), T.argmin(x, axis=1), T.argmax(x), T.argmax(x[0])],
             [v])


def test_dot_variants(run_both):
    a, b, v, w = T.matrix("a"), T.matrix("b"), T.vector("v"), T.vector("w")
    ia, ib = T.imatrix("ia"), T.imatrix("ib")
    fa = T.fmatrix("fa")
    outs = [T.dot(a, b), T.dot(a, v), T.dot(v, b), T.dot(v, w), T.dot(a.T, a), T.dot(ia, ib),
            T.dot(fa, a), T.outer(v, w)]
    run_both([a, b, v, w, ia, ib, fa], outs,
             [f64(3, 4), f64(4, 2), f64(4), f64(4), R.integers(-3, 3, (3, 4)).astype("int32"),
              R.integers(-3, 3, (4, 2)).astype("int32"), f32(4, 3)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matrix_products_with_views_and_empty_dims(run_both, dtype):
    # numba calls NumPy's gemm directly: transposed operands pass a transpose flag,
    # strided ones are copied, empty dims skip BLAS
    a, b, z = (T.matrix(n, dtype=dtype) for n in "abz")
    outs = [T.dot(a, b), T.dot(a.T.T, b), T.dot(b.T, a.T), T.dot(a[:, ::2], b[::2]),
            z + T.dot(a, b), z - 0.5 * T.dot(b.T, a.T).T]
    for m, k, n in [(3, 4, 5), (0, 4, 5), (3, 0, 5), (3, 4, 0)]:
        vals = [R.normal(size=s).astype(dtype) for s in [(m, k), (k, n), (m, n)]]
        run_both([a, b, z], outs, vals)


def test_batched_dot(run_both):
    a, b, m = T.tensor3("a"), T.tensor3("b"), T.matrix("m")
    run_both([a, b, m], [T.batched_dot(a, b), T.batched_dot(a, m), T.batched_dot(m, b)],
             [f64(2, 3, 4), f64(2, 4, 5), f64(2, 4)])


def test_dimshuffle_shape_ops(run_both):
    x = T.tensor3("x")
    s = T.scalar("s")
    outs = [x.dimshuffle(2, 0, 1), x.dimshuffle(0, "x", 1, 2), x[0].T, x.shape, x.shape[1],
            x.reshape((4, 6)), x.flatten(), T.reshape(x, (-1, 2)), s.dimshuffle("x", "x"),
            T.addbroadcast(x[:, :1, :], 1).dimshuffle(0, 2), T.addbroadcast(x[:, :1], 1),
            T.alloc(s, 2, 3), T.alloc(x[0, 0], 2, 4), T.zeros((2, 2)),
            T.concatenate([x, x * 2], axis=1), T.stack([s, s + 1]), T.stack([x[0], x[1]])]
    run_both([x, s], outs, [f64(2, 3, 4), np.float64(1.5)])


def test_subtensor(run_both):
    x = T.matrix("x")
    i = T.lscalar("i")
    outs = [x[1], x[1:3], x[::-1], x[i], x[i, 1:], x[-1, -2], x[1:i, ::2], x[:, i],
            T.set_subtensor(x[1], 0.0), T.inc_subtensor(x[1:3, 0], 5.0),
            T.set_subtensor(x[i, i], 7.0), T.inc_subtensor(x[:, 1:], x[:, :-1])]
    run_both([x, i], outs, [f64(4, 5), np.int64(2)])


def test_subtensor_out_of_range_raises(backend):
    x, i = T.vector("x"), T.lscalar("i")
    f = theano.function([x, i], x[i] * 2, mode=backend_mode(backend))
    assert f(np.arange(3.0), 2) == 4.0
    with pytest.raises(IndexError):
        f(np.arange(3.0), 5)


def test_fused_elementwise_and_gemm(run_both):
    # FAST_RUN fuses the chain into a Composite and forms a Gemm
    x, y, z = T.matrix("x"), T.matrix("y"), T.matrix("z")
    chain = T.exp(-(T.tanh(x * y + x) - y) ** 2) / (x * x + 1.0)
    run_both([x, y, z], [chain, z + 2.0 * T.dot(x, y.T)], [f64(3, 3), f64(3, 3), f64(3, 3)])
    b, v = T.fvector("b"), T.fvector("v")  # a gemm with a broadcast bias, and gemv
    fx, fy = T.fmatrix("fx"), T.fmatrix("fy")
    run_both([fx, fy, b, v], [T.dot(fx, fy) + b, 0.5 * T.dot(fx, v) - b[:3]],
             [f32(3, 4), f32(4, 5), f32(5), f32(4)])


def test_float32_stays_float32(run_both):
    x = T.fmatrix("x")
    ref, got = run_both([x], [T.tanh(x) * 2, T.exp(x).sum(), x.mean()], [f32(5, 7)])
    assert all(np.asarray(g).dtype == np.float32 for g in got)
