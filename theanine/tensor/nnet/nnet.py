"""Theano's ``theano.tensor.nnet.nnet`` module: the same names as ``T.nnet``
(softmax, cross-entropies, relu, elu, ...), re-exported from where they live."""

from __future__ import annotations

from .activations import *  # noqa: F403
from .basic import *  # noqa: F403
from .crossentropy import *  # noqa: F403
from .softmax_ops import *  # noqa: F403
