"""Tall-by-small matrix products run in 64-row blocks (matrix_product, and gemm_into
in numba kernels): the same values as one product, every dtype and remainder."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.tensor.linalg import ROW_BLOCK, matrix_product


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
@pytest.mark.parametrize("m, k, n", [(128, 64, 32), (3200, 64, 32), (200, 16, 8),
                                     (130, 784, 10), (127, 64, 32), (300, 128, 128)])
def test_blocked_product_equals_one_product(dtype, m, k, n):
    rng = np.random.default_rng(m + k + n)
    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    got = matrix_product(a, b)
    assert got.dtype == a.dtype and got.shape == (m, n) and got.flags.c_contiguous
    np.testing.assert_allclose(got, a @ b, rtol=tol, atol=tol * k)


def test_non_contiguous_and_mixed_inputs_use_one_product():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(64, 3 * ROW_BLOCK)).T  # a transposed view
    b = rng.normal(size=(64, 8)).astype("float32")
    np.testing.assert_allclose(matrix_product(a, b), a @ b, rtol=1e-6)


def test_dot_gemm_and_a_loop_over_tall_products():
    rng = np.random.default_rng(1)
    x, W, z = T.fmatrix("x"), T.fmatrix("W"), T.fmatrix("z")
    X = T.ftensor3("X")
    step, _ = theano.scan(lambda xt: T.dot(xt, W) + 1, sequences=X)
    f = theano.function([x, W, z, X], [T.dot(x, W), z + T.dot(x, W), step])
    xv = rng.normal(size=(450, 24)).astype("float32")
    wv = rng.normal(size=(24, 16)).astype("float32")
    zv = rng.normal(size=(450, 16)).astype("float32")
    Xv = rng.normal(size=(3, 200, 24)).astype("float32")
    d, g, s = f(xv, wv, zv, Xv)
    np.testing.assert_allclose(d, xv @ wv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g, zv + xv @ wv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s, Xv @ wv + 1, rtol=1e-5, atol=1e-5)
