"""The whole pipeline: random graphs (and their gradients) give the same values with
FAST_COMPILE and FAST_RUN; modes select, exclude and trace rewrites."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import theanine as theano
import theanine.tensor as T
from theanine.compile.mode import Mode
from theanine.rewrites.composite import Composite
from theanine.rewrites.pipeline import (
    BACKEND_EXCLUDES,
    FAST_COMPILE,
    FAST_RUN,
    all_names,
    steps_for,
)

PY_FAST_RUN = Mode("py", "fast_run")  # the same backend as FAST_COMPILE: only rewrites differ


def C(v):
    return T.constant(np.float64(v))


# -- random graphs --------------------------------------------------------------------
UNARY = [
    lambda a: -a, lambda a: T.neg(T.neg(a)), T.tanh, T.nnet.sigmoid, lambda a: a * 1,
    lambda a: a + 0,
    lambda a: a - a, lambda a: a ** 2, lambda a: a ** C(3), lambda a: T.exp(T.tanh(a)) - 1,
    lambda a: T.log(1 + a * a), lambda a: T.sqrt(T.abs_(a)), lambda a: a / C(4.0),
    lambda a: T.log(T.nnet.sigmoid(a)), lambda a: T.log(1 - T.nnet.sigmoid(a)),
    lambda a: T.log1p(T.exp(a)), lambda a: a.T.T, lambda a: a.reshape((6,)).reshape((2, 3)),
    lambda a: T.sum(a, axis=1, keepdims=True) + a, lambda a: T.sum(T.sum(a, axis=0)) + a,
    lambda a: T.zeros_like(a) + a.shape[0], lambda a: T.log(T.nnet.softmax(a)),
    lambda a: T.log(T.sum(T.exp(a), axis=1, keepdims=True)) + a,
    lambda a: T.max(a, axis=0, keepdims=True) * a, lambda a: T.cast(a, "float32") * 2,
]
BINARY = [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: b + a,
    lambda a, b: a / (1 + b * b), lambda a, b: T.dot(T.dot(a, b.T), b) * 0.1,
    lambda a, b: T.maximum(a, b),
    lambda a, b: T.switch(T.gt(a, b), a, b * 2), lambda a, b: a - 0.5 * T.dot(a, b.T.dot(b)),
    lambda a, b: T.sum(a * b) + a, lambda a, b: a * 2 + b * 3 + a,
]


@st.composite
def graphs(draw):
    """(inputs, outputs): a DAG of 1 to 8 random operations over three 2x3 inputs."""
    inputs = [T.matrix(n) for n in "abc"]
    values = list(inputs)
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            f = draw(st.sampled_from(UNARY))
            v = f(draw(st.sampled_from(values)))
        else:
            f = draw(st.sampled_from(BINARY))
            v = f(draw(st.sampled_from(values)), draw(st.sampled_from(values)))
        if v.dtype != "float64":
            v = T.cast(v, "float64")
        values.append(T.tanh(v) if draw(st.booleans()) else v)
    outputs = values[3:]
    picked = draw(st.lists(st.sampled_from(outputs), min_size=1, max_size=3))
    return inputs, picked


def _compare(inputs, outputs, vals, rtol=1e-6):
    fast = theano.function(inputs, outputs, mode=PY_FAST_RUN, on_unused_input="ignore")
    ref = theano.function(inputs, outputs, mode="FAST_COMPILE", on_unused_input="ignore")
    with np.errstate(all="ignore"):
        got, want = fast(*vals), ref(*vals)
    for g, w, o in zip(got, want, outputs):
        assert g.dtype == w.dtype == o.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-9, equal_nan=True,
                                   err_msg=theano.printing.debugprint(o, file="str"))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs(), st.integers(0, 2**31))
def test_random_graphs_agree_between_fast_compile_and_fast_run(graph, seed):
    inputs, outputs = graph
    rng = np.random.default_rng(seed)
    vals = [rng.uniform(-2, 2, size=(2, 3)) for _ in inputs]
    _compare(inputs, outputs, vals)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs(), st.integers(0, 2**31))
def test_random_gradients_agree_between_fast_compile_and_fast_run(graph, seed):
    inputs, outputs = graph
    cost = sum(T.sum(o * (k + 1)) for k, o in enumerate(outputs))
    grads = T.grad(cost, inputs, disconnected_inputs="ignore")
    rng = np.random.default_rng(seed)
    vals = [rng.uniform(-2, 2, size=(2, 3)) for _ in inputs]
    _compare(inputs, grads, vals, rtol=1e-5)


# -- modes ----------------------------------------------------------------------------
def _ops(f):
    return [type(n.op).__name__ for n in f.maker.fgraph.toposort()]


def test_pipelines_are_plain_lists():
    assert [s.name for s in FAST_COMPILE] == ["inline", "merge", "dead_code",
                                              "constant_folding", "inner_graphs"]
    assert [s.name for s in FAST_RUN] == ["inline", "merge", "dead_code", "constant_folding",
                                          "simplify", "scan", "scan_accumulate", "scan_linear",
                                          "tidy", "scan_memory", "stabilize", "specialize",
                                          "fusion", "fuse_recurrences", "inner_graphs"]
    assert [s.name for s in FAST_RUN[4].items] == ["canonicalize", "shape"]
    names = all_names()
    assert len(names) == len(set(names)) and {"gemm", "log1p", "flatten"} <= set(names)


def test_fast_compile_only_merges_and_folds():
    x = T.vector("x")
    f = theano.function([x], T.exp(x) * 1 + T.exp(x) * (C(1.0) + C(1.0)), mode="FAST_COMPILE")
    assert sorted(_ops(f)) == ["Elemwise", "Elemwise", "Elemwise", "Elemwise"]


def test_excluding_a_step_or_a_rule():
    x = T.vector("x")
    y = T.tanh(T.exp(x) - 1)
    assert _ops(theano.function([x], y)) == ["Composite"]
    f = theano.function([x], y, mode=Mode(excluding=["fusion"]))
    assert [n.op.scalar_op.name for n in f.maker.fgraph.toposort()] == ["expm1", "tanh"]
    f = theano.function([x], y, mode=Mode(excluding=["fusion", "expm1"]))
    assert len(_ops(f)) == 3
    f = theano.function([x], y, mode=theano.compile.get_default_mode().excluding(
        "local_elemwise_fusion", "stabilize"))
    assert len(_ops(f)) == 3


def test_including_adds_a_fast_run_step_to_fast_compile():
    x = T.vector("x")
    f = theano.function([x], T.exp(x) * T.tanh(x),
                        mode=Mode(optimizer="fast_compile", including=["fusion"]))
    assert _ops(f) == ["Composite"]
    steps, _ = steps_for("fast_compile", including=["fusion"])
    assert [s.name for s in steps] == ["inline", "merge", "dead_code", "constant_folding",
                                       "fusion", "inner_graphs"]
    steps, _ = steps_for("fast_compile", including=["shape"])
    assert [s.name for s in steps] == ["inline", "merge", "dead_code", "constant_folding",
                                       "simplify", "inner_graphs"]


def test_no_rewrites():
    x = T.vector("x")
    f = theano.function([x], x * 1, mode=Mode(optimizer=None))
    assert _ops(f) == ["Elemwise"]
    with pytest.raises(ValueError, match="unknown optimizer"):
        theano.function([x], x * 1, mode=Mode(optimizer="o5"))


def test_config_flags_select_and_exclude(capsys):
    x = T.vector("x")
    with theano.config.change_flags(optimizer_excluding="fusion:canonicalize"):
        assert len(_ops(theano.function([x], T.tanh(x * 1)))) == 2
    with theano.config.change_flags(optimizer="fast_compile"):
        assert len(_ops(theano.function([x], T.tanh(T.exp(x)), mode=Mode()))) == 2
    with theano.config.change_flags(print_rewrites=True):
        theano.function([x], T.log(1 + x))
        theano.function([x], x * 1)
    out = capsys.readouterr().out
    assert "rewrite stabilize/log1p: Elemwise{log}(" in out
    assert "rewrite simplify/drop_identity: Elemwise{mul}(x, " in out


def test_rewritten_function_keeps_input_and_output_types_and_values():
    x = T.fmatrix("x")
    w = theano.shared(np.ones((3, 3), dtype="float32"), name="w")
    y = T.nnet.sigmoid(T.dot(x, w) + 0) * 1 + x * 2
    f = theano.function([x], [y, y.shape], updates=[(w, w - 0.5 * T.dot(x.T, y))])
    xv = np.ones((2, 3), dtype="float32")
    out, shape = f(xv)
    assert out.dtype == "float32" and shape.tolist() == [2, 3]
    assert w.get_value().dtype == "float32"
    assert any(isinstance(n.op, Composite) for n in f.maker.fgraph.toposort())


def test_output_that_becomes_an_input_is_still_a_copy():
    x = T.vector("x")
    f = theano.function([x], x * 1)
    v = np.ones(3)
    r = f(v)
    r[0] = 5
    assert v[0] == 1


def test_gradient_graph_of_a_model_is_smaller_after_rewriting():
    x, y = T.matrix("x"), T.ivector("y")
    w = theano.shared(np.zeros((4, 3)), name="w")
    b = theano.shared(np.zeros(3), name="b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    g = T.grad(cost, [w, b])
    slow = theano.function([x, y], [cost] + g, mode="FAST_COMPILE")
    fast = theano.function([x, y], [cost] + g)
    assert len(fast.maker.fgraph.toposort()) < len(slow.maker.fgraph.toposort())
    xv = np.random.default_rng(0).normal(size=(5, 4))
    yv = np.array([0, 1, 2, 1, 0], dtype="int32")
    for a, b_ in zip(fast(xv, yv), slow(xv, yv)):
        np.testing.assert_allclose(a, b_, rtol=1e-7)


def test_backend_excludes_apply_to_that_backend_only():
    for backend, names in BACKEND_EXCLUDES.items():
        _, excluded = Mode(backend, "fast_run").rewrite_steps()
        assert set(names) <= excluded
        _, excluded = Mode(backend, "fast_run", including=list(names)).rewrite_steps()
        assert not set(names) & excluded
    _, excluded = Mode("py", "fast_run").rewrite_steps()
    assert "scan_accumulate_products" not in excluded
