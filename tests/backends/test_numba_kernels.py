"""The kernel modules (theanine/backends/numba/kernels/) called directly, against
NumPy / SciPy: matrix algebra, convolutions, MRG draws, np.unique's pieces, BLAS
gemm, ring buffers, NaN-aware max/min, Python callbacks. (vecmath: test_numba_math;
special functions: test_numba_special.)"""

import numpy as np
import pytest
import scipy.linalg as sla

from tests.backends.conftest import HAVE_NUMBA
from theanine.backends.numba import runtime
from theanine.sandbox import mrg_core

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")

if HAVE_NUMBA:
    from theanine.backends.numba.kernels import basic, callback, conv, gemm, linalg, mrg, unique

R = np.random.default_rng(3)


def _spd(n, dtype="float64"):
    a = R.normal(size=(n, n))
    return (a @ a.T + n * np.eye(n)).astype(dtype)


def _complex(*shape):
    return R.normal(size=shape) + 1j * R.normal(size=shape)


# -- linalg -------------------------------------------------------------------------

@pytest.mark.parametrize("lower", [True, False])
def test_la_herm(lower):
    a = _complex(4, 4)
    want = np.tril(a) + np.tril(a, -1).conj().T if lower else np.triu(a) + np.triu(a, 1).conj().T
    np.testing.assert_array_equal(linalg.la_herm(a, lower), want)


def test_la_lu_is_a_pivoted_factorisation():
    a = R.normal(size=(5, 5))
    lu, piv, parity = linalg.la_lu(a)
    low, up = np.tril(lu, -1) + np.eye(5), np.triu(lu)
    np.testing.assert_allclose(low @ up, a[piv], atol=1e-12)
    assert np.abs(np.tril(lu, -1)).max() <= 1  # partial pivoting
    assert parity == np.linalg.det(np.eye(5)[piv])


@pytest.mark.parametrize("a", [R.normal(size=(6, 6)), _complex(4, 4), np.zeros((3, 3)),
                               np.array([[1.0, 2.0], [2.0, 4.0]]), np.empty((0, 0))])
