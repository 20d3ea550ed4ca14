"""Every test here runs on the py and the numba backend (tests/backend_suite.py)."""

from tests.backend_suite import suite_backend  # noqa: F401 - an autouse fixture
