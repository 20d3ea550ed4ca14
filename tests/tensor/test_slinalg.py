"""theanine.tensor.slinalg against scipy.linalg; gradients by finite differences."""

import numpy as np
import pytest
import scipy.linalg

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor import slinalg

from .linalg_helpers import rand, run, spd, sym, tol


# -- cholesky --------------------------------------------------------------------------
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 4])
def test_cholesky(rng, lower, dtype, n):
    a = spd(rng, n, dtype)
    got, out = run(lambda x: slinalg.cholesky(x, lower), a)
    assert got.dtype == out.dtype == dtype
    np.testing.assert_allclose(got, scipy.linalg.cholesky(a, lower=lower), rtol=tol(dtype) * 10)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_gradient(rng, lower):
    a = spd(rng, 4)
    a[np.triu_indices(4, 1) if lower else np.tril_indices(4, -1)] += 7.0  # ignored triangle
    verify_grad(lambda x: slinalg.cholesky(x, lower), [a], rng=rng)
    verify_grad(lambda x: slinalg.cholesky(T.dot(x, x.T) + 4 * T.eye(4), lower),
                [rand(rng, (4, 4))], rng=rng)


def test_cholesky_gradient_is_zero_on_the_ignored_triangle(rng):
    x = T.matrix("x")
    g = theano.function([x], theano.grad(slinalg.cholesky(x).sum(), x))(spd(rng, 3))
    np.testing.assert_array_equal(np.triu(g, 1), 0)


def test_cholesky_not_positive_definite(rng):
    x = T.matrix("x")
    f = theano.function([x], slinalg.cholesky(x))
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        f(-np.eye(3))
    g = theano.function([x], slinalg.Cholesky(on_error="nan")(x))
    assert np.isnan(g(-np.eye(3))).all()
    np.testing.assert_allclose(g(4 * np.eye(2)), 2 * np.eye(2))


def test_cholesky_on_error_nan_gradient(rng):
    x = T.matrix("x")
    gx = theano.grad(slinalg.Cholesky(on_error="nan")(x).sum(), x)
    f = theano.function([x], gx)
    assert np.isnan(f(-np.eye(2))).all()
    a = spd(rng, 3)
    expected = theano.function([x], theano.grad(slinalg.cholesky(x).sum(), x))(a)
    np.testing.assert_allclose(f(a), expected)


def test_cholesky_errors():
    with pytest.raises(TypeError, match="argument x must be a matrix"):
        slinalg.cholesky(T.vector())
    with pytest.raises(ValueError, match="on_error"):
        slinalg.Cholesky(on_error="ignore")


# -- solve -----------------------------------------------------------------------------
def solve_reference(structure, a, b):
    if structure == "lower_triangular":
        return scipy.linalg.solve_triangular(a, b, lower=True)
    if structure == "upper_triangular":
        return scipy.linalg.solve_triangular(a, b, lower=False)
    return scipy.linalg.solve(a, b)


