"""Differential fuzzing: random graphs (graphs.py) compiled on every backend give
py's values and gradients (issue 13).

The CI slice is derandomized (the same graphs every run) and small; ``make fuzz``
runs many more random graphs (THEANINE_FUZZ_EXAMPLES, default 300 per test, and a
new seed each run: hypothesis prints the failing graph's choices, and
``Builder.log`` in the assertion message gives its recipe).

Backends: every available one (``BACKENDS``): py, numba, and jax once
theanine/backends/jax exists. Each non-py backend compiles every node it can
(numba: policy 'checked', granularity 'all'), so compiled code is compared.

The disagreements it found (issue 13 item 5: softplus(-inf), psi(0), gammaln(-inf)
and of subnormals, psi / tri_gamma accuracy, and dot's 0 * inf with a one-element
operand) are fixed; the tests at the end keep them fixed, and the random graphs
include these functions and values again.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import backends
from theanine.backends.numba import linker

from .graphs import Builder

hyp = pytest.importorskip("hypothesis")
st = hyp.strategies

BACKENDS = [b for b in ("numba", "jax") if b in backends.BACKENDS and backends.available(b)]
LONG = int(os.environ.get("THEANINE_FUZZ_EXAMPLES", "0"))
# Shrinking recompiles every candidate graph (minutes): on demand only
PHASES = [hyp.Phase.explicit, hyp.Phase.generate] + (
    [hyp.Phase.shrink] if os.environ.get("THEANINE_FUZZ_SHRINK") else [])
SETTINGS = dict(deadline=None, derandomize=not LONG, database=None, phases=PHASES,
                suppress_health_check=list(hyp.HealthCheck), print_blob=True)

pytestmark = [pytest.mark.slow,  # numba compiles every graph (JIT time), as tests/backends
              pytest.mark.skipif(not BACKENDS, reason="no backend besides py is installed")]


def examples(ci):
    return LONG or ci


@contextlib.contextmanager
def compiled(backend):
    """Every node this backend can compile is compiled before the first call."""
    if backend == "numba":
        with linker.policy("checked", "all"):
            yield
    else:
        yield


def run(backend, inputs, outputs, values):
    mode = theano.Mode(linker=backend, optimizer="fast_run")
    with compiled(backend), np.errstate(all="ignore"):
        f = theano.function(inputs, outputs, mode=mode, on_unused_input="ignore")
        return [np.asarray(v) for v in f(*values)]


def assert_agree(ref, got, what, log, low=False):
    """Same dtype and shape; the same NaNs and infinities; finite values within the
    dtype's precision: relative, and absolute relative to the largest entry or 1
    (a last-bit difference in tanh(x) near 1 changes 1 - tanh(x)**2 by 6e-8 in
    float32: differences of values of order 1 show in small results)."""
    for k, (a, b) in enumerate(zip(ref, got)):
        where = f"{what} {k}\nrecipe:\n  " + "\n  ".join(log)
        assert a.dtype == b.dtype, f"dtype {b.dtype} != py's {a.dtype}: {where}"
        assert a.shape == b.shape, f"shape {b.shape} != py's {a.shape}: {where}"
        if a.dtype.kind not in "fc":
            np.testing.assert_array_equal(b, a, err_msg=where)
            continue
        np.testing.assert_array_equal(np.isnan(b), np.isnan(a), err_msg="NaNs: " + where)
        np.testing.assert_array_equal(np.isposinf(b), np.isposinf(a), err_msg="+inf: " + where)
        np.testing.assert_array_equal(np.isneginf(b), np.isneginf(a), err_msg="-inf: " + where)
        fin = np.isfinite(a)
        if not fin.any():
            continue
        # a float64 result of float32 work (float32 + int64) has float32's precision
        rtol, eps = (1e-3, 1e-5) if low or a.dtype == np.float32 else (1e-7, 1e-11)
        scale = max(1.0, float(np.max(np.abs(a[fin]))))
        np.testing.assert_allclose(b[fin], a[fin], rtol=rtol, atol=eps * scale,
                                   err_msg="values: " + where)


# backend -> functions whose values at NaN/inf/huge/tiny points that backend does not
# give as py does: graphs using them with special values skip that backend, as do the
# regression tests below. numba has none left (issue 13 item 5). jax's dot is XLA's:
# IEEE 0 * inf = NaN where np.dot's one-element rule gives 0, and another summation
# order (with fused multiply-adds), so a float32 sum of products that overflows midway
# can be +inf on py and finite on jax (docs/jax.md, known limits).
KNOWN = {"jax": {"dot"}}


KNOWN_NAMES = set().union(*KNOWN.values())


def _known(backend, names):
    return bool(KNOWN.get(backend, set()) & set(names))


def check(data, dtype, special, scans):
    b = Builder(data, dtype, special, scans=scans)
    outs, grads = b.outputs()
    ref = run("py", b.inputs, outs + grads, b.values)
    used = {n for line in b.log for n in KNOWN_NAMES if n + "(" in line} if special else set()
    for backend in BACKENDS:
        if _known(backend, used):
            continue
        got = run(backend, b.inputs, outs + grads, b.values)
        low = dtype == "float32"
        assert_agree(ref[:len(outs)], got[:len(outs)], f"{backend}: output", b.log, low)
        # the cost, sum(v * w), is rewritten into a dot: not compared where that
        # backend's dot is known to differ at special values (its gradients are)
        first = len(outs) + (1 if grads and special and _known(backend, ["dot"]) else 0)
        assert_agree(ref[first:], got[first:], f"{backend}: cost/gradient", b.log, low)


@hyp.settings(max_examples=examples(12), **SETTINGS)
@hyp.given(data=st.data(), dtype=st.sampled_from(["float64", "float32"]))
def test_graphs_with_ordinary_values(data, dtype):
    check(data, dtype, special=False, scans=False)


@hyp.settings(max_examples=examples(12), **SETTINGS)
@hyp.given(data=st.data(), dtype=st.sampled_from(["float64", "float32"]))
def test_graphs_with_nan_inf_huge_and_tiny_values(data, dtype):
    check(data, dtype, special=True, scans=False)


@hyp.settings(max_examples=examples(6), **SETTINGS)
@hyp.given(data=st.data(), dtype=st.sampled_from(["float64", "float32"]))
def test_graphs_with_scans(data, dtype):
    check(data, dtype, special=data.draw(st.booleans(), label="special"), scans=True)


# -- the disagreements found before (issue 13 item 5), now regression tests --------------
SPECIAL_F64 = np.array([-np.inf, np.inf, np.nan, 0.0, -0.0, -1.0, 1e-310, -1e-310, 5e-324,
                        1e300, -1e300])
UNARY_CASES = {"softplus": T.nnet.softplus, "psi": T.psi, "tri_gamma": T.tri_gamma,
               "gammaln": T.gammaln}


@pytest.mark.parametrize("name", ["gammaln", "psi", "softplus", "tri_gamma"])
def test_special_values_agree(name):
    """softplus(-inf) = 0, psi(+-0) = -+inf, gammaln(-inf) = -inf and gammaln of a
    subnormal = inf (SciPy's), on every backend as on py."""
    x = T.dvector("x")
    ref = run("py", [x], [UNARY_CASES[name](x)], [SPECIAL_F64])
    for backend in (b for b in BACKENDS if not _known(b, [name])):
        got = run(backend, [x], [UNARY_CASES[name](x)], [SPECIAL_F64])
        assert_agree(ref, got, f"{backend}: {name}", [f"{name}({SPECIAL_F64.tolist()})"])


def test_dot_of_zero_and_inf():
    """np.dot (py) scales by a one-element operand with BLAS axpy, which skips a zero
    factor: 0 * inf gives 0 there, and on every backend."""
    g, w = T.dvector("g"), T.dmatrix("w")
    values = [np.zeros(1), np.array([[-5.5, np.inf, 13.0]])]
    ref = run("py", [g, w], [T.dot(g, w)], values)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(ref[0], np.dot(*values))
    for backend in (b for b in BACKENDS if not _known(b, ["dot"])):
        got = run(backend, [g, w], [T.dot(g, w)], values)
        assert_agree(ref, got, f"{backend}: dot", ["dot(zeros(1), [[-5.5, inf, 13]])"])


@pytest.mark.parametrize("name", ["psi", "tri_gamma"])
def test_accuracy_agrees(name):
    x = T.dvector("x")
    values = [np.linspace(-7.3, 30.1, 101)]
    ref = run("py", [x], [UNARY_CASES[name](x)], values)
    for backend in (b for b in BACKENDS if not _known(b, [name])):
        (got,) = run(backend, [x], [UNARY_CASES[name](x)], values)
        np.testing.assert_allclose(got, ref[0], rtol=1e-13)
