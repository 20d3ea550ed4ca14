"""theanine.tensor.nnet (Theano's ``T.nnet``): activations, softmax, cross-entropies,
hierarchical softmax, batch normalization, 2-d convolution (``.conv``)."""

from __future__ import annotations

from . import abstract_conv, activations, bn, conv, crossentropy, nnet, softmax_ops  # noqa: F401
from .activations import *  # noqa: F403
from .basic import *  # noqa: F403
from .bn import batch_normalization  # noqa: F401
from .conv import *  # noqa: F403
from .crossentropy import *  # noqa: F403
from .softmax_ops import *  # noqa: F403

sigm = activations  # Theano's theano.tensor.nnet.sigm module (sigmoid family)
# nnet: Theano's theano.tensor.nnet.nnet module
