"""Theano 1.0 programs as people wrote them (issue 16): each test runs on the py and
the numba backend through the ``mode`` fixture (numba compiles every node it
implements at link time, policy 'strict', so its kernels compute the results)."""

import pytest

import theanine as theano
from tests.backends.conftest import backend, numba_strict  # noqa: F401 - fixtures


@pytest.fixture
def mode(backend):  # noqa: F811 - the imported fixture is this one's parameter
    return theano.Mode(linker=backend, optimizer="fast_run")
