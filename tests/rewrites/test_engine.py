"""The rewrite engine (theanine/graph/rewrite.py): rule sets, dispatch, the mutable
graph, the fixed-point driver, tracing and structural equality."""

import warnings

import numpy as np
import pytest

import theanine.tensor as T
from theanine.graph.basic import Apply, Op
from theanine.graph.rewrite import (
    OUTPUT,
    Dispatch,
    GraphPass,
    RewriteError,
    RewriteGraph,
    RewriteWarning,
    RuleSet,
    equal_graphs,
    graph_difference,
    rewrite_outputs,
    rule,
    run_pipeline,
    run_rules,
)
from theanine.rewrites import merge as merge_mod  # noqa: F401  (registers Elemwise subkeys)
from theanine.tensor import scalar_ops as so
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.reduce import CAReduce


@rule(Elemwise, name="any_elemwise")
def _noop(graph, node):
    return None


@rule((Elemwise, so.Exp), name="exp_to_log")
def exp_to_log(graph, node):
    return [T.log(node.inputs[0])]


@rule((Elemwise, so.Log), name="log_to_exp")
def log_to_exp(graph, node):
    return [T.exp(node.inputs[0])]


# -- rule sets and dispatch ---------------------------------------------------------------
def test_ruleset_flattens_in_order_and_excludes_by_name():
    inner = RuleSet("inner", [exp_to_log, _noop])
    outer = RuleSet("outer", [log_to_exp, inner, exp_to_log])
    assert [r.name for r in outer.rules()] == ["log_to_exp", "exp_to_log", "any_elemwise"]
    assert [r.name for r in outer.rules({"inner"})] == ["log_to_exp", "exp_to_log"]
    assert [r.name for r in outer.rules({"exp_to_log"})] == ["log_to_exp", "any_elemwise"]
    assert outer.names() == ["outer", "log_to_exp", "inner", "exp_to_log", "any_elemwise",
                             "exp_to_log"]


def test_ruleset_add_appends_a_rule():
    rs = RuleSet("s")
    assert rs.add(exp_to_log) is exp_to_log
    assert rs.rules() == [exp_to_log]


def test_dispatch_by_op_class_and_scalar_op_class():
    x = T.vector("x")
    d = Dispatch([exp_to_log, log_to_exp, _noop])
    assert d(T.exp(x).owner.op) == (exp_to_log, _noop)
    assert d(T.log(x).owner.op) == (log_to_exp, _noop)
    assert d(T.sum(x).owner.op) == ()
    everything = rule(name="all")(lambda g, n: None)
    assert Dispatch([everything])(T.sum(x).owner.op) == (everything,)


def test_dispatch_matches_subclasses():
    class MyReduce(CAReduce):
        pass

    r = rule(CAReduce, name="r")(lambda g, n: None)
    assert Dispatch([r])(MyReduce("sum", (0,))) == (r,)


# -- the graph ----------------------------------------------------------------------
def test_graph_is_a_copy_and_the_original_is_untouched():
    x = T.vector("x")
    y = T.exp(x) + x
    before = y.owner.inputs[0]
    g = RewriteGraph([x], [y])
    assert g.outputs[0] is not y and g.inputs[0] is x
    g.replace(g.outputs[0].owner.inputs[0], T.log(x))
    assert y.owner.inputs[0] is before
    assert equal_graphs(g.outputs, [T.log(x) + x], [x], [x])


def test_clients_are_updated_and_unused_nodes_dropped():
    x = T.vector("x")
    e = T.exp(x)
    y = T.tanh(e) * e
    g = RewriteGraph([x], [y], clone=False)
    assert g.n_clients(e) == 2 and g.n_clients(x) == 1
    g.replace(e, T.log(x))
    assert e.owner not in g.nodes
    assert g.n_clients(x) == 1 and x in [v for v in g.outputs[0].owner.inputs[1].owner.inputs]
    assert len(g.nodes) == 3  # log, tanh, mul
    assert g.clients_of(g.outputs[0]) == [(OUTPUT, 0)]
    assert g.is_output(g.outputs[0]) and not g.is_output(x)


def test_replace_output_variable():
    x = T.vector("x")
    g = RewriteGraph([x], [T.exp(x)])
    g.replace(g.outputs[0], x)
    assert g.outputs == [x] and not g.nodes


def test_replacement_broadcast_pattern_is_fixed_and_dtype_checked():
    x = T.row("x")
    y = T.exp(T.unbroadcast(x, 0))  # a matrix
    g = RewriteGraph([x], [y])
    g.replace(g.outputs[0], T.exp(x))
    assert g.outputs[0].type == y.type
    with pytest.raises(RewriteError, match="type"):
        g.replace(g.outputs[0], T.cast(T.exp(x), "float32"))


def test_replacement_depending_on_the_replaced_variable_is_refused():
    x = T.vector("x")
    g = RewriteGraph([x], [T.exp(x)])
    with pytest.raises(RewriteError, match="cycle"):
        g.replace(g.outputs[0], T.log(g.outputs[0]))


def test_replacement_with_an_unknown_input_is_refused():
    x, z = T.vector("x"), T.vector("z")
    g = RewriteGraph([x], [T.exp(x)])
    with pytest.raises(RewriteError, match="neither an input"):
        g.replace(g.outputs[0], T.exp(z))


