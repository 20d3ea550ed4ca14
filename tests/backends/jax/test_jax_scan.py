"""Scan on jax, beyond the shared scan suite: the loop is lax.scan inside the one
jitted function, ring buffers stay small, until loops are while loops trimmed on the
host, untraceable bodies run on the host."""

import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.jax import callback  # noqa: E402
from theanine.compile.ops import as_op  # noqa: E402


def both(inputs, outputs, args):
    ref = theano.function(inputs, outputs, mode="PY")(*args)
    f = theano.function(inputs, outputs, mode="JAX")
    got = f(*args)
    for a, b in zip(ref, got):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    return f, got


def hlo(f, *args):
    """The StableHLO text of a one-segment jax function for these arguments."""
    runner = f.fn.single
    with jax.enable_x64(True):
        return runner.compiled(()).lower(*args).as_text()


def test_sequences_sliced_from_a_value_are_read_in_place():
    # x[::-1], x[1:], ... as sequences: the loop indexes x itself (no reversed copy)
    x, s = T.dmatrix("x"), T.lscalar("s")
    xv = np.random.default_rng(0).normal(size=(9, 3))
    cases = [x[::-1], x[1:], x[::-2], x[-2::-1], x[:5][::-1], x[2:][::-1][1:], x[1:-1:3]]
    for seq in cases + [x[s:], x[s::-1]]:
        h, _ = theano.scan(lambda xt, h: T.tanh(h * 0.5 + xt), sequences=seq,
                           outputs_info=T.zeros((3,), "float64"))
        cost = (h ** 2).sum()
        ins, args = ([x], [xv]) if any(seq is c for c in cases) else ([x, s], [xv, 4])
        both(ins, [h, cost, theano.grad(cost, x)], args)
    # a loop over a reversed sequence: no reverse of it in the compiled program
    h, _ = theano.scan(lambda xt, h: T.tanh(h * 0.5 + xt), sequences=x[::-1],
                       outputs_info=T.zeros((3,), "float64"))
    f, _ = both([x], [h], [xv])
    assert "stablehlo.reverse" not in hlo(f, xv)


def test_too_short_sliced_sequence_is_an_error():
    x = T.dvector("x")
    h, _ = theano.scan(lambda xt, h: h + xt, sequences=x[3:][::-1], outputs_info=T.constant(0.0),
                       n_steps=5)
    f = theano.function([x], h, mode="JAX")
    with pytest.raises(ValueError, match="fewer than"):
        f(np.ones(6))


def test_forward_and_backward_loops_store_the_initial_state_in_place():
    # keep -1 (the gradient reads h0 and every step) is one n+1-row buffer written in
    # the loop: no concatenate joins h0 to the trace, no reversed copy of a sequence
    # (the backward loop stays a Scan: as a linear recurrence in the adjoint it would
    # become a LinearRecurrence, lowered to lax.associative_scan, not to lax.scan)
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    h, _ = theano.scan(lambda xt, h: T.tanh(h * xt), sequences=x, outputs_info=h0)
    cost = (h ** 2).sum()
    args = [np.random.rand(6, 3), np.random.rand(3)]
    with theano.config.change_flags({"scan.parallel_linear": False}):
        f, _ = both([x, h0], [cost, *theano.grad(cost, [x, h0])], args)
    text = hlo(f, *args)
    assert "concatenate" not in text and text.count("stablehlo.reverse") <= 1


def test_ring_buffer_rows_only():
    # h[-3:] is read: the loop keeps a 3-row ring buffer of h, not 500 rows
    h0 = T.dvector("h0")
    h, _ = theano.scan(lambda h: T.tanh(h * 0.9 + 0.1), outputs_info=h0, n_steps=500)
    f = theano.function([h0], h[-3:], mode="JAX")
    scan_node = next(n for n in f.maker.fgraph.toposort() if type(n.op).__name__ == "Scan")
    assert scan_node.op.keep == (3,)
    hv = np.linspace(-1, 1, 5)
    f, _ = both([h0], [h[-3:], h[-1]], [hv])
    text = hlo(f, hv)
    assert "tensor<3x5xf64>" in text and "tensor<500x5xf64>" not in text


def test_initial_state_stored_as_row_zero():
    # the gradient reads concatenate([h0[None], h]): stored as one buffer (keep -1)
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    h, _ = theano.scan(lambda xt, h: T.tanh(h * xt), sequences=x, outputs_info=h0)
    cost = (h ** 2).sum()
    both([x, h0], [cost, *theano.grad(cost, [x, h0])],
         [np.random.rand(6, 3), np.random.rand(3)])


