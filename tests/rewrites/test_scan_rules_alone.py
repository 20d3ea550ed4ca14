"""Each scan rule alone, before-graph to expected-graph (structurally equal), and the
values unchanged: the rules that were tested only through the whole rule set.

Expected loops are written in the core form (Scan built from its inner graph) with
the outer variables of the graph before, so the comparison states exactly what
the rule builds."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.graph.rewrite import graph_difference, rewrite_outputs
from theanine.graph.traversal import toposort
from theanine.rewrites import scan as sr
from theanine.scan.op import Scan
from theanine.scan.utils import CheckSteps
from theanine.tensor.random import RandomOp, generator_state, random_state_type
from theanine.tensor.shared_randomstreams import RandomStreams

from .helpers import NO_REWRITES, check_rewrite, check_same_values


def core(n_steps, seqs=(), inits=(), consts=(), body=None, traced=None, has_until=False,
         keep=None, name=None):
    """The outputs of a Scan node written in the core form: body(*inner) gives the inner
    outputs (new carries, per-step outputs, until condition)."""
    s_in = [s.type.clone(broadcastable=s.broadcastable[1:])() for s in seqs]
    c_in = [i.type() for i in inits]
    k_in = [c.type() for c in consts]
    outs = list(body(*s_in, *c_in, *k_in))
    traced = [True] * len(inits) if traced is None else traced
    op = Scan(s_in + c_in + k_in, outs, len(seqs), len(inits), traced, has_until, name,
              keep=keep)
    return op.make_node(n_steps, *seqs, *inits, *consts).outputs


def steps(seq, n):
    """The sequence's first n rows, checked as the loop checks them."""
    return CheckSteps()(seq, n)[:n]


def check_structure(step, outputs, expected, inputs):
    """`step` turns `outputs` into `expected` (structurally); returns the new outputs."""
    after = rewrite_outputs(list(outputs), step, inputs=inputs)
    diff = graph_difference(after, list(expected), inputs, inputs)
    assert diff is None, diff
    return after


def run_from(rng_var, state, f, *args):
    """f(*args) with the shared generator `rng_var` set to a copy of `state` first (a
    function applies the generator's default update, so each run starts afresh)."""
    rng_var.set_value(state)
    return f(*args)


def scans(outs):
    return [n for n in toposort(outs) if isinstance(n.op, Scan)]


def test_output_is_sequence():
    """A per-step output that is a sequence slice is the sequence; one that is a
    non-sequence is that value repeated; no loop is left."""
    x, w = T.dmatrix("x"), T.dvector("w")
    n = x.shape[0]
    y, z = core(n, seqs=[x], consts=[w], body=lambda x_t, w_: [x_t, w_])
    expected = [steps(x, n), T.alloc(w, n, w.shape[0])]
    check_rewrite(sr.scan_output_is_sequence, [y, z], expected, [x, w])


def test_output_is_sequence_keeps_the_loop_for_other_outputs():
    x = T.dmatrix("x")
    n = x.shape[0]
    y, z = core(n, seqs=[x], body=lambda x_t: [x_t, T.tanh(x_t)])
    (z2,) = core(n, seqs=[x], body=lambda x_t: [T.tanh(x_t)])
    check_rewrite(sr.scan_output_is_sequence, [y, z], [steps(x, n), z2], [x])


def test_sum_accumulation():
    """acc_t = acc_{t-1} + x_t, read only at the end: acc_0 + sum(x), no loop."""
    x, a0 = T.dmatrix("x"), T.dvector("a0")
    n = x.shape[0]
    (final,) = core(n, seqs=[x], inits=[a0], traced=[False],
                    body=lambda x_t, acc: [acc + x_t])
    check_rewrite(sr.scan_sum_accumulation, final, a0 + T.sum(steps(x, n), axis=0), [x, a0])


def test_sum_accumulation_needs_an_untraced_carry():
    x, a0 = T.dmatrix("x"), T.dvector("a0")
    n = x.shape[0]
    trace, _ = core(n, seqs=[x], inits=[a0], body=lambda x_t, acc: [acc + x_t])
    new = rewrite_outputs(trace, [sr.scan_sum_accumulation], inputs=[x, a0])
    assert new is trace or scans([new])[0].op == trace.owner.op


def test_hoist_sequences():
    """x_t . W leaves the loop: one product of all the rows, read as a new sequence."""
    X, W, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dvector("h0")
    n = X.shape[0]
    trace, _ = core(n, seqs=[X], inits=[h0], consts=[W],
                    body=lambda x_t, h, W_: [T.tanh(T.dot(x_t, W_) + h)])
    P = T.dot(steps(X, n), W)
    expected, _ = core(n, seqs=[X, P], inits=[h0], consts=[W],
                       body=lambda x_t, p_t, h, W_: [T.tanh(p_t + h)])
    check_rewrite(sr.scan_hoist_sequences, trace, expected, [X, W, h0], rtol=1e-10)


