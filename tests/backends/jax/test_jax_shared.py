"""Shared variables on jax: kept on the device between calls, updates donate their old
memory, NumPy at the edges (get_value, set_value, pickling), unchanged by a failing
call."""

import pickle

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402


def sgd():
    w = theano.shared(np.arange(6.0).reshape(2, 3), name="w")
    x = T.dmatrix("x")
    cost = ((T.dot(x, w)) ** 2).sum()
    f = theano.function([x], cost, updates=[(w, w - 0.01 * theano.grad(cost, w))],
                        mode="JAX")
    return w, x, f


def test_values_stay_on_the_device_and_updates_donate_the_old_memory():
    w, _, f = sgd()
    x = np.ones((4, 2))
    f(x)
    first = w.get_value(return_internal_type=True)
    assert isinstance(first, jax.Array) and w.container.on_device
    f(x)
    second = w.get_value(return_internal_type=True)
    assert second is not first and first.is_deleted()  # its memory went to `second`
    assert isinstance(w.get_value(), np.ndarray)


def test_updates_match_py_and_get_set_value_speak_numpy():
    got = []
    for mode in ("PY", "JAX"):
        w = theano.shared(np.arange(6.0).reshape(2, 3))
        x = T.dmatrix()
        cost = (T.tanh(T.dot(x, w)) ** 2).sum()
        f = theano.function([x], cost, updates={w: w - 0.1 * theano.grad(cost, w)},
                            mode=mode)
        costs = [f(np.full((3, 2), k)) for k in range(3)]
        w.set_value(w.get_value() * 2)
        costs.append(f(np.ones((3, 2))))
        got.append((costs, w.get_value()))
    np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-12)
    np.testing.assert_allclose(got[1][1], got[0][1], rtol=1e-12)


def test_get_value_borrow_and_set_value_borrow():
    w, _, f = sgd()
    f(np.ones((1, 2)))
    v = w.get_value()
    v[0, 0] = 99.0  # a copy: the shared value is unchanged
    assert w.get_value()[0, 0] != 99.0
    new = np.zeros((2, 3))
    w.set_value(new, borrow=True)
    assert f(np.ones((1, 2))) == 0.0
    assert not w.container.on_device or w.get_value()[0, 0] == 0.0


def test_a_failing_call_changes_no_shared_value():
    w = theano.shared(np.arange(3.0), name="w")
    i = T.lscalar("i")
    f = theano.function([i], w[i], updates=[(w, w * 2)], mode="JAX")
    f(0)
    before = w.get_value()
    with pytest.raises(IndexError, match="out of bounds"):
        f(5)
    np.testing.assert_array_equal(w.get_value(), before)
    assert f(1) == before[1]  # the shared value is usable (not a donated buffer)
    np.testing.assert_array_equal(w.get_value(), before * 2)


def test_pickled_function_and_shared_hold_numpy_and_load_on_any_backend():
    w, x, f = sgd()
    f(np.ones((2, 2)))
    data = pickle.dumps((f, w))
    assert b"ArrayImpl" not in data and b"jaxlib" not in data  # NumPy, no device arrays
    g, w2 = pickle.loads(data)
    assert isinstance(w2.get_value(borrow=True), np.ndarray)
    np.testing.assert_array_equal(w2.get_value(), w.get_value())
    a, b = f(np.ones((2, 2))), g(np.ones((2, 2)))
    assert a == b
    py = theano.function([x], ((T.dot(x, w2)) ** 2).sum(), mode="PY")
    assert py(np.ones((2, 2))) == ((np.ones((2, 2)) @ w2.get_value()) ** 2).sum()


def test_shared_used_by_py_and_jax_functions():
    w = theano.shared(np.ones(3))
    inc = theano.function([], [], updates=[(w, w + 1)], mode="JAX")
    read = theano.function([], w * 1, mode="PY")
    inc()
    np.testing.assert_array_equal(read(), [2, 2, 2])
    inc_py = theano.function([], [], updates=[(w, w + 1)], mode="PY")
    inc_py()
    inc()
    np.testing.assert_array_equal(w.get_value(), [4, 4, 4])


def test_two_shared_variables_holding_one_array():
    a = theano.shared(np.ones(2))
    b = theano.shared(np.zeros(2))
    f = theano.function([], [], updates=[(a, a + 1), (b, a + 1)], mode="JAX")
    f()  # a and b now hold the same device array
    f()
    np.testing.assert_array_equal(a.get_value(), [3, 3])
    np.testing.assert_array_equal(b.get_value(), [3, 3])


def test_an_input_passed_through_as_an_update_is_copied():
    # JAX may take an aligned NumPy array without copying it: the shared value must
    # not change when the caller's array does (this failed about one call in two)
    x = T.dvector("x")
    w = theano.shared(np.zeros(64), name="w")
    f = theano.function([x], [], updates=[(w, x)], mode="JAX")
    for k in range(20):
        a = np.arange(64.0) + k
        f(a)
        a[:] = -1.0
        np.testing.assert_array_equal(w.get_value(), np.arange(64.0) + k)
