"""Theano's theano.tensor.nnet.abstract_conv: the convolution ops and functions of
conv.py (AbstractConv2d* are Theano's names for the Conv2d* ops) and the shape helpers
of conv_kernels.py."""

from .conv import (  # noqa: F401
    Conv2d,
    Conv2d_gradInputs,
    Conv2d_gradWeights,
    conv2d,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv2d_transpose,
)
from .conv_kernels import *  # noqa: F403
from .conv_kernels import __all__ as _kernels_all

AbstractConv2d = Conv2d
AbstractConv2d_gradWeights = Conv2d_gradWeights
AbstractConv2d_gradInputs = Conv2d_gradInputs

__all__ = _kernels_all + ["conv2d", "conv2d_transpose", "conv2d_grad_wrt_inputs",
                          "conv2d_grad_wrt_weights", "Conv2d", "Conv2d_gradWeights",
                          "Conv2d_gradInputs", "AbstractConv2d", "AbstractConv2d_gradWeights",
                          "AbstractConv2d_gradInputs"]
