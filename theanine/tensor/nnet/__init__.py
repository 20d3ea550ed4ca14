"""theanine.tensor.nnet (Theano's ``T.nnet``): activations, softmax, cross-entropies,
hierarchical softmax, batch normalization; convolution lives in ``.conv`` and is
imported on first use (``T.nnet.conv2d``)."""

from __future__ import annotations

import importlib

from . import activations, bn, crossentropy, nnet, softmax_ops  # noqa: F401
from .activations import *  # noqa: F403
from .basic import *  # noqa: F403
from .bn import batch_normalization  # noqa: F401
from .crossentropy import *  # noqa: F403
from .softmax_ops import *  # noqa: F403

sigm = activations  # Theano's theano.tensor.nnet.sigm module (sigmoid family)
# nnet: Theano's theano.tensor.nnet.nnet module

# Convolution (another module, possibly absent): its submodules and names are
# imported on first access, so this package works without them.
_CONV_MODULES = ("conv", "abstract_conv")


def _conv_module(name):
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        return None


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _CONV_MODULES:
        mod = _conv_module(name)
        if mod is not None:
            return mod
    else:
        conv = _conv_module("conv")
        if conv is not None and hasattr(conv, name):
            return getattr(conv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (convolution "
                         "names come from theanine.tensor.nnet.conv)")
