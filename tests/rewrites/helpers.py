"""Checking one rewrite: the graph after it equals an expected graph, and the values
are unchanged on random inputs."""

from __future__ import annotations

import numpy as np

import theanine as theano
from theanine.compile.mode import Mode
from theanine.graph.rewrite import graph_difference, rewrite_outputs
from theanine.printing import debugprint

NO_REWRITES = Mode(optimizer=None)


def random_value(v, rng, shape=None):
    """A random value for input v (length-1 dims where broadcastable)."""
    shape = shape or tuple(1 if b else 3 for b in v.broadcastable)
    if v.dtype.startswith("float"):
        return rng.uniform(0.5, 2.0, size=shape).astype(v.dtype)
    if v.dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.integers(1, 5, size=shape).astype(v.dtype)


def rewritten(outputs, step, inputs):
    return rewrite_outputs(outputs, step, inputs=inputs)


def check_rewrite(step, outputs, expected, inputs, values=None, rtol=1e-7, rng=None):
    """Assert that `step` turns `outputs` into `expected` (structurally), that the types
    are unchanged, and that both compute the same values. Returns the rewritten outputs."""
    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    exp = [expected] if single else list(expected)
    after = rewrite_outputs(outs, step, inputs=inputs)
    diff = graph_difference(after, exp, inputs, inputs)
    if diff is not None:
        raise AssertionError(f"{diff}\n-- got:\n{_dp(after)}\n-- expected:\n{_dp(exp)}")
    for a, o in zip(after, outs):
        assert a.type == o.type, (a.type, o.type)
    check_same_values(inputs, outs, after, values, rtol, rng)
    return after[0] if single else after


def check_same_values(inputs, before, after, values=None, rtol=1e-7, rng=None):
    rng = rng or np.random.default_rng(42)
    values = values or [random_value(v, rng) for v in inputs]
    f0 = theano.function(inputs, before, mode=NO_REWRITES, on_unused_input="ignore")
    f1 = theano.function(inputs, after, mode=NO_REWRITES, on_unused_input="ignore")
    for r0, r1 in zip(f0(*values), f1(*values)):
        assert r0.dtype == r1.dtype and r0.shape == r1.shape
        np.testing.assert_allclose(r1, r0, rtol=rtol)


def check_unchanged(step, outputs, inputs):
    """Assert that `step` leaves the graph as it was."""
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    after = rewrite_outputs(list(outs), step, inputs=inputs)
    diff = graph_difference(after, list(outs), inputs, inputs)
    assert diff is None, f"{diff}\n{_dp(after)}"


def _dp(vs):
    return debugprint(vs, file="str")
