"""Elementwise activation functions of ``T.nnet``: the sigmoid family (Theano's
``sigm`` module), softplus, softsign, relu, elu, selu.

``sigmoid`` and ``softplus`` are the Elemwise ops themselves (as in Theano, so
``node.op == T.nnet.sigmoid`` works); the others are compositions of elementwise
ops and get their gradients from them. Every function keeps a float input's
dtype and turns an integer input into a float (Theano's upgrade_to_float).

Stability: sigmoid, softplus and their gradients use expit / logaddexp, so they are
finite for any finite input (sigmoid(-800) = 0, softplus(800) = 800, gradients 0
and 1). elu evaluates expm1 only on the non-positive part, so large positive
inputs give no inf * 0 in the gradient.
"""

from __future__ import annotations

from theanine.tensor import math as M
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.type import upgrade_to_float

sigmoid = M.nnet_sigmoid.op
softplus = M.nnet_softplus.op
scalar_sigmoid = sigmoid.scalar_op
scalar_softplus = softplus.scalar_op
sigmoid_inplace = sigmoid  # theanine has no in-place ops at the graph level

# constants of the SELU paper (Klambauer et al., 2017)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _as_float(x, fn):
    x = as_tensor_variable(x)
    if x.dtype.startswith("complex"):
        raise TypeError(f"{fn}: x must be a real tensor, got dtype {x.dtype}")
    return M.cast(x, upgrade_to_float(x.dtype))


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: clip(0.2 * x + 0.5, 0, 1)."""
    x = _as_float(x, "hard_sigmoid")
    return M.clip(x * 0.2 + 0.5, 0.0, 1.0)


# ultra_fast_sigmoid's three pieces, on h = x / 2 >= 0: 1.5 h / (1 + h) below 1.7,
# a line up to 3, then a constant; odd in h, mapped to (0, 1) by 0.5 * z + 0.5.
_UF_LINE_AT = 0.935409070603099
_UF_LINE_SLOPE = 0.0458812946797165
_UF_TOP = 0.99505475368673


def ultra_fast_sigmoid(x):
    """Theano's fast approximation of sigmoid (absolute error below 0.02).

    Its gradient is the derivative of the approximation (zero beyond |x| = 6)."""
    x = _as_float(x, "ultra_fast_sigmoid")
    h = x * 0.5
    a = M.abs_(h)
    s = M.sgn(h)
    near = 1.5 * h / (a + 1.0)
    mid = s * (_UF_LINE_AT + _UF_LINE_SLOPE * (a - 1.7))
    far = s * _UF_TOP
    z = M.switch(M.lt(a, 1.7), near, M.switch(M.lt(a, 3.0), mid, far))
    return z * 0.5 + 0.5


def softsign(x):
    """x / (1 + |x|)."""
    x = _as_float(x, "softsign")
    return x / (M.abs_(x) + 1.0)


def relu(x, alpha=0):
    """Rectified linear unit: max(x, 0), or the leaky form max(x, alpha * x) for
    0 <= alpha <= 1 (alpha may be a number or a symbolic scalar or tensor).

    Computed as Theano does, 0.5 * (1 + alpha) * x + 0.5 * (1 - alpha) * |x|, so the
    gradient at exactly 0 is 0.5 * (1 + alpha)."""
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return 0.5 * (x + M.abs_(x))
    if isinstance(alpha, (int, float)):
        return 0.5 * (1 + alpha) * x + 0.5 * (1 - alpha) * M.abs_(x)
    alpha = as_tensor_variable(alpha)
    return (alpha + 1) * 0.5 * x + (1 - alpha) * 0.5 * M.abs_(x)


def elu(x, alpha=1):
    """Exponential linear unit: x where x > 0, alpha * (exp(x) - 1) elsewhere."""
    x = _as_float(x, "elu")
    negative = M.expm1(M.minimum(x, 0))
    return M.switch(M.gt(x, 0), x, alpha * negative)


def selu(x):
    """Scaled exponential linear unit: SELU_SCALE * elu(x, SELU_ALPHA)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


__all__ = ["sigmoid", "softplus", "scalar_sigmoid", "scalar_softplus", "sigmoid_inplace",
           "hard_sigmoid", "ultra_fast_sigmoid", "softsign", "relu", "elu", "selu"]
