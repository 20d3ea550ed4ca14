"""theano.tensor as Theano 1.0 scripts use it: iterable shape vectors, plural
constructors from one string."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T


def test_shape_vector_unpacks(mode):
    X = T.dmatrix("X")
    n, d = X.shape
    n2, d2 = T.shape(X)
    f = theano.function([X], [n * 10 + d, n2 - d2], mode=mode)
    a, b = f(np.zeros((3, 4)))
    assert a == 34 and b == -1


def test_stack_of_scalars_unpacks(mode):
    x, y = T.dscalar("x"), T.dscalar("y")
    a, b = T.stack([x, y])
    f = theano.function([x, y], [a, b], mode=mode)
    assert f(1.0, 2.0) == [1.0, 2.0]
    (c,) = T.constant(np.array([7]))
    assert theano.function([], c, mode=mode)() == 7


def test_a_vector_of_unknown_length_does_not_iterate():
    with pytest.raises(TypeError, match="not iterable"):
        a, b = T.dvector("v")
    with pytest.raises(TypeError, match="not iterable"):
        list(T.dmatrix("m"))


def test_plural_constructors_iterate_one_string():
    xs = T.scalars("xs")
    assert [v.name for v in xs] == ["x", "s"]
    ab = T.dscalars("ab")
    assert [v.name for v in ab] == ["a", "b"] and ab[0].dtype == "float64"
    x = T.scalars("x")
    assert not isinstance(x, list) and x.name == "x" and x.ndim == 0
    assert [v.name for v in T.matrices("x", "y")] == ["x", "y"]
    assert [v.name for v in T.ivectors(["i", "j"])] == ["i", "j"]
    assert len(T.dvectors(3)) == 3 and all(v.name is None for v in T.dvectors(3))
