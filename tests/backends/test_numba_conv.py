"""numba convolution and pooling kernels agree with py (values, dtype, shape):
every border mode, strides, dilation, groups, flip, both conv gradients and the
transposed convolution; every pooling mode with and without ignore_border,
padding, strides, their gradients and max pooling's grad-of-grad; inside a
compiled scan body too.

Every node is one JIT compilation (~0.5 s; the conv helpers compile once per dtype,
~2 s each): a graph holds several configurations and their gradients, and the checks
of each graph share it."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import assert_same, backend_mode
from theanine.backends.numba import ops_pool  # noqa: F401 - registers the pooling emitters
from theanine.graph.traversal import toposort
from theanine.tensor.nnet.conv import Conv2d, Conv2d_gradInputs, Conv2d_gradWeights
from theanine.tensor.signal.pool import pool_2d, pool_3d

R = np.random.default_rng(5)
CONV_OPS = {"Conv2d", "Conv2d_gradInputs", "Conv2d_gradWeights"}
CONFIGS = [
    dict(border_mode="full", subsample=(2, 1), filter_flip=False, filter_dilation=(2, 1)),
    dict(border_mode="half", num_groups=2, subsample=(1, 2), filter_dilation=(1, 2)),
    dict(border_mode=((1, 0), (2, 1)), subsample=(2, 3), input_shape=(None, 4, 7, 8),
         filter_shape=(6, 4, 3, 2)),
    dict(border_mode="valid", num_groups=2, subsample=(2, 2), filter_flip=False),
]


def _compiled(f):
    """Names of the op classes whose numba kernel is compiled in f."""
    return {type(k.node.op).__name__ for k in f.fn.kernels if k.ready()}


def _both(inputs, outputs, args):
    ref = theano.function(inputs, outputs, mode=backend_mode("py"))(*args)
    f = theano.function(inputs, outputs, mode=backend_mode("numba"))
    assert_same(ref, f(*args))
    return f


def _conv_graph(x, pairs):
    """The convolutions of x with (config, filters) pairs, and the gradients of their cost
    wrt x and the filters."""
    outs = [T.nnet.conv2d(x, w, **c) for c, w in pairs]
    cost = sum(((y * y).sum() for y in outs), T.constant(0.0))
    filters = list({id(w): w for _, w in pairs}.values())
    return outs + theano.grad(cost, [x] + filters)


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_conv2d_modes_and_gradients(numba_strict):
    x, w, wg = T.tensor4("x"), T.tensor4("w"), T.tensor4("wg")
    outs = _conv_graph(x, [(CONFIGS[0], w), (CONFIGS[1], wg), (CONFIGS[2], w)])
    args = [R.normal(size=(2, 4, 7, 8)), R.normal(size=(6, 4, 3, 2)),
            R.normal(size=(6, 2, 3, 2))]
    f = _both([x, w, wg], outs, args)
    assert CONV_OPS <= _compiled(f)
    with pytest.raises(ValueError):  # the input_shape hint
        f(np.zeros((2, 4, 7, 9)), *args[1:])


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_conv2d_float32_and_mixed_dtypes(numba_strict):
    x, wg = T.tensor4("x", dtype="float32"), T.tensor4("wg", dtype="float32")
    w64 = T.tensor4("w64")
    outs = _conv_graph(x, [(CONFIGS[3], wg)])
    outs.append(T.nnet.conv2d(x, w64, border_mode=(1, 2)))  # float32 * float64 -> float64
    args = [R.normal(size=(3, 4, 6, 5)).astype("float32"),
            R.normal(size=(6, 2, 3, 2)).astype("float32"), R.normal(size=(2, 4, 3, 3))]
    f = _both([x, wg, w64], outs, args)
    assert CONV_OPS <= _compiled(f)
    with pytest.raises(ValueError):  # checked shapes: no read outside the arrays
        f(args[0][:, :3], *args[1:])  # channels
    with pytest.raises(ValueError):
        f(args[0][:, :, :2], *args[1:])  # filters larger than the input


def test_conv2d_transpose(numba_strict):
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d_transpose(x, w, output_shape=(2, 3, 9, 8), border_mode=(1, 0),
                                input_dilation=(2, 3), filter_dilation=(1, 2))
    f = _both([x, w], [y], [R.normal(size=(2, 5, 5, 2)), R.normal(size=(5, 3, 2, 3))])
    assert "Conv2d_gradInputs" in _compiled(f)


MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")
POOLS = [  # (mode, ignore_border, ws, stride, pad)
    ("max", False, (2, 3), (1, 2), (0, 0)),  # overlapping windows cut at the border
    ("max", True, (3, 2), (2, 1), (1, 1)),
    ("sum", False, (2, 2), None, (0, 0)),
    ("sum", True, (3, 2), (2, 1), (1, 1)),
    ("average_inc_pad", False, (2, 3), (1, 2), (0, 0)),
    ("average_inc_pad", True, (3, 2), (2, 1), (1, 1)),
    ("average_exc_pad", False, (3, 2), (2, 2), (0, 0)),
    ("average_exc_pad", True, (2, 2), (3, 3), (1, 1)),
]


def _pool_graph(x, cases):
    """Pooled outputs, the gradient of their cost and the gradients of the max pooling
    gradients (MaxPoolGrad's gradient: DownsampleFactorMaxGradGrad)."""
    outs = [pool_2d(x, ws=ws, ignore_border=ib, stride=st, pad=pad, mode=m)
            for m, ib, ws, st, pad in cases]
    cost = sum(((o * o).sum() for o in outs), T.constant(0.0, dtype=x.dtype))
    gmax = theano.grad(sum((o * o).sum() for o, c in zip(outs, cases) if c[0] == "max"), x)
    return outs + [theano.grad(cost, x), theano.grad((gmax * x).sum(), x)]


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_pool_modes_and_gradients(numba_strict):
    x = T.tensor3("x")
    xv = R.normal(size=(3, 7, 8))
    xv[0, :2, :2] = 1.5  # ties: every maximum gets the gradient
    f = _both([x], _pool_graph(x, POOLS), [xv])
    assert {"Pool", "MaxPoolGrad", "AveragePoolGrad",
            "DownsampleFactorMaxGradGrad"} <= _compiled(f)


def test_pool_float32_4d_and_3d_pooling(numba_strict):
    x = T.tensor4("x", dtype="float32")
    outs = _pool_graph(x, [(m,) + POOLS[1][1:] for m in ("max", "average_inc_pad")])
    p3 = pool_3d(x, ws=(2, 2, 3), ignore_border=False, stride=(1, 2, 2), mode="average_exc_pad")
    outs += [p3, theano.grad((p3 * p3).sum(), x)]
    f = _both([x], outs, [R.normal(size=(2, 3, 6, 5)).astype("float32")])
    assert {"Pool", "MaxPoolGrad", "AveragePoolGrad",
            "DownsampleFactorMaxGradGrad"} <= _compiled(f)


def test_pool_integers(numba_strict):
    x = T.imatrix("x")
    outs = [pool_2d(x, ws=(2, 2), ignore_border=True, stride=(1, 1), pad=(1, 1), mode=m)
            for m in MODES]
    f = _both([x], outs, [R.integers(-50, 50, size=(5, 4)).astype("int32")])
    assert "Pool" in _compiled(f)


@pytest.mark.slow  # 8-25 s on 2 cores (durations of the full run)
def test_conv_and_pool_inside_scan(numba_strict):
    h0, w = T.tensor4("h0"), T.tensor4("w")

    def step(h, w):
        c = T.nnet.conv2d(h, w, border_mode="half")
        return T.tanh(pool_2d(c, ws=(3, 3), stride=(1, 1), pad=(1, 1), ignore_border=True,
                              mode="average_inc_pad"))

    hs, _ = theano.scan(step, outputs_info=h0, non_sequences=w, n_steps=3)
    outs = [hs, theano.grad((hs[-1] ** 2).sum(), w)]
    f = _both([h0, w], outs, [R.normal(size=(2, 3, 5, 4)), R.normal(size=(3, 3, 3, 3)) * 0.3])
    scans = [k for k in f.fn.kernels if type(k.node.op).__name__ == "Scan"]
    assert scans and all(k.ready() for k in scans)
    inner = {type(n.op) for k in scans for n in toposort(k.node.op.inner_outputs,
                                                         stop_at=k.node.op.inner_inputs)}
    assert {Conv2d, Conv2d_gradInputs, Conv2d_gradWeights} <= inner