def test_merging_is_incremental():
    x = T.vector("x")
    a, b = T.exp(x), T.exp(x)
    g = RewriteGraph([x], [a + b, T.log(x), T.tanh(x)])
    g.enable_merging()
    add = g.outputs[0].owner
    assert add.inputs[0] is add.inputs[1]  # the two exps merged
    g.replace(g.outputs[2], T.log(x))  # a new node equal to an existing one
    assert g.outputs[2] is g.outputs[1]
    assert len(g.nodes) == 3


def test_merging_constants():
    x = T.vector("x")
    g = RewriteGraph([x], [x * np.float64(2), x * np.float64(2) + np.float64(2)])
    g.enable_merging()
    muls = [n for n in g.nodes if isinstance(n.op.scalar_op, so.Mul)]
    assert len(muls) == 1


def test_ops_without_props_merge_only_with_themselves():
    class NoProps(Op):
        def __init__(self, k):
            self.k = k

        def make_node(self, x):
            return Apply(self, [x], [x.type()])

    x = T.vector("x")
    g = RewriteGraph([x], [NoProps(1)(x), NoProps(2)(x)])
    g.enable_merging()
    assert len(g.nodes) == 2


# -- the driver ---------------------------------------------------------------------
def test_run_rules_reaches_a_fixed_point_and_counts():
    x = T.vector("x")
    y = T.exp(T.exp(x))
    g = RewriteGraph([x], [y])
    g.step = "test"
    assert run_rules(g, RuleSet("s", [exp_to_log])) == 2
    assert equal_graphs(g.outputs, [T.log(T.log(x))], [x], [x])
    assert g.counts == {"test/exp_to_log": 2}


def test_ping_pong_rules_stop_at_the_cap_with_a_warning():
    x = T.vector("x")
    g = RewriteGraph([x], [T.exp(x)])
    with pytest.warns(RewriteWarning, match="cap"):
        n = run_rules(g, [exp_to_log, log_to_exp], max_rewrites=50)
    assert n == 50


def test_trace_prints_each_rewrite(capsys):
    x = T.vector("x")
    g = RewriteGraph([x], [T.exp(x)], trace=True)
    run_pipeline(g, [RuleSet("myset", [exp_to_log])])
    out = capsys.readouterr().out
    assert "rewrite myset/exp_to_log: Elemwise{exp}(x) -> Elemwise{log}.0" in out


def test_pipeline_excludes_steps_and_rules():
    x = T.vector("x")
    steps = [RuleSet("a", [exp_to_log])]
    assert equal_graphs(rewrite_outputs(T.exp(x), steps, excluding=["a"]), T.exp(x))
    assert equal_graphs(rewrite_outputs(T.exp(x), steps, excluding=["exp_to_log"]),
                        T.exp(x))
    assert equal_graphs(rewrite_outputs(T.exp(x), steps), T.log(x))


def test_graph_pass_runs():
    seen = []
    p = GraphPass("p", lambda g: seen.append(len(g.nodes)) or 0)
    x = T.vector("x")
    rewrite_outputs(T.exp(x) + 1, [p])
    assert seen == [2]


def test_rule_may_return_a_dict_and_none_entries():
    x = T.vector("x")

    @rule(Elemwise)
    def exp_dict(graph, node):
        if isinstance(node.op.scalar_op, so.Exp):
            return {node.outputs[0]: T.log(node.inputs[0])}
        return [None]

    assert equal_graphs(rewrite_outputs(T.exp(x) + x, exp_dict), T.log(x) + x)


def test_a_failing_rule_is_skipped_with_a_warning():
    x = T.vector("x")
    bad = rule(Elemwise, name="bad")(lambda g, n: [x, x])
    with pytest.warns(RewriteWarning, match="bad failed on .*2 replacements"):
        out = rewrite_outputs(T.exp(x), [RuleSet("s", [bad, exp_to_log])])
    assert equal_graphs(out, T.log(x))


def test_driver_visits_are_linear_in_graph_size():
    calls = [0]

    @rule(Elemwise, DimShuffle)
    def count(graph, node):
        calls[0] += 1
        return None

    for n in (500, 2000):
        calls[0] = 0
        x = T.vector("x")
        y = x
        for _ in range(n):
            y = T.tanh(y) * 1.5 + x
        rewrite_outputs(y, count)
        assert calls[0] == 3 * n


def test_removing_a_long_chain_does_not_recurse():
    x = T.vector("x")
    y = x
    for _ in range(20000):
        y = T.exp(y)
    g = RewriteGraph([x], [y])
    g.replace(g.outputs[0], x)
    assert not g.nodes


# -- structural equality ------------------------------------------------------------
def test_graph_difference():
    x, y = T.vector("x"), T.vector("y")
    assert graph_difference(T.exp(x) + y, T.exp(x) + y) is None
    assert "differs" in graph_difference(T.exp(x) + y, T.log(x) + y)
    assert graph_difference(T.exp(x) + y, T.exp(y) + x) is not None
    assert graph_difference(x * 2.0, x * 2.0) is None
    assert "constants differ" in graph_difference(x * 2.0, x * 3.0)
    x2 = T.vector("x2")
    assert graph_difference(T.exp(x), T.exp(x2), [x], [x2]) is None
    a = T.exp(x)
    assert graph_difference(a + a, T.exp(x) + T.exp(x)) is not None  # sharing differs
    assert "outputs" in graph_difference([x], [x, x])


def test_rewrite_outputs_is_a_copy():
    x = T.vector("x")
    y = T.exp(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = rewrite_outputs([y], [RuleSet("s", [exp_to_log])])
    assert y.owner.op == T.exp(x).owner.op and out[0].owner.op == T.log(x).owner.op
