"""numba implementations of the diagonal ops, Nonzero, Unique, RavelMultiIndex,
UnravelIndex, ViewOp and the erfinv / erfcx scalar kernels agree with py
(values, dtype, shape) and raise what py raises.

Few graphs, several outputs each (every node is one JIT compilation), each run on
several inputs; the error checks reuse the compiled functions."""

import importlib

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import assert_same, backend_mode
from theanine.backends.numba.linker import kernel_text
from theanine.backends.numba.registry import Unsupported
from theanine.gradient import zero_grad

D, S, SE, U = (importlib.import_module(f"theanine.tensor.{m}")
               for m in ("diagonal", "sorting", "subtensor_extra", "unravel"))
R = np.random.default_rng(3)


def _both(inputs, outputs, mode="fast_run"):
    """py and numba functions; checks the numba one compiled a kernel per op class."""
    py = theano.function(inputs, outputs, mode=backend_mode("py"))
    nb = theano.function(inputs, outputs, mode=theano.Mode(linker="numba", optimizer=mode))
    compiled = {type(k.node.op).__name__ for k in nb.fn.kernels}
    wanted = {type(o.owner.op).__name__ for o in outputs}
    assert wanted <= compiled, wanted - compiled
    return py, nb


def _same(py, nb, *args):
    assert_same(py(*args), nb(*args))


def _raises_like_py(py, nb, *args):
    with pytest.raises(Exception) as ref:
        py(*args)
    with pytest.raises(type(ref.value)):
        nb(*args)


def test_diagonals(numba_strict):
    x, m, f, c = T.tensor3("x"), T.imatrix("m"), T.matrix("f"), T.scalar("c")
    v, w = T.vector("v"), T.vector("w")
    outs = [D.diagonal(x, 1, 0, 2), D.diagonal(m, -1), D.fill_diagonal(x, c),
            D.SetDiag(1, (0, 1))(f, w), D.SetDiag(0, (2, 1))(x, v)]
    py, nb = _both([x, m, f, c, v, w], outs)
    # shapes of x, m and f; v and w fill the diagonals of x (axes 2, 1) and f (offset 1)
    for xs, ms, fs in [((3, 4, 3), (4, 5), (4, 5)), ((2, 5, 4), (2, 2), (3, 2)),
                       ((1, 1, 1), (0, 3), (0, 3))]:
        kv, kw = min(xs[1:]), max(0, min(fs[0], fs[1] - 1))
        _same(py, nb, R.normal(size=xs), R.integers(-9, 9, size=ms).astype("int32"),
              R.normal(size=fs), 2.5, R.normal(size=kv), R.normal(size=kw))
    # a value that does not fit the diagonal: ValueError
    _raises_like_py(py, nb, np.ones((3, 4, 3)), np.ones((2, 2), "int32"), np.ones((4, 5)),
                    1.0, np.ones(2), np.ones(4))


def test_nonzero(numba_strict):
    m, b = T.matrix("m"), T.bvector("b")
    py, nb = _both([m, b], [SE.Nonzero()(m), SE.Nonzero()(b)])
    mv = np.array([[0.0, 1.5, 0.0], [np.nan, 0.0, -2.0]])
    _same(py, nb, mv, np.array([0, 3, 0, 1], "int8"))
    _same(py, nb, np.zeros((0, 4)), np.zeros(5, "int8"))


def test_unique(numba_strict):
    x, t = T.matrix("x"), T.tensor3("t")
    outs = [*S.unique(x, True, True, True), *S.unique(t, True, False, True, axis=1)]
    py, nb = _both([x, t], outs)
    xv = R.integers(0, 4, size=(3, 5)).astype(float)
    xv[0, 1] = xv[2, 2] = xv[1, 4] = np.nan  # NaNs count as one value
    xv[0, 0] = -0.0
    tv = R.integers(0, 2, size=(2, 5, 2)).astype(float)
    tv[:, 3] = tv[:, 0]
    tv[:, 4] = tv[:, 1]
    tv[0, 1, 0] = tv[0, 4, 0] = np.nan  # rows holding a NaN are all distinct
    _same(py, nb, xv, tv)
    _same(py, nb, np.zeros((0, 2)), np.zeros((2, 0, 3)))
    _same(py, nb, np.ones((1, 1)), np.zeros((0, 3, 2)))
    _same(py, nb, np.ones((2, 1)), np.zeros((2, 3, 0)))