STRUCTURES = ["general", "symmetric", "lower_triangular", "upper_triangular"]


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("bshape", [(4,), (4, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_solve(rng, structure, bshape, dtype):
    a = spd(rng, 4, dtype) if structure == "symmetric" else rand(rng, (4, 4), dtype) + \
        4 * np.eye(4, dtype=dtype)
    b = rand(rng, bshape, dtype)
    got, out = run(slinalg.Solve(structure), a, b)
    assert got.dtype == dtype and out.ndim == len(bshape)
    np.testing.assert_allclose(got, solve_reference(structure, a, b), rtol=tol(dtype) * 10,
                               atol=tol(dtype))


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("bshape", [(4,), (4, 2)])
def test_solve_gradient(rng, structure, bshape):
    a = rand(rng, (4, 4)) + 4 * np.eye(4)
    verify_grad(slinalg.Solve(structure), [a, rand(rng, bshape)], rng=rng)


def test_solve_helpers(rng):
    a, b = rand(rng, (3, 3)) + 3 * np.eye(3), rand(rng, (3, 2))
    for fn, ref in [(slinalg.solve, scipy.linalg.solve(a, b)),
                    (slinalg.solve_lower_triangular,
                     scipy.linalg.solve_triangular(a, b, lower=True)),
                    (slinalg.solve_upper_triangular, scipy.linalg.solve_triangular(a, b))]:
        got, _ = run(fn, a, b)
        np.testing.assert_allclose(got, ref, rtol=1e-10)
    s = spd(rng, 3)
    got, _ = run(slinalg.solve_symmetric, s, b)
    np.testing.assert_allclose(got, np.linalg.solve(s, b), rtol=1e-10)
    got, _ = run(lambda x, y: slinalg.solve(x, y, assume_a="pos"), s, b)
    np.testing.assert_allclose(got, np.linalg.solve(s, b), rtol=1e-10)


def test_solve_int_inputs_and_errors(rng):
    a = np.array([[2, 1], [1, 3]], dtype="int32")
    b = np.array([1, 2], dtype="int64")
    got, out = run(slinalg.solve, a, b)
    assert out.dtype == "float64"
    np.testing.assert_allclose(got, np.linalg.solve(a, b))
    with pytest.raises(TypeError, match="argument b must be a vector or a matrix"):
        slinalg.solve(T.matrix(), T.tensor3())
    with pytest.raises(ValueError, match="A_structure must be"):
        slinalg.Solve("diagonal")
    with pytest.raises(ValueError, match="assume_a must be"):
        slinalg.solve(T.matrix(), T.vector(), assume_a="tri")
    x, y = T.matrix("x"), T.vector("y")
    f = theano.function([x, y], slinalg.solve(x, y))
    with pytest.raises(ValueError, match="as many rows"):
        f(np.eye(3), np.ones(2))


@pytest.mark.parametrize("lower", [True, False])
def test_cho_solve(rng, lower):
    a, b = spd(rng, 4), rand(rng, (4, 2))
    c = scipy.linalg.cholesky(a, lower=lower)
    x, y = T.matrix("x"), T.matrix("y")
    got = theano.function([x, y], slinalg.cho_solve((x, lower), y))(c, b)
    np.testing.assert_allclose(got, scipy.linalg.cho_solve((c, lower), b), rtol=1e-10)


# -- eigvalsh --------------------------------------------------------------------------
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eigvalsh(rng, lower, dtype):
    a, b = rand(rng, (4, 4), dtype), spd(rng, 4, dtype)
    got, out = run(lambda x: slinalg.eigvalsh(x, lower=lower), a)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, scipy.linalg.eigh(a, lower=lower, eigvals_only=True),
                               rtol=tol(dtype) * 10, atol=tol(dtype))
    got, _ = run(lambda x, y: slinalg.eigvalsh(x, y, lower), a, b)
    np.testing.assert_allclose(got, scipy.linalg.eigh(a, b, lower=lower, eigvals_only=True),
                               rtol=tol(dtype) * 100, atol=tol(dtype) * 10)


@pytest.mark.parametrize("lower", [True, False])
def test_eigvalsh_gradients(rng, lower):
    a, b = rand(rng, (4, 4)), spd(rng, 4)
    b[np.triu_indices(4, 1) if lower else np.tril_indices(4, -1)] += 5.0  # ignored triangle
    verify_grad(lambda x: slinalg.eigvalsh(x, lower=lower), [a], rng=rng)
    verify_grad(lambda x, y: slinalg.eigvalsh(x, y, lower), [a, b], rng=rng)


# -- expm ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_expm(rng, dtype, n):
    a = rand(rng, (n, n), dtype)
    got, out = run(slinalg.expm, a)
    assert got.dtype == out.dtype == dtype
    np.testing.assert_allclose(got, scipy.linalg.expm(a), rtol=tol(dtype) * 10,
                               atol=tol(dtype))


@pytest.mark.parametrize("n", [1, 3, 4])
def test_expm_gradient(rng, n):
    verify_grad(slinalg.expm, [rand(rng, (n, n))], rng=rng)
    nilpotent = np.triu(rand(rng, (n, n)), 1)  # not diagonalizable: still exact
    verify_grad(slinalg.expm, [nilpotent], rng=rng)


# -- kron ------------------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (2,)), ((2,), (3, 4)),
                                   ((2, 3, 2), (2, 2)), ((1, 3), (2, 1)), ((), (2, 2))])
def test_kron(rng, sa, sb):
    a, b = rand(rng, sa), rand(rng, sb)
    got, out = run(slinalg.kron, a, b)
    expected = np.kron(a, b)
    assert out.ndim == expected.ndim
    np.testing.assert_allclose(got, expected)
    verify_grad(slinalg.kron, [a, b], rng=rng)


def test_kron_int_dtype(rng):
    a, b = rand(rng, (2, 2), "int32"), rand(rng, (2, 3), "int8")
    got, _ = run(slinalg.kron, a, b)
    assert got.dtype == np.kron(a, b).dtype
    np.testing.assert_array_equal(got, np.kron(a, b))


# -- helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize("lower", [True, False])
def test_fold_and_symmetric_from_triangle(rng, lower):
    a = rand(rng, (4, 4))
    tri, other = (np.tril, np.triu) if lower else (np.triu, np.tril)
    got, _ = run(lambda x: slinalg.symmetric_from_triangle(x, lower), a)
    np.testing.assert_allclose(got, tri(a) + tri(a, -1 if lower else 1).T)
    got, _ = run(lambda x: slinalg.fold_triangle(x, lower), a)
    np.testing.assert_allclose(got, tri(a) + other(a, 1 if lower else -1).T)


def check_infer_shape(fn, *values):
    """The output's infer_shape agrees with the computed shape."""
    ins = [sym(v, f"x{i}") for i, v in enumerate(values)]
    out = fn(*ins)
    node = out.owner
    shapes = [tuple(T.shape(i)[k] for k in range(i.ndim)) for i in node.inputs]
    inferred = node.op.infer_shape(node, shapes)[out.index]
    got = theano.function(ins, list(inferred) + [out], on_unused_input="ignore")(*values)
    assert tuple(int(d) for d in got[:-1]) == got[-1].shape


@pytest.mark.parametrize("fn,nargs", [(slinalg.cholesky, 1), (slinalg.expm, 1),
                                      (slinalg.eigvalsh, 1), (slinalg.eigvalsh, 2),
                                      (slinalg.solve, 2)])
def test_infer_shape(rng, fn, nargs):
    check_infer_shape(fn, *[spd(rng, 3) for _ in range(nargs)])
    if fn is slinalg.solve:
        check_infer_shape(fn, spd(rng, 3), rand(rng, (3,)))
        check_infer_shape(fn, spd(rng, 3), rand(rng, (3, 2)))


def test_second_order_gradients(rng):
    a = rand(rng, (3, 3)) + 3 * np.eye(3)
    verify_grad(lambda x: theano.grad(slinalg.cholesky(x).sum(), x), [a @ a.T], rng=rng)
    verify_grad(lambda x: theano.grad(slinalg.expm(x).sum(), x), [0.3 * a], rng=rng)
    verify_grad(lambda x: theano.grad(slinalg.solve(x, T.ones((3,))).sum(), x), [a], rng=rng)
