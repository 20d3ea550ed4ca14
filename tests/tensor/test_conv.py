"""conv2d, its gradients and conv2d_transpose against plain reference loops and SciPy."""

import numpy as np
import pytest
import scipy.signal

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.nnet import abstract_conv, conv_kernels
from theanine.tensor.nnet.conv import (
    Conv2d,
    Conv2d_gradInputs,
    Conv2d_gradWeights,
    conv2d,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv2d_transpose,
)


# -- slow, obviously correct references ----------------------------------------------------
def ref_pads(border_mode, kshape, dilation):
    """((top, bottom), (left, right)) for a border mode, written out case by case."""
    out = []
    for axis in range(2):
        span = (kshape[axis] - 1) * dilation[axis] + 1  # the dilated filter's extent
        if border_mode == "valid":
            out.append((0, 0))
        elif border_mode == "full":
            out.append((span - 1, span - 1))
        elif border_mode == "half":
            out.append((span // 2, span // 2))
        elif isinstance(border_mode, int):
            out.append((border_mode, border_mode))
        elif isinstance(border_mode[axis], int):
            out.append((border_mode[axis], border_mode[axis]))
        else:
            out.append(tuple(border_mode[axis]))
    return out


def ref_conv2d(x, w, border_mode="valid", subsample=(1, 1), filter_flip=True,
               filter_dilation=(1, 1), num_groups=1):
    """One output cell at a time: the sum over its receptive field."""
    B, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    if filter_flip:
        w = w[:, :, ::-1, ::-1]
    (pt, pb), (pl, pr) = ref_pads(border_mode, (kh, kw), filter_dilation)
    xp = np.zeros((B, C, H + pt + pb, W + pl + pr))
    xp[:, :, pt:pt + H, pl:pl + W] = x
    dh, dw = filter_dilation
    sh, sw = subsample
    oh = (xp.shape[2] - ((kh - 1) * dh + 1)) // sh + 1
    ow = (xp.shape[3] - ((kw - 1) * dw + 1)) // sw + 1
    out = np.zeros((B, F, oh, ow))
    fg = F // num_groups
    for b in range(B):
        for f in range(F):
            g = f // fg
            for i in range(oh):
                for j in range(ow):
                    total = 0.0
                    for c in range(Cg):
                        for u in range(kh):
                            for v in range(kw):
                                total += (xp[b, g * Cg + c, i * sh + u * dh, j * sw + v * dw]
                                          * w[f, c, u, v])
                    out[b, f, i, j] = total
    return out


def ref_conv2d_transpose(y, w, out_hw, border_mode="valid", stride=(1, 1), filter_flip=True,
                         filter_dilation=(1, 1), num_groups=1):
    """Scatter every input cell through the filters (the adjoint of ref_conv2d)."""
    B, F, h, wd = y.shape
    _, Cg, kh, kw = w.shape
    if filter_flip:
        w = w[:, :, ::-1, ::-1]
    (pt, pb), (pl, pr) = ref_pads(border_mode, (kh, kw), filter_dilation)
    out = np.zeros((B, Cg * num_groups, out_hw[0] + pt + pb, out_hw[1] + pl + pr))
    fg = F // num_groups
    for b in range(B):
        for f in range(F):
            g = f // fg
            for i in range(h):
                for j in range(wd):
                    for c in range(Cg):
                        for u in range(kh):
                            for v in range(kw):
                                r = i * stride[0] + u * filter_dilation[0]
                                s = j * stride[1] + v * filter_dilation[1]
                                out[b, g * Cg + c, r, s] += y[b, f, i, j] * w[f, c, u, v]
    return out[:, :, pt:pt + out_hw[0], pl:pl + out_hw[1]]


def compiled_conv(**kw):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    return theano.function([x, w], conv2d(x, w, **kw))


# -- forward -----------------------------------------------------------------------------
@pytest.mark.parametrize("filter_flip", [True, False])
@pytest.mark.parametrize("border_mode", ["valid", "full", "half", 1, (2, 0), ((1, 2), (0, 3))])
@pytest.mark.parametrize("subsample", [(1, 1), (2, 2), (1, 3)])
def test_conv2d_matches_reference(rng, border_mode, subsample, filter_flip):
    x, w = rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((4, 3, 3, 2))
    kw = dict(border_mode=border_mode, subsample=subsample, filter_flip=filter_flip)
    got = compiled_conv(**kw)(x, w)
    np.testing.assert_allclose(got, ref_conv2d(x, w, **kw), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dilation", [(2, 2), (1, 3), (3, 2)])
@pytest.mark.parametrize("border_mode", ["valid", "full", "half", (1, 2)])
def test_conv2d_dilation(rng, dilation, border_mode):
    x, w = rng.standard_normal((1, 2, 11, 10)), rng.standard_normal((3, 2, 3, 2))
    kw = dict(border_mode=border_mode, filter_dilation=dilation, subsample=(2, 1))
    np.testing.assert_allclose(compiled_conv(**kw)(x, w), ref_conv2d(x, w, **kw), atol=1e-12)


@pytest.mark.parametrize("groups", [2, 3])
@pytest.mark.parametrize("filter_flip", [True, False])
def test_conv2d_groups(rng, groups, filter_flip):
    x = rng.standard_normal((2, 2 * groups, 6, 5))
    w = rng.standard_normal((2 * groups, 2, 3, 3))
    kw = dict(num_groups=groups, filter_flip=filter_flip, border_mode="half")
    got = compiled_conv(**kw)(x, w)
    np.testing.assert_allclose(got, ref_conv2d(x, w, **kw), atol=1e-12)
    # each group sees only its own channels
    first = compiled_conv(filter_flip=filter_flip, border_mode="half")(x[:, :2], w[:2])
    np.testing.assert_allclose(got[:, :2], first, atol=1e-12)


@pytest.mark.parametrize("mode", ["valid", "full"])
def test_filter_flip_is_scipy_convolution(rng, mode):
    """filter_flip=True is true convolution (scipy.signal.convolve2d), False correlation."""
    x, w = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((2, 3, 3, 4))
    for flip, fn in ((True, scipy.signal.convolve2d), (False, scipy.signal.correlate2d)):
        ref = np.array([[sum(fn(x[b, c], w[f, c], mode=mode) for c in range(3))
                         for f in range(2)] for b in range(2)])
        got = compiled_conv(border_mode=mode, filter_flip=flip)(x, w)
        np.testing.assert_allclose(got, ref, atol=1e-12)


def test_float32_stays_float32_and_mixed_upcasts(rng):
    x, w = T.ftensor4("x"), T.ftensor4("w")
    y = conv2d(x, w)
    assert y.dtype == "float32"
    out = theano.function([x, w], y)(rng.random((1, 1, 4, 4), dtype="float32"),
                                      rng.random((1, 1, 2, 2), dtype="float32"))
    assert out.dtype == np.float32
    assert conv2d(T.ftensor4(), T.dtensor4()).dtype == "float64"


def test_shape_inference_matches_values(rng):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    for kw in (dict(border_mode="half", subsample=(2, 3), filter_dilation=(1, 2)),
               dict(border_mode=((1, 0), (2, 1))), dict(border_mode="full")):
        y = conv2d(x, w, **kw)
        for out in [y] + T.grad(T.sum(y), [x, w]):  # Conv2d, Conv2d_gradInputs, _gradWeights
            node = out.owner
            shapes = [tuple(T.shape(v)[k] for k in range(v.ndim)) for v in node.inputs]
            inferred = node.op.infer_shape(node, shapes)[0]
            f = theano.function([x, w], list(inferred) + [out])
            res = f(rng.random((2, 3, 9, 10)), rng.random((4, 3, 3, 2)))
            assert tuple(int(s) for s in res[:4]) == res[4].shape


def test_shape_hints_and_old_image_shape_name(rng):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    f = theano.function([x, w], conv2d(x, w, image_shape=(None, 3, 5, 5),
                                       filter_shape=(2, 3, 3, 3)))
    assert f(rng.random((1, 3, 5, 5)), rng.random((2, 3, 3, 3))).shape == (1, 2, 3, 3)
    with pytest.raises(ValueError, match=r"input_shape was given as \(None, 3, 5, 5\)"):
        f(rng.random((1, 3, 6, 5)), rng.random((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="not both"):
        conv2d(x, w, input_shape=(1, 3, 5, 5), image_shape=(1, 3, 5, 5))
    with pytest.raises(ValueError, match="expects 2 channels per group"):
        conv2d(x, w, input_shape=(1, 3, 5, 5), filter_shape=(2, 2, 3, 3))


# -- errors ------------------------------------------------------------------------------
def test_errors_name_the_mistake(rng):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    with pytest.raises(TypeError, match="argument input must be a 4-d tensor.*got a 3-d"):
        conv2d(T.dtensor3(), w)
    with pytest.raises(TypeError, match="argument filters must be a 4-d tensor.*got a 2-d"):
        conv2d(x, T.dmatrix())
    with pytest.raises(ValueError, match="border_mode must be"):
        conv2d(x, w, border_mode="same_size")
    with pytest.raises(ValueError, match="subsample must be a pair of ints >= 1"):
        conv2d(x, w, subsample=(0, 1))
    with pytest.raises(ValueError, match="num_groups must be an int >= 1"):
        conv2d(x, w, num_groups=0)
    f = compiled_conv()
    with pytest.raises(ValueError, match="input has 3 channels.*expect 2 channels per group"):
        f(rng.random((1, 3, 5, 5)), rng.random((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        f(rng.random((1, 1, 2, 5)), rng.random((1, 1, 3, 3)))
    g = compiled_conv(num_groups=2)
    with pytest.raises(ValueError, match=r"number of filters \(3\) must be divisible"):
        g(rng.random((1, 4, 5, 5)), rng.random((3, 2, 3, 3)))


# -- gradients ---------------------------------------------------------------------------
GRAD_CASES = [
    dict(),
    dict(border_mode="full", filter_flip=False),
    dict(border_mode="half", subsample=(2, 1)),
    dict(border_mode=((1, 0), (0, 2)), subsample=(2, 2), filter_dilation=(2, 1)),
    dict(num_groups=2, border_mode=1),
]


@pytest.mark.parametrize("kw", GRAD_CASES, ids=str)
def test_conv2d_gradients(rng, kw):
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((2, 4 // kw.get(
        "num_groups", 1), 3, 2))
    verify_grad(lambda a, b: conv2d(a, b, **kw), [x, w], rng=rng)


def test_gradients_of_an_empty_batch_are_zeros():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w, border_mode="half")
    gx, gw = T.grad(T.sum(y), [x, w])
    f = theano.function([x, w], [y, gx, gw])
    out, gxv, gwv = f(np.zeros((0, 2, 4, 4)), np.ones((3, 2, 3, 3)))
    assert out.shape == (0, 3, 4, 4) and gxv.shape == (0, 2, 4, 4)
    np.testing.assert_array_equal(gwv, np.zeros((3, 2, 3, 3)))


@pytest.mark.parametrize("kw", GRAD_CASES[2:4], ids=str)
def test_second_order_gradients(rng, kw):
    """The gradient ops have gradients: differentiate d(cost)/dx and d(cost)/dw again."""
    x, w = rng.standard_normal((1, 4, 5, 5)), rng.standard_normal((3, 4, 2, 3))

    def grads(a, b):
        y = conv2d(a, b, **kw)
        gx, gw = T.grad(T.sum(y ** 2), [a, b])
        return T.sum(gx ** 2) + T.sum(gw * gw.sum())

    verify_grad(grads, [x, w], rng=rng)


def test_gradient_ops_appear_in_the_graph():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    gx, gw = T.grad(T.sum(conv2d(x, w, border_mode="half")), [x, w])
    assert isinstance(gx.owner.op, Conv2d_gradInputs)
    assert isinstance(gw.owner.op, Conv2d_gradWeights)
    assert gx.owner.op.border_mode == gw.owner.op.border_mode == "half"


@pytest.mark.parametrize("kw", GRAD_CASES, ids=str)
def test_grad_wrt_weights_and_inputs_are_adjoints(rng, kw):
    """<conv(x, w), g> == <x, grad_wrt_inputs(g, w)> == <w, grad_wrt_weights(x, g)>."""
    groups = kw.get("num_groups", 1)
    xv, wv = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 4 // groups, 3, 2))
    yv = ref_conv2d(xv, wv, **kw)
    gv = rng.standard_normal(yv.shape)
    x, w, g = T.dtensor4("x"), T.dtensor4("w"), T.dtensor4("g")
    gi = conv2d_grad_wrt_inputs(g, w, xv.shape, **kw)
    gw = conv2d_grad_wrt_weights(x, g, wv.shape, **kw)
    gi_v, gw_v = theano.function([x, w, g], [gi, gw])(xv, wv, gv)
    dot = np.sum(yv * gv)
    np.testing.assert_allclose(np.sum(xv * gi_v), dot, rtol=1e-10)
    np.testing.assert_allclose(np.sum(wv * gw_v), dot, rtol=1e-10)


# -- conv2d_transpose --------------------------------------------------------------------
@pytest.mark.parametrize("kw", [
    dict(), dict(border_mode="half", input_dilation=(2, 2)),
    dict(border_mode="full", filter_flip=False, input_dilation=(1, 2)),
    dict(border_mode=(1, 2), input_dilation=(3, 2), filter_dilation=(2, 1)),
    dict(num_groups=2, input_dilation=(2, 1)),
], ids=str)
def test_conv2d_transpose_matches_reference(rng, kw):
    groups = kw.get("num_groups", 1)
    y, w = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 6 // groups, 3, 2))
    stride = kw.get("input_dilation", (1, 1))
    pads = ref_pads(kw.get("border_mode", "valid"), (3, 2), kw.get("filter_dilation", (1, 1)))
    # the largest image size whose convolution has y's size; output_shape picks one
    out_hw = tuple((n - 1) * s + (k - 1) * d + 1 - p0 - p1 for n, s, k, d, (p0, p1) in
                   zip((3, 4), stride, (3, 2), kw.get("filter_dilation", (1, 1)), pads))
    ys, ws = T.dtensor4("y"), T.dtensor4("w")
    out = conv2d_transpose(ys, ws, (None, 6, *out_hw), **kw)
    got = theano.function([ys, ws], out)(y, w)
    ref = ref_conv2d_transpose(y, w, out_hw, kw.get("border_mode", "valid"), stride,
                               kw.get("filter_flip", True), kw.get("filter_dilation", (1, 1)),
                               groups)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    # and conv2d maps the result back to y's size
    back = conv2d(out, ws, border_mode=kw.get("border_mode", "valid"), subsample=stride,
                  filter_dilation=kw.get("filter_dilation", (1, 1)), num_groups=groups)
    assert theano.function([ys, ws], back)(y, w).shape == y.shape


def test_conv2d_transpose_symbolic_shape_and_gradient(rng):
    y, w, x = T.dtensor4("y"), T.dtensor4("w"), T.dtensor4("x")
    out = conv2d_transpose(y, w, x.shape, input_dilation=(2, 2))
    f = theano.function([y, w, x], out)
    assert f(rng.random((1, 2, 3, 3)), rng.random((2, 1, 3, 3)),
             np.zeros((1, 1, 8, 7))).shape == (1, 1, 8, 7)
    verify_grad(lambda a, b: conv2d_transpose(a, b, (1, 1, 8, 7), input_dilation=(2, 2)),
                [rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 1, 3, 3))], rng=rng)
    with pytest.raises(ValueError, match="output gradient has shape"):
        f(rng.random((1, 2, 3, 3)), rng.random((2, 1, 3, 3)), np.zeros((1, 1, 12, 7)))


def test_theano_module_names():
    assert T.nnet.conv2d is conv2d and T.nnet.conv2d_transpose is conv2d_transpose
    assert abstract_conv.AbstractConv2d is Conv2d
    assert abstract_conv.conv2d is conv2d
    assert abstract_conv.get_conv_output_shape((2, 3, 7, 8), (4, 3, 3, 2), "half", (2, 1),
                                               (2, 1)) == (2, 4, 4, 9)
    assert abstract_conv.get_conv_output_shape((None, 3, 7, 8), (4, 3, 3, 2), "valid",
                                               (1, 1)) == (None, 4, 5, 7)
    assert abstract_conv.get_conv_shape_1axis(7, 3, 2, 1) == 9
    assert abstract_conv.get_conv_shape_1axis(None, 3, 2, 1) is None
    assert Conv2d(border_mode=1) == Conv2d(border_mode=(1, 1))
    assert hash(Conv2d(border_mode=1)) == hash(Conv2d(border_mode=((1, 1), (1, 1))))


@pytest.mark.parametrize("budget", [1, 3000])
def test_large_batches_run_in_chunks(rng, monkeypatch, budget):
    """With a small im2col budget the batch is split (1 image, or a few, per GEMM)."""
    kw = dict(border_mode=(1, 0), subsample=(2, 1), num_groups=2)
    xv, wv = rng.standard_normal((5, 4, 6, 5)), rng.standard_normal((4, 2, 3, 2))
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w, **kw)
    gv = rng.standard_normal(ref_conv2d(xv, wv, **kw).shape)
    f = theano.function([x, w], [y] + T.grad(T.sum(y * gv), [x, w]))
    whole = f(xv, wv)
    monkeypatch.setattr(conv_kernels, "COLS_BYTES", budget)
    chunked = f(xv, wv)
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(chunked[0], ref_conv2d(xv, wv, **kw), atol=1e-12)