def test_unique_complex_is_unsupported():
    z = T.vector("z", dtype="complex128")
    with pytest.raises(Unsupported):
        kernel_text(S.unique(z).owner)


def test_ravel_and_unravel(numba_strict):
    i, j, s, k = T.lvector("i"), T.imatrix("j"), T.lscalar("s"), T.bscalar("k")
    outs = [U.ravel_multi_index((i, j), (4, 5)),
            U.ravel_multi_index((i, j), (3, 4), mode="wrap", order="F"),
            U.ravel_multi_index((s, k), (3, 4), mode="clip"),
            *U.unravel_index(j, (3, 4, 5)), *U.unravel_index(s, (3, 4), order="F")]
    py, nb = _both([i, j, s, k], outs)
    jv = np.array([[0, 4, 2], [1, 3, 3]], "int32")
    _same(py, nb, np.array([0, 1, 3]), jv, np.int64(7), np.int8(-2))
    _same(py, nb, np.array([2]), jv, np.int64(11), np.int8(9))  # i broadcasts
    _same(py, nb, np.zeros(0, "int64"), np.zeros((2, 0), "int32"), np.int64(0), np.int8(0))
    # out of range ('raise' mode / unravel), shapes that do not broadcast: ValueError
    _raises_like_py(py, nb, np.array([0, 4, 1]), jv, np.int64(7), np.int8(0))
    _raises_like_py(py, nb, np.array([0, 1, 3]), jv, np.int64(12), np.int8(0))
    _raises_like_py(py, nb, np.array([0, 1]), jv, np.int64(7), np.int8(0))


def test_identity_grad_op(numba_strict):
    x = T.matrix("x")
    py, nb = _both([x], [zero_grad(x)], mode=None)
    xv = R.normal(size=(2, 3))
    _same(py, nb, xv)


def _ulps(ref, got):
    ref, got = np.asarray(ref), np.asarray(got)
    same = (ref == got) | (np.isnan(ref) & np.isnan(got))
    spacing = np.spacing(np.maximum(np.abs(ref), np.finfo(ref.dtype).tiny))
    with np.errstate(invalid="ignore"):
        return np.where(same, 0, np.abs(got.astype(float) - ref) / spacing)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_erfinv_erfcx(numba_strict, dtype):
    x, y = T.vector("x", dtype), T.vector("y", dtype)
    py, nb = _both([x, y], [T.erfinv(x), T.erfcx(y)])
    near_one = 1 - 10.0 ** -R.uniform(0, 16, 300)
    edges = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, np.inf, -np.inf, np.nan, 0.5, 1e-9]
    xv = np.concatenate([R.uniform(-1, 1, 500), near_one, -near_one,
                         10.0 ** -R.uniform(0, 300, 100), edges])
    yv = np.concatenate([R.uniform(-30, 30, 500), R.uniform(-1, 1, 300),
                         10.0 ** R.uniform(0, 300, 100),
                         [0.0, -0.0, 26.0, 5e7, 1e8, -26.7, np.inf, -np.inf, np.nan]])
    n = min(len(xv), len(yv))
    with np.errstate(over="ignore"):
        xv, yv = xv[-n:].astype(dtype), yv[-n:].astype(dtype)
    ref, got = py(xv, yv), nb(xv, yv)
    assert_same(ref, got)
    single = dtype == "float32"  # ours in double precision, rounded once
    assert _ulps(ref[0], got[0]).max() <= (2 if single else 4)
    # scipy's erfcx is itself up to 8 ulps off on (0, 1); ours is within 3 of the truth
    assert _ulps(ref[1], got[1]).max() <= (1 if single else 12)
    zeros = xv == 0
    np.testing.assert_array_equal(np.signbit(got[0][zeros]), np.signbit(xv[zeros]))
