"""theano.function: outputs, In/Out, inputs, modes.

Updates, givens, aliasing and copy are in test_function_updates.py.
"""

import warnings

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import In, Mode, Out, backends, function, shared
from theanine.compile import calling
from theanine.compile.function import UnusedInputError
from theanine.graph.fgraph import MissingInputError


def vec(*v):
    return np.asarray(v, dtype="float64")


# -- outputs ----------------------------------------------------------------------

def test_single_output_returns_array():
    x = T.dvector("x")
    r = function([x], x * 2)(vec(1, 2))
    assert isinstance(r, np.ndarray)
    np.testing.assert_array_equal(r, [2, 4])


def test_list_of_outputs_returns_list():
    x = T.dvector("x")
    r = function([x], [x * 2, x + 1])(vec(1, 2))
    assert isinstance(r, list) and len(r) == 2
    np.testing.assert_array_equal(r[0], [2, 4])
    np.testing.assert_array_equal(r[1], [2, 3])


def test_list_with_one_output_returns_list():
    x = T.dvector("x")
    r = function([x], [x * 2])(vec(1))
    assert isinstance(r, list) and len(r) == 1


def test_outputs_none_returns_empty_list_and_applies_updates():
    w = shared(0.0, name="w")
    f = function([], updates=[(w, w + 1)])
    assert f() == []
    assert w.get_value() == 1.0


def test_dict_outputs_return_dict():
    x = T.dscalar("x")
    r = function([x], {"double": x * 2, "plus": x + 1})(3.0)
    assert r == {"double": 6.0, "plus": 4.0}


def test_scalar_output_is_zero_dim_ndarray():
    x = T.dscalar("x")
    r = function([x], x * 2)(3.0)
    assert isinstance(r, np.ndarray) and r.shape == () and r.dtype == np.float64


def test_output_subset():
    x = T.dscalar("x")
    f = function([x], [x * 2, x + 1, x - 1])
    assert f(3.0, output_subset=[2, 0]) == [2.0, 6.0]


# -- In ---------------------------------------------------------------------------

def test_in_default_value_and_keyword_arguments():
    a, b = T.dscalars("a", "b")
    f = function([a, In(b, value=2.0, name="bb")], a + b)
    assert f(1.0) == 3.0
    assert f(1.0, 5.0) == 6.0
    assert f(1.0, bb=3.0) == 4.0
    assert f(a=1.0, bb=3.0) == 4.0
    assert f(bb=10.0, a=1.0) == 11.0


def test_keyword_uses_variable_name_by_default():
    x, y = T.dscalars("x", "y")
    f = function([x, y], x - y)
    assert f(y=1.0, x=5.0) == 4.0


def test_in_default_read_and_set_by_name():
    a, b = T.dscalars("a", "b")
    f = function([a, In(b, value=2.0, name="bb")], a * b)
    assert f["bb"] == 2.0
    f["bb"] = 10.0
    assert f(3.0) == 30.0
    assert "bb" in f and "nope" not in f
    with pytest.raises(KeyError, match="nope"):
        f["nope"]


def test_in_update_is_stateful_default():
    acc = T.dscalar("acc")
    inc = T.dscalar("inc")
    f = function([In(inc, value=1.0), In(acc, value=0.0, update=acc + inc, name="acc")],
                 acc)
    assert f() == 0.0
    assert f() == 1.0
    assert f(inc=5.0) == 2.0
    assert f["acc"] == 7.0


def test_in_strict_refuses_conversion():
    x = T.dvector("x")
    f = function([In(x, strict=True)], x * 1)
    np.testing.assert_array_equal(f(vec(1, 2)), [1, 2])
    with pytest.raises(TypeError, match="float64"):
        f([1.0, 2.0])
    with pytest.raises(TypeError):
        f(np.ones(2, dtype="int64"))


def test_in_allow_downcast_per_input():
    x, y = T.fvector("x"), T.fvector("y")
    f = function([In(x, allow_downcast=True), y], x + y)
    r = f(np.ones(2), np.ones(2, dtype="float32"))
    assert r.dtype == np.float32
    with pytest.raises(TypeError, match="allow_input_downcast"):
        f(np.ones(2), np.ones(2))


def test_in_default_checked_at_compile_time():
    x = T.ivector("x")
    with pytest.raises(TypeError, match="default value of input 0"):
        function([In(x, value=[1.5, 2.0])], x)


def test_in_default_is_not_changed_by_a_call_with_explicit_value():
    a = T.dscalar("a")
    f = function([In(a, value=1.0)], a * 2)
    assert f(5.0) == 10.0
    assert f() == 2.0


# -- Out --------------------------------------------------------------------------

def test_out_borrow_true_may_return_internal_storage():
    w = shared(vec(1, 2), name="w")
    f = function([], Out(w, borrow=True))
    assert f() is w.get_value(borrow=True)


