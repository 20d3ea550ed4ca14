"""pool_2d / pool_3d and their gradients against plain reference loops."""

import warnings

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.signal.pool import (
    AveragePoolGrad,
    DownsampleFactorMaxGradGrad,
    MaxPoolGrad,
    Pool,
    max_pool_2d_same_size,
    pool_2d,
    pool_3d,
)

MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


# -- slow references ---------------------------------------------------------------------
def ref_windows(shape, ws, ignore_border, stride, pad, mode):
    """For each output cell (i, j): the (row, col) ranges of x it reads, and the divisor.
    Rows/cols are in unpadded coordinates."""
    r, c = shape
    stride = stride or ws
    out = []
    for axis, n in enumerate((r, c)):
        w, s, p = ws[axis], stride[axis], pad[axis]
        if ignore_border:
            count = max(0, (n + 2 * p - w) // s + 1)
        elif s >= w:
            count = (n - 1) // s + 1
        else:
            count = max(0, (n - 1 - w + s) // s) + 1
        spans = []
        for i in range(count):
            start, end = i * s - p, i * s - p + w  # the window in x's coordinates
            lo, hi = max(start, 0), min(end, n)  # the real cells in it
            if mode == "average_inc_pad":  # cells of the padded input in it
                div = min(end, n + p) - max(start, -p)
            else:
                div = hi - lo
            spans.append((lo, hi, div))
        out.append(spans)
    return out


def ref_pool(x, ws, ignore_border, stride=None, pad=(0, 0), mode="max"):
    rows, cols = ref_windows(x.shape[-2:], ws, ignore_border, stride, pad, mode)
    res = np.zeros(x.shape[:-2] + (len(rows), len(cols)))
    for k in np.ndindex(*x.shape[:-2]):
        for i, (r0, r1, rd) in enumerate(rows):
            for j, (c0, c1, cd) in enumerate(cols):
                block = x[k][r0:r1, c0:c1]
                if mode == "max":
                    res[k][i, j] = block.max()
                elif mode == "sum":
                    res[k][i, j] = block.sum()
                else:
                    res[k][i, j] = block.sum() / (rd * cd)
    return res


def ref_pool_grad(x, gz, ws, ignore_border, stride=None, pad=(0, 0), mode="max"):
    rows, cols = ref_windows(x.shape[-2:], ws, ignore_border, stride, pad, mode)
    gx = np.zeros(x.shape)
    for k in np.ndindex(*x.shape[:-2]):
        for i, (r0, r1, rd) in enumerate(rows):
            for j, (c0, c1, cd) in enumerate(cols):
                for a in range(r0, r1):
                    for b in range(c0, c1):
                        if mode == "max":
                            if x[k][a, b] == x[k][r0:r1, c0:c1].max():
                                gx[k][a, b] += gz[k][i, j]
                        elif mode == "sum":
                            gx[k][a, b] += gz[k][i, j]
                        else:
                            gx[k][a, b] += gz[k][i, j] / (rd * cd)
    return gx


GEOMETRIES = [  # (ws, stride, pad)
    ((2, 2), None, (0, 0)),
    ((3, 2), (1, 2), (0, 0)),
    ((2, 3), (3, 1), (0, 0)),
    ((3, 3), (2, 2), (1, 2)),
    ((2, 2), (1, 1), (1, 1)),
    ((1, 1), None, (0, 0)),
]
CASES = [(ib, ws, st, pad) for ib in (True, False) for ws, st, pad in GEOMETRIES
         if ib or pad == (0, 0)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ignore_border,ws,stride,pad", CASES)
def test_pool_2d_and_gradient_match_reference(rng, mode, ignore_border, ws, stride, pad):
    x = rng.standard_normal((2, 3, 5, 7))
    xs = T.dtensor4("x")
    y = pool_2d(xs, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    expected = ref_pool(x, ws, ignore_border, stride, pad, mode)
    gz = rng.standard_normal(expected.shape)
    gx = T.grad(T.sum(y * gz), xs)
    got, got_g = theano.function([xs], [y, gx])(x)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(got_g, ref_pool_grad(x, gz, ws, ignore_border, stride, pad,
                                                    mode), atol=1e-12)
    # infer_shape agrees
    node = y.owner
    inferred = node.op.infer_shape(node, [tuple(xs.shape[k] for k in range(4))])[0]
    assert tuple(int(theano.function([xs], s)(x)) for s in inferred[2:]) == got.shape[2:]


@pytest.mark.parametrize("mode", MODES)
def test_any_leading_dims_and_dtypes(rng, mode):
    for shape in [(6, 5), (2, 1, 3, 6, 5)]:
        x = rng.standard_normal(shape).astype("float32")
        xs = T.TensorType("float32", (False,) * len(shape))("x")
        y = pool_2d(xs, (2, 2), ignore_border=False, mode=mode)
        got = theano.function([xs], y)(x)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref_pool(x.astype("float64"), (2, 2), False,
                                                 mode=mode), rtol=1e-6)
    xi = T.imatrix("xi")
    got = theano.function([xi], pool_2d(xi, (2, 2), ignore_border=True, mode=mode))(
        np.arange(16, dtype="int32").reshape(4, 4))
    assert got.dtype == np.int32


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ignore_border,ws,stride,pad", [CASES[1], CASES[3], CASES[-3]])
def test_pool_gradients_numerically(rng, mode, ignore_border, ws, stride, pad):
    x = rng.standard_normal((2, 5, 6))
    verify_grad(lambda a: pool_2d(a, ws, ignore_border=ignore_border, stride=stride, pad=pad,
                                  mode=mode), [x], rng=rng)


def test_max_gradient_goes_to_every_tied_maximum():
    x = np.array([[3.0, 3.0, 1.0], [0.0, 3.0, 2.0]])
    xs = T.dmatrix("x")
    g = T.grad(T.sum(pool_2d(xs, (2, 2), ignore_border=False)), xs)
    np.testing.assert_array_equal(theano.function([xs], g)(x), [[1, 1, 0], [0, 1, 1]])


@pytest.mark.parametrize("ignore_border,ws,stride,pad", [CASES[1], CASES[3], CASES[-3]])
def test_second_order_max(rng, ignore_border, ws, stride, pad):
    """MaxPoolGrad is linear in gz (its gradient is DownsampleFactorMaxGradGrad) and back."""
    x = rng.standard_normal((2, 5, 6))
    props = dict(ignore_border=ignore_border, ws=ws, stride=stride, pad=pad)
    maxout = ref_pool(x, ws, ignore_border, stride, pad)
    verify_grad(lambda gz: MaxPoolGrad(**props)(x, maxout, gz),
                [rng.standard_normal(maxout.shape)], rng=rng)
    verify_grad(lambda ggx: DownsampleFactorMaxGradGrad(**props)(x, maxout, ggx),
                [rng.standard_normal(x.shape)], rng=rng)
    gz = rng.standard_normal(maxout.shape)
    ggz = theano.function([], DownsampleFactorMaxGradGrad(**props)(x, maxout, x))()
    np.testing.assert_allclose(ggz, maxout * (maxout == maxout))  # picks the max itself
    assert np.isclose(np.sum(ref_pool_grad(x, gz, ws, ignore_border, stride, pad) * x),
                      np.sum(gz * ggz))


@pytest.mark.parametrize("mode", MODES[1:])
def test_second_order_average(rng, mode):
    x = rng.standard_normal((2, 5, 6))
    props = dict(ignore_border=True, ws=(3, 2), stride=(2, 1), pad=(1, 1), mode=mode)
    gz = rng.standard_normal(ref_pool(x, (3, 2), True, (2, 1), (1, 1), mode).shape)
    verify_grad(lambda g: AveragePoolGrad(**props)(x, g), [gz], rng=rng)

    def twice(a):  # second derivative through the gradient op (zero: pooling is linear)
        g = T.grad(T.sum(pool_2d(a, (3, 2), True, (2, 1), (1, 1), mode) ** 2), a)
        return T.sum(g ** 2)

    verify_grad(twice, [x], rng=rng)


def test_theano_op_call_forms(rng):
    x = rng.standard_normal((1, 4, 4))
    xs = T.dtensor3("x")
    y = Pool(ignore_border=True, mode="sum")(xs, (2, 2), (1, 1))
    np.testing.assert_allclose(theano.function([xs], y)(x), ref_pool(x, (2, 2), True, (1, 1),
                                                                     mode="sum"))
    assert Pool(True, ws=(2, 2)) == Pool(True, ws=[2, 2], stride=(2, 2), pad=(0, 0))


def test_pool_3d_and_same_size(rng):
    x = rng.standard_normal((2, 4, 6, 4))
    xs = T.dtensor4("x")
    got = theano.function([xs], pool_3d(xs, (2, 3, 2), ignore_border=True))(x)
    np.testing.assert_allclose(got, x.reshape(2, 2, 2, 2, 3, 2, 2).max(axis=(2, 4, 6)))
    got = theano.function([xs], pool_3d(xs, (2, 2, 2), ignore_border=True, mode="sum"))(x)
    np.testing.assert_allclose(got, x.reshape(2, 2, 2, 3, 2, 2, 2).sum(axis=(2, 4, 6)))
    m = rng.standard_normal((1, 5, 4))
    ms = T.dtensor3("m")
    same = theano.function([ms], max_pool_2d_same_size(ms, (2, 2)))(m)
    expected = np.zeros_like(m)
    for i in range(0, 4, 2):
        for j in range(0, 4, 2):
            block = m[0, i:i + 2, j:j + 2]
            expected[0, i:i + 2, j:j + 2] = np.where(block == block.max(), block, 0)
    np.testing.assert_array_equal(same, expected)


def test_defaults_and_deprecated_names(rng):
    x = rng.standard_normal((5, 5))
    xs = T.dmatrix("x")
    with pytest.warns(UserWarning, match="ignore_border defaults to False"):
        y = pool_2d(xs, (2, 2))
    assert theano.function([xs], y)(x).shape == (3, 3)  # ignore_border=False: partial windows
    with pytest.warns(DeprecationWarning, match="(ds|st) is deprecated") as record:
        y = pool_2d(xs, ds=(2, 2), st=(1, 1), ignore_border=True)
    assert theano.function([xs], y)(x).shape == (4, 4)
    assert len(record) == 2 and record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        y = pool_2d(xs, (3, 3), ignore_border=True, padding=(1, 1), mode="average_exc_pad")
    np.testing.assert_allclose(theano.function([xs], y)(x),
                               ref_pool(x, (3, 3), True, pad=(1, 1), mode="average_exc_pad"))


def test_errors_name_the_mistake():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="padding .* works only with ignore_border=True"):
        pool_2d(x, (2, 2), ignore_border=False, pad=(1, 0))
    with pytest.raises(ValueError, match="pad must be smaller than the window"):
        pool_2d(x, (2, 2), ignore_border=True, pad=(2, 0))
    with pytest.raises(TypeError, match="input must have at least 2 dimensions.*1-d"):
        pool_2d(T.dvector(), (2, 2), ignore_border=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        pool_2d(x, (2, 2), ignore_border=True, mode="mean")
    with pytest.raises(TypeError, match="give the window size ws"):
        pool_2d(x, ignore_border=True)
    with pytest.raises(ValueError, match="ws must be a tuple of 2 ints >= 1"):
        pool_2d(x, (2, 0), ignore_border=True)
    with pytest.raises(ValueError, match="not both"):
        pool_2d(x, (2, 2), ignore_border=True, ds=(2, 2))
    with pytest.raises(TypeError, match="must be known when the graph is built"):
        pool_2d(x, T.ivector(), ignore_border=True)
    with pytest.raises(TypeError, match="argument gz must have at least 2"):
        MaxPoolGrad(True, ws=(2, 2))(x, x, T.dvector())
