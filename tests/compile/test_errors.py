"""Calling a compiled function with bad arguments: clear errors, and no state changes.

Every case checks that no shared variable and no In default changed."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import In, function, shared
from theanine.backends.py import linker as py_linker
from theanine.compile.ops import as_op


@pytest.fixture
def stateful():
    """f(x, y) -> x + y, updating w <- w + x.sum() and v <- v * 2, with a stateful In."""
    x, y = T.dvectors("x", "y")
    k = T.dscalar("k")
    w = shared(np.array([1.0, 2.0]), name="w")
    v = shared(3.0, name="v")
    f = function([x, y, In(k, value=0.0, update=k + 1, name="k")], x + y + k,
                 updates=[(w, w + x.sum()), (v, v * 2)])
    state = [w, v]

    def unchanged():
        assert f["k"] == 0.0
        np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])
        assert v.get_value() == 3.0

    return f, state, unchanged


def test_valid_call_changes_state(stateful):
    f, (w, v), _ = stateful
    f(np.ones(2), np.ones(2))
    assert f["k"] == 1.0 and v.get_value() == 6.0


def test_too_many_arguments(stateful):
    f, _, unchanged = stateful
    with pytest.raises(TypeError, match="takes 3 argument.*got 4"):
        f(np.ones(2), np.ones(2), 1.0, 2.0)
    unchanged()


def test_missing_argument(stateful):
    f, _, unchanged = stateful
    with pytest.raises(TypeError, match="missing value for input 1 \\(y\\)"):
        f(np.ones(2))
    unchanged()


def test_unknown_keyword(stateful):
    f, _, unchanged = stateful
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'.*\\['k', 'x', 'y'\\]"):
        f(np.ones(2), np.ones(2), z=1.0)
    unchanged()


def test_keyword_given_twice(stateful):
    f, _, unchanged = stateful
    with pytest.raises(TypeError, match="two values for input 'x'"):
        f(np.ones(2), np.ones(2), x=np.ones(2))
    unchanged()


def test_wrong_ndim_names_input(stateful):
    f, _, unchanged = stateful
    with pytest.raises(TypeError, match="input 1 \\(y\\).*expected 1 dimensions.*got 2"):
        f(np.ones(2), np.ones((2, 2)))
    unchanged()


def test_non_castable_dtype_suggests_allow_input_downcast():
    x = T.fvector("x")
    w = shared(np.float32(0.0), name="w")
    f = function([x], x * 2, updates=[(w, w + x.sum())])
    with pytest.raises(TypeError, match="input 0 \\(x\\).*float64.*allow_input_downcast"):
        f(np.ones(3))
    assert w.get_value() == 0.0
    with pytest.raises(TypeError, match="input 0 \\(x\\)"):
        f(np.ones(3, dtype="complex64"))
    assert w.get_value() == 0.0


def test_allow_input_downcast_true_accepts_float64():
    x = T.fvector("x")
    r = function([x], x * 2, allow_input_downcast=True)(np.array([1.5, 2.0]))
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, [3, 4])


def test_python_float_into_float32_input():
    x = T.fscalar("x")
    f = function([x], x * 2)
    r = f(1.5)  # exactly representable: accepted
    assert r.dtype == np.float32 and r == 3.0
    with theano.config.change_flags(floatX="float32"):
        g = function([x], x * 2)
        assert g(0.1).dtype == np.float32  # floatX: any Python float accepted
    with pytest.raises(TypeError, match="allow_input_downcast"):
        f(0.1)  # as Theano: 0.1 is not a float32 and floatX is float64


def test_python_list_and_int_inputs_converted():
    x = T.dvector("x")
    np.testing.assert_array_equal(function([x], x * 2)([1, 2]), [2, 4])
    i = T.iscalar("i")
    assert function([i], i * 2)(3) == 6
    with pytest.raises(TypeError, match="input 0 \\(i\\)"):
        function([i], i * 2)(2 ** 40)


def test_string_input_refused():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="input 0 \\(x\\)"):
        function([x], x * 2)("abc")


def test_op_failure_names_op_and_shapes(stateful):
    f, _, unchanged = stateful
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "Elemwise{add}" in msg and "(3,)" in msg and "(4,)" in msg
    unchanged()


def test_op_failure_inside_an_update_changes_nothing():
    x, z = T.dvectors("x", "z")
    w = shared(np.array([1.0, 2.0, 3.0]), name="w")
    v = shared(np.zeros(3), name="v")
    c = shared(0.0, name="c")
    c.default_update = c + 1
    f = function([x, z], x.sum() + c, updates=[(w, w + 1), (v, v + z)])
    with pytest.raises(ValueError, match="shapes"):
        f(np.ones(3), np.ones(4))
    np.testing.assert_array_equal(w.get_value(), [1, 2, 3])
    np.testing.assert_array_equal(v.get_value(), [0, 0, 0])
    assert c.get_value() == 0.0
    f(np.ones(3), np.ones(3))
    np.testing.assert_array_equal(w.get_value(), [2, 3, 4])
    assert c.get_value() == 1.0


def test_op_error_keeps_its_class():
    m = T.dmatrix("m")
    v = T.dvector("v")
    f = function([m, v], T.dot(m, v))
    with pytest.raises(ValueError, match="shapes|shape"):
        f(np.ones((2, 3)), np.ones(4))


def test_error_message_uses_function_name():
    x, y = T.dvectors("x", "y")
    f = function([x, y], x + y, name="adder")
    with pytest.raises(TypeError, match="'adder'"):
        f(np.ones(2), np.ones((2, 2)))
    with pytest.raises(ValueError, match="'adder'"):
        f(np.ones(2), np.ones(3))


def test_broadcastable_input_length_checked():
    r = T.drow("r")
    f = function([r], r * 2)
    np.testing.assert_array_equal(f(np.ones((1, 3))), [[2, 2, 2]])
    with pytest.raises(TypeError, match="broadcastable"):
        f(np.ones((2, 3)))


def test_ambiguous_keyword_refused():
    a, b = T.dscalar("a"), T.dscalar("a")
    f = function([a, b], a - b)
    assert f(3.0, 1.0) == 2.0
    with pytest.raises(TypeError, match="ambiguous"):
        f(a=1.0, b=2.0)


def _counting_op(calls, fail_above=None):
    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def counted(v):
        calls.append(float(v.sum()))
        if fail_above is not None and v.sum() > fail_above:
            raise ValueError(f"too large: {v.sum()}")
        return v * 1.0

    return counted


@pytest.mark.parametrize("mode", ["PY", "NUMBA"])
def test_failing_call_runs_user_code_once(mode):
    """Issue 13 item 6: finding the failing node reads the traceback; nothing runs
    again (an as_op with a side effect ran twice per failing call)."""
    calls = []
    x, w = T.dvectors("x", "w")
    f = function([x, w], _counting_op(calls)(x) + w, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    assert len(calls) == 1
    assert "Elemwise{add}" in str(info.value) and "(3,)" in str(info.value)


@pytest.mark.parametrize("mode", ["PY", "NUMBA"])
def test_failing_loop_runs_each_step_once(mode):
    calls = []
    counted = _counting_op(calls, fail_above=5.5)
    x = T.dvector("x")
    h, _ = theano.scan(lambda a, h: counted(h + a), sequences=x,
                       outputs_info=T.unbroadcast(T.zeros(1), 0))
    f = function([x], h, mode=mode)
    with pytest.raises(ValueError, match="too large") as info:
        f(np.ones(20))
    assert len(calls) == 6  # steps 0..5; step 5 fails (sum 6.0)
    assert "Scan" in str(info.value)


def test_failing_node_of_a_chunked_graph_is_named(monkeypatch):
    monkeypatch.setattr(py_linker, "CHUNK_SIZE", 3)
    x, y = T.dvectors("x", "y")
    z = x
    for k in range(10):
        z = T.tanh(z) * (k + 1)
    f = function([x, y], z + y, mode=theano.Mode("py", "fast_compile"))  # 21 nodes
    assert "def chunk6" in f.fn.source
    with pytest.raises(ValueError) as info:
        f(np.ones(2), np.ones(5))
    assert "Elemwise{add}" in str(info.value) and "(2,)" in str(info.value)
    assert "(5,)" in str(info.value)
