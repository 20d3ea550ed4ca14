"""inner_graphs: loop bodies go through the pipeline of the graph around them, so every
backend receives the same rewritten body."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.compile.mode import Mode
from theanine.graph.rewrite import rewrite_outputs
from theanine.graph.traversal import toposort
from theanine.rewrites.inner_graphs import inner_graphs, rewritten_op
from theanine.rewrites.pipeline import FAST_RUN
from theanine.scan.op import Scan
from theanine.tensor.composite import Composite


def _scans(outputs):
    return [n.op for n in toposort(outputs) if isinstance(n.op, Scan)]


def _body_ops(op):
    return [type(n.op).__name__ for n in toposort(op.inner_outputs, stop_at=op.inner_inputs)]


def _loop():
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    h, _ = theano.scan(lambda xt, h: T.tanh(xt * 2.0 + h) * 0.5 + 1.0, sequences=x,
                       outputs_info=h0)
    return [x, h0], h


def test_body_is_fused_by_the_pipeline():
    ins, h = _loop()
    (op,) = _scans([h])
    assert "Composite" not in _body_ops(op)
    (new,) = _scans(rewrite_outputs([h], FAST_RUN, inputs=ins))
    assert _body_ops(new) == ["Composite"]
    assert new.inner_inputs == op.inner_inputs  # the body's interface is unchanged
    assert [v.type for v in new.inner_outputs] == [v.type for v in op.inner_outputs]


def test_the_step_alone_changes_nothing():
    ins, h = _loop()
    (op,) = _scans(rewrite_outputs([h], [inner_graphs], inputs=ins))
    assert "Composite" not in _body_ops(op)


@pytest.mark.parametrize("linker", ["py", "numba"])
def test_every_backend_receives_the_rewritten_body(linker, rng):
    ins, h = _loop()
    f = theano.function(ins, h, mode=Mode(linker=linker))
    ops = _scans(f.maker.fgraph.outputs)
    assert ops and all(_body_ops(op) == ["Composite"] for op in ops)
    xv, h0v = rng.normal(size=(5, 3)), rng.normal(size=3)
    ref, hv = [], h0v
    for row in xv:
        hv = np.tanh(row * 2.0 + hv) * 0.5 + 1.0
        ref.append(hv)
    np.testing.assert_allclose(f(xv, h0v), np.array(ref), rtol=1e-12)


def test_py_and_numba_get_the_same_body():
    ins, h = _loop()
    keys = [[op.key for op in _scans(theano.function(ins, h, mode=Mode(linker=lk))
                                     .maker.fgraph.outputs)] for lk in ("py", "numba")]
    assert keys[0] == keys[1]


def test_excluding_the_step_or_a_rule_applies_inside_loops():
    ins, h = _loop()
    f = theano.function(ins, h, mode=Mode(linker="py", excluding=["inner_graphs"]))
    assert all("Composite" not in _body_ops(op) for op in _scans(f.maker.fgraph.outputs))
    f = theano.function(ins, h, mode=Mode(linker="py", excluding=["fusion"]))
    assert all("Composite" not in _body_ops(op) for op in _scans(f.maker.fgraph.outputs))


def test_nested_loops_are_rewritten_too():
    x = T.dmatrix("x")

    def row(r):
        # tanh(acc): not a linear recurrence, so the inner loop stays a Scan
        out, _ = theano.scan(lambda v, acc: T.exp(v) * 2.0 + T.tanh(acc) * 0.5, sequences=r,
                             outputs_info=T.constant(0.0, dtype="float64"))
        return out[-1]

    s, _ = theano.map(row, sequences=x)
    f = theano.function([x], s, mode=Mode(linker="py"))
    inner = [n.op for op in _scans(f.maker.fgraph.outputs)
             for n in toposort(op.inner_outputs) if isinstance(n.op, Scan)]
    assert inner and all(any(isinstance(n.op, Composite) for n in toposort(op.inner_outputs))
                         for op in inner)
    xv = np.arange(6.0).reshape(2, 3) / 4
    ref = []
    for r in xv:
        acc = 0.0
        for v in r:
            acc = np.exp(v) * 2.0 + np.tanh(acc) * 0.5
        ref.append(acc)
    np.testing.assert_allclose(f(xv), ref, rtol=1e-12)


def test_a_body_is_rewritten_once_per_pipeline():
    ins, h = _loop()
    (op,) = _scans([h])
    first = rewritten_op(op, FAST_RUN)
    assert rewritten_op(op, FAST_RUN) is first
    assert rewritten_op(op, FAST_RUN, excluding={"fusion"}) is not first
