"""The tensor and scan suites run once per backend.

Importing ``suite_backend`` into a directory's conftest.py runs every test there
with the default mode set to ``PY`` (the NumPy reference) and again with ``NUMBA``,
where every node that has a numba implementation is compiled before the first
call (policy 'checked': a kernel that fails to compile fails the test; a node
whose emitter declines its case, e.g. an indexing pattern it does not cover, runs
its NumPy implementation), so the numba implementations, not their NumPy
fallbacks, compute the results the tests check. The numba runs are marked slow
(JIT time): CI runs them; skip them locally with ``-m 'not slow'``. Tests that
pass their own ``mode=`` keep it.

With JAX installed, every test runs a third time with ``JAX`` (marked ``jax``:
``-m jax`` runs only those, ``-m 'not jax'`` skips them); a test that the jax
backend cannot pass is listed in tests/backends/jax/known_failures.py with the
reason, and expected to fail there.
"""

import pytest

from tests.backends.conftest import HAVE_JAX, HAVE_NUMBA
from tests.backends.jax import known_failures
from theanine import config
from theanine.backends.numba import linker

PARAMS = (["py"] + ([pytest.param("numba", marks=pytest.mark.slow)] if HAVE_NUMBA else [])
          + ([pytest.param("jax", marks=pytest.mark.jax)] if HAVE_JAX else []))


@pytest.fixture(autouse=True, params=PARAMS)
def suite_backend(request):
    if request.param == "py":
        with config.change_flags(mode="PY"):
            yield "py"
        return
    if request.param == "jax":
        why = known_failures.reason_for(request.node)
        if why:
            request.applymarker(pytest.mark.xfail(reason=why, strict=True))
        with config.change_flags(mode="JAX"):
            yield "jax"
        return

    with config.change_flags(mode="NUMBA"), linker.policy("checked", "all"):
        yield "numba"


JAX_TOO = ["default"] + ([pytest.param("jax", marks=pytest.mark.jax)] if HAVE_JAX else [])


@pytest.fixture(autouse=True, params=JAX_TOO)
def jax_too(request):
    """For suites that run on the default mode: each test runs as it is and again with
    mode=JAX (with the same known failures as suite_backend)."""
    if request.param == "default":
        yield "default"
        return
    why = known_failures.reason_for(request.node)
    if why:
        request.applymarker(pytest.mark.xfail(reason=why, strict=True))
    with config.change_flags(mode="JAX"):
        yield "jax"