def test_taps_nested_loops_and_shared_updates():
    v0 = T.dmatrix("v0")
    acc = theano.shared(np.zeros(2), name="acc")

    def inner(a2, a1):
        rows, _ = theano.scan(lambda r: r * 2, sequences=a1[None, :].repeat(3, axis=0))
        return a1 + 0.5 * a2 + rows.sum(axis=0) * 0.01, {acc: acc + a1}

    s, upd = theano.scan(inner, outputs_info=dict(initial=v0, taps=[-2, -1]), n_steps=5)
    ref = theano.function([v0], s, mode="PY", updates=upd)(np.ones((2, 2)))
    ref_acc = acc.get_value()
    acc.set_value(np.zeros(2))
    got = theano.function([v0], s, mode="JAX", updates=upd)(np.ones((2, 2)))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    np.testing.assert_allclose(acc.get_value(), ref_acc, rtol=1e-12)


def test_zero_steps_and_symbolic_steps_with_gradients():
    h0, n = T.dvector("h0"), T.lscalar("n")
    hs, _ = theano.scan(lambda h: T.sin(h) * 1.1, outputs_info=h0, n_steps=n)
    cost = hs.sum() + h0.sum()
    outs = [hs, theano.grad(cost, h0)]
    for k in (0, 1, 4):
        _, got = both([h0, n], outs, [np.array([0.3, -0.2]), k])
        assert got[0].shape == (k, 2)


def test_truncated_and_backwards_gradients_second_order():
    x, h0 = T.dvector("x"), T.dscalar("h0")
    hs, _ = theano.scan(lambda xt, h: T.tanh(h * 0.9 + xt), sequences=x, outputs_info=h0,
                        go_backwards=True, truncate_gradient=3)
    cost = hs.sum()
    g = theano.grad(cost, h0)
    both([x, h0], [hs, g, theano.grad(g, h0)], [np.linspace(-1, 1, 7), 0.4])


def test_until_loop_is_a_while_loop_trimmed_on_the_host():
    x = T.dvector("x")

    def step(xt, acc):
        new = acc + xt
        return new, theano.scan_module.until(new > 2.5)

    accs, _ = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
    cost = (accs ** 2).sum()
    f, got = both([x], [accs, cost, theano.grad(cost, x)], [np.ones(10)])
    assert got[0].shape == (3,)
    plan = f.fn.plan
    assert [type(s).__name__ if not isinstance(s, tuple) else s[0] for s in plan.steps] == \
        ["Segment", "finish", "Segment"]


def test_until_loop_inside_a_loop_runs_on_the_host_with_a_warning():
    x = T.dvector("x")

    def outer(xt):
        inner, _ = theano.scan(lambda a: (a * 2, theano.scan_module.until(a > xt)),
                               outputs_info=T.constant(1.0), n_steps=20)
        return inner[-1]

    ys, _ = theano.scan(outer, sequences=x)
    callback._warned.discard("Scan")  # warned once per process: another test may have
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        both([x], [ys], [np.array([1.0, 5.0, 40.0])])
    assert any("runs on the py backend" in str(w.message) for w in rec)


def test_python_op_in_a_loop_body_and_its_gradient():
    class Cube(theano.Op):
        __props__ = ()

        def make_node(self, v):
            v = T.as_tensor_variable(v)
            return theano.Apply(self, [v], [v.type()])

        def perform(self, node, inputs, out):
            out[0][0] = inputs[0] ** 3

        def infer_shape(self, node, shapes):
            return shapes

        def grad(self, inputs, g):
            return [3 * inputs[0] ** 2 * g[0]]

    h0 = T.dvector("h0")
    hs, _ = theano.scan(lambda h: Cube()(h) * 0.5 + 0.1, outputs_info=h0, n_steps=3)
    cost = hs.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both([h0], [hs, theano.grad(cost, h0)], [np.array([0.5, -0.3])])


def test_body_without_shapes_runs_on_the_host():
    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def twice(v):
        return v * 2

    h0 = T.dvector("h0")
    hs, _ = theano.scan(lambda h: twice(h) + 1, outputs_info=h0, n_steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, _ = both([h0], [hs], [np.ones(2)])
    assert any(s[0] == "host" for s in f.fn.plan.steps if isinstance(s, tuple))
