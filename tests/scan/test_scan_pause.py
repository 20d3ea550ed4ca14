"""run_scan paused before a step and continued by another run: the joined outputs
equal one run of all the steps (every kind of stored output), each step runs once."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.graph.rewrite import rewrite_outputs
from theanine.graph.traversal import toposort
from theanine.rewrites.scan.memory import scan_keep_last
from theanine.scan.op import Paused, Scan, run_scan


def _loop(until=False, keep=True):
    """h_t = 0.5 h_{t-1} + x_t (traced), a 2-d carry m, y_t = tanh(h_{t-1}) x_t;
    outputs read so that scan_memory stores rings (keep > 0)."""
    x = T.vector("x")

    def step(a, h, m):
        new = h * 0.5 + a
        out = [new, m * 0.9 + a, T.tanh(h) * a]
        return (out, theano.scan_module.until(new > 6)) if until else out

    (h, m, y), _ = theano.scan(step, sequences=x, outputs_info=[
        T.constant(0.0), T.zeros((2, 3)), None])
    outs = [h, m[-1], y[-3:]] if keep else [h, m, y]
    outs = rewrite_outputs(outs, [scan_keep_last], inputs=[x]) if keep else outs
    (node,) = [n for n in toposort(outs) if isinstance(n.op, Scan)]
    return node


def _outer(node, n, xv):
    """Outer input values: n_steps, x, then constants for the initial states."""
    vals = [np.asarray(n), xv]
    for v in node.inputs[2:]:
        vals.append(v.data if hasattr(v, "data") else
                    theano.function([], v, mode="PY")())
    return vals


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("until", [False, True])
@pytest.mark.parametrize("at", [1, 3, 7, 9])
def test_paused_loop_joined_with_its_continuation_equals_one_loop(keep, until, at):
    node = _loop(until, keep)
    op = node.op
    assert any(k > 0 for k in op.keep) == keep  # a ring buffer of the last rows
    xv = np.linspace(0.5, 3.0, 10)
    n, *outer = _outer(node, 10, xv)
    full = run_scan(op, op.inner_function(), node, int(n), outer)
    calls = []

    def counted(*a):
        calls.append(1)
        return op.inner_function()(*a)

    try:
        got = run_scan(op, counted, node, int(n), outer, pause=lambda t: t == at)
    except Paused as p:
        assert p.t == at
        rest_n, rest = p.rest()
        got = p.join(run_scan(op, counted, node, rest_n, list(rest)))
    steps = len(full[0])  # h is traced whole: one row per step run
    assert len(calls) == steps  # every step ran once
    assert len(got) == len(full)
    for a, b in zip(got, full):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-15)


def test_paused_trace_with_its_initial_state_row():
    """A trace stored with the initial state as row 0 (keep -1: a gradient's forward
    loop stores the states before each step this way)."""
    x, W, h0 = T.matrix("x"), T.matrix("W"), T.vector("h0")
    h, _ = theano.scan(lambda a, h: T.tanh(T.dot(h, W) + a), sequences=x, outputs_info=h0)
    cost = T.sum(h[-1] ** 2)
    f = theano.function([x, W, h0], [cost] + theano.grad(cost, [W, h0]),
                        mode=theano.Mode("py", "fast_run"))
    (node,) = [n for n in f.maker.fgraph.toposort()
               if isinstance(n.op, Scan) and -1 in n.op.keep]
    op = node.op
    rng = np.random.default_rng(0)
    fg = f.maker.fgraph
    outer = theano.function(fg.inputs, node.inputs[1:], mode="PY", on_unused_input="ignore")(
        rng.normal(size=(6, 3)), rng.normal(size=(3, 3)) / 2, np.ones(3))
    full = run_scan(op, op.inner_function(), node, 6, outer)
    with pytest.raises(Paused) as e:
        run_scan(op, op.inner_function(), node, 6, outer, pause=lambda t: t == 4)
    n_rest, rest = e.value.rest()
    got = e.value.join(run_scan(op, op.inner_function(), node, n_rest, list(rest)))
    assert len(got) == len(full)
    for a, b in zip(got, full):
        np.testing.assert_array_equal(a, b)
