"""theano.function: updates, givens, default updates, aliasing, copy."""

import collections

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.compile.test_function import vec
from theanine import In, function, shared

# -- updates ----------------------------------------------------------------------

def test_updates_as_list_of_pairs():
    x = T.dvector("x")
    w = shared(np.zeros(2), name="w")
    f = function([x], w, updates=[(w, w + x)])
    np.testing.assert_array_equal(f(vec(1, 2)), [0, 0])  # output uses the old value
    np.testing.assert_array_equal(w.get_value(), [1, 2])
    np.testing.assert_array_equal(f(vec(1, 2)), [1, 2])
    np.testing.assert_array_equal(w.get_value(), [2, 4])


def test_updates_as_ordered_dict_and_dict():
    a, b = shared(1.0, name="a"), shared(2.0, name="b")
    function([], [], updates=collections.OrderedDict([(a, a * 10)]))()
    function([], [], updates={b: b * 10})()
    assert a.get_value() == 10.0 and b.get_value() == 20.0


def test_updates_all_computed_from_old_values():
    a, b = shared(1.0, name="a"), shared(2.0, name="b")
    f = function([], [], updates=[(a, b), (b, a)])
    f()
    assert (a.get_value(), b.get_value()) == (2.0, 1.0)
    f()
    assert (a.get_value(), b.get_value()) == (1.0, 2.0)


def test_update_with_constant_value_of_unread_shared():
    w = shared(vec(1, 2, 3), name="w")
    f = function([], [], updates=[(w, np.zeros(3))])
    f()
    np.testing.assert_array_equal(w.get_value(), [0, 0, 0])
    w.get_value(borrow=True)[0] = 5  # storage is not the constant's data
    f()
    np.testing.assert_array_equal(w.get_value(), [0, 0, 0])


def test_update_target_must_be_shared():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="not a shared variable"):
        function([x], x, updates=[(x, x + 1)])


def test_update_type_mismatch_names_both_types():
    w = shared(np.zeros(2, dtype="float32"), name="w")
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        function([], [], updates=[(w, w * np.float64(2.5))])


def test_two_updates_for_one_shared_variable_refused():
    w = shared(0.0, name="w")
    with pytest.raises(ValueError, match="two updates"):
        function([], [], updates=[(w, w + 1), (w, w + 2)])


def test_updates_badly_formed_refused():
    w = shared(0.0, name="w")
    with pytest.raises(TypeError, match="updates"):
        function([], [], updates=[w])
    with pytest.raises(TypeError, match="updates"):
        function([], [], updates=w)


# -- givens -----------------------------------------------------------------------

def test_givens_replace_variable_by_expression_of_input():
    x, y = T.dvector("x"), T.dvector("y")
    f = function([y], x * 2, givens={x: y + 1})
    np.testing.assert_array_equal(f(vec(1, 2)), [4, 6])


def test_givens_replace_shared_by_other_shared():
    w, v = shared(vec(1, 2), name="w"), shared(vec(10, 20), name="v")
    f = function([], w * 2, givens=[(w, v)])
    np.testing.assert_array_equal(f(), [20, 40])


def test_givens_replace_shared_by_input_slice_pattern():
    data = shared(np.arange(6.0), name="data")
    x = T.dvector("x")
    scale = T.dscalar("scale")
    f = function([scale], x * scale, givens={x: data * 1})
    np.testing.assert_array_equal(f(2.0), np.arange(6.0) * 2)


def test_givens_with_wrong_type_refused():
    x = T.dvector("x")
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="givens"):
        function([m], x * 2, givens={x: m})


def test_givens_apply_to_updates():
    w, v = shared(1.0, name="w"), shared(5.0, name="v")
    x = T.dscalar("x")
    f = function([], [], updates=[(w, x + 1)], givens={x: v})
    f()
    assert w.get_value() == 6.0


# -- default updates --------------------------------------------------------------

def _counter():
    c = shared(0.0, name="c")
    c.default_update = c + 1
    return c


def test_default_update_applied():
    c = _counter()
    f = function([], c * 1)
    assert f() == 0.0 and f() == 1.0
    assert c.get_value() == 2.0