def test_la_det(a):
    np.testing.assert_allclose(linalg.la_det(a), np.linalg.det(a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lower", [True, False])
def test_la_trisolve(lower):
    a = np.tril(R.normal(size=(5, 5))) + 5 * np.eye(5)
    a = a if lower else a.T.copy()
    b = R.normal(size=(5, 3))
    np.testing.assert_allclose(linalg.la_trisolve(a, b, lower),
                               sla.solve_triangular(a, b, lower=lower), rtol=1e-12)
    a[2, 2] = 0
    with pytest.raises(np.linalg.LinAlgError, match="singular matrix"):
        linalg.la_trisolve(a, b, lower)


def test_la_lu_solve():
    a, b = R.normal(size=(6, 6)), R.normal(size=(6, 2))
    np.testing.assert_allclose(linalg.la_lu_solve(a, b), np.linalg.solve(a, b), rtol=1e-10)
    ac, bc = _complex(4, 4), _complex(4, 1)
    np.testing.assert_allclose(linalg.la_lu_solve(ac, bc), np.linalg.solve(ac, bc), rtol=1e-10)


def test_la_geigvalsh():
    a, b = _spd(5) - 3 * np.eye(5), _spd(5)
    for lower in (True, False):
        np.testing.assert_allclose(linalg.la_geigvalsh(a, b, lower), sla.eigvalsh(a, b),
                                   rtol=1e-10)


def test_la_cholesky():
    h = _spd(4)
    np.testing.assert_allclose(linalg.la_cholesky(h, False), np.linalg.cholesky(h),
                               rtol=1e-12)
    bad = -np.eye(3)
    assert np.isnan(linalg.la_cholesky(bad, True)).all()
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        linalg.la_cholesky(bad, False)


def test_la_eig_real():
    s = _spd(4)
    w, v = linalg.la_eig_real(s, 1e-12)
    assert w.dtype == np.float64
    np.testing.assert_allclose(np.sort(w), np.linalg.eigvalsh(s), rtol=1e-10)
    np.testing.assert_allclose(s @ v, v * w, atol=1e-9)
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])  # eigenvalues +-i
    with pytest.raises(ValueError, match="complex eigenvalues"):
        linalg.la_eig_real(rot, 1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_la_qr_pieces_follow_lapack(shape):
    a = R.normal(size=shape)
    h, tau = linalg.la_geqrf(a)
    raw_h, raw_tau = np.linalg.qr(a, mode="raw")
    np.testing.assert_allclose(h, raw_h.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tau, raw_tau, rtol=1e-10, atol=1e-12)
    k = min(shape)
    q, r = np.linalg.qr(a)
    np.testing.assert_allclose(linalg.la_orgqr(h, tau, k), q, atol=1e-12)
    np.testing.assert_allclose(linalg.la_triu(h, k), r, atol=1e-12)
    qc = linalg.la_orgqr(h, tau, shape[0])  # 'complete'
    np.testing.assert_allclose(qc @ linalg.la_triu(h, shape[0]), a, atol=1e-12)
    np.testing.assert_allclose(qc.T @ qc, np.eye(shape[0]), atol=1e-12)


@pytest.mark.parametrize("scale", [1e-3, 0.3, 1.0, 5.0, 40.0])
def test_la_expm(scale):
    a = R.normal(size=(5, 5)) * scale / 5
    np.testing.assert_allclose(linalg.la_expm(a), sla.expm(a), rtol=1e-11, atol=1e-13)
    ac = _complex(3, 3) * scale / 3
    np.testing.assert_allclose(linalg.la_expm(ac), sla.expm(ac), rtol=1e-11, atol=1e-13)
    assert np.isnan(linalg.la_expm(np.full((2, 2), np.inf))).all()


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (0, 3), (3, 0)])
@pytest.mark.parametrize("full", [True, False])
def test_la_svd(shape, full):
    a = R.normal(size=shape)
    u, s, vh = linalg.la_svd(a, full)
    u0, s0, vh0 = np.linalg.svd(a, full)
    assert u.shape == u0.shape and s.shape == s0.shape and vh.shape == vh0.shape
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    k = s.size
    np.testing.assert_allclose(u[:, :k] * s @ vh[:k], a, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 3), (3, 6), (4, 4)])
def test_la_lstsq(shape):
    a, b = R.normal(size=shape), R.normal(size=(shape[0], 2))
    a[:, -1] = a[:, 0]  # rank-deficient: the minimum-norm solution
    x, res, rank, s = linalg.la_lstsq(a, b, -1.0, np.finfo(float).eps)
    x0, res0, rank0, s0 = np.linalg.lstsq(a, b, rcond=None)
    np.testing.assert_allclose(x, x0, atol=1e-10)
    np.testing.assert_allclose(res, res0, atol=1e-10)
    assert rank == rank0
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    with pytest.raises(np.linalg.LinAlgError, match="Incompatible dimensions"):
        linalg.la_lstsq(a, b[:-1], -1.0, 1e-16)


# -- conv ---------------------------------------------------------------------------

