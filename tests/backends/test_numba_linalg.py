"""numba implementations of the matrix algebra ops (nlinalg, slinalg) agree with py
(values, dtype, shape) and raise what py raises.

Every node is one kernel that numba compiles (about 1-3 s each with LAPACK): a few
functions hold many ops each, are compiled once per module (shared across tests)
and run on several shapes; the error tests reuse the same kernels (identical
nodes share their compiled kernel). Eigenvectors and singular vectors are compared
up to the sign (phase) of each column; everything else directly."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import assert_same, backend_mode
from theanine.tensor import nlinalg as NL
from theanine.tensor import slinalg as SL

R = np.random.default_rng(5)
_FNS = {}


def _compiled(key, build):
    """(py function, numba function) for the graph build() -> (inputs, outputs), once."""
    if key not in _FNS:
        inputs, outputs = build()
        _FNS[key] = tuple(theano.function(inputs, outputs, mode=backend_mode(b))
                          for b in ("py", "numba"))
    return _FNS[key]


def _compiled_ops(f):
    return {type(k.node.op).__name__ for k in f.fn.kernels}


def _same_columns(ref, got, tol):
    """Columns equal up to a unit factor (eigen/singular vectors)."""
    assert ref.dtype == got.dtype and ref.shape == got.shape
    if ref.size:
        overlap = np.abs(np.sum(np.conj(ref) * got, axis=0))
        np.testing.assert_allclose(overlap, 1.0, rtol=tol, atol=tol)


def _spd(n, dtype="float64"):
    a = R.normal(size=(n, n))
    return (a @ a.T + n * np.eye(n)).astype(dtype)


def _square_graph(dtype):
    def build():
        x, b, v = T.matrix("x", dtype=dtype), T.matrix("b", dtype=dtype), T.vector("v", dtype)
        outs = [NL.det(x), *NL.eigh(x, "L" if dtype == "float64" else "U"), SL.cholesky(x),
                SL.expm(x), SL.solve_lower_triangular(x, b)]
        if dtype == "float32":
            return [x, b], outs
        return [x, b, v], outs + [NL.matrix_inverse(x), SL.solve(x, v)]
    return build


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_square_ops(numba_strict, dtype):
    py, nb = _compiled(("square", dtype), _square_graph(dtype))
    assert {"Det", "Eigh", "Cholesky", "Expm", "Solve"} <= _compiled_ops(nb)
    tol, nargs = (2e-4, 2) if dtype == "float32" else (1e-9, 3)
    for n in (1, 3, 5):
        args = [_spd(n, dtype) / n, R.normal(size=(n, 2)).astype(dtype),
                R.normal(size=n).astype(dtype)][:nargs]
        ref, got = py(*args), nb(*args)
        assert_same(ref[:2] + ref[3:], got[:2] + got[3:])
        _same_columns(ref[2], got[2], tol)
    empty = [np.zeros((0, 0), dtype), np.zeros((0, 2), dtype), np.zeros(0, dtype)][:nargs]
    assert_same(py(*empty), nb(*empty))


def _general_graph():
    x, v, rc = T.matrix("x"), T.vector("v"), T.scalar("rc")
    return [x, v, rc], [NL.pinv(x), *NL.qr(x), *NL.qr(x, "complete"), *NL.qr(x, "raw"),
                        NL.qr(x, "r"), *NL.svd(x), NL.svd(x, compute_uv=0),
                        *NL.lstsq(x, v, rc)]


def test_rectangular_ops_float64(numba_strict):
    py, nb = _compiled("general", _general_graph)
    assert {"MatrixPinv", "QRFull", "SVD", "Lstsq"} <= _compiled_ops(nb)
    svd = slice(8, 11)
    for shape in [(4, 4), (5, 3), (3, 5), (1, 1), (3, 0), (0, 3), (0, 0)]:
        args = [R.normal(size=shape), R.normal(size=shape[0]), -1.0]
        ref, got = py(*args), nb(*args)
        assert_same(ref[:8] + ref[11:], got[:8] + got[11:])
        u, s, vh = got[svd]
        assert_same(ref[9], s)
        _same_columns(ref[8], u, 1e-9)
        _same_columns(ref[10].T, vh.T, 1e-9)
    # rank 1: pinv, singular values and least squares (QR is then not unique)
    args = [np.outer(np.arange(1.0, 6.0), [1.0, 2.0, 3.0]), np.ones(5), 1e-10]
    ref, got = py(*args), nb(*args)
    keep = [0, 9, 11, 12, 13, 14, 15]
    assert_same([ref[i] for i in keep], [got[i] for i in keep])


def _float32_graph():
    x, b = T.matrix("x", dtype="float32"), T.matrix("b", dtype="float32")
    return [x, b], [*NL.svd(x, full_matrices=0), *NL.qr(x, "complete"), *NL.lstsq(x, b, 1e-3)]


def test_rectangular_ops_float32(numba_strict):
    py, nb = _compiled("float32", _float32_graph)
    assert {"QRFull", "SVD", "Lstsq"} <= _compiled_ops(nb)
    for shape in [(4, 3), (3, 4), (2, 2)]:
        x = R.normal(size=shape).astype("float32")
        b = R.normal(size=(shape[0], 3)).astype("float32")
        ref, got = py(x, b), nb(x, b)
        assert_same(ref[1:2] + ref[3:], got[1:2] + got[3:])
        _same_columns(ref[0], got[0], 2e-4)
        _same_columns(ref[2].T, got[2].T, 2e-4)


def _options_graph():
    x, y, z, v = T.matrix("x"), T.matrix("y"), T.matrix("z"), T.vector("v")
    nan_chol = SL.Cholesky(on_error="nan")(x)
    return [x, y, z, v], [*NL.eig(z), *NL.eigh(x, "U"), SL.cholesky(x, lower=False), nan_chol,
                          SL.solve_upper_triangular(x, v), SL.eigvalsh(x),
                          SL.eigvalsh(x, y, lower=False)]


def test_options_float64(numba_strict):
    py, nb = _compiled("options", _options_graph)
    assert {"Eig", "Eigh", "Cholesky", "Solve", "Eigvalsh"} <= _compiled_ops(nb)
    for n in (1, 2, 4):
        spd, y, v = _spd(n), _spd(n), R.normal(size=n)
        x = spd + 0.3 * np.triu(R.normal(size=(n, n)), 1)  # its triangles differ
        p = R.normal(size=(n, n)) + n * np.eye(n)
        z = p @ np.diag(np.arange(1.0, n + 1)) @ np.linalg.inv(p)  # real eigenvalues
        not_pd_lower = np.triu(spd) - 10 * np.tril(np.ones((n, n)), -1)
        for xv in (x, not_pd_lower):
            ref, got = py(xv, y, z, v), nb(xv, y, z, v)
            assert_same(ref[2:3] + ref[4:], got[2:3] + got[4:])
            # eig: the same eigenvalues (in LAPACK's order), eigenvectors up to sign
            order_r, order_g = np.argsort(ref[0]), np.argsort(got[0])
            assert_same(ref[0][order_r], got[0][order_g])
            _same_columns(ref[1][:, order_r], got[1][:, order_g], 1e-9)
            _same_columns(ref[3], got[3], 1e-9)
        assert n == 1 or np.isnan(got[5]).all()


def test_integer_and_complex_inputs(numba_strict):
    i = T.imatrix("i")
    z = T.matrix("z", dtype="complex128")
    py, nb = _compiled("int-complex", lambda: ([i, z], [NL.matrix_inverse(i), NL.det(z),
                                                        SL.cholesky(z, lower=False)]))
    assert {"MatrixInverse", "Det", "Cholesky"} <= _compiled_ops(nb)
    iv = np.array([[2, 1], [1, 3]], dtype="int32")
    h = R.normal(size=(3, 3)) + 1j * R.normal(size=(3, 3))
    zv = h @ h.conj().T + 3 * np.eye(3)
    assert_same(py(iv, zv), nb(iv, zv))


def _raises_like_py(build, *args):
    """numba raises the exception type py raises."""
    inputs, output = build()
    py = theano.function(inputs, output, mode=backend_mode("py"))
    nb = theano.function(inputs, output, mode=backend_mode("numba"))
    assert _compiled_ops(nb) == {type(output.owner.op).__name__}
    with pytest.raises(Exception) as ref:
        py(*args)
    with pytest.raises(type(ref.value)):
        nb(*args)


def test_errors_match_py(numba_strict):
    eye = np.eye(2)
    nan = np.array([[1.0, np.nan], [0.0, 1.0]])
    for fn, bad in [(NL.det, np.ones((3, 4))), (SL.expm, np.ones((3, 4))),  # ValueError
                    (NL.matrix_inverse, np.ones((3, 3))),  # LinAlgError: singular
                    (lambda x: NL.eig(x)[0], np.array([[0.0, 1.0], [-1.0, 0.0]])),
                    (lambda x: SL.cholesky(x, lower=False), -eye), (SL.cholesky, nan)]:
        _raises_like_py(lambda fn=fn: ([x := T.matrix("x")], fn(x)), bad)
    for solve, a, b in [(SL.solve_lower_triangular, np.tril(np.ones((2, 2))) - eye, eye),
                        (SL.solve_lower_triangular, eye, np.ones((3, 1))),  # rows differ
                        (SL.eigvalsh, eye, -eye)]:  # b not positive definite
        kw = {"lower": False} if solve is SL.eigvalsh else {}
        _raises_like_py(lambda solve=solve, kw=kw: (
            [x := T.matrix("x"), y := T.matrix("y")], solve(x, y, **kw)), a, b)
    for a, b in [(np.ones((2, 2)), np.ones(2)), (nan, np.ones(2))]:  # singular, not finite
        _raises_like_py(lambda: ([x := T.matrix("x"), v := T.vector("v")], SL.solve(x, v)),
                        a, b)
    _raises_like_py(lambda: ([x := T.matrix("x"), v := T.vector("v"), rc := T.scalar("rc")],
                             NL.lstsq(x, v, rc)[0]), np.ones((3, 2)), np.ones(4), -1.0)
