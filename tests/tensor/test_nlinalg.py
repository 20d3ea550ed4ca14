"""theanine.tensor.nlinalg against numpy.linalg; gradients by finite differences."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import NullTypeGradError, verify_grad
from theanine.tensor import nlinalg

from .linalg_helpers import rand, run, spd, sym, tol


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_matrix_inverse(rng, dtype, n):
    a = spd(rng, n, dtype)
    got, out = run(nlinalg.matrix_inverse, a)
    assert out.dtype == got.dtype == dtype
    np.testing.assert_allclose(got, np.linalg.inv(a), rtol=tol(dtype) * 10, atol=tol(dtype))
    verify_grad(nlinalg.matrix_inverse, [rand(rng, (n, n), dtype) + 3 * np.eye(n, dtype=dtype)],
                rng=rng)


def test_matrix_inverse_int_input_gives_float64_and_errors(rng):
    a = np.array([[2, 1], [1, 3]], dtype="int32")
    got, out = run(nlinalg.matrix_inverse, a)
    assert out.dtype == "float64"
    np.testing.assert_allclose(got, np.linalg.inv(a))
    with pytest.raises(TypeError, match="argument x must be a matrix"):
        nlinalg.matrix_inverse(T.tensor3())
    x = T.matrix("x")
    f = theano.function([x], nlinalg.matrix_inverse(x))
    with pytest.raises(ValueError, match=r"square matrix, got shape \(2, 3\)"):
        f(rand(rng, (2, 3)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_det(rng, dtype, n):
    a = rand(rng, (n, n), dtype)
    got, out = run(nlinalg.det, a)
    assert out.ndim == 0 and got.dtype == dtype
    np.testing.assert_allclose(got, np.linalg.det(a), rtol=tol(dtype) * 10)
    verify_grad(nlinalg.det, [a], rng=rng)


def test_eig_of_symmetric_and_triangular_matrices(rng):
    a = spd(rng, 4)
    (w, v), _ = run(nlinalg.eig, a)
    np.testing.assert_allclose(a @ v, v * w, atol=1e-10)
    np.testing.assert_allclose(np.sort(w), np.linalg.eigvalsh(a), rtol=1e-10)
    t = np.triu(rand(rng, (3, 3), "float32"))
    (w, v), _ = run(nlinalg.eig, t)
    assert w.dtype == np.float32
    np.testing.assert_allclose(np.sort(w), np.sort(np.diag(t)), rtol=1e-5)


def test_eig_complex_eigenvalues(rng):
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    x = T.matrix("x")
    f = theano.function([x], nlinalg.eig(x))
    with pytest.raises(ValueError, match="complex eigenvalues"):
        f(rot)
    z = T.zmatrix("z")
    w, _ = theano.function([z], nlinalg.eig(z))(rot.astype("complex128"))
    np.testing.assert_allclose(w[np.argsort(w.imag)], [-1j, 1j], atol=1e-12)


@pytest.mark.parametrize("uplo", ["L", "U"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eigh_reads_one_triangle(rng, uplo, dtype):
    a = rand(rng, (4, 4), dtype)  # not symmetric: only one triangle is read
    (w, v), out = run(lambda x: nlinalg.eigh(x, uplo), a)
    ew, ev = np.linalg.eigh(a, uplo)
    assert w.dtype == v.dtype == dtype
    np.testing.assert_allclose(w, ew, rtol=tol(dtype) * 10, atol=tol(dtype))
    np.testing.assert_allclose(np.abs(v), np.abs(ev), rtol=tol(dtype) * 100, atol=tol(dtype))


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_gradients(rng, uplo):
    a = rand(rng, (4, 4))
    verify_grad(lambda x: nlinalg.eigh(x, uplo)[0], [a], rng=rng)
    verify_grad(lambda x: nlinalg.eigh(x, uplo)[1], [a], rng=rng)
    verify_grad(lambda x: nlinalg.eigh(x, uplo)[0].sum() * nlinalg.eigh(x, uplo)[1], [a],
                rng=rng)


def test_eigh_gradient_is_zero_on_the_ignored_triangle(rng):
    x = T.matrix("x")
    g = theano.function([x], theano.grad(nlinalg.eigh(x)[0][-1], x))(spd(rng, 3))
    np.testing.assert_array_equal(np.triu(g, 1), 0)


@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (3, 5)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pinv(rng, shape, dtype):
    a = rand(rng, shape, dtype)
    got, out = run(nlinalg.pinv, a)
    assert got.dtype == dtype and got.shape == shape[::-1]
    np.testing.assert_allclose(got, np.linalg.pinv(a), rtol=tol(dtype) * 100, atol=tol(dtype))
    if dtype == "float64":
        verify_grad(nlinalg.pinv, [a], rng=rng)


@pytest.mark.parametrize("mode", ["reduced", "complete", "r", "raw"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 4)])
def test_qr(rng, mode, shape):
    a = rand(rng, shape)
    got, _ = run(lambda x: nlinalg.qr(x, mode), a)
    expected = np.linalg.qr(a, mode)
    if mode == "r":
        np.testing.assert_allclose(got, expected, atol=1e-12)
    else:
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, atol=1e-12)


def test_qr_bad_mode():
    with pytest.raises(ValueError, match="mode must be"):
        nlinalg.qr(T.matrix(), "full")


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3, 4)])
def test_svd(rng, full, shape):
    a = rand(rng, shape)
    (u, s, v), _ = run(lambda x: nlinalg.svd(x, full), a)
    eu, es, ev = np.linalg.svd(a, full)
    np.testing.assert_allclose(s, es, rtol=1e-12)
    k = len(s)
    np.testing.assert_allclose(u[:, :k] * s @ v[:k], a, atol=1e-12)
    assert u.shape == eu.shape and v.shape == ev.shape
    s_only, out = run(lambda x: nlinalg.svd(x, compute_uv=False), a)
    np.testing.assert_allclose(s_only, es, rtol=1e-12)


def test_svd_gradient_of_singular_values(rng):
    verify_grad(lambda x: nlinalg.svd(x, compute_uv=0), [rand(rng, (4, 3))], rng=rng)
    verify_grad(lambda x: nlinalg.svd(x)[1], [rand(rng, (3, 5))], rng=rng)
    x = T.matrix("x")
    with pytest.raises(NullTypeGradError, match="only the singular values"):
        theano.grad(nlinalg.svd(x)[0].sum(), x)


@pytest.mark.parametrize("bshape", [(5,), (5, 2)])
def test_lstsq(rng, bshape):
    a, b = rand(rng, (5, 3)), rand(rng, bshape)
    got, out = run(lambda x, y: nlinalg.lstsq(x, y, -1), a, b)
    expected = np.linalg.lstsq(a, b, rcond=-1)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10)
    assert got[2].dtype == np.int64


def test_lstsq_float16_computes_in_float32(rng):
    a, b = rand(rng, (5, 3)).astype("float16"), rand(rng, (5,)).astype("float16")
    got, _ = run(lambda x, y: nlinalg.lstsq(x, y, -1), a, b)
    expected = np.linalg.lstsq(a.astype("float32"), b.astype("float32"), rcond=-1)
    assert got[0].dtype == np.float16 and got[3].dtype == np.float16
    np.testing.assert_allclose(got[0], expected[0].astype("float16"), rtol=1e-3)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
def test_trace_extract_diag_alloc_diag(rng, shape):
    a = rand(rng, shape)
    got, _ = run(nlinalg.trace, a)
    np.testing.assert_allclose(got, np.trace(a))
    got, _ = run(nlinalg.extract_diag, a)
    np.testing.assert_allclose(got, np.diag(a))
    v = rand(rng, (shape[0],))
    got, _ = run(nlinalg.alloc_diag, v)
    np.testing.assert_allclose(got, np.diag(v))
    got, _ = run(nlinalg.diag, v)
    np.testing.assert_allclose(got, np.diag(v))
    verify_grad(nlinalg.trace, [a], rng=rng)
    verify_grad(nlinalg.alloc_diag, [v], rng=rng)


def test_matrix_dot(rng):
    a, b, c = rand(rng, (2, 3)), rand(rng, (3, 4)), rand(rng, (4,))
    got, _ = run(nlinalg.matrix_dot, a, b, c)
    np.testing.assert_allclose(got, a @ b @ c)
    verify_grad(nlinalg.matrix_dot, [a, b, c], rng=rng)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2])
def test_matrix_power(rng, n):
    a = rand(rng, (3, 3)) + 2 * np.eye(3)
    got, _ = run(lambda x: nlinalg.matrix_power(x, n), a)
    np.testing.assert_allclose(got, np.linalg.matrix_power(a, n), rtol=1e-10, atol=1e-12)
    if n:
        verify_grad(lambda x: nlinalg.matrix_power(x, n), [a], rng=rng)


def test_matrix_power_errors():
    with pytest.raises(TypeError, match="n must be a Python int"):
        nlinalg.matrix_power(T.matrix(), 1.5)


@pytest.mark.parametrize("ord", [None, 1, 2, 3, 0.5, np.inf, -np.inf, "inf", "-inf", 0])
def test_vector_norm(rng, ord):
    v = rand(rng, (5,))
    v[1] = 0
    got, out = run(lambda x: nlinalg.norm(x, ord), v)
    np_ord = {"inf": np.inf, "-inf": -np.inf}.get(ord, ord)
    np.testing.assert_allclose(got, np.linalg.norm(v, np_ord), rtol=1e-10)
    assert out.dtype == "float64"
    if ord not in (0,):
        verify_grad(lambda x: nlinalg.norm(x, ord), [rand(rng, (4,))], rng=rng)


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, 2, -2, np.inf, -np.inf, "nuc"])
def test_matrix_norm(rng, ord):
    a = rand(rng, (4, 3))
    got, _ = run(lambda x: nlinalg.norm(x, ord), a)
    np.testing.assert_allclose(got, np.linalg.norm(a, ord), rtol=1e-10)
    verify_grad(lambda x: nlinalg.norm(x, ord), [a], rng=rng)


def test_norm_errors():
    with pytest.raises(ValueError, match="invalid norm order 'abc' for vectors"):
        nlinalg.norm(T.vector(), "abc")
    with pytest.raises(ValueError, match="invalid norm order 3 for matrices"):
        nlinalg.norm(T.matrix(), 3)
    with pytest.raises(ValueError, match="vector or a matrix, got a 3-d"):
        nlinalg.norm(T.tensor3(), None)


@pytest.mark.parametrize("shape,ind", [((4, 6, 8, 3), 2), ((24, 8, 3), 1), ((6, 2, 4, 3), 2)])
def test_tensorinv(rng, shape, ind):
    a = rand(rng, shape)
    got, _ = run(lambda x: nlinalg.tensorinv(x, ind), a)
    np.testing.assert_allclose(got, np.linalg.tensorinv(a, ind), rtol=1e-8, atol=1e-10)


def test_tensorinv_gradient(rng):
    verify_grad(lambda x: nlinalg.tensorinv(x, 1), [rand(rng, (4, 2, 2)) + 0.1], rng=rng)


@pytest.mark.parametrize("ashape,bshape,axes", [((6, 4, 2, 3, 4), (6, 4), None),
                                                ((2, 3, 6), (2, 3), None),
                                                ((2, 6, 3), (2, 3), (1,))])
def test_tensorsolve(rng, ashape, bshape, axes):
    a, b = rand(rng, ashape), rand(rng, bshape)
    got, _ = run(lambda x, y: nlinalg.tensorsolve(x, y, axes), a, b)
    np.testing.assert_allclose(got, np.linalg.tensorsolve(a, b, axes), rtol=1e-8, atol=1e-10)
    verify_grad(lambda x, y: nlinalg.tensorsolve(x, y, axes), [a, b], rng=rng)


def check_infer_shape(fn, *values):
    """Each output's infer_shape agrees with the computed shape."""
    ins = [sym(v, f"x{i}") for i, v in enumerate(values)]
    out = fn(*ins)
    outs = out if isinstance(out, (list, tuple)) else [out]
    node = outs[0].owner
    shapes = [tuple(T.shape(i)[k] for k in range(i.ndim)) for i in node.inputs]
    inferred = node.op.infer_shape(node, shapes)
    flat = [d for shp in inferred for d in shp]
    got = theano.function(ins, flat + list(node.outputs), on_unused_input="ignore")(*values)
    dims, vals = got[:len(flat)], got[len(flat):]
    for shp, v in zip(inferred, vals):
        assert tuple(int(d) for d in dims[:len(shp)]) == v.shape
        dims = dims[len(shp):]


