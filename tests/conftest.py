"""Test configuration: every op's outputs are checked against their types."""

import numpy as np
import pytest

from theanine import config


@pytest.fixture(autouse=True)
def _checked_types():
    with config.change_flags(check_types=True):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
