"""What the jax backend's compiled programs hold, beyond their values (issue 12's
memory, compile and call targets): the gradient of a loop keeps no reversed or
per-step copy that hand-written JAX would not, the gradient of an ifelse is a
conditional on the device, a call converts its values as a jitted call does. Values
are compared with py; no timing is asserted."""

import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.ifelse import ifelse  # noqa: E402
from theanine.scan.op import Scan  # noqa: E402


def compare(inputs, outputs, args, rtol=1e-10, atol=1e-12):
    ref = theano.function(inputs, outputs, mode="PY")(*args)
    f = theano.function(inputs, outputs, mode="JAX")
    got = f(*args)
    for a, b in zip(ref, got):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)
    return f


def compiled(f, *args):
    """The XLA executable of a one-segment jax function for these arguments."""
    with jax.enable_x64(True):
        return f.fn.single.compiled(()).lower(*args).compile()


def hlo(f, *args):
    """The StableHLO text of a one-segment jax function for these arguments."""
    with jax.enable_x64(True):
        return f.fn.single.compiled(()).lower(*args).as_text()


def rnn_bptt(T_, B, D, H):
    X = T.dtensor3("X")
    W, U, b, h0 = T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dmatrix("h0")
    hs, _ = theano.scan(lambda xt, h, W, U, b: T.tanh(T.dot(xt, W) + T.dot(h, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b])
    cost = (hs[-1] ** 2).sum()
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(T_, B, D)), rng.normal(size=(D, H)) / np.sqrt(D),
            rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=H) * 0.1,
            np.zeros((B, H))]
    return [X, W, U, b, h0], [cost, *theano.grad(cost, [W, U, b])], args


def test_bptt_accumulates_in_the_loop_without_reversed_copies():
    # the weight gradients are summed in the backward loop (as jax.grad of lax.scan
    # does): no per-step rows of dz stored for a product after the loop, no reversed
    # and transposed copy of the forward trace for that product
    ins, outs, args = rnn_bptt(40, 4, 3, 5)
    f = compare(ins, outs, args)
    loops = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]
    assert len(loops) == 2 and all(n.op.n_ys == 0 for n in loops)
    text = compiled(f, *args).as_text()
    assert " reverse(" not in text
    # numba keeps the rule: one product over the steps after its loop
    g = theano.function(ins, outs, mode="NUMBA")
    assert any(isinstance(n.op, Scan) and n.op.n_ys > 0 for n in g.maker.fgraph.toposort())
    for a, b in zip(g(*args), f(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_bptt_peak_memory_is_the_forward_trace_and_hoisted_product():
    # XLA's own account of temporaries and outputs: the trace (T+1 rows) and the
    # hoisted x_t W rows (T), not the 4-5 arrays of that size the product after the
    # loop needed (dz rows, a reversed-transposed trace, a reversed X)
    T_, B, D, H = 200, 8, 4, 16
    ins, outs, args = rnn_bptt(T_, B, D, H)
    f = compare(ins, outs, args)
    m = compiled(f, *args).memory_analysis()
    rows = T_ * B * H * 8
    assert m.temp_size_in_bytes + m.output_size_in_bytes < 2.3 * rows


def test_accumulation_rule_comes_back_when_included():
    ins, outs, args = rnn_bptt(6, 2, 3, 4)
    mode = theano.Mode("jax", "fast_run", including=["scan_accumulate_products"])
    f = theano.function(ins, outs, mode=mode)
    assert any(isinstance(n.op, Scan) and n.op.n_ys > 0 for n in f.maker.fgraph.toposort())
    ref = theano.function(ins, outs, mode="PY")(*args)
    for a, b in zip(ref, f(*args)):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_gradient_of_ifelse_is_a_conditional_on_the_device():
    # the gradient's branches hold zeros of an input's shape (an alloc of x.shape[0]
    # minus one): the shape is known when tracing and stays so inside the branch, so
    # the backward ifelse is a lax.cond in the one jitted function, not a host step
    x, c, M = T.dvector("x"), T.dscalar("c"), T.dmatrix("M")
    y = ifelse(T.gt(c, 0), x[1:] * T.tanh(x[:-1]), x[:-1] * 2).sum() \
        + ifelse(T.gt(c, 0), T.dot(M, x), x[:2] ** 2).sum()
    ins, outs = [x, c, M], [y, *theano.grad(y, [x, M])]
    rng = np.random.default_rng(0)
    xv, Mv = rng.normal(size=3), rng.normal(size=(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning that a node runs on the host
        for cv in (1.0, -1.0):
            f = compare(ins, outs, [xv, cv, Mv])
    assert f.fn.single is not None
    text = hlo(f, xv, 1.0, Mv)
    conds = text.count("stablehlo.case") + text.count("stablehlo.if")
    assert conds >= 4  # two forward ifelses, and the gradient's then/else ifelses


def test_calls_after_the_first_go_straight_to_the_jitted_function():
    x, i = T.dvector("x"), T.lscalar("i")
    w = theano.shared(np.arange(4.0), name="w")
    f = theano.function([x, i], [T.tanh(x) * 2, x[i] * w], updates=[(w, w + x[i])],
                        mode="JAX")
    assert f.fn._fast is None  # nothing compiled yet
    xv = np.linspace(-1, 1, 4)
    a, b = f(xv, 1)
    assert f.fn._fast is not None
    for k in range(2, 4):  # the fast path: fresh writable arrays the caller owns
        c, d = f(xv, k)
        assert c.base is None and c.flags.writeable and c is not a
        np.testing.assert_allclose(c, np.tanh(xv) * 2)
        c[:] = 0  # the caller's array: the next result is unchanged
    np.testing.assert_allclose(f(xv, 0)[0], np.tanh(xv) * 2)
    np.testing.assert_allclose(w.get_value(), np.arange(4.0) + xv[1] + xv[2] + xv[3]
                               + xv[0])
    # new shapes compile through the fast path; a failing check raises the py error
    # and leaves the shared value (donated to the call) as it was
    before = w.get_value()
    with pytest.raises(IndexError):
        f(np.ones(4), 7)
    np.testing.assert_array_equal(w.get_value(), before)
    np.testing.assert_allclose(f(np.ones(4), 3)[1], before * 1.0)
    np.testing.assert_allclose(f(np.zeros(6), 5)[0], np.zeros(6))


def test_borrowed_output_and_input_returned_as_is_keep_their_rules():
    x = T.dvector("x")
    f = theano.function([x], [theano.Out(T.exp(x), borrow=True), x], mode="JAX")
    xv = np.ones(3)
    for _ in range(3):
        e, same = f(xv)
        np.testing.assert_allclose(e, np.exp(xv))
        assert same is not xv and not np.shares_memory(same, xv)
