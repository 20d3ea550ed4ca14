"""zero_pad: zeros of a shape with a value in a range of rows (what set_subtensor into
zeros computes), the value itself when it fills the whole result; against NumPy on py
and numba (where it also runs inside a compiled loop), gradient by finite differences,
errors."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.zero_pad import zero_pad


def reference(y, a, b, shape):
    out = np.zeros(shape, y.dtype)
    out[a:b] = y
    return out


@pytest.mark.parametrize("a,b", [(0, 5), (1, 4), (2, 5), (-3, None), (0, -1), (5, 5)])
def test_values(a, b):
    y, a_, b_ = T.dmatrix("y"), T.lscalar("a"), T.lscalar("b")
    f = theano.function([y, a_, b_], zero_pad(y, a_, b_, 5, 3))
    stop = 5 if b is None else b
    rows = len(range(*slice(a, stop).indices(5)))
    yv = np.arange(rows * 3.0).reshape(rows, 3)
    np.testing.assert_array_equal(f(yv, a, stop), reference(yv, a, stop, (5, 3)))


def test_whole_value_is_returned_as_it_is():
    y = np.arange(6.0).reshape(2, 3)
    node = zero_pad(T.dmatrix(), 0, 2, 2, 3).owner
    assert node.op.compute(node, y, 0, 2, 2, 3) is y


def test_broadcast_value():
    y = T.row("y", dtype="float64")
    f = theano.function([y], zero_pad(y, 1, 3, 4, 3))
    np.testing.assert_array_equal(f(np.array([[1.0, 2, 3]])),
                                  reference(np.array([[1.0, 2, 3]]), 1, 3, (4, 3)))


def test_inside_a_loop():
    """In a scan body (compiled whole on numba): one row placed per step."""
    xs = T.dmatrix("xs")
    out, _ = theano.scan(lambda x: zero_pad(x[None], 1, 2, 3, x.shape[0]), sequences=xs)
    f = theano.function([xs], out)
    v = np.arange(6.0).reshape(2, 3)
    want = np.stack([reference(r[None], 1, 2, (3, 3)) for r in v])
    np.testing.assert_array_equal(f(v), want)


def test_gradient():
    rng = np.random.default_rng(0)
    verify_grad(lambda y: zero_pad(y, 1, 3, 5, 2), [rng.normal(size=(2, 2))], rng=rng)
    verify_grad(lambda y: zero_pad(y, 0, 4, 4, 3), [rng.normal(size=(4, 3))], rng=rng)
    yb = T.row("y", dtype="float64")
    g = theano.function([yb], theano.grad((zero_pad(yb, 0, 3, 3, 2) * [[1.0, 2]]).sum(), yb))
    np.testing.assert_allclose(g(np.ones((1, 2))), [[3.0, 6.0]])


def test_errors():
    y = T.dmatrix("y")
    with pytest.raises(TypeError, match="2 dims"):
        zero_pad(y, 0, 1, 5)
    f = theano.function([y], zero_pad(y, 1, 3, 5, 3))
    with pytest.raises(ValueError, match="zero_pad"):
        f(np.ones((3, 3)))  # 3 rows into 2
    with pytest.raises(ValueError, match="zero_pad"):
        f(np.ones((2, 4)))  # 4 columns into 3
