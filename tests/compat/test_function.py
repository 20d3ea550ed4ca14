"""theano.function as Theano 1.0 scripts use it: copies share shared storage,
borrowed outputs never alias the caller's inputs, any variable may be an input,
and bad In()/givens/outputs are refused with Theano's error classes."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import grad_not_implemented, grad_undefined


def test_copy_reads_and_updates_the_same_shared_variables(mode):
    m = theano.shared(0.0)
    x = T.scalar("x")
    ori = theano.function([x], x + m, updates=[(m, m + 2)], mode=mode)
    cpy = ori.copy()
    m.set_value(10.0)
    assert cpy(0.0) == 10.0
    assert m.get_value() == 12.0
    assert ori(0.0) == 12.0 and m.get_value() == 14.0


def test_copy_swap_still_uses_the_other_variable(mode):
    m, other = theano.shared(0.0), theano.shared(5.0)
    x = T.scalar("x")
    ori = theano.function([x], x + m, updates=[(m, m + 2)], mode=mode)
    cpy = ori.copy(swap={m: other})
    assert cpy(0.0) == 5.0
    assert other.get_value() == 7.0 and m.get_value() == 0.0


def test_borrowed_output_does_not_alias_a_non_borrowed_input(mode):
    a = T.dmatrix("a")
    f = theano.function([theano.In(a, borrow=False)], theano.Out(a[0, :], borrow=True),
                        mode=mode)
    v = np.arange(6.0).reshape(2, 3)
    r = f(v)
    np.testing.assert_array_equal(r, [0.0, 1.0, 2.0])
    assert not np.may_share_memory(r, v)
    r[0] = 100.0
    assert v[0, 0] == 0.0


def test_borrowed_output_of_a_borrowed_input_may_alias(mode):
    a = T.dmatrix("a")
    f = theano.function([theano.In(a, borrow=True)], theano.Out(a[0, :], borrow=True),
                        mode=mode)
    v = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(f(v), [0.0, 1.0, 2.0])


def test_a_computed_variable_may_be_an_input(mode):
    m = T.dmatrix("m")
    mt = m.T
    f = theano.function([mt], mt * 2, mode=mode)
    v = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(f(v), v * 2)  # the graph is cut at mt: m is not read
    x = T.dvector("x")
    y = T.exp(x)
    g = theano.function([y], y + 1, mode=mode)
    np.testing.assert_array_equal(g(np.array([1.0, 2.0])), [2.0, 3.0])
    with pytest.raises(theano.compile.UnusedInputError):
        theano.function([mt, m], mt * 2, mode=mode)  # m is then unused
    with pytest.raises(theano.MissingInputError):
        theano.function([y], x * 2, on_unused_input="ignore", mode=mode)


def test_undefined_gradient_as_output_is_a_type_error(mode):
    v = T.dscalar("v")
    with pytest.raises(TypeError, match="undefined gradient.*mathematically undefined"):
        theano.function([v], grad_undefined(None, 0, v), mode=mode)
    with pytest.raises(TypeError, match="undefined gradient.*not implemented"):
        theano.function([v], grad_not_implemented(None, 0, v), mode=mode)


def test_in_update_of_another_type_is_refused_at_in():
    with pytest.raises(TypeError, match="update of .* has type TensorType\\(float64, vector"):
        theano.In(T.dscalar("s"), update=T.dvector("v"))


def test_in_name_must_be_a_string():
    with pytest.raises(TypeError, match="name must be a string"):
        theano.In(T.dscalar(), name=[])


def test_givens_replacing_an_input_by_an_expression_of_itself_is_refused(mode):
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="expression of x itself"):
        theano.function([x], x * 2, givens={x: x + 1}, mode=mode)
    y = T.dscalar("y")
    assert theano.function([y], x * 2, givens={x: y + 1}, mode=mode)(1.0) == 4.0
