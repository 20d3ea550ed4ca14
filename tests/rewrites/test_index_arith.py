"""index_arith rules, each alone (before-graph -> expected-graph, values unchanged), the
cases they must leave alone, and what they do to a recurrence's gradient: its slice
bounds reduce to the steps, the views of one sequence become one variable, and the
forward loop and its gradient's loop each compute the shared gates themselves."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.rewrites.helpers import check_rewrite, check_unchanged
from theanine.compile.mode import Mode
from theanine.graph.traversal import ancestors
from theanine.rewrites.index_arith import (
    checked_twice,
    constant_switch,
    cut_before_check,
    cut_twice,
    decided_comparison,
    index_identities,
    le,
    nonneg,
    ordered_min_max,
    second_of_scalars,
    whole_slice,
    zero_pad_whole,
)
from theanine.scan.fused_recurrence import FusedRecurrence
from theanine.scan.utils import CheckSteps
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.shape import Shape_i
from theanine.tensor.zero_pad import zero_pad

OFF = {"scan.parallel_linear": False}


def test_facts():
    x, y, a = T.dvector("x"), T.dvector("y"), T.lscalar("a")
    n, m = x.shape[0], y.shape[0]
    assert nonneg(n) and nonneg(T.maximum(a, n)) and nonneg(T.minimum(n, m) + n)
    assert not nonneg(a) and not nonneg(T.minimum(a, n)) and not nonneg(n - m)
    assert le(T.minimum(n, a), n) and le(n, T.maximum(m, n)) and le(T.constant(0), n)
    assert le(T.maximum(T.minimum(n, a), T.minimum(a, n)), n)
    assert le(n, n + 1) and le(n, m + n) and le(n - m, n)
    assert not le(n, n + a) and not le(n - a, n) and not le(n + 1, n)
    assert not le(n, m) and not le(T.constant(0), a) and not le(n, T.minimum(n, m))


def test_min_max_of_ordered_values():
    x, y = T.dvector("x"), T.dvector("y")
    n, m = x.shape[0], y.shape[0]
    big = T.maximum(m, n)
    vals = [np.ones(3), np.ones(5)]
    check_rewrite(ordered_min_max, T.minimum(big, n), n, [x, y], values=vals)
    check_rewrite(ordered_min_max, T.maximum(n, T.minimum(n, m)), n, [x, y], values=vals)
    check_unchanged(ordered_min_max, T.minimum(n, m), [x, y])
    a = T.lscalar("a")
    check_unchanged(ordered_min_max, T.maximum(a, 0), [a])  # a may be negative
    v = T.lvector("v")
    check_unchanged(ordered_min_max, T.minimum(v, v.shape[0]), [v])  # not 0-d


def test_decided_comparisons_and_switch():
    x, a = T.dvector("x"), T.lscalar("a")
    n = x.shape[0]
    check_rewrite(decided_comparison, T.lt(n, 0), T.constant(np.bool_(False)), [x],
                  values=[np.ones(2)])
    check_rewrite(decided_comparison, T.ge(n, 0), T.constant(np.bool_(True)), [x],
                  values=[np.ones(2)])
    check_unchanged(decided_comparison, T.lt(a, 0), [a])
    check_rewrite(constant_switch, T.switch(T.constant(np.bool_(False)), a + 1, a - 1),
                  a - 1, [a], values=[np.int64(4)])
    check_unchanged(constant_switch, T.switch(T.lt(a, 0), a + 1, a - 1), [a])
    check_rewrite(second_of_scalars, T.second(a, T.constant(np.int64(0))),
                  T.constant(np.int64(0)), [a], values=[np.int64(4)])


def test_identities_only_on_integer_scalars():
    x, a = T.dvector("x"), T.lscalar("a")
    check_rewrite(index_identities, a - a, T.second(a, T.constant(np.int64(0))), [a],
                  values=[np.int64(3)])
    check_rewrite(index_identities, a + 0, a, [a], values=[np.int64(3)])
    check_unchanged(index_identities, x - x, [x])  # floats: canonicalize's business
    check_unchanged(index_identities, x * 1, [x])


def test_slices():
    x, n = T.dmatrix("x"), T.lscalar("n")
    vals = [np.arange(12.0).reshape(6, 2), np.int64(4)]
    check_rewrite(whole_slice, x[0:], x, [x], values=vals[:1])
    check_rewrite(whole_slice, x[::1, 0:], x, [x], values=vals[:1])
    check_unchanged(whole_slice, x[1:], [x])
    check_unchanged(whole_slice, x[:n], [x, n])
    c = CheckSteps()(x, n)
    check_rewrite(checked_twice, CheckSteps()(c[:n], n), c[:n], [x, n], values=vals)
    check_rewrite(checked_twice, CheckSteps()(c, n), c, [x, n], values=vals)
    check_unchanged(checked_twice, CheckSteps()(x[:n], n), [x, n])  # x[:n] is not checked
    check_rewrite(cut_twice, c[:n][:n], c[:n], [x, n], values=vals)
    check_unchanged(cut_twice, x[:n][:n], [x, n])  # n may be negative: x[:-2][:-2]
    check_rewrite(cut_before_check, CheckSteps()(x[:n], n)[:n], c[:n], [x, n], values=vals)
    rows = c[:n]
    check_rewrite(zero_pad_whole, zero_pad(rows, 0, n, n, Shape_i(1)(rows)), rows, [x, n],
                  values=vals)
    check_unchanged(zero_pad_whole, zero_pad(rows, 0, n, n, x.shape[1]), [x, n])
    check_unchanged(zero_pad_whole, zero_pad(x[:n], 0, n, n, x.shape[1]), [x, n])


def test_negative_steps_still_raise():
    x, n = T.dvector("x"), T.lscalar("n")
    c = CheckSteps()(x, n)
    f = theano.function([x, n], CheckSteps()(c[:n], n)[:n] * 2)
    np.testing.assert_array_equal(f(np.arange(5.0), 3), [0, 2, 4])
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        f(np.arange(5.0), -1)
    with pytest.raises(ValueError, match="fewer than"):
        f(np.arange(5.0), 7)


def _scalar_ops(f):
    """Integer scalar arithmetic nodes left in f's graph."""
    return [nd for nd in f.maker.fgraph.toposort()
            if isinstance(nd.op, (Elemwise, Composite)) and nd.outputs[0].ndim == 0]


