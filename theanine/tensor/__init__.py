"""theanine.tensor (Theano's ``T``): symbolic tensors and the operations on them."""

from . import basic, elemwise, math, reduce, shape, type  # noqa: F401
from .alloc import alloc, broadcast_to, ones, ones_like, zeros, zeros_like
from .basic import (as_tensor_variable, col, constant, matrix, row, scalar, tensor,
                    tensor3, tensor4, tensor5, tensor6, tensor7, typed_constructors, vector)
from .elemwise import DimShuffle, Elemwise
from .extra_ops import *  # noqa: F403
from .join import Join, concatenate, join, stack
from .linalg import *  # noqa: F403
from .math import *  # noqa: F403
from .math import round  # noqa: A004
from .reduce import (all, allclose, any, argmax, argmin, max, max_and_argmax, mean, min, norm, prod,
                     ptp, std, sum, var)
from .shape import (Reshape, Shape, addbroadcast, dimshuffle, flatten,
                    patternbroadcast, reshape, shape, shape_padaxis, shape_padleft,
                    shape_padright, squeeze, swapaxes, transpose, unbroadcast)
from .sharedvar import TensorSharedVariable
from .subtensor import *  # noqa: F403
from .type import (TensorType, all_dtypes, complex_dtypes, continuous_dtypes,
                   discrete_dtypes, float_dtypes, int_dtypes, integer_dtypes, uint_dtypes)
from .checks import SpecifyShape, specify_shape
from .variable import TensorConstant, TensorVariable

from . import (blas, extra_ops, nlinalg, nnet, opt, random, shared_randomstreams, signal,
               slinalg)

globals().update(typed_constructors)

_ = tensor  # T.tensor(dtype, broadcastable)

raw_random = shared_randomstreams  # Theano's theano.tensor.raw_random


def __getattr__(name):
    """Theano's T.grad, T.Rop, ... : stated in theanine.gradient, a layer above."""
    if name in ("grad", "Rop", "Lop", "jacobian", "hessian", "verify_grad"):
        import theanine.gradient  # allow-listed: gradient sits above tensor

        return getattr(theanine.gradient, name)
    raise AttributeError(f"module 'theanine.tensor' has no attribute {name!r}")
