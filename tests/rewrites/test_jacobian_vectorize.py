"""jacobian and hessian in FAST_RUN: the loop over rows becomes batched ops (no Scan is
left in the compiled graph) with the values of the loop and of an analytic or
finite-difference reference; a row gradient that cannot be batched stays a loop."""

import contextlib

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.backends.numba import linker as numba_linker
from theanine.gradient import DisconnectedInputError, hessian, jacobian
from theanine.scan.op import Scan

LOOP = theano.Mode(excluding=["scan_hoist_sequences"])  # jacobian as Theano ran it


def scans(f):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]


def numeric_jacobian(fn, args, k, eps=1e-6):
    """d fn(*args) / d args[k] by central differences: shape out.shape + args[k].shape."""
    base = np.asarray(args[k], dtype=float)
    cols = []
    for j in range(base.size):
        d = np.zeros(base.size)
        d[j] = eps
        hi = [a if i != k else base + d.reshape(base.shape) for i, a in enumerate(args)]
        lo = [a if i != k else base - d.reshape(base.shape) for i, a in enumerate(args)]
        cols.append((np.asarray(fn(*hi)) - np.asarray(fn(*lo))) / (2 * eps))
    return np.moveaxis(np.array(cols), 0, -1).reshape(np.shape(cols[0]) + base.shape)


def check(ins, outs, values, refs, rtol=1e-7, atol=1e-10):
    """No Scan after FAST_RUN, the loop's values, and the references."""
    f = theano.function(ins, outs)
    loop = theano.function(ins, outs, mode=LOOP)
    assert scans(f) == [], theano.printing.debugprint(f, file="str")
    assert scans(loop), "the reference graph should still loop"
    got, want = f(*values), loop(*values)
    for g, w, r in zip(got, want, refs):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol)
    return got


def test_elementwise(rng):
    x = T.dvector("x")
    xv = rng.normal(size=5)
    ref = np.diag(np.exp(xv) * (xv ** 2 + 2 * xv) + np.cos(xv))
    check([x], [jacobian(T.exp(x) * x ** 2 + T.sin(x), x)], [xv], [ref], rtol=1e-12)


def test_tanh_affine_several_wrt(rng):
    x, W, b = T.dvector("x"), T.dmatrix("W"), T.dvector("b")
    y = T.tanh(T.dot(W, x) + b)
    Jx, JW, Jb = jacobian(y, [x, W, b])
    vals = [rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)]
    d = 1 - np.tanh(vals[1] @ vals[0] + vals[2]) ** 2
    refW = np.einsum("i,ij,k->ijk", d, np.eye(4), vals[0])
    check([x, W, b], [Jx, JW, Jb], vals, [d[:, None] * vals[1], refW, np.diag(d)],
          rtol=1e-12)


def test_small_mlp(rng):
    x, W1, b1, W2 = T.dvector("x"), T.dmatrix("W1"), T.dvector("b1"), T.dmatrix("W2")
    y = T.dot(W2, T.tanh(T.dot(W1, x) + b1)) + 0.5 * T.nnet.sigmoid(x).sum()
    ins = [x, W1, b1, W2]
    vals = [rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4),
            rng.normal(size=(2, 4))]
    fy = theano.function(ins, y)
    refs = [numeric_jacobian(fy, vals, k) for k in range(4)]
    check(ins, jacobian(y, ins), vals, refs, rtol=1e-6, atol=1e-8)


def test_softmax(rng):
    x = T.dvector("x")
    xv = rng.normal(size=5)
    s = np.exp(xv - xv.max())
    s /= s.sum()
    check([x], [jacobian(T.nnet.softmax(x)[0], x)], [xv], [np.diag(s) - np.outer(s, s)],
          rtol=1e-10, atol=1e-14)


def test_hessian_of_quadratic_form(rng):
    x, A, c = T.dvector("x"), T.dmatrix("A"), T.dvector("c")
    cost = T.dot(x, T.dot(A, x)) + T.dot(c, x)
    vals = [rng.normal(size=4), rng.normal(size=(4, 4)), rng.normal(size=4)]
    check([x, A, c], [hessian(cost, x)], vals, [vals[1] + vals[1].T], rtol=1e-12)


