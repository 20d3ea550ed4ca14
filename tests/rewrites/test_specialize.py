"""specialize: dot of vectors, outer products, gemm."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.rewrites import specialize as S
from theanine.rewrites.blas import Gemm, gemm

from .helpers import check_rewrite, check_unchanged


def c(v, dtype="float64"):
    return T.constant(np.asarray(v, dtype=dtype))


def test_sum_of_product_of_vectors_is_a_dot():
    x, y = T.vectors("x", "y")
    check_rewrite(S.sum_mul_to_dot, T.sum(x * y), T.dot(x, y), [x, y])
    i, j = T.ivectors("i", "j")
    check_unchanged(S.sum_mul_to_dot, T.sum(i * j), [i, j])
    m = T.matrix("m")
    check_unchanged(S.sum_mul_to_dot, T.sum(m * m, axis=1), [m])


def test_dot_of_column_and_row_is_a_product():
    a, b = T.col("a"), T.row("b")
    check_rewrite(S.dot_outer, T.dot(a, b), a * b, [a, b])
    m = T.matrix("m")
    check_unchanged(S.dot_outer, T.dot(m, m), [m])


def test_gemm_patterns():
    x, y, z = T.matrix("x"), T.matrix("y"), T.matrix("z")
    a, b = T.scalars("a", "b")
    check_rewrite(S.gemm_rule, T.dot(x, y) + z, gemm(z, c(1.0), x, y, c(1.0)), [x, y, z])
    check_rewrite(S.gemm_rule, b * z + a * T.dot(x, y), gemm(z, a, x, y, b),
                  [x, y, z, a, b])
    check_rewrite(S.gemm_rule, z - 0.1 * T.dot(x, y), gemm(z, c(-0.1), x, y, c(1.0)),
                  [x, y, z])
    check_rewrite(S.gemm_rule, T.dot(x, y) - z, gemm(z, c(1.0), x, y, c(-1.0)), [x, y, z])
    w = T.matrix("w")
    check_rewrite(S.gemm_rule, T.add(w, T.dot(x, y), z),
                  T.add(gemm(w, c(1.0), x, y, c(1.0)), z), [x, y, z, w])


def test_gemv_patterns():
    m, v, z = T.matrix("m"), T.vector("v"), T.vector("z")
    check_rewrite(S.gemm_rule, z + T.dot(m, v), gemm(z, c(1.0), m, v, c(1.0)), [m, v, z])
    check_rewrite(S.gemm_rule, z - T.dot(v, m), gemm(z, c(-1.0), v, m, c(1.0)), [m, v, z])


def test_gemm_is_not_used_when_it_would_not_pay_or_types_differ():
    x, y, z = T.matrix("x"), T.matrix("y"), T.matrix("z")
    d = T.dot(x, y)
    check_unchanged(S.gemm_rule, [d + z, d], [x, y, z])  # the dot is needed anyway
    row = T.row("row")
    # a broadcast z followed by an elementwise op: the fused loop adds it for free
    check_unchanged(S.gemm_rule, T.tanh(T.dot(x, y) + row), [x, y, row])
    fz = T.fmatrix("fz")
    check_unchanged(S.gemm_rule, T.dot(x, y) + fz, [x, y, fz])


def test_gemm_values_and_gradient():
    rng = np.random.default_rng(0)
    x, y, z = T.matrix("x"), T.matrix("y"), T.matrix("z")
    a = T.scalar("a")
    out = gemm(z, a, x, y, c(2.0))
    vals = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), 0.5]
    f = theano.function([x, y, z, a], out)
    np.testing.assert_allclose(f(*vals), 2 * vals[2] + 0.5 * vals[0] @ vals[1])
    theano.gradient.verify_grad(lambda x, y, z, a: gemm(z, a, x, y, c(2.0)),
                                [np.asarray(v, dtype="float64") for v in vals])


def test_gemm_checks_shapes():
    import pytest

    x, y, z = T.matrix("x"), T.matrix("y"), T.matrix("z")
    f = theano.function([x, y, z], Gemm()(z, c(1.0), x, y, c(1.0)),
                        mode=theano.compile.mode.Mode("py", optimizer=None))
    with pytest.raises(ValueError, match="shape"):
        f(np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="aligned"):
        f(np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 2)))


def test_sgd_update_becomes_gemm_in_fast_run():
    x = T.matrix("x")
    w = theano.shared(np.ones((3, 2)), name="w")
    cost = T.sum(T.dot(x, w) ** 2)
    f = theano.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])
    ops = [type(n.op) for n in f.maker.fgraph.toposort()]
    assert Gemm in ops
    xv = np.arange(6.0).reshape(2, 3)
    expected_w = np.ones((3, 2)) - 0.1 * xv.T @ (2 * xv @ np.ones((3, 2)))
    f(xv)
    np.testing.assert_allclose(w.get_value(), expected_w)


def test_a_sum_of_dots_becomes_a_chain_of_gemms():
    a, b, cc, d, z = (T.matrix(n) for n in "abcdz")
    one = c(1.0)
    check_rewrite(S.gemm_rule, T.add(T.dot(a, b), T.dot(cc, d), z),
                  gemm(gemm(z, one, a, b, one), one, cc, d, one), [a, b, cc, d, z])
    check_rewrite(S.gemm_rule, T.dot(a, b) - T.dot(cc, d),
                  gemm(T.dot(a, b), c(-1.0), cc, d, one), [a, b, cc, d])


def test_gemm_with_a_broadcast_bias(rng):
    x, y = T.matrix("x"), T.matrix("y")
    row, bvec = T.row("row"), T.vector("bvec")
    check_rewrite(S.gemm_rule, T.dot(x, y) + row, gemm(row, c(1.0), x, y, c(1.0)),
                  [x, y, row])
    check_rewrite(S.gemm_rule, T.dot(x, y) + bvec, gemm(bvec.dimshuffle("x", 0), c(1.0),
                                                        x, y, c(1.0)), [x, y, bvec])
    out = T.dot(x, y) + bvec
    g = theano.grad(T.sum(T.nnet.softmax(out)[:, 0]), [x, y, bvec])
    f = theano.function([x, y, bvec], [out] + g)
    assert any(isinstance(n.op, Gemm) for n in f.maker.fgraph.toposort())
    xv, yv, bv = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    ref = theano.function([x, y, bvec], [out] + g, mode="FAST_COMPILE")
    for a, r in zip(f(xv, yv, bv), ref(xv, yv, bv)):
        np.testing.assert_allclose(a, r, rtol=1e-12)
    assert f(xv, yv, bv)[0].shape == (3, 5)
