"""scan/leaf_bytes.py: the bytes a leaf keeps a step, from shape inference only: arrays
it allocates count, views (slices, DimShuffles, Reshapes of contiguous arrays) do
not, a Reshape of a transposed view is a copy and counts, a loop's trace counts its
rows, and no value is computed."""

import numpy as np

import theanine as theano
import theanine.tensor as T
from theanine.scan import leaf_bytes
from theanine.scan.op import Scan
from theanine.tensor.python_ops import as_op


def test_copies_count_and_views_do_not():
    X, W, start, length = T.dmatrix("X"), T.dmatrix("W"), T.lscalar("s"), T.lscalar("L")
    rows = X[start:start + length]                         # a view
    proj = T.dot(rows, W)                                  # (L, 5): allocated
    flat = proj.reshape((length * 5,))                     # a view of a contiguous array
    copy = proj.T.reshape((5 * length,))                   # a copy of a transposed view
    inputs = [X, W, start, length]
    fn = leaf_bytes.step_bytes(inputs, [flat.sum() + copy.sum()], length, Scan)
    vals = [np.zeros((40, 3)), np.zeros((3, 5)), np.int64(0), np.int64(0)]
    assert fn(vals, 40) == 2 * 5 * 8  # proj and copy: 5 float64 a step each
    assert fn(vals, 1) == 0           # one step: nothing to tell apart


def test_a_loop_trace_counts_its_rows_and_no_user_code_runs():
    runs = [0]

    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def twice(v):
        runs[0] += 1
        return v * 2

    X, h0, start, length = T.dmatrix("X"), T.dvector("h0"), T.lscalar("s"), T.lscalar("L")
    h, _ = theano.scan(lambda x, h: twice(T.tanh(x + h)), sequences=X[start:start + length],
                       outputs_info=h0)
    fn = leaf_bytes.step_bytes([X, h0, start, length], [h], length, Scan)
    vals = [np.zeros((30, 4)), np.zeros(4), np.int64(0), np.int64(0)]
    assert fn(vals, 30) == 4 * 8  # the trace: one state a step (the body's are per step)
    assert runs[0] == 0
