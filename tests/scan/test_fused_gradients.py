"""What the gradient of a linear recurrence compiles to: the forward recurrence and one
reverse FusedRecurrence that computes the sequences' gradients itself (no zeros, no
set_subtensor, no elementwise passes over the steps outside the loops), with the
values of the sequential loop. On py and numba; lengths 0, 1, odd, long (the chunked
paths of the numba kernels)."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.scan.fused_recurrence import FusedRecurrence
from theanine.scan.op import Scan
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.subtensor import IncSubtensor

OFF = {"scan.parallel_linear": False}


def per_step_work(f):
    """Elementwise nodes over arrays of steps, loops and index updates left outside the
    recurrences."""
    return [n for n in f.maker.fgraph.toposort()
            if (isinstance(n.op, (Elemwise, Composite)) and n.outputs[0].ndim >= 1)
            or isinstance(n.op, (Scan, IncSubtensor))]


def compare(inputs, outputs, values, tol):
    f = theano.function(inputs, outputs)
    with theano.config.change_flags(OFF):
        g = theano.function(inputs, outputs)
    for a, b in zip(f(*values), g(*values)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    return f


@pytest.mark.parametrize("n", [0, 1, 7, 20011])
def test_moving_average(n):
    a, w = T.dvector("a"), T.dvector("w")
    x, _ = theano.scan(lambda at, h: 0.999 * h + at, sequences=a, outputs_info=T.constant(0.0))
    g = theano.grad(T.sum(w * x), a)
    rng = np.random.default_rng(n)
    f = compare([a, w], [x, g], [rng.normal(size=n), rng.normal(size=n)], 1e-9)
    ops = [nd.op for nd in f.maker.fgraph.toposort()]
    # the forward recurrence, and the gradient's on the cotangent w itself
    # (linear_recurrence_of_sums): nothing left to fuse
    lrs = [op for op in ops if isinstance(op, LinearRecurrence)]
    assert len(lrs) == 2 and sum(op.reverse for op in lrs) == 1
    assert not any(isinstance(op, FusedRecurrence) for op in ops)
    assert not per_step_work(f)


@pytest.mark.parametrize("n", [0, 1, 7, 3001])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_min_gru(n, dtype):
    k, v, w = (T.tensor(dtype, (False, False), name=s) for s in "kvw")

    def step(kt, vt, h):
        z = T.nnet.sigmoid(kt)
        return (1 - z) * h + z * vt

    h, _ = theano.scan(step, sequences=[k, v], outputs_info=T.zeros((5,), dtype))
    gk, gv = theano.grad(T.sum(w * h), [k, v])
    rng = np.random.default_rng(n)
    vals = [rng.normal(size=(n, 5)).astype(dtype) for _ in range(3)]
    f = compare([k, v, w], [h, gk, gv], vals, 1e-9 if dtype == "float64" else 3e-4)
    fused = [nd.op for nd in f.maker.fgraph.toposort() if isinstance(nd.op, FusedRecurrence)]
    assert len(fused) == 2 and sorted(op.reverse for op in fused) == [False, True]
    assert not any(isinstance(nd.op, LinearRecurrence) for nd in f.maker.fgraph.toposort())
    assert not per_step_work(f)
