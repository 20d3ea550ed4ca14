"""scan_linear rules, each alone, before-graph -> expected-graph (values unchanged):
scan_parallel_linear, linear_recurrence_final_only, and the step as a whole."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from tests.rewrites.helpers import check_rewrite, check_unchanged
from theanine.graph.rewrite import rewrite_outputs
from theanine.graph.traversal import ancestors
from theanine.rewrites.scan import scan_linear
from theanine.rewrites.scan.linear import (
    affine_form,
    linear_recurrence_final_only,
    scan_parallel_linear,
)
from theanine.scan.op import Scan
from theanine.scan.utils import CheckSteps
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.subtensor import Subtensor


def ema(fn=lambda a, h: 0.5 * h + a, x=None, h0=None):
    x = T.dvector("x") if x is None else x
    h0 = T.dscalar("h0") if h0 is None else h0
    h, _ = theano.scan(fn, sequences=x, outputs_info=h0)
    return x, h0, h


def test_rule_alone_makes_a_map_of_the_operands_and_a_recurrence():
    x, h0, h = ema()
    scan = h.owner
    n, seq = scan.inputs[0], scan.inputs[1]
    slice_in = scan.op.seq_inputs[0]
    operands = Scan([slice_in], [slice_in], 1, 0, (), False, "scan_fn_operands")
    b = operands.make_node(n, seq).outputs[0]
    a = T.shape_padleft(scan.op.carry_outputs[0].owner.inputs[0].owner.inputs[0])
    expected = LinearRecurrence("affine")(n, h0, a, b)[0]
    check_rewrite(scan_parallel_linear, h, expected, [x, h0],
                  values=[np.linspace(-1, 1, 9), np.float64(0.3)])


def test_the_step_leaves_no_loop():
    x, h0, h = ema()
    scan = h.owner
    n, seq = scan.inputs[0], scan.inputs[1]
    a = T.shape_padleft(scan.op.carry_outputs[0].owner.inputs[0].owner.inputs[0])
    b = CheckSteps()(seq, n)[:n]
    expected = LinearRecurrence("affine")(n, h0, a, b)[0]
    check_rewrite(scan_linear, h, expected, [x, h0],
                  values=[np.linspace(-1, 1, 9), np.float64(0.3)])


def test_final_state_only():
    x, h0, h = ema()
    n = x.shape[0]
    tr, fin = LinearRecurrence("add")(n, h0, x)
    expected = LinearRecurrence("add", store=False)(n, h0, x)
    check_rewrite(linear_recurrence_final_only, fin * 2, expected * 2, [x, h0],
                  values=[np.linspace(-1, 1, 9), np.float64(0.3)])
    check_unchanged(linear_recurrence_final_only, [tr, fin], [x, h0])


def test_reduce_keeps_no_trace():
    x, h0 = T.dvector("x"), T.dscalar("h0")
    last, _ = theano.reduce(lambda a, h: 0.5 * h + a, sequences=x, outputs_info=h0)
    scan = last.owner
    n, seq = scan.inputs[0], scan.inputs[1]
    a = T.shape_padleft(scan.op.carry_outputs[0].owner.inputs[0].owner.inputs[0])
    expected = LinearRecurrence("affine", store=False)(n, h0, a, CheckSteps()(seq, n)[:n])
    check_rewrite(scan_linear, last, expected, [x, h0],
                  values=[np.linspace(-1, 1, 9), np.float64(0.3)])


def test_unchanged_when_off_or_not_linear():
    x, h0, h = ema()
    with theano.config.change_flags({"scan.parallel_linear": False}):
        check_unchanged(scan_parallel_linear, h, [x, h0])
    for fn in (lambda a, h: T.tanh(h) + a, lambda a, h: h * h + a,
               lambda a, h: T.maximum(h * 2, a)):
        x, h0, h = ema(fn)
        check_unchanged(scan_parallel_linear, h, [x, h0])


def _form(fn, state=None, **kw):
    """affine_form of the update of a one-carry loop over a vector sequence."""
    x = T.dmatrix("x")
    h0 = T.dvector("h0") if state is None else state
    h, _ = theano.scan(fn, sequences=x, outputs_info=h0, **kw)
    op = h.owner.op
    stop = op.inner_inputs
    tainted = {id(v) for v in op.carry_inputs}
    return affine_form(op.carry_outputs[0], op.carry_inputs[0], stop, tainted)


def test_detected_forms():
    assert _form(lambda a, h: h + a)[0] == "add"
    assert _form(lambda a, h: h * a)[0] == "mul"
    assert _form(lambda a, h: a * h + a * 2)[0] == "affine"
    assert _form(lambda a, h: (h - a) / 3 - h)[0] == "affine"
    assert _form(lambda a, h: T.switch(a > 0, h * 2 + a, a))[0] == "affine"
    assert _form(lambda a, h: T.maximum(h, a))[:3:2] == ("max", "carry")
    assert _form(lambda a, h: T.minimum(a, h))[:3:2] == ("min", "input")
    m = T.dmatrix("m")
    assert _form(lambda a, h, m: T.dot(h, m) + a, non_sequences=m)[0] == "matrix"
    assert _form(lambda a, h, m: T.dot(m, h + a), non_sequences=m)[0] == "matrix"


def test_forms_that_are_not_detected():
    assert _form(lambda a, h: h) is None                     # nothing to do
    assert _form(lambda a, h: T.tanh(h) + a) is None
    assert _form(lambda a, h: h * h) is None
    assert _form(lambda a, h: T.maximum(h + 1, a)) is None   # max of a shifted state
    assert _form(lambda a, h: T.switch(h > 0, h, a)) is None  # the condition reads h
    assert _form(lambda a, h: T.cast(h, "float32") * a) is None
    assert _form(lambda a, h: (h.sum() + a)) is None         # broadcasts a reduction


def test_a_loop_over_reversed_sequences_runs_backwards():
    """Every sequence read backwards (z[::-1], as a gradient's reverse loop reads the
    forward traces), no other carry: the recurrence runs backwards over z itself (its
    last n rows) and the trace is reversed after it, so no reversed view reaches it."""

    x, y, h0 = T.dvector("x"), T.dvector("y"), T.dscalar("h0")
    h, _ = theano.scan(lambda a, b, h: 0.5 * h + a * b, sequences=[x[::-1], y[::-1]],
                       outputs_info=h0)
    after = rewrite_outputs(h, scan_parallel_linear, inputs=[x, y, h0])
    lr = [v.owner for v in ancestors([after])
          if v.owner is not None and isinstance(v.owner.op, LinearRecurrence)]
    assert len(lr) == 1 and lr[0].op.reverse
    data = ancestors(lr[0].inputs[2:], stop_at=[lr[0].inputs[0]])  # not the step count
    assert not [v for v in data if v.owner is not None and isinstance(v.owner.op, Subtensor)
                and v.owner.op.idx_list == (("slice", None, None, -1),)]
    rng = np.random.default_rng(0)
    for n, m in ((9, 9), (9, 12), (0, 3)):  # y longer than x: the loop runs len(x) steps
        vals = [rng.normal(size=n), rng.normal(size=m), np.float64(0.3)]
        want, h_ = [], 0.3
        for a, b in zip(vals[0][::-1], vals[1][::-1]):
            h_ = 0.5 * h_ + a * b
            want.append(h_)
        got = theano.function([x, y, h0], after)(*vals)
        np.testing.assert_allclose(got, np.array(want).reshape(-1), rtol=1e-12)
