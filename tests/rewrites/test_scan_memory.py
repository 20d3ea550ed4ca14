"""scan_memory: outputs read only as out[-k], out[-k:] keep a ring of their last k rows."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import BACKENDS
from theanine.backends.numba import linker
from theanine.graph.rewrite import rewrite_outputs
from theanine.graph.traversal import toposort
from theanine.rewrites.scan import scan_keep_last, scan_trace_with_init
from theanine.scan.op import Scan
from theanine.tensor.join import Join


@pytest.fixture(autouse=True)
def _loops_stay_loops():
    """These tests are about a Scan's ring buffers: the linear carries of their loops
    would otherwise become LinearRecurrences (tests/scan/test_linear_recurrence.py)."""
    with theano.config.change_flags({"scan.parallel_linear": False}):
        yield


def scan_nodes(outs):
    return [n for n in toposort(outs) if isinstance(n.op, Scan)]


def loop(until=False):
    """h_t = 0.5 h_{t-1} + x_t (a carry) and y_t = tanh(h_{t-1}) * x_t (per-step)."""
    x = T.vector("x")

    def step(a, h):
        new = h * 0.5 + a
        out = [new, T.tanh(h) * a]
        return (out, theano.scan_module.until(new > 20)) if until else out

    (h, y), _ = theano.scan(step, sequences=x, outputs_info=[T.constant(0.0), None])
    return x, h, y


def run(inputs, outs, mode, values):
    return theano.function(inputs, outs, mode=mode)(*values)


def compiled(inputs, outs, mode):
    """A function on `mode`; on NUMBA every node compiled now (no NumPy fallback)."""
    if mode != "NUMBA":
        return theano.function(inputs, outs, mode=mode)

    with linker.policy("strict", "all"):
        return theano.function(inputs, outs, mode=mode)


def modes():
    out = [theano.Mode(linker="py")]
    if "numba" in BACKENDS:
        out.append("NUMBA")
    return out


def test_rule_sets_keep_to_the_rows_read():
    x, h, y = loop()
    outs = [h[-3:], h[-2], y[-4:-1]]
    new = rewrite_outputs(outs, [scan_keep_last], inputs=[x])
    (node,) = scan_nodes(new)
    assert node.op.keep == (3, 4)  # h[-3:] and h[-2]: 3 rows; y[-4:-1]: 4 rows
    (before,) = scan_nodes(outs)
    assert before.op.keep == (0, 0)


def test_rule_keeps_the_largest_window_per_output():
    x, h, y = loop()
    new = rewrite_outputs([h[-3:], h[-5], y[-1], y[-2:]], [scan_keep_last], inputs=[x])
    (node,) = scan_nodes(new)
    assert node.op.keep == (5, 2)


@pytest.mark.parametrize("reader", ["positive", "symbolic", "shape", "whole", "reversed"])
def test_rule_leaves_other_readers_alone(reader):
    x, h, y = loop()
    i = T.lscalar("i")
    out = {"positive": h[2], "symbolic": h[-i], "shape": h.shape[0] + h[-1],
           "whole": h * 2, "reversed": h[-3::-1]}[reader]
    new = rewrite_outputs([out], [scan_keep_last], inputs=[x, i])
    assert all(n.op.keep == (0, 0) for n in scan_nodes(new))


@pytest.mark.parametrize("mode", modes(), ids=str)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7, 9])
def test_values_unchanged_for_every_length(mode, n):
    x, h, y = loop()
    outs = [h[-3:], y[-2:], h[-1:], y[-4:-1]]
    v = np.linspace(-1, 2, n)
    f = compiled([x], outs, mode)
    assert any(max(nd.op.keep) > 0 for nd in f.maker.fgraph.toposort()
               if isinstance(nd.op, Scan))
    ref = run([x], outs, "FAST_COMPILE", [v])
    for a, b in zip(f(v), ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("mode", modes(), ids=str)
def test_values_unchanged_with_until(mode):
    x, h, y = loop(until=True)
    outs = [h[-2:], y[-3:], h[-1:]]
    f = compiled([x], outs, mode)
    for v in [np.full(12, 3.0), np.full(12, 0.1), np.full(2, 30.0)]:  # stops early, or not
        ref = run([x], outs, "FAST_COMPILE", [v])
        for a, b in zip(f(v), ref):
            np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("mode", modes(), ids=str)
def test_index_past_the_start_still_raises(mode):
    x, h, _ = loop()
    f = compiled([x], h[-3], mode)
    assert f(np.ones(4)) == run([x], h[-3], "FAST_COMPILE", [np.ones(4)])
    with pytest.raises(IndexError):
        f(np.ones(2))


def test_matrix_state_and_gradient_of_the_window():
    x = T.matrix("x")
    W = T.matrix("W")
    h, _ = theano.scan(lambda a, h: T.tanh(T.dot(h, W) + a), sequences=x,
                       outputs_info=T.zeros((3,)))
    cost = T.sum(h[-2:] ** 2)
    outs = [cost, theano.grad(cost, W), h[-2:]]
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(50, 3)), rng.normal(size=(3, 3)) * 0.5]
    for mode in modes():
        f = compiled([x, W], outs, mode)
        for a, b in zip(f(*vals), run([x, W], outs, "FAST_COMPILE", vals)):
            np.testing.assert_allclose(a, b, rtol=1e-10)
    # without the gradient, the forward loop keeps two rows of the 50
    f = theano.function([x, W], h[-2:], mode=theano.Mode(linker="py"))
    (node,) = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]
    assert node.op.keep == (2,)


def test_excluding_the_rule():
    x, h, _ = loop()
    f = theano.function([x], h[-3:], mode=theano.Mode(linker="py", excluding=["scan_memory"]))
    assert all(max(n.op.keep) == 0 for n in f.maker.fgraph.toposort()
               if isinstance(n.op, Scan))


def test_keep_is_validated():
    x, h, _ = loop()
    op = scan_nodes([h])[0].op
    with pytest.raises(ValueError, match="keep"):
        Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.n_carries, op.traced, False,
             keep=(1,))
    with pytest.raises(ValueError, match="keep"):
        Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.n_carries, op.traced, False,
             keep=(1, -1))  # -1 (the trace with its initial state) is for carries only
    with pytest.raises(ValueError, match="keep"):
        Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.n_carries, op.traced, False,
             keep=(-2, 0))


def test_trace_with_initial_state_row():
    x, h, _ = loop()
    h0 = scan_nodes([h])[0].inputs[2]  # the initial state (outer input after the seq)
    both = T.concatenate([T.shape_padleft(h0), h], axis=0)
    new = rewrite_outputs([both, h * 2], [scan_keep_last, scan_trace_with_init], inputs=[x])
    (node,) = scan_nodes(new)
    assert node.op.keep == (-1, 0)
    assert not any(isinstance(n.op, Join) for n in toposort(new))
    for mode in modes():
        f = compiled([x], new, mode)
        for n in (0, 1, 5):
            v = np.linspace(-1, 2, n)
            for a, b in zip(f(v), run([x], [both, h * 2], "FAST_COMPILE", [v])):
                assert a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("mode", modes(), ids=str)
def test_rnn_gradient_reads_the_trace_with_its_initial_state(mode):
    x, W = T.matrix("x"), T.matrix("W")
    h0 = T.vector("h0")

    def step(a, h):
        return T.tanh(T.dot(h, W) + a), theano.scan_module.until(T.sum(h) > 1e9)

    for use_until in (False, True):
        h, _ = theano.scan(step if use_until else (lambda a, h: step(a, h)[0]), sequences=x,
                           outputs_info=h0)
        cost = T.sum(h[-1] ** 2)
        outs = [cost] + theano.grad(cost, [W, h0])
        f = compiled([x, W, h0], outs, mode)
        keeps = [n.op.keep for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]
        assert any(-1 in k for k in keeps), keeps
        rng = np.random.default_rng(1)
        vals = [rng.normal(size=(20, 3)), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)]
        for a, b in zip(f(*vals), run([x, W, h0], outs, "FAST_COMPILE", vals)):
            np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.parametrize("mode", modes(), ids=str)
def test_a_constant_initial_state_is_recognised_once_folded(mode):
    """outputs_info=T.zeros(...): constant folding makes init[None] a constant of one
    row; the gradient's concatenate([init[None], trace]) is still the trace stored
    with row 0, not a copy. A constant row that is not the initial state is left."""
    k, v, w = T.matrix("k"), T.matrix("v"), T.matrix("w")

    def step(kt, vt, h):  # minGRU: the gradient by k reads the state before each step
        z = T.nnet.sigmoid(kt)
        return (1 - z) * h + z * vt

    h, _ = theano.scan(step, sequences=[k, v], outputs_info=T.zeros((3,)))
    outs = [h] + theano.grad(T.sum(w * h), [k, v])
    with theano.config.change_flags({"scan.parallel_linear": False}):
        f = compiled([k, v, w], outs, mode)
        other = T.concatenate([T.ones((1, 3)), h], axis=0)  # not the initial state
        g = compiled([k, v], [other], mode)
    nodes = f.maker.fgraph.toposort()
    assert any(-1 in n.op.keep for n in nodes if isinstance(n.op, Scan))
    assert not any(isinstance(n.op, Join) for n in nodes)
    rng = np.random.default_rng(2)
    for n in (0, 1, 6):
        vals = [rng.normal(size=(n, 3)) for _ in range(3)]
        for a, b in zip(f(*vals), run([k, v, w], outs, "FAST_COMPILE", vals)):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-12)
    assert any(isinstance(n.op, Join) for n in g.maker.fgraph.toposort())
    vals = [rng.normal(size=(4, 3)) for _ in range(2)]
    np.testing.assert_allclose(g(*vals)[0], run([k, v], [other], "FAST_COMPILE", vals)[0],
                               rtol=1e-12)
