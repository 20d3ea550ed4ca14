"""Backend fixtures: the same test runs on py and numba and compares with py.

``backend`` is "py", "numba" (skipped when numba is missing) or "jax" (when JAX is
installed; marked ``jax``). On numba every
node that has a numba implementation is compiled (granularity 'all') at link
time (policy 'strict': a kernel that fails to compile fails the test), so the
tests exercise the numba implementations, not the NumPy fallbacks.
``run_both(inputs, outputs, args)`` compiles and runs on py and on `backend` and
returns (py results, backend results). The lead can move these fixtures to
tests/conftest.py to parametrise other suites.
"""

import importlib.util

import numpy as np
import pytest

import theanine as theano
from theanine.backends.numba import linker

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
HAVE_JAX = importlib.util.find_spec("jax") is not None
BACKENDS = ["py"] + (["numba"] if HAVE_NUMBA else []) + (["jax"] if HAVE_JAX else [])
_PARAMS = [pytest.param(b, marks=pytest.mark.jax) if b == "jax" else b for b in BACKENDS]


def backend_mode(name):
    return theano.Mode(linker=name, optimizer="fast_run")


@pytest.fixture(params=_PARAMS)
def backend(request):
    if request.param == "numba":
        with linker.policy("strict", "all"):
            yield "numba"
    else:
        yield request.param


@pytest.fixture
def numba_strict():
    if not HAVE_NUMBA:
        pytest.skip("numba is not installed")

    with linker.policy("strict", "all"):
        yield


def assert_same(ref, got, rtol=None):
    """Equal dtype and shape; float values within their precision."""
    ref = ref if isinstance(ref, (list, tuple)) else [ref]
    got = got if isinstance(got, (list, tuple)) else [got]
    assert len(ref) == len(got)
    for a, b in zip(ref, got):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        assert a.shape == b.shape, (a.shape, b.shape)
        if a.dtype.kind in "fc":
            low = a.dtype.name in ("float16", "float32", "complex64")
            tol = rtol or (2e-4 if low else 1e-9)
            np.testing.assert_allclose(b, a, rtol=tol, atol=tol * 1e-2, equal_nan=True)
        else:
            np.testing.assert_array_equal(b, a)


@pytest.fixture
def run_both(backend):
    def run(inputs, outputs, args, **kw):
        ref = theano.function(inputs, outputs, mode=backend_mode("py"), **kw)(*args)
        got = theano.function(inputs, outputs, mode=backend_mode(backend), **kw)(*args)
        assert_same(ref, got)
        return ref, got

    return run