def test_hessian_of_mlp_loss_several_wrt(rng):
    x, W, b, t = T.dvector("x"), T.dmatrix("W"), T.dvector("b"), T.dvector("t")
    p = T.nnet.softmax(T.tanh(T.dot(W, x) + b))[0]
    cost = -T.sum(t * T.log(p)) + 0.1 * T.sum(x ** 2)
    ins = [x, W, b, t]
    vals = [rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4),
            np.array([0.1, 0.2, 0.3, 0.4])]
    fg = theano.function(ins, T.grad(cost, [x, b]))
    refs = [numeric_jacobian(lambda *a: fg(*a)[0], vals, 0),
            numeric_jacobian(lambda *a: fg(*a)[1], vals, 2)]
    Hx, Hb = check(ins, hessian(cost, [x, b]), vals, refs, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(Hx, Hx.T, atol=1e-12)


def test_matrix_wrt(rng):
    X, v = T.dmatrix("X"), T.dvector("v")
    y = T.concatenate([T.dot(X, v), T.sum(X ** 2, axis=0)])
    vals = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    fy = theano.function([X, v], y)
    (JX,) = check([X, v], [jacobian(y, X)], vals, [numeric_jacobian(fy, vals, 0)],
                  rtol=1e-6, atol=1e-8)
    assert JX.shape == (5, 3, 2)


def test_row_gradient_without_batching_rule_stays_a_loop(rng):
    x = T.dvector("x")
    J = jacobian(T.cumsum(x) * x, x)  # the gradient of cumsum has no batching rule
    f = theano.function([x], J)
    assert len(scans(f)) == 1
    xv = rng.normal(size=4)
    ref = np.tril(np.ones((4, 4))) * xv[:, None] + np.diag(np.cumsum(xv))
    np.testing.assert_allclose(f(xv), ref, rtol=1e-12)


def test_map_with_a_per_step_slice_stays_a_loop(rng):
    v = T.dvector("v")
    r, _ = theano.map(lambda i, v: T.sum(v[:i]) * 2, sequences=T.arange(v.shape[0]),
                      non_sequences=v)
    f = theano.function([v], r)
    assert len(scans(f)) == 1
    vv = rng.normal(size=4)
    np.testing.assert_allclose(f(vv), 2 * np.concatenate([[0], np.cumsum(vv)[:-1]]))


def test_hessian_through_a_recurrence_stays_a_loop(rng):
    x, w = T.dvector("x"), T.dscalar("w")
    h, _ = theano.scan(lambda e, prev: T.tanh(prev * w + e), sequences=x,
                       outputs_info=T.constant(0.0))
    cost = T.sum(h ** 2)
    f = theano.function([x, w], hessian(cost, x))
    assert scans(f)
    fg = theano.function([x, w], T.grad(cost, x))
    vals = [rng.normal(size=4), 0.7]
    ref = numeric_jacobian(fg, vals, 0)
    np.testing.assert_allclose(f(*vals), ref, rtol=1e-6, atol=1e-8)


def test_jacobian_conventions_kept(rng):
    x, y = T.dvector("x"), T.dvector("y")
    g = jacobian(T.sum(x ** 2), x)  # a scalar expression gives its gradient
    np.testing.assert_allclose(theano.function([x], g)(np.arange(3.0)), [0.0, 2.0, 4.0])
    with pytest.raises(DisconnectedInputError):
        jacobian(T.exp(x), [x, y])
    Jx, Jy = jacobian(T.exp(x), [x, y], disconnected_inputs="ignore")
    f = theano.function([x, y], [Jx, Jy])
    assert scans(f) == []
    a, b = f(np.zeros(2), np.zeros(3))
    np.testing.assert_allclose(a, np.eye(2))
    np.testing.assert_allclose(b, np.zeros((2, 3)))
    W = T.dmatrix("W")
    fe = theano.function([x, W], jacobian(T.dot(W, x), x))
    assert fe(np.ones(3), np.zeros((0, 3))).shape == (0, 3)  # no rows: an empty Jacobian


@pytest.mark.parametrize("linker", ["py", pytest.param("numba", marks=pytest.mark.slow)])
def test_every_backend(rng, linker):
    if linker == "numba":
        pytest.importorskip("numba")

        policy = numba_linker.policy("strict", "all")  # compiled kernels, no fallback
    else:
        policy = contextlib.nullcontext()
    x, W, b = T.dvector("x"), T.dmatrix("W"), T.dvector("b")
    y = T.tanh(T.dot(W, x) + b)
    outs = jacobian(y, [x, W]) + [hessian(T.sum(y ** 2), x)]
    vals = [rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)]
    with policy:
        f = theano.function([x, W, b], outs, mode=theano.Mode(linker=linker))
    loop = theano.function([x, W, b], outs, mode=theano.Mode(linker="py",
                                                             excluding=["scan_hoist_sequences"]))
    assert scans(f) == []
    for g, w in zip(f(*vals), loop(*vals)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)


def test_jacobian_of_an_empty_vector_batched_and_as_a_loop():
    # zero rows: the loop's output shape comes from shape inference (a probe step
    # would index the empty vector)
    x = T.dvector("x")
    J = jacobian(T.tanh(x) * 2, x)
    for mode in (None, LOOP, theano.Mode(linker="py", excluding=["scan_hoist_sequences"])):
        out = theano.function([x], J, mode=mode)(np.zeros(0))
        assert out.shape == (0, 0) and out.dtype == np.float64
