"""Scan rules, each alone and together, on RNN/LSTM/GRU graphs and their gradients:
structure after rewriting, and values unchanged."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.graph.rewrite import rewrite_outputs
from theanine.graph.traversal import toposort
from theanine.rewrites import scan as sr
from theanine.rewrites.merge import merge
from theanine.scan.op import Scan
from theanine.tensor.linalg import Dot


def scans(outs):
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [n for n in toposort(outs) if isinstance(n.op, Scan)]


def same_values(inputs, before, after, values):
    f0 = theano.function(inputs, before, mode="FAST_COMPILE", on_unused_input="ignore")
    f1 = theano.function(inputs, after, mode="FAST_COMPILE", on_unused_input="ignore")
    for a, b in zip(f0(*values), f1(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def inner_dots(node):
    return [n for n in toposort(node.op.inner_outputs) if isinstance(n.op, Dot)]


@pytest.fixture
def rnn(rng):
    X, W, U, h0 = T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("h0")
    h, _ = theano.scan(lambda x, h: T.tanh(T.dot(x, W) + T.dot(h, U)), sequences=X,
                       outputs_info=h0)
    vals = [rng.normal(size=(6, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 4)) * 0.5,
            rng.normal(size=4)]
    return [X, W, U, h0], h, vals


def test_rnn_input_projection_leaves_the_loop(rnn):
    ins, h, vals = rnn
    new = rewrite_outputs(h, sr.scan_loops)
    (node,) = scans(new)
    assert len(inner_dots(node)) == 1  # only h_{t-1} . U stays inside
    assert len(inner_dots(scans(h)[0])) == 2
    same_values(ins, [h], [new], vals)


def test_map_has_no_scan_left(rng):
    X = T.dmatrix("X")
    r, _ = theano.map(lambda v: T.exp(v) * 2 + 1, sequences=X)
    new = rewrite_outputs(r, sr.scan_loops)
    assert scans(new) == []
    same_values([X], [r], [new], [rng.normal(size=(5, 3))])


def test_reduce_keeps_no_trace(rng):
    v = T.dvector("v")
    w = T.dscalar("w")
    s, _ = theano.reduce(lambda e, acc: acc * w + e, sequences=v, outputs_info=T.constant(0.0))
    new = rewrite_outputs(s, sr.scan_loops)
    (node,) = scans(new)
    assert node.op.traced == (False,)
    same_values([v, w], [s], [new], [rng.normal(size=5), 0.5])


def test_last_state_rule_alone(rng):
    v = T.dvector("v")
    r, _ = theano.scan(lambda e, acc: acc * 0.5 + e, sequences=v, outputs_info=T.constant(0.0))
    new = rewrite_outputs(r[-1], [sr.scan_last_state, sr.scan_remove_unused])
    (node,) = scans(new)
    assert node.op.traced == (False,) and new.owner is node
    same_values([v], [r[-1]], [new], [rng.normal(size=4)])


def test_sum_accumulation_pushed_out(rng):
    v = T.dvector("v")
    s, _ = theano.reduce(lambda e, acc: acc + T.sqr(e), sequences=v,
                         outputs_info=T.constant(1.0))
    new = rewrite_outputs(s, sr.scan_loops)
    assert scans(new) == []
    same_values([v], [s], [new], [rng.normal(size=7)])


def test_invariant_work_hoisted(rng):
    v = T.dvector("v")
    W = T.dmatrix("W")
    r, _ = theano.scan(lambda e, acc: acc * T.sum(T.exp(W)) + e, sequences=v,
                       outputs_info=T.constant(0.0))
    new = rewrite_outputs(r, [sr.scan_hoist_invariant])
    (node,) = scans(new)
    kinds = {type(n.op).__name__ for n in toposort(node.op.inner_outputs)}
    assert "CAReduce" not in kinds
    same_values([v, W], [r], [new], [rng.normal(size=4), rng.normal(size=(2, 2))])


def test_unused_outputs_and_inputs_removed(rng):
    v = T.dvector("v")
    w = T.dscalar("w")
    (a, b), _ = theano.scan(lambda e, acc: [acc + e, e * w], sequences=v,
                            outputs_info=[T.constant(0.0), None])
    new = rewrite_outputs(a, [sr.scan_remove_unused])
    (node,) = scans(new)
    assert node.op.n_ys == 0 and node.op.n_consts == 0
    same_values([v, w], [a], [new], [rng.normal(size=3), 2.0])


def test_constants_inlined():
    v = T.dvector("v")
    c = T.constant(np.array([1.0, 2.0]))
    r, _ = theano.scan(lambda e, k: e * k, sequences=v, non_sequences=c)
    new = rewrite_outputs(r, [sr.scan_inline_constants])
    (node,) = scans(new)
    assert node.op.n_consts == 0
    same_values([v], [r], [new], [np.arange(3.0)])


def test_gradient_of_last_state_has_no_zero_buffers(rnn):
    ins, h, vals = rnn
    g = T.grad(T.sum(h[-1] ** 2), ins[1:3])
    rev = [n for n in scans(g) if n.op.name and n.op.name.startswith("grad_of")]
    (node,) = rev
    # the reverse loop reads no per-step cotangent of the trace: only x_t, the states
    # before each step and the states after it (the forward trace)
    assert node.op.n_seqs == 3
    new = rewrite_outputs(g, sr.scan_loops)
    same_values(ins, g, new, vals)


def test_gradient_reads_forward_outputs_from_the_trace(rnn):
    ins, h, vals = rnn
    g = T.grad(T.sum(h[-1] ** 2), ins[1:3])
    (node,) = [n for n in scans(g) if (n.op.name or "").startswith("grad_of")]
    # tanh's gradient uses tanh's output: the reverse body reads it, computes no tanh
    body = {str(n.op) for n in toposort(node.op.inner_outputs)}
    assert not any("tanh" in b for b in body), body
    same_values(ins, g, rewrite_outputs(g, sr.scan_loops), vals)


def test_forward_and_gradient_loops_merged(rnn):
    ins, h, vals = rnn
    cost = T.sum(h[-1] ** 2)
    g = T.grad(cost, ins[1])
    before = scans([cost, g])
    new = rewrite_outputs([cost, g], sr.scan_loops)
    after = scans(new)
    forward = [n for n in after if not (n.op.name or "").startswith("grad_of")]
    assert len(forward) == 1 and len(before) >= len(after)
    same_values(ins, [cost, g], new, vals)


def _lstm(X, h0, c0, W, U):
    H = h0.shape[0]

    def step(x, h, c):
        z = T.dot(x, W) + T.dot(h, U)
        i, f, o = (T.nnet.sigmoid(z[k * H:(k + 1) * H]) for k in range(3))
        g = T.tanh(z[3 * H:])
        c2 = f * c + i * g
        return o * T.tanh(c2), c2

    (hs, cs), _ = theano.scan(step, sequences=X, outputs_info=[h0, c0])
    return hs


def _gru(X, h0, W, U):
    H = h0.shape[0]

    def step(x, h):
        zx = T.dot(x, W)
        zh = T.dot(h, U)
        r = T.nnet.sigmoid(zx[:H] + zh[:H])
        u = T.nnet.sigmoid(zx[H:2 * H] + zh[H:2 * H])
        n = T.tanh(zx[2 * H:] + r * zh[2 * H:])
        return (1 - u) * n + u * h

    hs, _ = theano.scan(step, sequences=X, outputs_info=h0)
    return hs


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_lstm_gru_projection_hoisted_and_gradients_unchanged(rng, cell):
    X, W, U = T.dmatrix("X"), T.dmatrix("W"), T.dmatrix("U")
    h0, c0 = T.dvector("h0"), T.dvector("c0")
    H, D = 3, 2
    k = 4 if cell == "lstm" else 3
    if cell == "lstm":
        hs = _lstm(X, h0, c0, W, U)
        ins = [X, h0, c0, W, U]
        vals = [rng.normal(size=(5, D)), rng.normal(size=H), rng.normal(size=H),
                rng.normal(size=(D, k * H)), rng.normal(size=(H, k * H))]
    else:
        hs = _gru(X, h0, W, U)
        ins = [X, h0, W, U]
        vals = [rng.normal(size=(5, D)), rng.normal(size=H), rng.normal(size=(D, k * H)),
                rng.normal(size=(H, k * H))]
    cost = T.sum(hs[-1] ** 2)
    outs = [cost] + T.grad(cost, [W, U])
    new = rewrite_outputs(outs, sr.scan_loops)
    fwd = [n for n in scans(new) if not (n.op.name or "").startswith("grad_of")]
    assert len(fwd) == 1 and len(inner_dots(fwd[0])) == 1
    same_values(ins, outs, new, vals)


def test_sibling_loops_merged(rng):
    v = T.dvector("v")
    a, _ = theano.scan(lambda e, acc: acc * 0.5 + e, sequences=v, outputs_info=T.constant(0.0))
    b, _ = theano.scan(lambda e, acc: acc * e + 1, sequences=v, outputs_info=T.constant(1.0))

    new = rewrite_outputs([a, b], [merge, sr.scan_merge_siblings])  # one n_steps variable
    (node,) = scans(new)
    assert node.op.n_seqs == 1 and node.op.n_carries == 2  # v is read once
    same_values([v], [a, b], new, [rng.normal(size=5)])


def test_dependent_loops_not_merged(rng):
    v = T.dvector("v")
    a, _ = theano.scan(lambda e, acc: acc + e, sequences=v, outputs_info=T.constant(0.0))
    b, _ = theano.scan(lambda e, acc: acc * e, sequences=a, outputs_info=T.constant(1.0),
                       n_steps=v.shape[0])

    new = rewrite_outputs([b], [merge, sr.scan_merge_siblings])
    assert len(scans(new)) == 2
    same_values([v], [b], new, [rng.normal(size=4)])


def test_duplicate_outputs_merged(rng):
    v = T.dvector("v")

    def step(e):
        y = T.exp(e) * e
        return [y, y]

    (a, b), _ = theano.scan(step, sequences=v)
    new = rewrite_outputs([a, b], [sr.scan_remove_unused])
    (node,) = scans(new)
    assert node.op.n_ys == 1 and new[0] is new[1]
    same_values([v], [a, b], new, [rng.normal(size=4)])
