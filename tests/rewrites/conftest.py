"""A rule that fails (a RewriteWarning) fails the test."""

import warnings

import pytest

from theanine.graph.rewrite import RewriteWarning


@pytest.fixture(autouse=True)
def _rule_failures_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RewriteWarning)
        yield