def test_out_borrow_false_returns_copy():
    w = shared(vec(1, 2), name="w")
    f = function([], Out(w, borrow=False))
    r = f()
    r[0] = 99
    np.testing.assert_array_equal(w.get_value(), [1, 2])


# -- inputs -----------------------------------------------------------------------

def test_inputs_must_be_a_list():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match=r"inputs must be a list.*function\(\[x\]"):
        function(x, x * 2)


def test_shared_variable_as_input_refused():
    w = shared(1.0, name="w")
    with pytest.raises(TypeError, match="shared variable"):
        function([w], w * 2)


def test_constant_input_refused_computed_input_cuts_the_graph():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="constant"):
        function([T.constant(1.0)], x, on_unused_input="ignore")
    y = x * 2
    assert function([y], y + 1)(5.0) == 6.0  # as Theano: the graph starts at y
    with pytest.raises(MissingInputError):
        function([y], x, on_unused_input="ignore")


def test_same_input_twice_refused():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="twice"):
        function([x, x], x)


def test_missing_input_error():
    x, y = T.dvectors("x", "y")
    with pytest.raises(MissingInputError, match="y"):
        function([x], x + y)
    assert issubclass(theano.MissingInputError, Exception)


def test_on_unused_input_raise_warn_ignore():
    x, y = T.dscalars("x", "y")
    with pytest.raises(UnusedInputError, match="input 1 \\(y\\)"):
        function([x, y], x * 2)
    with pytest.warns(UserWarning, match="not used"):
        f = function([x, y], x * 2, on_unused_input="warn")
    assert f(1.0, 7.0) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = function([x, y], x * 2, on_unused_input="ignore")
    assert g(1.0, 7.0) == 2.0
    with pytest.raises(ValueError, match="on_unused_input"):
        function([x], x, on_unused_input="sometimes")


def test_config_on_unused_input_flag():
    x, y = T.dscalars("x", "y")
    with theano.config.change_flags(on_unused_input="ignore"):
        f = function([x, y], x * 2)
    assert f(2.0, 0.0) == 4.0


# -- modes --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [None, "FAST_RUN", "FAST_COMPILE", "PY", "fast_run",
                                  "DebugMode", Mode(linker="py"), Mode(linker="cvm"),
                                  theano.compile.FAST_RUN])
def test_modes_compute_the_same(mode):
    x = T.dvector("x")
    f = function([x], (x * 2 + 1).sum(), mode=mode)
    assert f(vec(1, 2)) == 8.0


def test_unknown_mode_names_known_ones():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="FAST_RUN.*|.*FAST_COMPILE"):
        function([x], x, mode="FASTEST")
    with pytest.raises(ValueError, match="unknown linker"):
        Mode(linker="gpu_magic")
    with pytest.raises(TypeError, match="mode"):
        function([x], x, mode=3)


def test_mode_excluding_and_including_return_modes():
    m = theano.compile.get_mode("FAST_RUN").excluding("fusion").including("x")
    assert isinstance(m, Mode) and "fusion" in m.excluding_

    expected = "numba" if backends.available("numba") else "py"
    assert theano.compile.get_default_mode().backend == expected


def test_config_mode_is_the_default():
    x = T.dscalar("x")
    with theano.config.change_flags(mode="FAST_COMPILE"):
        f = function([x], x * 2)
    assert f.maker.mode.name == "FAST_COMPILE"


def test_maker_exposes_fgraph():
    x = T.dscalar("x")
    f = function([x], x * 2)
    assert f.maker.fgraph.inputs[0] is x
    assert len(f.maker.fgraph.apply_nodes) >= 1


def test_many_outputs_and_updates_call_path_is_linear(monkeypatch):
    """Issue 13 item 13: the call path's work grows linearly with the number of
    results (it built a tuple of every earlier value at each result, and checked
    each fresh scalar for overlap with all of them)."""
    x = T.dscalar("x")
    sources, checks = [], []
    monkeypatch.setattr(calling, "_may_share",
                        lambda a, pool: checks.append(len(pool)) or False)
    for n in (100, 400):
        f = function([x], [x * i for i in range(1, n + 1)], mode="PY")
        np.testing.assert_allclose(f(2.0), [2.0 * i for i in range(1, n + 1)])
        sources.append(len(f._call.source))
    assert sources[1] < 4.4 * sources[0]  # linear (quadratic would be ~16x)
    assert checks == []  # a fresh scalar converted to an array shares nothing
    state = [shared(np.float64(0.0)) for _ in range(300)]
    g = function([x], [], updates=[(s, s + x) for s in state], mode="PY")
    g(1.5)
    g(1.0)
    assert all(s.get_value() == 2.5 for s in state)
    assert checks == []
