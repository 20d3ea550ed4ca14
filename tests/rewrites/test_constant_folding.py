"""constant_folding alone."""

import numpy as np

import theanine.tensor as T
from theanine.graph.basic import Constant
from theanine.rewrites.constant_folding import MAX_GROWTH_SIZE, constant_folding
from theanine.tensor.shared_randomstreams import RandomStreams

from .helpers import check_rewrite, check_unchanged, rewritten


def const(v, dtype="float64"):
    return T.constant(np.asarray(v, dtype=dtype))


def test_constant_arithmetic_folds():
    x = T.vector("x")
    two, three = const(2.0), const(3.0)
    y = x * (two + three * two)
    out = check_rewrite(constant_folding, y, x * const(8.0), [x])
    c = out.owner.inputs[1]
    assert isinstance(c, Constant) and c.type == y.owner.inputs[1].type


def test_folds_through_shape_and_dimshuffle_ops():
    m = const(np.ones((2, 3)))
    x = T.matrix("x")
    y = x + m.T.sum(axis=0).dimshuffle("x", 0) * m.shape[0]
    out = rewritten(y, constant_folding, [x])
    assert isinstance(out.owner.inputs[1], Constant)
    np.testing.assert_array_equal(out.owner.inputs[1].data, [[6.0, 6.0]])


def test_folded_value_is_readonly_and_not_a_view():
    a = const(np.arange(6.0).reshape(2, 3))
    out = rewritten([a.T], constant_folding, [])[0]
    assert isinstance(out, Constant)
    assert out.data.base is None and not out.data.flags.writeable


def test_errors_are_left_for_run_time():
    x = T.vector("x")
    bad = const(np.ones(3)) + const(np.ones(4))
    check_unchanged(constant_folding, x + bad.sum(), [x])


def test_random_draws_are_not_folded():
    srng = RandomStreams(1)
    u = srng.uniform(size=(2,), low=const(0.0), high=const(1.0))
    out = rewritten(u, constant_folding, [])
    assert not isinstance(out, Constant)


def test_large_results_built_from_small_constants_are_not_folded():
    n = MAX_GROWTH_SIZE + 1
    z = T.zeros((n,))
    assert not isinstance(rewritten(z, constant_folding, []), Constant)
    small = T.zeros((10,))
    assert isinstance(rewritten(small, constant_folding, []), Constant)
