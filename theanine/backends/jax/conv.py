"""2-d convolution and its gradients: Conv2d is ``lax.conv_general_dilated``
(NCHW images, OIHW filters, groups, strides, dilation, padding from the border
mode), flipped filters for a true convolution; the two gradient ops are the
vector-Jacobian products of that same function (JAX transposes it), so they
match it exactly. Shapes are checked when tracing with the py backend's
messages (``_ConvOp._check``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theanine.tensor.nnet.conv import Conv2d, Conv2d_gradInputs, Conv2d_gradWeights

from .evaluate import static_inputs
from .registry import lowerings


def _conv(op, pads, dt):
    def fn(img, kern):
        k = kern[:, :, ::-1, ::-1] if op.filter_flip else kern
        return jax.lax.conv_general_dilated(
            img.astype(dt), k.astype(dt), window_strides=op.subsample,
            padding=[tuple(int(q) for q in p) for p in pads],
            rhs_dilation=op.filter_dilation, feature_group_count=op.num_groups,
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
            precision=jax.lax.Precision.HIGHEST)

    return fn


@lowerings.register(Conv2d)
def _conv2d(node, img, kern):
    op = node.op
    pads = op._check(img.shape, kern.shape)
    return _conv(op, pads, node.outputs[0].type.dtype)(img, kern)


@lowerings.register(Conv2d_gradWeights)
@static_inputs(2, 3)
def _conv2d_grad_weights(node, img, gz, kh, kw):
    op = node.op
    G = op.num_groups
    if img.shape[1] % G:
        raise ValueError(f"{op.fn}: the input's {img.shape[1]} channels are not divisible by "
                         f"num_groups={G}")
    kshape = (gz.shape[1], img.shape[1] // G, int(kh), int(kw))
    pads = op._check(img.shape, kshape, gz.shape)
    dt = node.outputs[0].type.dtype
    fn = _conv(op, pads, dt)
    _, vjp = jax.vjp(lambda k: fn(img, k), jnp.zeros(kshape, dt))
    return vjp(gz.astype(dt))[0]


@lowerings.register(Conv2d_gradInputs)
@static_inputs(2, 3)
def _conv2d_grad_inputs(node, kern, gz, h, w):
    op = node.op
    if gz.shape[1] != kern.shape[0]:
        raise ValueError(f"{op.fn}: the output gradient has {gz.shape[1]} channels (shape "
                         f"{gz.shape}) but there are {kern.shape[0]} filters (shape "
                         f"{kern.shape})")
    ishape = (gz.shape[0], kern.shape[1] * op.num_groups, int(h), int(w))
    pads = op._check(ishape, kern.shape, gz.shape)
    dt = node.outputs[0].type.dtype
    fn = _conv(op, pads, dt)
    _, vjp = jax.vjp(lambda x: fn(x, kern), jnp.zeros(ishape, dt))
    return vjp(gz.astype(dt))[0]
