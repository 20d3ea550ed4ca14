"""Test configuration: every op's outputs are checked against their types; a numba
function runs on numba (NumPy, then its kernels), never on JAX while its kernels
compile (numba_interim=numpy: the numba tests test numba; tests/backends/
test_numba_interim.py tests the JAX interim tier); the jax runs of the tests listed
in tests/backends/jax/known_failures.py (SLOW) are marked slow."""

import numpy as np
import pytest

from tests.backends.jax import known_failures
from theanine import config


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marks
def pytest_collection_modifyitems(items):
    """The jax runs listed in known_failures.SLOW are marked slow."""
    for item in items:
        if item.get_closest_marker("jax") and known_failures.slow_reason(item.nodeid):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _checked_types():
    with config.change_flags(check_types=True, numba_interim="numpy"):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