def _compare(inputs, outputs, values, tol, mode):
    f = theano.function(inputs, outputs, mode=mode)
    with theano.config.change_flags(OFF):
        g = theano.function(inputs, outputs, mode="py")
    for a, b in zip(f(*values), g(*values)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    return f


@pytest.mark.parametrize("mode", ["py", "NUMBA"])
def test_moving_average_gradient_has_no_index_arithmetic(mode):
    a, w = T.dvector("a"), T.dvector("w")
    x, _ = theano.scan(lambda at, h: 0.999 * h + at, sequences=a, outputs_info=T.constant(0.0))
    g = theano.grad(T.sum(w * x), a)
    f = None
    for n in (0, 1, 2, 7, 97, 20011):
        rng = np.random.default_rng(n)
        f = _compare([a, w], [x, g], [rng.normal(size=n), rng.normal(size=n)], 1e-9, mode)
    topo = f.maker.fgraph.toposort()
    # the bounds of the gradient's slices are the steps: no scalar arithmetic left
    # (only the longer of w and the steps, which w * x broadcasts to), no zero_pad
    assert [str(nd.op) for nd in _scalar_ops(f)] == ["Elemwise{maximum}"]
    assert sum(str(nd.op) == "ZeroPad" for nd in topo) == 1
    assert len(topo) <= 13


@pytest.mark.parametrize("mode", ["py", "NUMBA"])
def test_gated_gradient_gates_computed_in_each_loop(mode):
    k, v, w = T.dmatrix("k"), T.dmatrix("v"), T.dmatrix("w")

    def step(kt, vt, h):
        z = T.nnet.sigmoid(kt)
        return (1 - z) * h + z * vt

    h, _ = theano.scan(step, sequences=[k, v], outputs_info=T.zeros((3,), "float64"))
    gk, gv = theano.grad(T.sum(w * h), [k, v])
    f = None
    for n in (0, 1, 2, 13, 5003):
        rng = np.random.default_rng(n)
        vals = [rng.normal(size=(n, 3)) for _ in range(3)]
        f = _compare([k, v, w], [h, gk, gv], vals, 1e-9, mode)
    topo = f.maker.fgraph.toposort()
    fused = [nd for nd in topo if isinstance(nd.op, FusedRecurrence)]
    assert len(fused) == 2
    # the gates (sigmoid(k), sigmoid(-k)) are one variable read by both loops, and each
    # loop computes them from k: no array of gates is stored
    assert not [nd for nd in topo if isinstance(nd.op, (Elemwise, Composite))
                and nd.outputs[0].ndim >= 1]
    seqs = [{id(x) for x in nd.inputs[2:]} for nd in fused]
    assert seqs[0] & seqs[1], "the loops read k through different views"


def _two_recurrences(share_output):
    k, v = T.dmatrix("k"), T.dmatrix("v")
    n, h0 = Shape_i(0)(k), T.zeros((3,), "float64")
    gate = T.nnet.sigmoid(k)
    fwd, _ = LinearRecurrence("affine")(n, h0, gate, v)
    bwd, _ = LinearRecurrence("affine", reverse=True)(n, h0, gate, fwd * v)
    outs = [fwd, bwd] + ([gate] if share_output else [])
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(11, 3)) for _ in range(2)]
    f = theano.function([k, v], outs, mode="py")
    ref = theano.function([k, v], outs, mode=Mode("py", excluding=["fuse_recurrences"]))
    for a, b in zip(f(*vals), ref(*vals)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    return f


def test_shared_gate_computed_in_each_loop():
    f = _two_recurrences(False)
    topo = f.maker.fgraph.toposort()
    assert sum(isinstance(nd.op, FusedRecurrence) for nd in topo) == 2
    assert not [nd for nd in topo if isinstance(nd.op, (Elemwise, Composite))
                and nd.outputs[0].ndim >= 1]


def test_shared_gate_read_outside_stays_stored():
    """A gate that is also a graph output is stored once, not recomputed in the loops."""
    f = _two_recurrences(True)
    gate = f.maker.fgraph.outputs[2]
    assert gate.owner is not None and isinstance(gate.owner.op, Elemwise)
    loops = [nd for nd in f.maker.fgraph.toposort() if "Recurrence" in str(nd.op)]
    assert len(loops) == 2
    for nd in loops:
        assert gate in ancestors(nd.inputs), "a loop recomputes the stored gate"