def test_hoist_sequences_leaves_lone_elementwise_work_in_a_loop():
    """Elementwise work on a slice, feeding only the recurrence, stays (hoisted it would
    only store an array of all the steps)."""
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    trace, _ = core(X.shape[0], seqs=[X], inits=[h0], body=lambda x_t, h: [h * T.exp(x_t)])
    new = rewrite_outputs(trace, [sr.scan_hoist_sequences], inputs=[X, h0])
    assert new is trace or scans([new])[0].op == trace.owner.op


def test_merge_traced():
    """Two loops with one body and the same inputs, one keeping its trace: one loop."""
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    n = x.shape[0]

    def body(x_t, h):
        return [T.tanh(x_t + h)]

    trace, final = core(n, seqs=[x], inits=[h0], body=body)
    (final2,) = core(n, seqs=[x], inits=[h0], body=body, traced=[False])
    assert final.owner.op != final2.owner.op
    new = check_rewrite(sr.scan_merge_traced, [trace, final2], [trace, final], [x, h0])
    assert len(scans(new)) == 1


def test_hoist_draws():
    """A generator drawn from once a step, with a size and parameters that do not
    change: one draw of n_steps samples before the loop, read as a sequence."""
    srng = RandomStreams(seed=3)
    x = T.dmatrix("x")
    r, upd = theano.scan(lambda e: e * srng.normal(size=(3,), std=0.5), sequences=x)
    ((rng_var, new_rng),) = upd.items()
    (node,) = scans([r, new_rng])
    n, seq = node.inputs[0], node.inputs[1]
    draw = next(d for d in toposort(node.op.inner_outputs) if isinstance(d.op, RandomOp))
    size = T.concatenate([T.stack([n]), T.constant(np.full(0, -1, dtype="int64")),
                          draw.inputs[1]])
    new_rng2, samples = RandomOp("normal", 2, "float64")(rng_var, size,
                                                           *draw.inputs[2:])
    (expected,) = core(n, seqs=[seq, samples], body=lambda e, s: [e * s])
    new = check_structure(sr.scan_hoist_draws, [r, new_rng], [expected, new_rng2], [x])
    assert not [d for d in toposort(scans(new)[0].op.inner_outputs)
                if isinstance(d.op, RandomOp)]
    f0 = theano.function([x], [r, new_rng], mode=NO_REWRITES)
    f1 = theano.function([x], new, mode=NO_REWRITES)
    xv, state = np.arange(12.0).reshape(4, 3), rng_var.get_value()
    (r0, g0), (r1, g1) = run_from(rng_var, state, f0, xv), run_from(rng_var, state, f1, xv)
    np.testing.assert_array_equal(r1, r0)  # the same numbers: NumPy fills in step order
    assert generator_state(g1)["state"]["key"].tolist() == \
        generator_state(g0)["state"]["key"].tolist()


def test_random_inplace():
    """An untraced generator carry whose draws each read the previous one's generator:
    the draws advance the generator in place (the loop copies it once at its start)."""
    g0 = theano.shared(np.random.RandomState(5))
    n = T.lscalar("n")
    size = T.constant(np.array([2], dtype="int64"))

    def body(draw_inplace):
        def f(g):
            g1, a = RandomOp("uniform", 1, "float64", inplace=draw_inplace)(
                g, size, T.constant(0.0), T.constant(1.0))
            g2, b = RandomOp("normal", 1, "float64", inplace=draw_inplace)(
                g1, size, T.constant(0.0), T.constant(1.0))
            return [g2, a + b]
        return f

    final, ys = core(n, inits=[g0], traced=[False], body=body(False))
    final2, ys2 = core(n, inits=[g0], traced=[False], body=body(True))
    assert g0.type == random_state_type
    new = check_structure(sr.scan_random_inplace, [final, ys], [final2, ys2], [n])
    f0 = theano.function([n], [final, ys], mode=NO_REWRITES)
    f1 = theano.function([n], new, mode=NO_REWRITES)
    (e0, y0), (e1, y1) = f0(4), f1(4)
    np.testing.assert_array_equal(y1, y0)
    assert e1.randint(1 << 30) == e0.randint(1 << 30)  # both ends in one state
    # the caller's generator was not advanced by the in-place run (copied at the start)
    assert g0.get_value().randint(1 << 30) == np.random.RandomState(5).randint(1 << 30)


def test_random_inplace_leaves_a_traced_carry_alone():
    g0 = theano.shared(np.random.RandomState(5))
    n = T.lscalar("n")
    size = T.constant(np.array([2], dtype="int64"))
    trace, final, ys = core(n, inits=[g0], body=lambda g: list(RandomOp(
        "uniform", 1, "float64")(g, size, T.constant(0.0), T.constant(1.0))))
    new = rewrite_outputs([trace, final, ys], [sr.scan_random_inplace], inputs=[n])
    assert not any(d.op.inplace for d in toposort(scans(new)[0].op.inner_outputs)
                   if isinstance(d.op, RandomOp))
    check_same_values([n], [ys], new[2:], values=[3])
