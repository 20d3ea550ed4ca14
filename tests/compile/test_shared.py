"""theano.shared: construction, types, get_value/set_value and borrow semantics."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import function, shared


def test_python_scalars_take_64_bit_dtypes():
    assert shared(1.5).type == T.TensorType("float64", ())
    assert shared(3).type == T.TensorType("int64", ())
    with theano.config.change_flags(floatX="float32"):
        assert shared(1.5).dtype == "float64"  # no floatX autocast, as Theano


def test_array_keeps_its_dtype_and_ndim():
    s = shared(np.zeros((2, 3), dtype="float32"), name="s")
    assert s.type == T.TensorType("float32", (False, False))
    assert s.ndim == 2 and s.dtype == "float32" and s.name == "s"


def test_broadcastable_defaults_to_all_false():
    assert shared(np.ones((1, 3))).broadcastable == (False, False)
    assert shared(np.ones((1, 3)), broadcastable=(True, False)).broadcastable == (True, False)


def test_broadcastable_checked_against_value():
    with pytest.raises(ValueError, match="broadcastable"):
        shared(np.ones((2, 3)), broadcastable=(True,))
    with pytest.raises(TypeError, match="broadcastable"):
        shared(np.ones((2, 3)), broadcastable=(True, False))


def test_non_numeric_value_refused():
    with pytest.raises(TypeError, match="shared"):
        shared(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="symbolic"):
        shared(T.dvector())


def test_constructor_copies_unless_borrow():
    a = np.zeros(3)
    s = shared(a)
    a[0] = 1
    assert s.get_value()[0] == 0
    b = np.zeros(3)
    t = shared(b, borrow=True)
    b[0] = 1
    assert t.get_value()[0] == 1


def test_get_value_copies_unless_borrow():
    s = shared(np.zeros(3))
    v = s.get_value()
    v[0] = 5
    assert s.get_value()[0] == 0
    internal = s.get_value(borrow=True)
    internal[0] = 5
    assert s.get_value()[0] == 5
    assert s.get_value(borrow=True) is internal


def test_set_value_copies_unless_borrow():
    s = shared(np.zeros(3))
    a = np.ones(3)
    s.set_value(a)
    a[0] = 7
    assert s.get_value()[0] == 1
    s.set_value(a, borrow=True)
    a[1] = 8
    assert s.get_value()[1] == 8


def test_set_value_converts_safely():
    s = shared(np.zeros(2))
    s.set_value([1, 2])
    assert s.get_value().dtype == np.float64
    s.set_value(np.arange(2, dtype="int32"))
    assert s.get_value().dtype == np.float64


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 2)), "1-d.*2-d"),
    (np.zeros(()), "1-d.*0-d"),
    (np.zeros(2, dtype="complex128"), "dtype float64.*complex128"),
    ([[1.0, 2.0]], "dimensions"),
    ("hello", "shared variable w|w.set_value"),
])
def test_set_value_bad_value_raises_and_changes_nothing(bad, match):
    s = shared(np.array([1.0, 2.0]), name="w")
    before = s.get_value(borrow=True)
    with pytest.raises(TypeError, match=match):
        s.set_value(bad)
    assert s.get_value(borrow=True) is before
    np.testing.assert_array_equal(before, [1, 2])


def test_set_value_float64_into_float32_refused():
    s = shared(np.zeros(2, dtype="float32"), name="w32")
    with pytest.raises(TypeError, match="w32.*float32.*float64"):
        s.set_value(np.ones(2))
    s.set_value(np.ones(2, dtype="float32"))
    assert s.get_value().dtype == np.float32


def test_arithmetic_on_shared_variables():
    w = shared(np.array([1.0, 2.0]), name="w")
    v = shared(np.array([3.0, 4.0]), name="v")
    f = function([], [w + v, w * 2, -w, (w ** 2).sum()])
    r = f()
    np.testing.assert_array_equal(r[0], [4, 6])
    np.testing.assert_array_equal(r[1], [2, 4])
    np.testing.assert_array_equal(r[2], [-1, -2])
    assert r[3] == 5.0
    np.testing.assert_array_equal((w + 1).eval(), [2, 3])


def test_function_sees_set_value_between_calls():
    w = shared(np.array([1.0, 2.0]))
    f = function([], w * 10)
    np.testing.assert_array_equal(f(), [10, 20])
    w.set_value(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(f(), [30, 40])


def test_borrowed_value_is_not_mutated_by_updates():
    a = np.zeros(2)
    w = shared(a, borrow=True)
    function([], [], updates=[(w, w + 1)])()
    np.testing.assert_array_equal(w.get_value(), [1, 1])
    np.testing.assert_array_equal(a, [0, 0])  # updates replace, never write in place


def test_zero_and_value_property():
    w = shared(np.array([1.0, 2.0]))
    w.zero()
    np.testing.assert_array_equal(w.get_value(), [0, 0])
    np.testing.assert_array_equal(w.value, [0, 0])


def test_shared_is_a_tensor_variable_with_a_container():
    w = shared(np.zeros(2), name="w")
    assert isinstance(w, theano.SharedVariable)
    assert isinstance(w, theano.compile.TensorSharedVariable)
    assert w.owner is None and str(w) == "w"
    assert w.container.data is w.get_value(borrow=True)
