"""Pickling compiled functions and shared variables."""

import copy
import pickle

import numpy as np
import pytest

import theanine.tensor as T
from theanine import In, function, shared


def roundtrip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def test_shared_variable_alone():
    w = shared(np.arange(3.0), name="w")
    w2 = roundtrip(w)
    assert w2 is not w and w2.name == "w" and w2.type == w.type
    np.testing.assert_array_equal(w2.get_value(), [0, 1, 2])
    w2.set_value(np.zeros(3))
    np.testing.assert_array_equal(w.get_value(), [0, 1, 2])


def test_function_with_updates_keeps_working():
    x = T.dvector("x")
    w = shared(np.zeros(2), name="w")
    f = function([x], (w * x).sum(), updates=[(w, w + x)], name="acc")
    f(np.ones(2))
    g = roundtrip(f)
    assert g.name == "acc"
    assert g(np.array([1.0, 2.0])) == 3.0
    assert g(np.array([1.0, 2.0])) == 2.0 + 6.0
    np.testing.assert_array_equal(w.get_value(), [1, 1])  # the original is untouched


def test_shared_identity_preserved_when_pickled_together():
    x = T.dvector("x")
    w = shared(np.zeros(2), name="w")
    f = function([x], w, updates=[(w, w + x)])
    f2, w2 = roundtrip((f, w))
    f2(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(w2.get_value(), [1, 2])
    w2.set_value(np.array([10.0, 10.0]))
    np.testing.assert_array_equal(f2(np.zeros(2)), [10, 10])
    np.testing.assert_array_equal(w.get_value(), [0, 0])


def test_two_functions_sharing_a_variable_still_share():
    w = shared(0.0, name="w")
    inc = function([], [], updates=[(w, w + 1)])
    get = function([], w * 1)
    inc2, get2 = roundtrip((inc, get))
    inc2()
    inc2()
    assert get2() == 2.0 and w.get_value() == 0.0


def test_in_defaults_updates_and_keywords_survive():
    a = T.dscalar("a")
    acc = T.dscalar("acc")
    f = function([a, In(acc, value=0.0, update=acc + a, name="total")], acc * 1)
    f(2.0)
    g = roundtrip(f)
    assert g["total"] == 2.0
    assert g(a=3.0) == 2.0
    assert g["total"] == 5.0


def test_default_update_and_dict_outputs_survive():
    c = shared(0.0, name="c")
    c.default_update = c + 1
    f = function([], {"count": c * 1})
    g = roundtrip(f)
    assert g() == {"count": 0.0}
    assert g() == {"count": 1.0}


def test_copy_storage_survives():
    w = shared(1.0, name="w")
    f = function([], w * 1, updates=[(w, w + 1)]).copy()
    f()
    assert w.get_value() == 2.0  # a copy updates the original's shared storage (Theano)
    g = roundtrip(f)
    assert g() == 2.0
    assert w.get_value() == 2.0  # the unpickled function has storage of its own


def test_long_chain_does_not_recurse():
    x = T.dvector("x")
    y = x
    for _ in range(2000):
        y = y + 1
    f = function([x], y)
    g = roundtrip(f)
    np.testing.assert_array_equal(g(np.zeros(2)), [2000, 2000])


def test_deepcopy_of_function():
    w = shared(1.0, name="w")
    f = function([], w * 2, updates=[(w, w + 1)])
    g = copy.deepcopy(f)
    assert g() == 2.0 and g() == 4.0
    assert w.get_value() == 1.0


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "PY"])
def test_mode_and_trust_input_survive(mode):
    x = T.dvector("x")
    f = function([x], x * 2, mode=mode)
    f.trust_input = True
    g = roundtrip(f)
    assert g.maker.mode.name == mode and g.trust_input
    np.testing.assert_array_equal(g(np.ones(2)), [2, 2])
