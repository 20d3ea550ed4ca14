"""2-d convolution with Theano 1.0's semantics: ``conv2d``, ``conv2d_transpose``,
``conv2d_grad_wrt_inputs``, ``conv2d_grad_wrt_weights``.

Three ops, one set of parameters (``__props__``, Theano's AbstractConv2d names):

- ``Conv2d(img, kern) -> out``: (B, C, H, W) x (F, C/num_groups, kh, kw) -> (B, F, OH, OW).
- ``Conv2d_gradWeights(img, topgrad, kh, kw) -> d out / d kern``.
- ``Conv2d_gradInputs(kern, topgrad, h, w) -> d out / d img``.

All three are bilinear in their two tensor inputs and are one another's adjoints, so each
op's gradient is built from the other two and gradients of any order work.
``filter_flip=True`` (Theano's default) is true convolution: the kernels are flipped in
both spatial axes; ``False`` is cross-correlation. The NumPy kernels (im2col + GEMM) are in
``conv_kernels``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, Variable, disconnected_type
from theanine.tensor.alloc import as_int64_scalar
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType, upcast

from . import conv_kernels as ac

__all__ = ["Conv2d", "Conv2d_gradWeights", "Conv2d_gradInputs", "conv2d", "conv2d_transpose",
           "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights"]


def _pair(v, name, fn, minimum=1):
    if ac._is_int(v):
        v = (v, v)
    if (isinstance(v, (tuple, list)) and len(v) == 2 and all(ac._is_int(e) for e in v)
            and min(v) >= minimum):
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{fn}: {name} must be a pair of ints >= {minimum}, got {v!r}")


def _hint(shape, name, fn):
    """A 4-entry shape hint as a tuple of ints/None (symbolic entries become None)."""
    if shape is None:
        return None
    try:
        entries = list(shape)
    except TypeError:
        raise ValueError(f"{fn}: {name} must be a sequence of 4 ints (or None), got "
                         f"{shape!r}") from None
    if len(entries) != 4:
        raise ValueError(f"{fn}: {name} must have 4 entries (batch, channels, rows, cols) "
                         f"or (n_filters, channels, rows, cols), got {shape!r}")
    out = []
    for e in entries:
        if isinstance(e, Constant):
            e = np.asarray(e.data).item()
        if ac._is_int(e) and e >= 0:
            out.append(int(e))
        elif e is None or isinstance(e, Variable):
            out.append(None)
        else:
            raise ValueError(f"{fn}: {name} entries must be ints >= 0 or None, got {shape!r}")
    return tuple(out)


def _int_scalar(s, what):
    return as_int64_scalar(s, what)


def _spatial(shape, name, fn):
    """The last two entries of a shape argument (tuple/list or int vector) as scalars."""
    if isinstance(shape, (tuple, list)):
        if len(shape) not in (2, 4):
            raise ValueError(f"{fn}: {name} must have 4 entries (or the 2 spatial ones), got "
                             f"{shape!r}")
        rows, cols = shape[-2], shape[-1]
    else:
        v = as_tensor_variable(shape)
        if v.ndim != 1:
            raise ValueError(f"{fn}: {name} must be a tuple or an int vector, got {v.type}")
        rows, cols = v[-2], v[-1]
    if rows is None or cols is None:
        raise ValueError(f"{fn}: the rows and cols of {name} must be given, got {shape!r}")
    return _int_scalar(rows, f"{fn}: {name}[-2]"), _int_scalar(cols, f"{fn}: {name}[-1]")


def _shape_i(x, i):
    return shape_i(x, i)


class _ConvOp(Op):
    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation", "num_groups",
                 "imshp", "kshp")
    fn = "conv2d"

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1),
                 filter_flip=True, filter_dilation=(1, 1), num_groups=1):
        fn = self.fn
        self.border_mode = ac.normalize_border_mode(border_mode, fn)
        self.subsample = _pair(subsample, "subsample", fn)
        self.filter_dilation = _pair(filter_dilation, "filter_dilation", fn)
        self.filter_flip = bool(filter_flip)
        if not ac._is_int(num_groups) or num_groups < 1:
            raise ValueError(f"{fn}: num_groups must be an int >= 1, got {num_groups!r}")
        self.num_groups = int(num_groups)
        self.imshp = _hint(imshp, "input_shape", fn)
        self.kshp = _hint(kshp, "filter_shape", fn)
        if self.imshp and self.kshp and None not in (self.imshp[1], self.kshp[1]) \
                and self.imshp[1] != self.kshp[1] * self.num_groups:
            raise ValueError(f"{fn}: input_shape {self.imshp} has {self.imshp[1]} channels but "
                             f"filter_shape {self.kshp} expects {self.kshp[1]} channels per "
                             f"group x num_groups={self.num_groups}")

    def _kw(self):
        return {p: getattr(self, p) for p in self.__props__}

    def _tensor4(self, v, name, layout):
        v = as_tensor_variable(v)
        if v.ndim != 4:
            raise TypeError(f"{self.fn}: argument {name} must be a 4-d tensor {layout}, got a "
                            f"{v.ndim}-d tensor of type {v.type}")
        if v.dtype.startswith("complex"):
            raise TypeError(f"{self.fn}: argument {name} must be real, got {v.type}")
        return v

    def _pads(self, kshape):
        return ac.border_mode_pads(self.border_mode, kshape, self.filter_dilation)

    def _check(self, img_shape, kern_shape, out_shape=None, ok=None):
        """Validate runtime shapes (any may lack entries given as None)."""
        fn, G = self.fn, self.num_groups
        for hint, actual, name in ((self.imshp, img_shape, "input_shape"),
                                   (self.kshp, kern_shape, "filter_shape")):
            if hint and any(h is not None and h != a for h, a in zip(hint, actual)):
                raise ValueError(f"{fn}: {name} was given as {hint} but the actual shape is "
                                 f"{tuple(actual)}")
        B, C, H, W = img_shape
        F, Cg, kh, kw = kern_shape
        if C != Cg * G:
            raise ValueError(f"{fn}: the input has {C} channels (shape {tuple(img_shape)}) but "
                             f"the filters (shape {tuple(kern_shape)}) expect {Cg} channels "
                             f"per group x num_groups={G} = {Cg * G}")
        if F % G:
            raise ValueError(f"{fn}: the number of filters ({F}) must be divisible by "
                             f"num_groups={G}")
        pads = self._pads((kh, kw))
        oh, ow = (ac._out_len(n, k, p, s, d) for n, k, p, s, d in
                  zip((H, W), (kh, kw), pads, self.subsample, self.filter_dilation))
        if oh < 1 or ow < 1:
            raise ValueError(f"{fn}: the filters ({kh}x{kw}, dilation {self.filter_dilation}) "
                             f"are larger than the padded input ({H}x{W} padded by {pads}); "
                             f"input shape {tuple(img_shape)}, border_mode={self.border_mode!r}")
        if out_shape is not None and tuple(out_shape) != (B, F, oh, ow):
            raise ValueError(f"{fn}: the output gradient has shape {tuple(out_shape)} but a "
                             f"convolution of input {tuple(img_shape)} with filters "
                             f"{tuple(kern_shape)} gives {(B, F, oh, ow)}")
        return pads

    def _flip(self, k):
        return k[:, :, ::-1, ::-1] if self.filter_flip else k

    def _out_size(self, n, k, axis):
        """Symbolic output length along spatial `axis` (0: rows, 1: cols)."""
        d, s = self.filter_dilation[axis], self.subsample[axis]
        if isinstance(self.border_mode, str):
            ((p0, p1),) = ac.border_mode_pads(self.border_mode, (k,), (d,))
        else:
            p0, p1 = self.border_mode[axis]
        return (n + p0 + p1 - (k - 1) * d - 1) // s + 1


class Conv2d(_ConvOp):
    """Theano's AbstractConv2d: convolution of images (B, C, H, W) with filters
    (F, C/num_groups, kh, kw), giving (B, F, OH, OW)."""

    def make_node(self, img, kern):
        img = self._tensor4(img, "input", "(batch, channels, rows, cols)")
        kern = self._tensor4(kern, "filters", "(n_filters, channels/num_groups, rows, cols)")
        bc = (img.broadcastable[0], kern.broadcastable[0], False, False)
        return Apply(self, [img, kern], [TensorType(upcast(img.dtype, kern.dtype), bc)()])

    def compute(self, node, img, kern):
        pads = self._check(img.shape, kern.shape)
        out = ac.corr2d(img, self._flip(kern), pads, self.subsample, self.filter_dilation,
                        self.num_groups)
        return out.astype(node.outputs[0].type.dtype, copy=False)

    def grad(self, inputs, output_grads):
        img, kern = inputs
        (gz,) = output_grads
        gi = Conv2d_gradInputs(**self._kw())(kern, gz, _shape_i(img, 2), _shape_i(img, 3))
        gw = Conv2d_gradWeights(**self._kw())(img, gz, _shape_i(kern, 2), _shape_i(kern, 3))
        return [gi, gw]

    def infer_shape(self, node, shapes):
        (b, _, h, w), (f, _, kh, kw) = shapes
        return [(b, f, self._out_size(h, kh, 0), self._out_size(w, kw, 1))]


class _ConvGradOp(_ConvOp):
    def _parts(self, a, topgrad, shape):
        if len(shape) == 1:
            h, w = _spatial(shape[0], "shape", self.fn)
        elif len(shape) == 2 and not any(isinstance(s, (tuple, list)) for s in shape):
            h, w = (_int_scalar(s, f"{self.fn}: shape[{i}]") for i, s in enumerate(shape))
        else:
            raise TypeError(f"{self.fn}: give the spatial shape as one pair or as two int "
                            f"scalars, got {len(shape)} extra arguments")
        return a, self._tensor4(topgrad, "topgrad", "(batch, n_filters, rows, cols)"), h, w

    def connection_pattern(self, node):
        return [[True], [True], [False], [False]]


class Conv2d_gradWeights(_ConvGradOp):
    """Theano's AbstractConv2d_gradWeights: the gradient of Conv2d wrt its filters, from
    the images, the output gradient and the filters' spatial shape (kh, kw)."""

    fn = "conv2d_grad_wrt_weights"

    def make_node(self, img, topgrad, *shape):
        img = self._tensor4(img, "input", "(batch, channels, rows, cols)")
        img, topgrad, kh, kw = self._parts(img, topgrad, shape)
        bc = (topgrad.broadcastable[1], img.broadcastable[1] and self.num_groups == 1,
              False, False)
        return Apply(self, [img, topgrad, kh, kw],
                     [TensorType(upcast(img.dtype, topgrad.dtype), bc)()])

    def compute(self, node, img, gz, kh, kw):
        G = self.num_groups
        if img.shape[1] % G:
            raise ValueError(f"{self.fn}: the input's {img.shape[1]} channels are not "
                             f"divisible by num_groups={G}")
        kshape = (gz.shape[1], img.shape[1] // G, int(kh), int(kw))
        pads = self._check(img.shape, kshape, gz.shape)
        gw = ac.corr2d_grad_weights(img, gz, kshape[2:], pads, self.subsample,
                                    self.filter_dilation, G)
        return np.ascontiguousarray(self._flip(gw), dtype=node.outputs[0].type.dtype)

    def grad(self, inputs, output_grads):
        img, gz = inputs[:2]
        (ggw,) = output_grads
        gi = Conv2d_gradInputs(**self._kw())(ggw, gz, _shape_i(img, 2), _shape_i(img, 3))
        ggz = Conv2d(**self._kw())(img, ggw)
        return [gi, ggz, disconnected_type(), disconnected_type()]

    def infer_shape(self, node, shapes):
        img_s, gz_s = shapes[:2]
        return [(gz_s[1], img_s[1] // self.num_groups, node.inputs[2], node.inputs[3])]


class Conv2d_gradInputs(_ConvGradOp):
    """Theano's AbstractConv2d_gradInputs: the gradient of Conv2d wrt its images, from the
    filters, the output gradient and the images' spatial shape (rows, cols)."""

    fn = "conv2d_grad_wrt_inputs"

    def make_node(self, kern, topgrad, *shape):
        kern = self._tensor4(kern, "filters", "(n_filters, channels/num_groups, rows, cols)")
        kern, topgrad, h, w = self._parts(kern, topgrad, shape)
        bc = (topgrad.broadcastable[0], kern.broadcastable[1] and self.num_groups == 1,
              False, False)
        return Apply(self, [kern, topgrad, h, w],
                     [TensorType(upcast(kern.dtype, topgrad.dtype), bc)()])

    def compute(self, node, kern, gz, h, w):
        if gz.shape[1] != kern.shape[0]:
            raise ValueError(f"{self.fn}: the output gradient has {gz.shape[1]} channels "
                             f"(shape {gz.shape}) but there are {kern.shape[0]} filters "
                             f"(shape {kern.shape})")
        ishape = (gz.shape[0], kern.shape[1] * self.num_groups, int(h), int(w))
        pads = self._check(ishape, kern.shape, gz.shape)
        gi = ac.corr2d_grad_inputs(self._flip(kern), gz, ishape[2:], pads, self.subsample,
                                   self.filter_dilation, self.num_groups)
        return np.ascontiguousarray(gi, dtype=node.outputs[0].type.dtype)

    def grad(self, inputs, output_grads):
        kern, gz = inputs[:2]
        (ggi,) = output_grads
        gw = Conv2d_gradWeights(**self._kw())(ggi, gz, _shape_i(kern, 2), _shape_i(kern, 3))
        ggz = Conv2d(**self._kw())(ggi, kern)
        return [gw, ggz, disconnected_type(), disconnected_type()]

    def infer_shape(self, node, shapes):
        kern_s, gz_s = shapes[:2]
        return [(gz_s[0], kern_s[1] * self.num_groups, node.inputs[2], node.inputs[3])]


# -- user functions ----------------------------------------------------------------------
def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           num_groups=1):
    """Convolve a batch of images (B, C, H, W) with filters (F, C/num_groups, kh, kw).

    border_mode: 'valid' (no padding), 'full' (pad by the dilated filter size - 1),
    'half' (pad by half the dilated filter size: same size for odd filters), an int or
    (rows, cols) pair of zero-padding. subsample: strides. filter_flip: True convolves
    (flips the filters), False cross-correlates. input_shape / filter_shape: optional
    shape hints (ints or None), checked at run time; image_shape is Theano's old name."""
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: give input_shape or its old name image_shape, not both")
        input_shape = image_shape
    op = Conv2d(imshp=input_shape, kshp=filter_shape, border_mode=border_mode,
                subsample=subsample, filter_flip=filter_flip, filter_dilation=filter_dilation,
                num_groups=num_groups)
    return op(input, filters)


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1):
    """The gradient of ``conv2d`` wrt its input: images of `input_shape` (4 entries; the
    rows and cols must be given, ints or int scalars), from the output gradient."""
    rows, cols = _spatial(input_shape, "input_shape", "conv2d_grad_wrt_inputs")
    hint = input_shape if isinstance(input_shape, (tuple, list)) and len(input_shape) == 4 \
        else None
    op = Conv2d_gradInputs(imshp=hint, kshp=filter_shape, border_mode=border_mode,
                           subsample=subsample, filter_flip=filter_flip,
                           filter_dilation=filter_dilation, num_groups=num_groups)
    return op(filters, output_grad, rows, cols)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1):
    """The gradient of ``conv2d`` wrt its filters, of `filter_shape` (4 entries; the rows
    and cols must be given), from the input images and the output gradient."""
    rows, cols = _spatial(filter_shape, "filter_shape", "conv2d_grad_wrt_weights")
    hint = filter_shape if isinstance(filter_shape, (tuple, list)) and len(filter_shape) == 4 \
        else None
    op = Conv2d_gradWeights(imshp=input_shape, kshp=hint, border_mode=border_mode,
                            subsample=subsample, filter_flip=filter_flip,
                            filter_dilation=filter_dilation, num_groups=num_groups)
    return op(input, output_grad, rows, cols)


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip=True, filter_dilation=(1, 1),
                     num_groups=1):
    """Transposed convolution ("deconvolution"): the gradient of ``conv2d`` wrt its input.

    input: (B, F, h, w); filters: (F, C/num_groups, kh, kw), as for the conv2d being
    transposed; output_shape: (B, C, H, W) (rows and cols required: several sizes map to
    one input size when input_dilation > 1); input_dilation is that conv2d's subsample."""
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape=filter_shape,
                                  border_mode=border_mode, subsample=input_dilation,
                                  filter_flip=filter_flip, filter_dilation=filter_dilation,
                                  num_groups=num_groups)