def test_no_default_updates_true_and_list():
    c = _counter()
    function([], c * 1, no_default_updates=True)()
    assert c.get_value() == 0.0
    function([], c * 1, no_default_updates=[c])()
    assert c.get_value() == 0.0
    d = _counter()
    function([], c + d, no_default_updates=[d])()
    assert (c.get_value(), d.get_value()) == (1.0, 0.0)


def test_explicit_update_overrides_default_update():
    c = _counter()
    function([], [], updates=[(c, c + 10)])()
    assert c.get_value() == 10.0


def test_default_update_only_when_graph_reads_variable():
    c = _counter()
    x = T.dscalar("x")
    function([x], x * 2)(1.0)
    assert c.get_value() == 0.0


# -- aliasing ---------------------------------------------------------------------

def test_returning_an_input_gives_a_copy():
    x = T.dvector("x")
    a = vec(1, 2)
    r = function([x], x)(a)
    assert r is not a and not np.may_share_memory(r, a)


def test_mutating_output_leaves_shared_unchanged():
    w = shared(vec(1, 2), name="w")
    r = function([], w)()
    r[:] = 7
    np.testing.assert_array_equal(w.get_value(), [1, 2])


def test_output_equal_to_update_is_not_the_stored_value():
    w = shared(vec(1, 2), name="w")
    s = w * 2
    f = function([], s, updates=[(w, s)])
    r = f()
    r[:] = 55
    np.testing.assert_array_equal(w.get_value(), [2, 4])


def test_duplicate_outputs_are_distinct_arrays():
    x = T.dvector("x")
    y = x * 2
    a, b = function([x], [y, y])(vec(1, 2))
    a[0] = 9
    np.testing.assert_array_equal(b, [2, 4])


def test_constant_output_cannot_be_corrupted():
    x = T.dvector("x")
    f = function([x], [x + 1, T.constant(np.arange(3.0))])
    f(vec(0))[1][0] = 99
    np.testing.assert_array_equal(f(vec(0))[1], [0, 1, 2])


def test_update_copying_another_shared_does_not_alias_it():
    w, v = shared(vec(1, 2), name="w"), shared(vec(3, 4), name="v")
    function([], [], updates=[(w, v)])()
    w.get_value(borrow=True)[0] = 100
    np.testing.assert_array_equal(v.get_value(), [3, 4])


def test_update_from_input_does_not_alias_input():
    x = T.dvector("x")
    w = shared(vec(0, 0), name="w")
    a = vec(1, 2)
    function([x], [], updates=[(w, x)])(a)
    a[0] = 50
    np.testing.assert_array_equal(w.get_value(), [1, 2])


def test_view_outputs_of_each_other_are_independent():
    x = T.dmatrix("x")
    y = x * 2
    a, b = function([x], [y.T, y])(np.ones((2, 3)))
    b[0, 0] = 5
    assert a[0, 0] == 2


def test_input_that_is_a_view_is_accepted():
    x = T.dvector("x")
    base = np.arange(6.0)
    np.testing.assert_array_equal(function([x], x * 1)(base[::2]), [0, 2, 4])


# -- copy and trust_input -----------------------------------------------------------

def _accumulator():
    x = T.dvector("x")
    w = shared(np.zeros(2), name="w")
    return function([x], w, updates=[(w, w + x)]), w


def test_copy_reads_and_updates_the_same_shared_storage():
    f, w = _accumulator()
    g = f.copy()  # as Theano: shared variables stay shared (swap= aside)
    g(vec(1, 1))
    np.testing.assert_array_equal(w.get_value(), [1, 1])
    f(vec(1, 1))
    np.testing.assert_array_equal(g(vec(0, 0)), [2, 2])


def test_copy_with_share_memory_shares():
    f, w = _accumulator()
    g = f.copy(share_memory=True)
    g(vec(1, 2))
    np.testing.assert_array_equal(w.get_value(), [1, 2])


