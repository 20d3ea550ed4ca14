"""Public names Theano 1.0 programs use: theano.dot, theano.clone, theano.subgraph_grad,
theano.function_dump, Function.container / f[var], T.specify_shape, the dtype lists,
theano.tensor.opt.assert_, theano.tensor.sharedvar, MonitorMode, DebugMode (module
paths: test_module_paths.py)."""

import pickle

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.compile.debugmode import DebugMode
from theanine.graph.traversal import graph_inputs
from theanine.tensor.opt import Assert, assert_


def test_theano_dot(mode):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(theano.function([x, y], theano.dot(x, y), mode=mode)(a, b),
                               a @ b)
    v = T.dvector("v")
    np.testing.assert_allclose(theano.function([v], theano.dot(v, b), mode=mode)(
        np.ones(3)), np.ones(3) @ b)


def test_clone_replaces_and_is_strict_about_types(mode):
    x, y = T.dvector("x"), T.dvector("y")
    z = T.exp(x) + 1
    z2 = theano.clone(z, replace={x: y * 2})
    np.testing.assert_allclose(theano.function([y], z2, mode=mode)(np.array([0.0, 1.0])),
                               np.exp([0.0, 2.0]) + 1)
    assert z.owner.inputs[0].owner.inputs[0] is x  # the original graph is untouched
    f32 = T.fvector("f32")
    with pytest.raises(TypeError, match="another type"):
        theano.clone(z, replace={x: f32})
    z3 = theano.clone(T.exp(x) * x, replace={x: f32}, strict=False)
    assert z3.dtype == "float32"  # the nodes re-infer their types
    got = theano.function([f32], z3, mode=mode)(np.ones(2, "float32"))
    assert got.dtype == np.float32 and np.allclose(got, np.e)
    assert theano.clone([z, x], replace=[(x, y)])[1] is y


def test_clone_share_inputs_false_copies_inputs_and_replacements():
    x, y = T.dvector("x"), T.dvector("y")
    w = theano.shared(np.ones(2), name="w")
    r = y * 3
    z = x * w + 1
    c = theano.clone(z, replace={x: r}, share_inputs=False)
    roots = graph_inputs([c])
    assert not any(v is y or v is w for v in roots)  # copies, not the originals
    copies = [v for v in roots if v.name == "w"]
    assert copies and copies[0].container is w.container  # same storage (Theano)
    kept = graph_inputs([theano.clone(z, replace={x: r})])  # share_inputs=True keeps them
    assert any(v is w for v in kept) and any(v is y for v in kept)


def test_subgraph_grad_layer_by_layer(mode):
    x = T.dvector("x")
    w1, w2 = theano.shared(np.array([0.5, -1.0]), "w1"), theano.shared(1.5, "w2")
    h = T.tanh(x * w1)
    cost = (h * w2).sum() ** 2
    g_w2, g_h = theano.subgraph_grad(wrt=[w2], end=[h], cost=cost)
    g_w1, g_x = theano.subgraph_grad(wrt=[w1], end=[x], start=dict(zip([h], g_h)))
    full = T.grad(cost, [w1, w2])
    f = theano.function([x], [g_w1[0], g_w2[0]] + full, mode=mode)
    a, b, ra, rb = f(np.array([1.0, 2.0]))
    np.testing.assert_allclose(a, ra)
    np.testing.assert_allclose(b, rb)


def test_function_dump_round_trips(tmp_path, mode):
    x = T.dvector("x")
    w = theano.shared(np.ones(2), name="w")
    path = tmp_path / "fn.pkl"
    theano.function_dump(str(path), [x], (x * w).sum(), updates=[(w, w + x)], mode=mode)
    with open(path, "rb") as f:
        d = pickle.load(f)
    assert sorted(d) == sorted(["inputs", "outputs", "mode", "updates", "givens",
                                "no_default_updates", "accept_inplace", "name",
                                "rebuild_strict", "allow_input_downcast", "profile",
                                "on_unused_input"])
    g = theano.function(**d)
    assert g(np.array([1.0, 2.0])) == 3.0 and g(np.array([1.0, 1.0])) == 5.0


def test_function_values_by_variable(mode):
    s, inc = T.dscalar("s"), T.dscalar("inc")
    acc = theano.function([inc, theano.In(s, value=0.0, update=s + inc)], s, mode=mode)
    acc(1.0)
    acc(2.0)
    assert acc[s] == 3.0 and acc["s"] == 3.0
    acc[s] = 10.0
    assert acc.container[s].value == 10.0 and acc.value[s] == 10.0
    acc.container[s].storage[0] = 20.0
    assert acc(1.0) == 20.0 and acc[s] == 21.0
    with pytest.raises(TypeError, match="input 1"):
        acc[s] = "no"
    w = theano.shared(1.0, name="w")
    f = theano.function([inc], inc * w, updates=[(w, w + 1)], mode=mode)
    assert f[w] == 1.0 and w in f and s not in f
    f[w] = 5.0
    assert w.get_value() == 5.0 and f(2.0) == 10.0 and f.container[w].value == 6.0
    with pytest.raises(KeyError, match="neither an input nor a shared variable"):
        f[s]


