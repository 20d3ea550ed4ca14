"""Products with a one-element operand (a length-1 vector or a 1x1 matrix) give
np.dot's values on every backend, also next to inf and NaN (issue 13 item 5, found
by the differential fuzzer).

np.dot treats such an operand as a scalar s and computes s * other with BLAS axpy
into zeros; OpenBLAS's axpy returns at once for s == 0, so np.dot(zeros(1),
[[-5.5, inf, 13]]) is [0, 0, 0] where IEEE arithmetic (np.matmul, a loop) gives
[0, nan, 0]. The py backend's dot is np.dot: the reference. Dot and Gemm (z + dot,
b * z + a * dot) on numba give the same (a scalar test before the product:
no extra array code to compile), and py's blocked product for tall
matrices (tensor/linalg.matrix_product) keeps np.dot's rule for a 1x1 b.
"""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA, backend_mode
from theanine.tensor.linalg import matrix_product

if HAVE_NUMBA:
    from theanine.backends.numba import codegen, linker
    from theanine.backends.numba.kernels import blas

R = np.random.default_rng(13)


@pytest.fixture(autouse=True)
def _py_and_numba(request):
    """jax's dot is XLA's (IEEE: 0 * inf is NaN), not np.dot's rule yet: the jax
    backend's own work (tests/fuzz/test_differential.py KNOWN)."""
    spec = getattr(request.node, "callspec", None)
    if spec is not None and spec.params.get("backend") == "jax":
        pytest.skip("jax does not follow np.dot's zero-factor rule yet")
VALUES = [0.0, 0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan]
# (x ndim, y ndim) -> shapes (x, y) with a one-element operand, and ordinary ones
SHAPES = {
    (1, 2): [((1,), (1, 3)), ((1,), (1, 1)), ((2,), (2, 3))],
    (2, 1): [((3, 1), (1,)), ((1, 1), (1,)), ((3, 2), (2,))],
    (2, 2): [((1, 1), (1, 4)), ((4, 1), (1, 1)), ((1, 1), (1, 1)), ((3, 1), (1, 2)),
             ((2, 3), (3, 2))],
    (1, 1): [((1,), (1,)), ((3,), (3,))],
}


def _values(shape, dtype):
    """Values with zeros, infinities and NaN; complex ones finite (a complex product
    with an infinite part is NaN in BLAS's 1x1 zgemm and not in NumPy's scalar
    product: outside this rule, not covered here)."""
    if np.dtype(dtype).kind == "c":
        re, im = (R.choice([0.0, 0.0, -0.0, 1.5, -2.0], size=shape) for _ in range(2))
        return (re + 1j * im).astype(dtype)
    return R.choice(VALUES, size=shape).astype(dtype)


def _assert_same_special(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaNs: {what}")
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)],
                                  err_msg=f"infinities: {what}")
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-6, err_msg=what)


def _cases(dtype, reps=6):
    """(x ndim, y ndim, x value, y value), the first of each shape with a zero
    one-element operand and infinities in the other."""
    for (nx, ny), shapes in SHAPES.items():
        for sx, sy in shapes:
            for rep in range(reps):
                x, y = _values(sx, dtype), _values(sy, dtype)
                if rep == 0:
                    (x if x.size == 1 else y).flat[0] = 0
                    if np.dtype(dtype).kind == "f":
                        (y if x.size == 1 else x).flat[-1] = np.inf
                yield nx, ny, x, y


@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128"])
def test_dot_gives_np_dots_values(backend, dtype):
    fns = {}
    with np.errstate(all="ignore"):
        for nx, ny, x, y in _cases(dtype):
            if (nx, ny) not in fns:
                xv, yv = T.TensorType(dtype, (False,) * nx)(), T.TensorType(dtype, (False,) * ny)()
                fns[nx, ny] = theano.function([xv, yv], T.dot(xv, yv),
                                              mode=backend_mode(backend))
            _assert_same_special(fns[nx, ny](x, y), np.dot(x, y),
                                 f"{backend}: dot({x.tolist()}, {y.tolist()})")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scaled", [False, True])
def test_gemm_gives_py_gemms_values(backend, dtype, scaled):
    """z + dot(x, y) and 2 z + 3 dot(x, y) become Gemm nodes; py's Gemm is np.dot,
    scaled and added: numba's gives the same values."""
    fns = {}
    with np.errstate(all="ignore"):
        for nx, ny, x, y in _cases(dtype, reps=4):
            if (nx, ny) == (1, 1):
                continue  # a scalar: no Gemm
            if (nx, ny) not in fns:
                xv, yv = T.TensorType(dtype, (False,) * nx)(), T.TensorType(dtype, (False,) * ny)()
                zv = T.TensorType(dtype, (False,) * (1 if 1 in (nx, ny) else 2))()
                out = 2.0 * zv + 3.0 * T.dot(xv, yv) if scaled else zv + T.dot(xv, yv)
                f = theano.function([zv, xv, yv], out, mode=backend_mode(backend))
                assert "Gemm" in {type(n.op).__name__ for n in f.maker.fgraph.toposort()}
                fns[nx, ny] = f
            z = R.normal(size=np.dot(x, y).shape).astype(dtype)
            want = (2 * z + 3 * np.dot(x, y)) if scaled else z + np.dot(x, y)
            _assert_same_special(fns[nx, ny](z, x, y), want.astype(dtype),
                                 f"{backend}: gemm(z, {x.tolist()}, {y.tolist()})")