def _conv_ref(x, w, geo):
    """Direct loops: cross-correlation (filters flipped when geo[0]) of the zero-padded
    input, with strides, dilations and groups."""
    flip, groups, pt, pb, pl, pr, sh, sw, dh, dw = geo
    B, C, H, W = x.shape
    F, cg, kh, kw = w.shape
    w = w[:, :, ::-1, ::-1] if flip else w
    xp = np.zeros((B, C, H + pt + pb, W + pl + pr))
    xp[:, :, pt:pt + H, pl:pl + W] = x
    oh = (H + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (W + pl + pr - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((B, F, oh, ow))
    fg = F // groups
    for f in range(F):
        g = f // fg
        for i in range(oh):
            for j in range(ow):
                win = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + (kh - 1) * dh + 1:dh,
                         j * sw:j * sw + (kw - 1) * dw + 1:dw]
                out[:, f, i, j] = (win * w[f]).sum(axis=(1, 2, 3))
    return out


GEOMETRIES = [(0, 1, 0, 0, 0, 0, 1, 1, 1, 1), (1, 1, 1, 1, 2, 2, 1, 1, 1, 1),
              (0, 2, 1, 0, 0, 1, 2, 1, 1, 2), (1, 1, 0, 0, 0, 0, 2, 3, 2, 1)]


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_forward_and_adjoints(geo, dtype):
    """conv_fwd against direct loops; the gradients against the adjoint identities
    <conv(x, w), g> = <x, grad_inputs(w, g)> = <w, grad_weights(x, g)>."""
    groups = geo[1]
    x = R.normal(size=(2, 2 * groups, 7, 8)).astype(dtype)
    w = R.normal(size=(3 * groups, 2, 3, 2)).astype(dtype)
    g = np.array(geo, dtype=np.int64)
    y = conv.conv_fwd(x, w, g)
    assert y.dtype == dtype
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, _conv_ref(x.astype(float), w.astype(float), geo),
                               rtol=tol, atol=tol)
    gz = R.normal(size=y.shape).astype(dtype)
    gi = conv.conv_grad_inputs(w, gz, x.shape[2], x.shape[3], g)
    gw = conv.conv_grad_weights(x, gz, w.shape[2], w.shape[3], g)
    assert gi.shape == x.shape and gw.shape == w.shape
    dot = float((y.astype(float) * gz).sum())
    np.testing.assert_allclose(float((x.astype(float) * gi).sum()), dot, rtol=tol * 10)
    np.testing.assert_allclose(float((w.astype(float) * gw).sum()), dot, rtol=tol * 10)


