"""Weights used at every step of a loop (rewrites/scan/accumulate.py): their gradients
are one product after the loop, not an outer product per step (issue 16, item 20);
values against NumPy on py and numba."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.rewrites.helpers import check_rewrite
from theanine.graph.traversal import toposort
from theanine.rewrites.pipeline import all_names
from theanine.rewrites.scan.accumulate import (
    scan_accumulate_products,
    scan_sink_outputs,
    sum_of_batched_products,
)
from theanine.scan.op import Scan
from theanine.tensor.blas import Gemm
from theanine.tensor.linalg import BatchedDot, Dot
from theanine.tensor.subtensor import IncSubtensor


def _ops(f, cls):
    """Nodes of class `cls` in f's graph and in its loops' bodies."""
    found, stack = [], list(f.maker.fgraph.toposort())
    while stack:
        n = stack.pop()
        if isinstance(n.op, cls):
            found.append(n)
        if isinstance(n.op, Scan):
            stack.extend(toposort(n.op.inner_outputs, stop_at=n.op.inner_inputs))
    return found


def _body_ops(f, cls):
    return [b for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)
            for b in toposort(n.op.inner_outputs, stop_at=n.op.inner_inputs)
            if isinstance(b.op, cls)]


def test_sum_of_outer_products_is_one_dot():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    before = T.sum(T.batched_dot(a.dimshuffle(0, 1, "x"), b.dimshuffle(0, "x", 1)), axis=0)
    expected = T.dot(a.dimshuffle(0, 1, "x").dimshuffle(1, 0),
                     b.dimshuffle(0, "x", 1).dimshuffle(0, 2))
    check_rewrite(sum_of_batched_products, before, expected, [a, b])


@pytest.mark.parametrize("shapes", [((4, 3, 2), (4, 2, 5)), ((4, 3, 2), (4, 2)),
                                    ((4, 2), (4, 2, 5)), ((4, 2), (4, 2))])
def test_sum_of_batched_products_values(mode, shapes):
    a = T.tensor(dtype="float64", broadcastable=(False,) * len(shapes[0]), name="a")
    b = T.tensor(dtype="float64", broadcastable=(False,) * len(shapes[1]), name="b")
    f = theano.function([a, b], T.sum(T.batched_dot(a, b), axis=0), mode=mode)
    assert not _ops(f, BatchedDot)
    rng = np.random.default_rng(0)
    av, bv = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    a3 = av if av.ndim == 3 else av[:, None, :]
    b3 = bv if bv.ndim == 3 else bv[:, :, None]
    want = np.matmul(a3, b3).sum(axis=0).reshape(f(av, bv).shape)
    np.testing.assert_allclose(f(av, bv), want, rtol=1e-12)


def _rnn(H=4, V=6):
    x = T.dmatrix("x")
    W, U, Vw = (T.dmatrix(n) for n in "WUV")

    def step(x_t, h):
        h = T.tanh(T.dot(x_t, W) + T.dot(h, U))
        return h, T.dot(h, Vw)

    (hs, ys), _ = theano.scan(step, sequences=[x], outputs_info=[T.zeros(H), None])
    return [x, W, U, Vw], hs, ys


def _rnn_numpy(xv, w, u, v):
    """ys and the gradients of sum(ys**2) wrt V and U, by hand."""
    steps, H = xv.shape[0], u.shape[0]
    h, hs = np.zeros(H), []
    for t in range(steps):
        h = np.tanh(xv[t] @ w + h @ u)
        hs.append(h)
    hs = np.array(hs)
    ys = hs @ v
    g_y = 2 * ys
    g_h = g_y @ v.T
    g_u, carry = np.zeros_like(u), np.zeros(H)
    for t in reversed(range(steps)):
        dz = (g_h[t] + carry) * (1 - hs[t] ** 2)
        g_u += np.outer(hs[t - 1] if t else np.zeros(H), dz)
        carry = dz @ u.T
    return ys, hs.T @ g_y, g_u


def _forward_body_dots(f):
    """Matrix products (Dot, or Gemm once the body is rewritten) in the body of the loop
    computing tanh (the forward loop)."""
    for n in f.maker.fgraph.toposort():
        if isinstance(n.op, Scan):
            body = toposort(n.op.inner_outputs, stop_at=n.op.inner_inputs)
            if any(type(b.op).__name__ in ("Elemwise", "Composite") and "tanh" in str(b.op)
                   for b in body):
                return [b for b in body if isinstance(b.op, (Dot, Gemm))]
    return []


def _rule_left_out(mode):
    """Whether the mode's backend leaves scan_accumulate_products out
    (rewrites/pipeline.py BACKEND_EXCLUDES)."""
    return "scan_accumulate_products" in mode.rewrite_steps()[1]


def test_weight_used_at_every_step_gradients(mode):
    (x, W, U, V), hs, ys = _rnn()
    cost = (ys ** 2).sum()
    f = theano.function([x, W, U, V], [ys] + T.grad(cost, [V, U]), mode=mode)
    rng = np.random.default_rng(1)
    args = [rng.normal(size=(7, 4)), rng.normal(size=(4, 4)) * 0.5,
            rng.normal(size=(4, 4)) * 0.5, rng.normal(size=(4, 6))]
    got = f(*args)
    ys_ref, gv_ref, gu_ref = _rnn_numpy(*args)
    np.testing.assert_allclose(got[0], ys_ref, rtol=1e-10)
    np.testing.assert_allclose(got[1], gv_ref, rtol=1e-10)
    np.testing.assert_allclose(got[2], gu_ref, rtol=1e-10, atol=1e-12)
    # no per-step outer products: no batched product, and no matrix carried by a loop
    # (on backends that leave the rule out, jax: the gradient loop accumulates dU)
    assert not _ops(f, BatchedDot)
    carried = [c.ndim for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)
               for c in n.op.carry_inputs]
    assert (max(carried, default=0) >= 2) == _rule_left_out(mode), carried
    # y_t = h_t . V is computed after the forward loop (one product over the trace of
    # h): the loop keeps only h_{t-1} . U
    assert len(_forward_body_dots(f)) == 1
    off = theano.Mode(linker=mode.linker, optimizer="fast_run", excluding=["scan_accumulate"])
    assert len(_forward_body_dots(theano.function([x, W, U, V], ys, mode=off))) == 2


def test_rules_off_give_the_same_values(mode):
    inputs, hs, ys = _rnn()
    cost = (ys ** 2).sum()
    outs = [ys] + T.grad(cost, inputs[1:])
    off = theano.Mode(linker=mode.linker, optimizer="fast_run", excluding=["scan_accumulate"])
    f, g = theano.function(inputs, outs, mode=mode), theano.function(inputs, outs, mode=off)
    rng = np.random.default_rng(2)
    args = [rng.normal(size=(5, 4)), rng.normal(size=(4, 4)) * 0.5,
            rng.normal(size=(4, 4)) * 0.5, rng.normal(size=(4, 6))]
    for a, b in zip(f(*args), g(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    assert _ops(g, BatchedDot) or any(c.ndim == 2 for n in g.maker.fgraph.toposort()
                                      if isinstance(n.op, Scan) for c in n.op.carry_inputs)


def test_embedding_gradient_is_one_increment(mode):
    idx = T.ivector("idx")
    E, W = T.dmatrix("E"), T.dmatrix("W")

    def step(i, s):
        return T.tanh(E[i] + T.dot(s, W))

    ss, _ = theano.scan(step, sequences=[idx], outputs_info=[T.zeros(3)])
    cost = (ss ** 2).sum()
    f = theano.function([idx, E, W], T.grad(cost, [E, W]), mode=mode)
    assert bool(_body_ops(f, IncSubtensor)) == _rule_left_out(mode)
    rng = np.random.default_rng(3)
    iv = np.array([1, 4, 1, 0, 4, 4], dtype="int32")
    e, w = rng.normal(size=(5, 3)), rng.normal(size=(3, 3)) * 0.5
    s, states = np.zeros(3), []
    for i in iv:
        s = np.tanh(e[i] + s @ w)
        states.append(s)
    g_e, g_w, carry = np.zeros_like(e), np.zeros_like(w), np.zeros(3)
    for t in reversed(range(len(iv))):
        dz = (2 * states[t] + carry) * (1 - states[t] ** 2)
        g_e[iv[t]] += dz
        g_w += np.outer(states[t - 1] if t else np.zeros(3), dz)
        carry = dz @ w.T
    got_e, got_w = f(iv, e, w)
    np.testing.assert_allclose(got_e, g_e, rtol=1e-10)
    np.testing.assert_allclose(got_w, g_w, rtol=1e-10, atol=1e-13)


def test_accumulation_read_every_step_stays(mode):
    # the accumulator is read inside the loop: it must stay a carry
    x = T.dmatrix("x")

    def step(r, acc):
        new = acc + T.dot(r.dimshuffle(0, "x"), r.dimshuffle("x", 0))
        return new, new.sum()

    (accs, sums), _ = theano.scan(step, sequences=[x], outputs_info=[T.zeros((2, 2)), None])
    f = theano.function([x], sums, mode=mode)
    xv = np.arange(6.0).reshape(3, 2)
    want = np.cumsum([np.outer(r, r).sum() for r in xv])
    np.testing.assert_allclose(f(xv), want)


def test_rules_are_registered():
    names = all_names()
    for r in (scan_accumulate_products, sum_of_batched_products, scan_sink_outputs):
        assert r.name in names