@pytest.mark.parametrize("fn,shape", [
    (nlinalg.matrix_inverse, (3, 3)), (nlinalg.pinv, (4, 2)), (nlinalg.det, (3, 3)),
    (nlinalg.eig, (3, 3)), (nlinalg.eigh, (3, 3)), (lambda x: nlinalg.qr(x, "reduced"), (4, 2)),
    (lambda x: nlinalg.qr(x, "complete"), (2, 4)), (lambda x: nlinalg.qr(x, "r"), (4, 2)),
    (lambda x: nlinalg.qr(x, "raw"), (4, 2)), (lambda x: nlinalg.svd(x, 1), (4, 2)),
    (lambda x: nlinalg.svd(x, 0), (2, 4)), (lambda x: nlinalg.svd(x, 0, 0), (2, 4))])
def test_infer_shape(rng, fn, shape):
    a = rand(rng, shape)
    if shape[0] == shape[1]:
        a = a @ a.T + np.eye(shape[0])
    check_infer_shape(fn, a)


def test_second_order_gradients(rng):
    a = rand(rng, (3, 3)) + 3 * np.eye(3)
    verify_grad(lambda x: theano.grad(nlinalg.det(x), x), [a], rng=rng)
    verify_grad(lambda x: theano.grad(nlinalg.eigh(x)[0][-1], x), [a @ a.T], rng=rng)
    verify_grad(lambda x: theano.grad(nlinalg.matrix_inverse(x).sum(), x), [a], rng=rng)
