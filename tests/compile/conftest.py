"""Every test here runs as it is and again on the jax backend (tests/backend_suite.py)."""

from tests.backend_suite import jax_too  # noqa: F401 - an autouse fixture
