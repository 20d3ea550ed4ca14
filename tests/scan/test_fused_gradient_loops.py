"""The numba loops of a gated recurrence's forward and gradient (minGRU: z = sigmoid(k),
h_t = (1 - z) h_(t-1) + z v_t), as benchmarks/linear_recurrence.py runs them: the
reverse FusedRecurrence's lanes loop is pipelined (one loop writes a block's outputs
and computes the next block's operands); the kernels receive the step count as NumPy
computes it (an np.int64 from min of two shapes) without a failed dispatch; values and
gradients equal py's and the sequential loop's for float32 and float64, lengths 0, 1,
odd, prime, long and at the blocks' edges, widths 3 and 8."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.backends.numba import linker as numba_linker
from theanine.scan.fused_recurrence import FusedRecurrence
from theanine.tensor import scalar_ops as so

OFF = {"scan.parallel_linear": False}


def gated(dtype, width):
    k, v, w = (T.tensor(dtype, (False, False), name=s) for s in "kvw")

    def step(kt, vt, h):
        z = T.nnet.sigmoid(kt)
        return (1 - z) * h + z * vt

    h, _ = theano.scan(step, sequences=[k, v], outputs_info=T.zeros((width,), dtype))
    gk, gv = theano.grad(T.sum(w * h), [k, v])
    return [k, v, w], [h, gk, gv]


def reverse_node(f):
    nodes = [nd for nd in f.maker.fgraph.toposort()
             if isinstance(nd.op, FusedRecurrence) and nd.op.reverse]
    assert len(nodes) == 1
    return nodes[0]


def _pipelined_loop(lanes):
    """The body of the loop computing a block's outputs and the next block's operands."""
    return lanes.split("for i in range(m2 * W):")[1].split("for i in range(m2 * W, m * W)")[0]


def test_gradient_loop_is_pipelined():
    inputs, outputs = gated("float64", 8)
    f = theano.function(inputs, outputs, mode="NUMBA")
    node = reverse_node(f)
    lanes = numba_linker.kernel_text(node).split("def frec")[1]  # the narrow one follows
    body = _pipelined_loop(lanes)
    # the two gradients of this block (v and the states read where they are) and the
    # gates of the next block (k: x1) into the other buffer
    assert "yb0[i] =" in body and "yb1[i] =" in body
    assert "xf2[i]" in body and "xf3[i]" in body
    assert "sigmoid_pair_f64(nf1[i])" in body and "nff[0 * BW + i] =" in body
    assert "cur, nxt = nxt, cur" in lanes


def test_a_buffer_of_the_operands_only_when_outputs_read_inputs():
    # h_t = a_t h_(t-1) + b_t with a, b inputs: the buffer holds the two operands, the
    # outputs read the inputs they need (the cotangent, the states) where they are
    a, b, w = (T.dmatrix(s) for s in "abw")
    h, _ = theano.scan(lambda at, bt, h: at * h + bt, sequences=[a, b],
                       outputs_info=T.zeros((6,), "float64"))
    ga, gb = theano.grad(T.sum(w * h), [a, b])
    f = theano.function([a, b, w], [h, ga, gb], mode="NUMBA")
    node = reverse_node(f)
    lanes = numba_linker.kernel_text(node).split("def frec")[1]
    assert "cur = np.empty((2, bs, W)" in lanes
    assert "xf1[i]" in _pipelined_loop(lanes)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("width", [3, 8])
def test_values_and_gradients_against_py_and_the_loop(dtype, width):
    inputs, outputs = gated(dtype, width)
    f = theano.function(inputs, outputs, mode="NUMBA")
    f_py = theano.function(inputs, outputs, mode="PY")
    with theano.config.change_flags(OFF):
        f_loop = theano.function(inputs, outputs, mode="NUMBA")
    tol = 1e-9 if dtype == "float64" else 3e-4
    for n in [0, 1, 7, 13, 512, 513, 601, 20011]:  # prime; blocks of 512 rows (width 8)
        rng = np.random.default_rng(n)
        vals = [rng.normal(size=(n, width)).astype(dtype) for _ in range(3)]
        got = f(*vals)
        for ref in (f_py(*vals), f_loop(*vals)):
            for a, b in zip(got, ref):
                assert a.dtype == b.dtype and a.shape == b.shape == (n, width)
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_numpy_scalar_step_count_dispatches_once(monkeypatch):
    inputs, outputs = gated("float64", 8)
    f = theano.function(inputs, outputs, mode="NUMBA")
    assert f.fn.compile_now()
    retyped = []
    real = numba_linker.NodeKernel._retype

    def record(self, args):
        retyped.append(str(self.node.op))
        return real(self, args)

    monkeypatch.setattr(numba_linker.NodeKernel, "_retype", record)
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(50, 8)) for _ in range(3)]
    kernels = [nk for nk in f.fn.kernels if isinstance(nk.node.op, FusedRecurrence)]
    assert len(kernels) == 2 and all(nk.ready() for nk in kernels)
    got = f(*vals)
    # the loops took the step count np.int64(min(len k, len v)) as a 0-d array at once
    assert retyped == []
    ref = theano.function(inputs, outputs, mode="PY")(*vals)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mask_dtype", ["int8", "float32"])
def test_pipelined_loop_with_states_and_an_input_of_another_dtype(reverse, mask_dtype):
    # values: 0 k, 1 v, 2 m (another dtype), 3 hp, 4 hn; A = sigmoid(k), B = k;
    # outputs hp * v and hn * m
    program = [(so.Sigmoid(), (0,), "float64"), (so.Mul(), (3, 1), "float64"),
               (so.Mul(), (4, 2), "float64")]
    op = FusedRecurrence("affine", 3, program, (5, 0), (6, 7), reverse, store=True)
    k, v = T.dmatrix("k"), T.dmatrix("v")
    m = T.tensor(mask_dtype, (False, False), name="m")
    h0, n = T.dvector("h0"), T.lscalar("n")
    outs = op(n, h0, k, v, m)
    f = theano.function([n, h0, k, v, m], outs, mode="NUMBA")
    f_py = theano.function([n, h0, k, v, m], outs, mode="PY")
    node = [nd for nd in f.maker.fgraph.toposort() if isinstance(nd.op, FusedRecurrence)][0]
    lanes = numba_linker.kernel_text(node).split("def frec")[1]
    # five arrays written (states, final, two outputs): the blocked lanes loop also
    # forwards; the states are written in the pipelined loop too
    body = _pipelined_loop(lanes)
    assert "sbf[i] =" in body and "yb0[i] =" in body and "yb1[i] =" in body
    assert "xf2[i]" in body and "nff[" in body
    rng = np.random.default_rng(3)
    # width 8: blocks of 512 rows; 512, 1024: whole blocks only; 513, 1025: a last
    # block of one row
    for steps in [0, 1, 7, 511, 512, 513, 601, 1024, 1025, 20011]:
        vals = [steps, rng.normal(size=8), rng.normal(size=(steps, 8)),
                rng.normal(size=(steps, 8)),
                rng.integers(-3, 4, size=(steps, 8)).astype(mask_dtype)]
        for a, b in zip(f(*vals), f_py(*vals)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", ["affine", "add", "mul"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_block_recurrence_in_lane_groups(mode, reverse, dtype):
    """Up to GROUPS_MAX * GROUP lanes, a block's recurrence runs GROUP lanes at a time
    in variables, the lanes past the last whole group (and every lane of a wider
    state) in the loop over lanes: values equal py's for widths with and without a
    remainder, at the limit and past it, at the blocks' edges."""
    from theanine.backends.numba import ops_fused_recurrence as ofr

    # values: 0 k, 1 v, 2 hp, 3 hn; A = sigmoid(k), B = v; outputs hp * v and hn * k
    program = [(so.Sigmoid(), (0,), dtype), (so.Mul(), (2, 1), dtype),
               (so.Mul(), (3, 0), dtype)]
    operands = {"affine": (4, 1), "add": (1,), "mul": (4,)}[mode]
    op = FusedRecurrence(mode, 2, program, operands, (5, 6), reverse, store=True)
    k, v = (T.tensor(dtype, (False, False), name=s) for s in "kv")
    h0, n = T.tensor(dtype, (False,), name="h0"), T.lscalar("n")
    outs = op(n, h0, k, v)
    f = theano.function([n, h0, k, v], outs, mode="NUMBA")
    f_py = theano.function([n, h0, k, v], outs, mode="PY")
    node = [nd for nd in f.maker.fgraph.toposort() if isinstance(nd.op, FusedRecurrence)][0]
    lanes = numba_linker.kernel_text(node).split("def frec")[1]
    assert f"g = 0 if W > {ofr.GROUPS_MAX * ofr.GROUP} else W - W % {ofr.GROUP}" in lanes
    assert "i0 = np.uint64(t * W + g0)" in lanes and f"r{ofr.GROUP - 1} = " in lanes
    tol = 1e-9 if dtype == "float64" else 3e-4
    rng = np.random.default_rng(4)
    limit = ofr.GROUPS_MAX * ofr.GROUP
    for width in [3, 8, 12, 16, 24, limit, limit + 8]:
        bs = max(16, ofr.BLOCK // width)
        for steps in [0, 1, bs - 1, bs, bs + 1, 3 * bs + 5]:
            vals = [steps, rng.normal(size=width).astype(dtype),
                    rng.normal(size=(steps, width)).astype(dtype),
                    (rng.normal(size=(steps, width)) * 0.1 + (mode == "mul")).astype(dtype)]
            for a, b in zip(f(*vals), f_py(*vals)):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