def test_copy_swap_uses_other_shared_variable():
    f, w = _accumulator()
    v = shared(vec(10, 10), name="v")
    g = f.copy(swap={w: v})
    np.testing.assert_array_equal(g(vec(1, 1)), [10, 10])
    np.testing.assert_array_equal(v.get_value(), [11, 11])
    np.testing.assert_array_equal(w.get_value(), [0, 0])


def test_copy_swap_type_mismatch_and_unknown_key():
    f, w = _accumulator()
    with pytest.raises(TypeError, match="same type"):
        f.copy(swap={w: shared(np.zeros((2, 2)))})
    with pytest.raises(ValueError, match="not a shared variable of"):
        f.copy(swap={shared(vec(1, 1)): shared(vec(1, 1))})


def test_copy_delete_updates():
    f, w = _accumulator()
    g = f.copy(share_memory=True, delete_updates=True)
    g(vec(1, 1))
    np.testing.assert_array_equal(w.get_value(), [0, 0])
    f(vec(1, 1))
    np.testing.assert_array_equal(w.get_value(), [1, 1])


def test_copy_keeps_in_defaults_separately():
    a = T.dscalar("a")
    f = function([In(a, value=1.0, name="a")], a * 2)
    g = f.copy(name="g")
    g["a"] = 5.0
    assert f() == 2.0 and g() == 10.0 and g.name == "g"


def test_trust_input_skips_conversion():
    x = T.dvector("x")
    f = function([x], x * 2)
    f.trust_input = True
    assert f.trust_input
    np.testing.assert_array_equal(f(vec(1, 2)), [2, 4])
    f.trust_input = False
    with pytest.raises(TypeError):
        f(np.ones((2, 2)))


def test_many_shared_variables_rotate_without_aliasing():
    # more values than the inline identity checks handle: exercises the id-set path
    ws = [shared(np.full(2, float(k)), name=f"w{k}") for k in range(12)]
    x = T.dvector("x")
    f = function([x], [ws[0], ws[0] + x, x],
                 updates=[(ws[k], ws[(k + 1) % 12]) for k in range(12)])
    a = np.zeros(2)
    first, plus, same = f(a)
    np.testing.assert_array_equal(first, [0, 0])
    assert same is not a
    for k in range(12):
        np.testing.assert_array_equal(ws[k].get_value(), [(k + 1) % 12] * 2)
    storages = [w.get_value(borrow=True) for w in ws]
    for k in range(12):
        for j in range(k):
            assert not np.may_share_memory(storages[k], storages[j])
    first[:] = -1
    np.testing.assert_array_equal(ws[11].get_value(), [0, 0])


def test_identity_update_keeps_storage():
    w = shared(np.ones(2), name="w")
    before = w.get_value(borrow=True)
    function([], [], updates=[(w, w)])()
    assert w.get_value(borrow=True) is before


def test_in_update_must_have_the_input_type():
    i = T.lscalar("i")
    with pytest.raises(TypeError, match="update of i"):
        In(i, value=0, update=i * 1.5)  # refused at In(), as Theano


def test_python_value_as_update_takes_the_shared_type():
    w = shared(np.ones(2, dtype="float32"), name="w")
    with theano.config.change_flags(floatX="float64"):
        function([], [], updates=[(w, [0.5, 0.25])])()
    assert w.get_value().dtype == np.float32
    np.testing.assert_array_equal(w.get_value(), [0.5, 0.25])
    i = shared(np.int32(0), name="i")
    function([], [], updates=[(i, 7)])()
    assert i.get_value() == 7 and i.get_value().dtype == np.int32
    with pytest.raises(TypeError, match="value given for i"):
        function([], [], updates=[(i, 0.5)])


def test_aliased_outputs_still_copied_with_many_results():
    x = T.dvector("x")
    outs = [x, x[1:]] + [x * i for i in range(20)]
    f = function([x], outs, mode="PY")
    xv = np.arange(3.0)
    res = f(xv)
    assert not np.shares_memory(res[0], xv) and not np.shares_memory(res[1], xv)
    assert not np.shares_memory(res[0], res[1])
    np.testing.assert_array_equal(res[1], xv[1:])
