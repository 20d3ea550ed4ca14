"""float32 sums in compiled code are as accurate as NumPy's (issue 13, item 3): sum,
mean, var, std and softmax's normaliser accumulate float32 in float64, at the top
level and inside compiled scan bodies."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import HAVE_NUMBA, assert_same, backend_mode
from theanine.backends.numba import linker

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


def _both(inputs, outputs):
    py = theano.function(inputs, outputs, mode=backend_mode("py"))
    nb = theano.function(inputs, outputs, mode=backend_mode("numba"))
    return py, nb


def test_float32_sum_and_mean_of_2e7_ones_in_a_loop(numba_strict):
    """A float32 running sum stops at 2**24 = 16777216; NumPy's pairwise sum and ours
    reach 2e7 exactly."""
    x = T.vector("x", dtype="float32")
    k = T.vector("k", dtype="float32")

    def step(kt, s, m, x):  # depends on the step: not hoisted out of the loop
        return s + T.sum(x * kt), m + T.mean(x * kt)

    zero = T.constant(np.float32(0))
    (s, m), _ = theano.scan(step, sequences=k, outputs_info=[zero, zero], non_sequences=x)
    py, nb = _both([x, k], [s[-1], m[-1], T.sum(x), T.mean(x)])
    v, kv = np.ones(20_000_000, "float32"), np.ones(1, "float32")
    ref, got = py(v, kv), nb(v, kv)
    assert [float(r) for r in ref] == [2e7, 1.0, 2e7, 1.0]
    assert [float(g) for g in got] == [2e7, 1.0, 2e7, 1.0]
    assert all(g.dtype == np.float32 for g in got)


@pytest.mark.parametrize("axis", [0, 1, None])
def test_float32_reductions_are_accurate(numba_strict, axis):
    """sum, mean, var, std of float32 over long axes: within float32 precision of the
    exact (float64) values (a float32 running sum of 1e6 values of 0.1 is about 1 %
    off). NumPy sums pairwise only along the contiguous axis: over axis 0 of a
    C-ordered matrix py's float32 sums are running sums (a NumPy trait, so py is
    compared only where NumPy is pairwise)."""
    x = T.matrix("x", dtype="float32")
    outs = [T.sum(x, axis=axis), T.mean(x, axis=axis), T.var(x, axis=axis),
            T.std(x, axis=axis)]
    py, nb = _both([x], outs)
    rng = np.random.default_rng(0)
    shape = (1_000_000, 2) if axis == 0 else (2, 1_000_000) if axis == 1 else (1000, 1000)
    v = (0.1 + rng.random(shape) * 1e-3).astype("float32")
    exact = [v.astype("float64").sum(axis), v.astype("float64").mean(axis),
             v.astype("float64").var(axis), v.astype("float64").std(axis)]
    ref, got = py(v), nb(v)
    for e, r, g in zip(exact, ref, got):
        assert g.dtype == r.dtype == np.float32 and g.shape == r.shape
        np.testing.assert_allclose(g, e, rtol=2e-6)
        if axis != 0:
            np.testing.assert_allclose(r, e, rtol=2e-6)  # NumPy's pairwise sums
    if axis != 0:
        assert_same(ref, got, rtol=4e-6)


def test_float32_sums_in_a_scan_body_with_kept_axes(numba_strict):
    x = T.matrix("x", dtype="float32")
    k = T.vector("k", dtype="float32")
    out, _ = theano.scan(lambda kt, x: [T.sum(x * kt, axis=0), T.mean(x * kt, axis=1)],
                         sequences=k, non_sequences=x)
    py, nb = _both([x, k], out)
    v = np.full((1_000_000, 3), 0.1, "float32")
    kv = np.array([1.0, 2.0], "float32")
    ref, got = py(v, kv), nb(v, kv)
    exact = np.float64(np.float32(0.1)) * 1e6 * kv.astype("float64")
    np.testing.assert_allclose(got[0], np.repeat(exact[:, None], 3, 1), rtol=1e-6)
    assert_same(ref[1], got[1], rtol=1e-6)  # over the contiguous axis: NumPy pairwise


def test_float32_softmax_normaliser_is_accurate(numba_strict):
    x = T.matrix("x", dtype="float32")
    py, nb = _both([x], [T.nnet.softmax(x), T.nnet.logsoftmax(x)])
    v = np.zeros((2, 2_000_000), "float32")  # a uniform distribution over 2e6 classes
    ref, got = py(v), nb(v)
    assert_same(ref, got, rtol=1e-6)
    np.testing.assert_allclose(got[0], 5e-7, rtol=1e-6)
    np.testing.assert_allclose(got[1], -np.log(2e6), rtol=1e-6)


def test_float64_sums_keep_their_float64_loop(numba_strict):
    """Only float32 / complex64 sums widen: the float64 kernel has no float64 copy."""

    for dtype, wide in (("float64", False), ("float32", True), ("complex64", True)):
        x = T.vector("x", dtype=dtype)
        f = theano.function([x], T.sum(x), mode=backend_mode("numba"))
        node = next(n for n in f.maker.fgraph.toposort() if type(n.op).__name__ == "CAReduce")
        text = linker.kernel_text(node)
        assert ("acc" in text) == wide, text
        v = np.arange(5, dtype=dtype)
        assert f(v) == v.sum() and f(v).dtype == dtype