def test_conv_errors():
    x, w = np.ones((1, 3, 4, 4)), np.ones((2, 2, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        conv.conv_fwd(x, w, np.array(GEOMETRIES[0], np.int64))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv.conv_fwd(np.ones((1, 2, 2, 2)), w, np.array(GEOMETRIES[0], np.int64))


# -- MRG draws ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_streams,size", [(1, (7,)), (4, (3, 5)), (10, (4,)), (3, ())])
def test_mrg_uniform_is_bit_for_bit_the_numpy_one(dtype, n_streams, size):
    state = mrg_core.substreams(np.array([12345] * 6, "int32"), n_streams)
    fn = mrg.mrg_uniform_f32 if dtype == "float32" else mrg.mrg_uniform_f64
    new, out = fn(state, np.array(size, np.int64))
    want_state, want = mrg_core.uniform(state, int(np.prod(size)), dtype)
    np.testing.assert_array_equal(out, want)
    assert out.dtype == dtype
    np.testing.assert_array_equal(new, want_state)
    assert (state == mrg_core.substreams(np.array([12345] * 6, "int32"), n_streams)).all()


def test_mrg_uniform_errors():
    state = np.ones((2, 6), np.int32)
    with pytest.raises(ValueError, match="non-negative"):
        mrg.mrg_uniform_f64(state, np.array([-1], np.int64))
    with pytest.raises(ValueError, match=r"\(n_streams, 6\)"):
        mrg.mrg_uniform_f64(np.ones((2, 5), np.int32), np.array([3], np.int64))


def test_mrg_multinomial_and_choice_pieces():
    p = R.dirichlet(np.ones(5), size=3)
    u = R.random(3 * 4)
    counts = np.zeros((3, 5), np.int64)
    for c in range(4):
        for r in range(3):
            m = mrg.mrg_first_above(p, r, u[c * 3 + r])
            counts[r, m] += 1
    np.testing.assert_array_equal(counts, mrg_core.multinomial_from_uniform(p, u, 4, "int64"))
    out = np.full((3, 4), -1, np.int64)
    mrg.mrg_choice_from_uniform(p, u, 4, out)
    np.testing.assert_array_equal(out, mrg_core.choice_from_uniform(p, u, 4, "int64"))
    assert all(len(set(row)) == 4 for row in out)
    with pytest.raises(ValueError, match="n must be >= 0"):
        mrg.mrg_check_from_uniform(p, u, -1)
    with pytest.raises(ValueError, match="pvals.shape"):
        mrg.mrg_check_from_uniform(p, u[:-1], 4)
    with pytest.raises(ValueError, match="more distinct outcomes"):
        mrg.mrg_choice_from_uniform(p, R.random(18), 6, np.empty((3, 6), np.int64))


# -- unique, basic helpers, gemm, callbacks ----------------------------------------

def test_unique_flat_and_extras():
    x = np.array([3.0, np.nan, 1.0, 3.0, np.nan, -2.0, 1.0])
    perm, mask = unique.unique_flat(x)
    index, inverse, counts = unique.unique_extras(perm, mask)
    want = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(x[perm[mask]], want[0])
    for got, ref in zip((index, inverse, counts), want[1:]):
        np.testing.assert_array_equal(got, ref.ravel())


def test_unique_rows():
    rows = np.array([[1, 2], [0, 5], [1, 2], [0, 1], [0, 5]])
    perm, mask = unique.unique_rows(rows)
    want, index = np.unique(rows, axis=0, return_index=True)
    np.testing.assert_array_equal(rows[perm[mask]], want)
    np.testing.assert_array_equal(unique.unique_extras(perm, mask)[0], index)


@pytest.mark.parametrize("steps", [0, 2, 3, 4, 7])
def test_ring_in_order(steps):
    rows = 3
    buf = np.zeros((rows, 2))
    for t in range(steps):
        buf[t % rows] = t
    want = np.arange(max(0, steps - rows), steps)
    np.testing.assert_array_equal(basic.ring_in_order(buf, steps)[:, 0], want)


def test_nan_max_min_and_check_index():
    import numba

    @numba.njit
    def both(a, b):
        return basic.nan_max(a, b), basic.nan_min(a, b)

    for a, b in [(1.0, 2.0), (np.nan, 1.0), (1.0, np.nan), (-0.0, 0.0), (np.inf, -np.inf)]:
        got = both(a, b)
        np.testing.assert_array_equal(got, (np.maximum(a, b), np.minimum(a, b)))

    @numba.njit
    def index(i, n):
        return basic.check_index(i, n, 0)

    assert index(-3, 3) == -3 and index(2, 3) == 2
    with pytest.raises(IndexError, match="out of bounds"):
        index(3, 3)


@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (200, 8, 16), (0, 3, 2), (3, 0, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_into(m, k, n, dtype):
    import numba

    @numba.njit
    def run(alpha, a, b, beta, c):
        gemm.gemm_into(alpha, a, b, beta, c)

    a, b = R.normal(size=(m, k)).astype(dtype), R.normal(size=(k, n)).astype(dtype)
    c = R.normal(size=(m, n)).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for aa, bb in [(a, b), (np.asfortranarray(a).T.T, b.T.copy().T)]:  # transposed views
        got = c.copy()
        run(2.0, aa, bb, 0.5, got)
        np.testing.assert_allclose(got, 2 * a @ b + 0.5 * c, rtol=tol, atol=tol)
    got = np.full((m, n), np.nan, dtype)  # beta = 0 ignores c's values
    run(1.0, a, b, 0.0, got)
    np.testing.assert_allclose(got, a @ b, rtol=tol, atol=tol)


def test_python_callbacks_by_number():
    seen = []
    k = callback.add(lambda *v: seen.append(v) or ("done",))
    assert callback.run_python(k, 1, 2) == ("done",)
    assert seen == [(1, 2)]
    assert callback.add(len) == k + 1


def test_kernel_modules_import_nothing_from_theanine():
    """What a kernel loaded from the disk cache imports: numba, NumPy and these modules
    (kernels/__init__); runtime.py gathers them and nothing else."""
    import ast
    import os


    folder = os.path.dirname(runtime.KERNEL_MODULES[0].__file__)
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".py")]
    for path in files + [runtime.__file__]:
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                inside = node.level == 1 and (path != runtime.__file__
                                              or (node.module or "").startswith("kernels"))
                names = [] if inside else [("." * node.level) + (node.module or "")]
            else:
                continue
            assert not any(n.startswith(("theanine", ".")) for n in names), (path, names)
    assert {m.__name__.rsplit(".", 1)[1] for m in runtime.KERNEL_MODULES} == {
        os.path.basename(p)[:-3] for p in files} - {"__init__", "blas"}
