"""Gradients through scan: against finite differences and against the gradient
of the same loop unrolled into a plain graph."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import disconnected_grad, verify_grad


def _compare_unrolled(build_scan, build_unrolled, inputs, values):
    """grad of sum(out * proj) by scan equals that of the unrolled loop."""
    out_s = build_scan(*inputs)
    out_u = build_unrolled(*inputs)
    rng = np.random.default_rng(0)
    f_shape = theano.function(inputs, out_s)
    proj = rng.normal(size=np.shape(f_shape(*values)))
    cost_s = T.sum(out_s * proj)
    cost_u = T.sum(out_u * proj)
    gs = theano.function(inputs, T.grad(cost_s, inputs))(*values)
    gu = theano.function(inputs, T.grad(cost_u, inputs))(*values)
    for a, b in zip(gs, gu):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def _rnn_scan(X, h0, W):
    r, _ = theano.scan(lambda x, h, w: T.tanh(x + h * w), sequences=X, outputs_info=h0,
                       non_sequences=W)
    return r


def _rnn_unrolled(X, h0, W, n=5):
    hs, h = [], h0
    for t in range(n):
        h = T.tanh(X[t] + h * W)
        hs.append(h)
    return T.stack(hs)


def test_rnn_grad_finite_differences(rng):
    verify_grad(lambda X, h0, W: _rnn_scan(X, h0, W),
                [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)])


def test_rnn_grad_matches_unrolled(rng):
    X, h0, W = T.matrix("X"), T.vector("h0"), T.vector("W")
    _compare_unrolled(_rnn_scan, _rnn_unrolled, [X, h0, W],
                      [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)])


def test_grad_of_last_state_only(rng):
    verify_grad(lambda X, h0: _rnn_scan(X, h0, T.constant(np.ones(3) * 0.7))[-1],
                [rng.normal(size=(4, 3)), rng.normal(size=3)])


def test_grad_taps_fibonacci_like(rng):
    def f(init, c):
        r, _ = theano.scan(lambda a, b, c: T.tanh(a * c + b), non_sequences=c,
                           outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=6)
        return r

    verify_grad(f, [rng.normal(size=(2, 3)), rng.normal(size=3)])


def test_grad_sequence_taps(rng):
    def f(x, w):
        r, _ = theano.scan(lambda a, b, c, acc: acc * w + a * b - c,
                           sequences=dict(input=x, taps=[-2, 0, 1]),
                           outputs_info=T.zeros_like(w))
        return r

    verify_grad(f, [rng.normal(size=(7, 2)), rng.normal(size=2)])


def test_grad_go_backwards(rng):
    def f(x, h0):
        r, _ = theano.scan(lambda e, h: T.sin(h) + e * h, sequences=x, outputs_info=h0,
                           go_backwards=True)
        return r

    verify_grad(f, [rng.normal(size=(5, 2)), rng.normal(size=2)])


def test_grad_until(rng):
    x = T.vector("x")
    w = T.scalar("w")

    def step(e, h):
        nh = h * w + e
        return nh, theano.until(T.abs_(nh) > 3)

    r, _ = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
    g = T.grad(T.sum(r), [x, w])
    f = theano.function([x, w], [r] + g)
    xv = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    rv, gx, gw = f(xv, 1.5)
    # reference: steps run until |h| > 3
    steps, h, hs = 0, 0.0, []
    for e in xv:
        h = h * 1.5 + e
        hs.append(h)
        steps += 1
        if abs(h) > 3:
            break
    np.testing.assert_allclose(rv, hs)
    eps = 1e-6
    fv = theano.function([x, w], T.sum(r))
    num_w = (fv(xv, 1.5 + eps) - fv(xv, 1.5 - eps)) / (2 * eps)
    np.testing.assert_allclose(gw, num_w, rtol=1e-6)
    assert np.all(gx[steps:] == 0) and np.all(gx[:steps] != 0)


def test_truncate_gradient():
    x = T.vector("x")
    h0 = T.scalar("h0")
    r, _ = theano.scan(lambda e, h: h * 2 + e, sequences=x, outputs_info=h0,
                       truncate_gradient=2)
    gx, gh = theano.function([x, h0], T.grad(r[-1], [x, h0]))(np.ones(5), 1.0)
    # only the last 2 steps are back-propagated through: dr/dx_4 = 1, dr/dx_3 = 2
    np.testing.assert_allclose(gx, [0, 0, 0, 2, 1])
    assert gh == 0.0
    gx2, gh2 = theano.function([x, h0], T.grad(r[-1], [x, h0]))(np.ones(2), 1.0)
    np.testing.assert_allclose(gx2, [2, 1])
    assert gh2 == 4.0


def test_grad_nested_scan(rng):
    def f(X, w):
        def outer(row, acc):
            inner, _ = theano.scan(lambda e, a: T.tanh(a * w + e), sequences=row,
                                   outputs_info=T.zeros_like(w))
            return acc + inner[-1]

        r, _ = theano.scan(outer, sequences=X, outputs_info=T.zeros_like(w))
        return r

    verify_grad(f, [rng.normal(size=(3, 4)), np.asarray(0.5)])


def test_second_order_hessian_of_scan(rng):
    x = T.vector("x")

    def cost_fn(v):
        r, _ = theano.scan(lambda e, acc: acc + e ** 3, sequences=v, outputs_info=T.constant(0.0))
        return r[-1]

    H = theano.hessian(cost_fn(x), x)
    xv = rng.normal(size=4)
    np.testing.assert_allclose(theano.function([x], H)(xv), np.diag(6 * xv))


def test_grad_of_grad_through_recurrence(rng):
    x = T.vector("x")
    w = T.scalar("w")
    r, _ = theano.scan(lambda e, h: T.tanh(h * w + e), sequences=x, outputs_info=T.constant(0.0))
    g = T.grad(T.sum(r), w)
    gg = T.grad(g, w)
    f = theano.function([x, w], gg)
    fg = theano.function([x, w], g)
    xv = rng.normal(size=4)
    eps = 1e-5
    num = (fg(xv, 0.3 + eps) - fg(xv, 0.3 - eps)) / (2 * eps)
    np.testing.assert_allclose(f(xv, 0.3), num, rtol=1e-5)


def test_jacobian(rng):
    x = T.vector("x")
    J = theano.jacobian(T.tanh(x) * x[::-1], x)
    xv = rng.normal(size=3)
    ref = np.diag((1 - np.tanh(xv) ** 2) * xv[::-1])
    ref += np.tanh(xv)[:, None] * np.eye(3)[::-1]
    np.testing.assert_allclose(theano.function([x], J)(xv), ref)


def test_jacobian_through_a_reshape_with_a_length_one_dim(rng):
    # flatten(log_softmax(x)): the loop body reshapes by a shape computed outside it,
    # which must not lose the length-1 dim the graph relies on
    x = T.vector("x")
    J = theano.jacobian(T.log(T.nnet.softmax(x)).flatten(), x)
    xv = rng.normal(size=4)
    sm = np.exp(xv) / np.exp(xv).sum()
    np.testing.assert_allclose(theano.function([x], J)(xv), np.eye(4) - sm[None, :],
                               rtol=1e-10, atol=1e-12)


def test_map_grad(rng):
    verify_grad(lambda X: theano.map(lambda r: T.exp(r) * r.sum(), sequences=X)[0],
                [rng.normal(size=(3, 4))])


def test_reduce_grad(rng):
    verify_grad(lambda v: theano.reduce(lambda e, a: a * e, sequences=v,
                                        outputs_info=T.constant(1.0))[0],
                [rng.normal(size=5)])


@pytest.mark.parametrize("n", [1, 4, 9])
def test_scan_checkpoints_grad_matches_scan(rng, n):
    x = T.vector("x")
    h0 = T.scalar("h0")
    ref, _ = theano.scan(lambda e, h: T.tanh(h + e), sequences=x, outputs_info=h0)
    ck, _ = theano.scan_checkpoints(lambda e, h: T.tanh(h + e), sequences=[x],
                                    outputs_info=[h0], save_every_N=4)
    f = theano.function([x, h0], T.grad(T.sum(ref ** 2), [x, h0]) +
                        T.grad(T.sum(ck ** 2), [x, h0]))
    a1, b1, a2, b2 = f(rng.normal(size=n), 0.2)
    np.testing.assert_allclose(a1, a2)
    np.testing.assert_allclose(b1, b2)


def test_zero_steps_grad_is_initial_cotangent():
    n = T.iscalar("n")
    h0 = T.vector("h0")
    r, _ = theano.scan(lambda h: h * 3, outputs_info=h0, n_steps=n)
    g = T.grad(T.sum(r), h0)
    f = theano.function([n, h0], g)
    np.testing.assert_allclose(f(0, np.ones(2)), [0, 0])
    np.testing.assert_allclose(f(2, np.ones(2)), [12, 12])


# -- the same gradients against the loop unrolled into a plain graph ------------------
def _grads(cost, wrt, values):
    grads = T.grad(cost, wrt, disconnected_inputs="ignore")  # truncation cuts h0 off
    return theano.function(wrt, grads, mode="FAST_COMPILE")(*values)


def _assert_same(cost_scan, cost_unrolled, wrt, values):
    for a, b in zip(_grads(cost_scan, wrt, values), _grads(cost_unrolled, wrt, values)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_unrolled_output_taps(rng):
    init, c = T.dmatrix("init"), T.dvector("c")
    r, _ = theano.scan(lambda a, b, k: T.tanh(a * k + b), non_sequences=c,
                       outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=5)
    buf = [init[0], init[1]]
    for _ in range(5):
        buf.append(T.tanh(buf[-2] * c + buf[-1]))
    _assert_same(T.sum(r ** 2), T.sum(T.stack(buf[2:]) ** 2), [init, c],
                 [rng.normal(size=(2, 3)), rng.normal(size=3)])


def test_unrolled_sequence_taps_and_go_backwards(rng):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    r, _ = theano.scan(lambda a, b, h: T.sin(h) * a + b, outputs_info=h0, go_backwards=True,
                       sequences=dict(input=x, taps=[-1, 1]))
    xr = x[::-1]
    h, hs = h0, []
    for t in range(1, 5):  # 6 rows, taps [-1, 1]: 4 steps over the reversed rows
        h = T.sin(h) * xr[t - 1] + xr[t + 1]
        hs.append(h)
    _assert_same(T.sum(r * r), T.sum(T.stack(hs) ** 2), [x, h0],
                 [rng.normal(size=(6, 2)), rng.normal(size=2)])


def test_unrolled_truncate_gradient_matches_stopped_unrolled(rng):
    x, h0 = T.dvector("x"), T.dscalar("h0")
    r, _ = theano.scan(lambda e, h: T.tanh(h * 0.9 + e), sequences=x, outputs_info=h0,
                       truncate_gradient=2)
    h, hs = h0, []
    for t in range(5):  # the gradient only flows back through the last 2 steps
        h = T.tanh((disconnected_grad(h) if t == 3 else h) * 0.9 + x[t])
        hs.append(h)
    _assert_same(r[-1], hs[-1], [x, h0], [rng.normal(size=5), 0.3])


def test_unrolled_nested(rng):
    X, w = T.dmatrix("X"), T.dscalar("w")

    def outer(row):
        inner, _ = theano.scan(lambda e, a: T.tanh(a * w + e), sequences=row,
                               outputs_info=T.constant(0.0))
        return inner[-1]

    r, _ = theano.scan(outer, sequences=X)
    rows = []
    for i in range(3):
        a = T.constant(0.0)
        for j in range(4):
            a = T.tanh(a * w + X[i, j])
        rows.append(a)
    _assert_same(T.sum(r ** 2), T.sum(T.stack(rows) ** 2), [X, w],
                 [rng.normal(size=(3, 4)), 0.4])
