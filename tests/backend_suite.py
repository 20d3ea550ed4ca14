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
"""

import pytest

from tests.backends.conftest import HAVE_NUMBA
from theanine import config

PARAMS = ["py"] + ([pytest.param("numba", marks=pytest.mark.slow)] if HAVE_NUMBA else [])


@pytest.fixture(autouse=True, params=PARAMS)
def suite_backend(request):
    if request.param == "py":
        with config.change_flags(mode="PY"):
            yield "py"
        return
    from theanine.backends.numba import linker

    with config.change_flags(mode="NUMBA"), linker.policy("checked", "all"):
        yield "numba"