def test_gemm_one_element_product_checks_z(backend):
    x, y, z = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("z")
    f = theano.function([z, x, y], z + T.dot(x, y), mode=backend_mode(backend))
    with pytest.raises(ValueError):
        f(np.zeros((2, 3)), np.zeros((1, 1)), np.ones((1, 3)))


def test_tall_times_one_by_one_is_np_dot():
    """matrix_product's blocked matmul (tall a, small b) would give NaN for 0 * inf;
    a 1x1 b stays with np.dot."""
    a = np.ones((3 * 64 + 5, 1))
    a[7, 0] = np.inf
    for b in (np.zeros((1, 1)), np.full((1, 1), 2.0)):
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(matrix_product(a, b), np.dot(a, b))
    b = np.zeros((1, 2))  # the blocked product: IEEE, as np.dot for a non-scalar b
    with np.errstate(all="ignore"):
        got, want = matrix_product(a, b), np.dot(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_gemm_with_a_scalar_input(backend):
    """Gemm's a as an input: 0 * a where a is inf is NaN on py (np.dot's zeros times a),
    and on numba; a finite a gives b * z."""
    x, y, z, a = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("z"), T.dscalar("a")
    f = theano.function([z, x, y, a], z + a * T.dot(x, y), mode=backend_mode(backend))
    xs, ys, zs = np.zeros((1, 1)), np.array([[np.inf, 1.0, -2.0]]), np.ones((1, 3))
    with np.errstate(all="ignore"):
        for av in (2.0, np.inf, np.nan):
            want = zs + av * np.dot(xs, ys)
            _assert_same_special(f(zs, xs, ys, av), want, f"{backend}: a = {av}")


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_the_rule_is_asked_of_numpy():
    for dtype in ["float64", "float32", "complex128"]:
        with np.errstate(all="ignore"):
            r = np.dot(np.zeros(1, dtype), np.array([[np.inf, 1.0]], dtype))
        assert blas.one_element_dot_skips_zero(dtype) == (not np.isnan(r).any())
    assert not blas.one_element_dot_skips_zero("int64")


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_products_in_parts_of_a_large_body_keep_the_rule(monkeypatch, dtype):
    """In the parts of a large loop body (codegen.Ctx.in_part) Dot and Gemm call the
    compiled dot_checked: np.dot's values there too, with 0 * a scale that is not
    finite still NaN, and misaligned shapes still raising."""
    monkeypatch.setattr(codegen.Ctx, "in_part", True)
    monkeypatch.setattr(linker, "_TEXTS", {})  # texts made outside a part
    mode = backend_mode("numba")
    fns = {}
    with np.errstate(all="ignore"):
        for nx, ny, x, y in _cases(dtype, reps=3):
            if (nx, ny) == (1, 1):
                continue
            if (nx, ny) not in fns:
                xv, yv = T.TensorType(dtype, (False,) * nx)(), T.TensorType(dtype, (False,) * ny)()
                zv = T.TensorType(dtype, (False,) * (1 if 1 in (nx, ny) else 2))()
                a = T.scalar("a", dtype=dtype)
                with linker.policy("strict", granularity="all"):  # every node compiled
                    fns[nx, ny] = theano.function([zv, xv, yv, a], [T.dot(xv, yv),
                                                                     zv + a * T.dot(xv, yv)],
                                                  mode=mode)
                text = "".join(nk.kernel.text for nk in fns[nx, ny].fn.kernels)
                assert 1 not in (nx, ny) and blas.available(dtype) or "dot_checked(" in text
            z = R.normal(size=np.dot(x, y).shape).astype(dtype)
            for a in (3.0, np.inf):
                got = fns[nx, ny](z, x, y, np.asarray(a, dtype))
                what = f"in a part: dot({x.tolist()}, {y.tolist()}), a={a}"
                _assert_same_special(got[0], np.dot(x, y), what)
                _assert_same_special(got[1], (z + np.asarray(a, dtype) * np.dot(x, y)), what)
    f = fns[1, 2]
    with pytest.raises(ValueError):
        f(np.zeros(3, dtype), np.zeros(2, dtype), np.ones((3, 3), dtype), np.asarray(1, dtype))