def test_specify_shape_checks_at_run_time_and_feeds_shape_inference(mode):
    x = T.dmatrix("x")
    y = T.specify_shape(x, (2, 3))
    f = theano.function([x], y * 2, mode=mode)
    np.testing.assert_array_equal(f(np.ones((2, 3))), np.full((2, 3), 2.0))
    with pytest.raises(AssertionError, match="specify_shape"):
        f(np.ones((3, 2)))
    # the shape is known without running x's graph
    g = theano.function([x], T.exp(T.specify_shape(x, (4, 5))).shape, mode=mode)
    assert not any(type(n.op).__name__ in ("Elemwise", "Composite")
                   for n in g.maker.fgraph.toposort())
    np.testing.assert_array_equal(g(np.ones((4, 5))), [4, 5])
    n = T.lscalar("n")
    h = theano.function([x, n], T.specify_shape(x, [n, 2]).sum(), mode=mode)
    assert h(np.ones((3, 2)), 3) == 6.0
    with pytest.raises(AssertionError):
        h(np.ones((3, 2)), 4)
    with pytest.raises(ValueError, match="2 dimensions but the shape given has 3"):
        T.specify_shape(x, (1, 2, 3))


def test_specify_shape_gradient(mode):
    x = T.dvector("x")
    g = T.grad((T.specify_shape(x, (3,)) ** 2).sum(), x)
    np.testing.assert_allclose(theano.function([x], g, mode=mode)(np.arange(3.0)),
                               [0.0, 2.0, 4.0])


def test_specify_shape_in_a_loop(mode):
    x = T.dmatrix("x")
    out, _ = theano.scan(lambda r: T.specify_shape(r, (2,)) * 3, sequences=[x])
    f = theano.function([x], out, mode=mode)
    np.testing.assert_array_equal(f(np.ones((4, 2))), np.full((4, 2), 3.0))
    with pytest.raises(AssertionError):
        f(np.ones((4, 3)))


def test_dtype_lists():
    assert set(T.discrete_dtypes) == {"bool", "int8", "int16", "int32", "int64", "uint8",
                                      "uint16", "uint32", "uint64"}
    assert set(T.float_dtypes) == {"float16", "float32", "float64"}
    assert set(T.complex_dtypes) == {"complex64", "complex128"}
    assert set(T.continuous_dtypes) == set(T.float_dtypes) | set(T.complex_dtypes)
    assert set(T.int_dtypes) == {"int8", "int16", "int32", "int64"}
    assert set(T.uint_dtypes) == {"uint8", "uint16", "uint32", "uint64"}
    assert set(T.integer_dtypes) == set(T.int_dtypes) | set(T.uint_dtypes)
    assert set(T.all_dtypes) == set(T.discrete_dtypes) | set(T.continuous_dtypes)
    assert T.ivector().dtype in T.discrete_dtypes


def test_tensor_sharedvar_module():
    """theano.tensor.sharedvar: SharedVariable, TensorSharedVariable; a tensor's
    shared variable is both, also from an int."""
    sv = T.sharedvar
    for value in (np.zeros((2, 3)), 3, np.float32(1.5)):
        s = theano.shared(value)
        assert isinstance(s, sv.TensorSharedVariable) and isinstance(s, sv.SharedVariable)
        assert s.ndim == np.ndim(value)
    assert sv.SharedVariable is theano.compile.SharedVariable
    s = theano.shared(np.arange(3.0))
    np.testing.assert_array_equal(theano.function([], (s * 2).sum())(), 6.0)


def test_assert_op_checks_at_run_time(mode):
    x = T.dvector("x")
    y = assert_(x * 2, T.gt(x.sum(), 0), T.all(T.ge(x, -1)))
    f = theano.function([x], y, mode=mode)
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(AssertionError, match="Theano Assert failed"):
        f(np.array([-1.0, 0.5]))
    with pytest.raises(AssertionError, match="Theano Assert failed"):
        f(np.array([3.0, -2.0]))
    named = Assert("x must be positive")(x, T.all(T.gt(x, 0)))
    with pytest.raises(AssertionError, match="x must be positive"):
        theano.function([x], named, mode=mode)(np.array([0.0]))
    g = T.grad((y ** 2).sum(), x)  # the gradient passes through the check
    np.testing.assert_allclose(theano.function([x], g, mode=mode)(np.array([1.0, 2.0])),
                               [8.0, 16.0])
    # a constant failing check is not folded away at compile time: it raises when run
    c = theano.function([], assert_(T.constant(1.0), T.constant(False)), mode=mode)
    with pytest.raises(AssertionError):
        c()


def test_monitor_mode_calls_hooks_around_each_node():
    seen = []

    def detect_nan(i, node, fn):
        for output in fn.outputs:
            if np.isnan(output[0]).any():
                seen.append((i, str(node.op), [inp[0] for inp in fn.inputs]))

    before = []
    x = T.dscalar("x")
    mode = theano.compile.MonitorMode(pre_func=lambda i, n, fn: before.append(
        fn.outputs[0][0]), post_func=detect_nan)
    f = theano.function([x], [T.log(x) * x], mode=mode)
    assert f(1.0)[0] == 0.0 and not seen
    with np.errstate(invalid="ignore"):
        f(-1.0)
    assert seen and seen[0][2][0] == -1.0
    assert before and all(b is None for b in before)  # outputs are empty before a node
    with pytest.raises(TypeError, match="post_func must be callable"):
        theano.compile.MonitorMode(post_func=3)
    assert isinstance(mode.excluding("fusion"), theano.compile.MonitorMode)


def test_debug_mode_is_a_mode_class():
    m = theano.compile.get_mode("DebugMode")
    assert isinstance(m, DebugMode) and isinstance(m, theano.Mode)
    assert isinstance(DebugMode(check_isfinite=False), DebugMode)
    assert isinstance(m.excluding("fusion"), DebugMode)
    x = T.dvector("x")
    f = theano.function([x], T.tanh(x) * 2, mode=DebugMode())
    np.testing.assert_allclose(f(np.array([0.5])), np.tanh([0.5]) * 2)
    assert not isinstance(theano.compile.get_mode("FAST_RUN"), DebugMode)
