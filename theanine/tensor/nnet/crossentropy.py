"""Cross-entropies of ``T.nnet``, with the softmax / sigmoid pairs fused for stability.

Invariants:
- ``categorical_crossentropy(p, y)`` and ``binary_crossentropy(p, t)`` look at how `p`
  was built: p = softmax(x) (along the last axis) is read as log p = logsoftmax(x),
  and p = sigmoid(x) as log p = -softplus(-x), log(1 - p) = -softplus(x). So the
  usual ``categorical_crossentropy(softmax(x), y)`` is finite, with a finite
  gradient, for any finite logits; other `p` use log(p) as written.
- Integer targets are checked when the function runs (CheckTargets): one per row
  of `p`, each in [0, n_classes); a mismatch raises ValueError, not a silent
  broadcast or wrap-around.
- Everything here is a composition of ops, so gradients (and second derivatives)
  come from them; the gradient with respect to integer targets is disconnected.
"""

from __future__ import annotations

from theanine.graph.basic import Apply, Op, disconnected_type
from theanine.tensor import math as M
from theanine.tensor.alloc import zeros_like
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.ranges import arange
from theanine.tensor.reduce import argmax, max_and_argmax
from theanine.tensor.reduce import sum as tsum
from theanine.tensor.scalar_ops import Sigmoid
from theanine.tensor.shape import reshape, shape
from theanine.tensor.subtensor import inc_subtensor
from theanine.tensor.type import discrete_dtypes, float_dtypes

from .softmax_ops import LogSoftmax, Softmax, logsoftmax, softmax


class CheckTargets(Op):
    """Identity on integer class indices `y`, checking at run time that there are
    `n` of them (one per row) and that each is in [0, k)."""

    __props__ = ("fn",)
    view_map = {0: [0]}  # the output is the input itself

    def __init__(self, fn="crossentropy"):
        self.fn = fn

    def make_node(self, y, n, k):
        y, n, k = (as_tensor_variable(v) for v in (y, n, k))
        return Apply(self, [y, n, k], [y.type()])

    def compute(self, node, y, n, k):
        if y.shape[0] != n:
            raise ValueError(f"{self.fn}: expected one target per row of the coding "
                             f"distribution ({int(n)} rows), got {y.shape[0]} targets")
        if y.size and (y.min() < 0 or y.max() >= k):
            bad = y[(y < 0) | (y >= k)][0]
            raise ValueError(f"{self.fn}: targets must be class indices in [0, {int(k)}), "
                             f"got {bad}")
        return y

    def grad(self, inputs, output_grads):
        return [disconnected_type() for _ in inputs]

    def connection_pattern(self, node):
        return [[False], [False], [False]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def _softmax_input(p):
    """x when p = Softmax(last axis)(x), else None."""
    node = p.owner
    if node is not None and isinstance(node.op, Softmax) and node.op.axis in (-1, p.ndim - 1):
        return node.inputs[0]
    return None


def _sigmoid_input(p):
    node = p.owner
    if (node is not None and isinstance(node.op, Elemwise)
            and isinstance(node.op.scalar_op, Sigmoid)):
        return node.inputs[0]
    return None


def _log_prob(p):
    """log(p) along the class (last) axis, through logsoftmax when p is a softmax."""
    x = _softmax_input(p)
    return M.log(p) if x is None else LogSoftmax(-1)(x)


def _check_coding(fn, p, name="coding_dist"):
    p = as_tensor_variable(p)
    if p.dtype not in float_dtypes:
        raise TypeError(f"{fn}: {name} must be a tensor of floats, got dtype {p.dtype}")
    return p


def _check_int_targets(fn, y, p):
    y = as_tensor_variable(y)
    if y.dtype not in discrete_dtypes or y.dtype == "bool":
        raise TypeError(f"{fn}: integer class indices expected for the targets (one "
                        f"per row of a {p.ndim}-d coding distribution), got dtype {y.dtype} "
                        f"({y.type}); for one-hot or probability targets pass a "
                        f"{p.ndim}-d tensor of floats")
    if y.ndim != p.ndim - 1:
        raise TypeError(f"{fn}: targets of {p.ndim - 1} dimensions expected for a "
                        f"{p.ndim}-d coding distribution, got {y.ndim} ({y.type})")
    return y


def _pick(fn, m, y):
    """m[i, y[i]] for a matrix m and checked class indices y."""
    sh = shape(m)
    y = CheckTargets(fn)(y, sh[0], sh[1])
    return m[arange(sh[0]), y]


def crossentropy_categorical_1hot(coding_dist, true_one_of_n):
    """-log(coding_dist[i, true_one_of_n[i]]) for each row i (a vector); any leading
    dimensions beyond one are flattened and restored (targets then have the shape
    of coding_dist without its last axis)."""
    return _one_hot_nll("crossentropy_categorical_1hot", coding_dist, true_one_of_n)


def _one_hot_nll(fn, coding_dist, true_one_of_n):
    p = _check_coding(fn, coding_dist)
    if p.ndim < 2:
        raise TypeError(f"{fn}: coding_dist must have at least 2 dimensions (rows of "
                        f"class probabilities), got {p.type}")
    y = _check_int_targets(fn, true_one_of_n, p)
    logits = _softmax_input(p)
    if p.ndim == 2:
        if logits is None:
            return -M.log(_pick(fn, p, y))
        return -_pick(fn, LogSoftmax(-1)(logits), y)
    lp = _log_prob(p)
    flat = reshape(lp, (-1, shape(lp)[-1]))
    return reshape(-_pick(fn, flat, y.flatten()), shape(y))


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy between each row of `coding_dist` (probabilities over the last
    axis) and `true_dist`: either integer class indices (one dimension fewer) or a
    one-hot / probability tensor of the same shape. Returns one value per row."""
    fn = "categorical_crossentropy"
    p = _check_coding(fn, coding_dist)
    t = as_tensor_variable(true_dist)
    if t.ndim == p.ndim:
        return -tsum(t * _log_prob(p), axis=p.ndim - 1)
    if t.ndim == p.ndim - 1:
        return _one_hot_nll(fn, p, t)
    raise TypeError(f"{fn}: rank mismatch between coding and true distributions: "
                    f"true_dist must have {p.ndim} dimensions (probabilities) or "
                    f"{p.ndim - 1} (class indices), got {t.ndim} ({t.type})")


def sigmoid_binary_crossentropy(output, target):
    """binary_crossentropy(sigmoid(output), target) from the logits `output`, stably:
    target * softplus(-output) + (1 - target) * softplus(output); its gradient
    with respect to output is sigmoid(output) - target."""
    x = _check_coding("sigmoid_binary_crossentropy", output, "output")
    t = as_tensor_variable(target)
    return t * M.nnet_softplus(-x) + (1 - t) * M.nnet_softplus(x)


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)) elementwise.
    When `output` is sigmoid(x), computed as sigmoid_binary_crossentropy(x, target)."""
    p = _check_coding("binary_crossentropy", output, "output")
    x = _sigmoid_input(p)
    if x is not None:
        return sigmoid_binary_crossentropy(x, target)
    t = as_tensor_variable(target)
    return -(t * M.log(p) + (1 - t) * M.log1p(-p))


# -- Theano's fused softmax + 1-hot cross-entropy family ------------------------------
def _xent_parts(fn, x, b, y_idx):
    x = _check_coding(fn, x, "x")
    if x.ndim != 2:
        raise TypeError(f"{fn}: x must be a matrix (one row of logits per example), "
                        f"got {x.type}")
    if b is not None:
        b = _check_coding(fn, b, "b")
        if b.ndim != 1:
            raise TypeError(f"{fn}: b must be a vector (one bias per class), got {b.type}")
        x = x + b
    y = _check_int_targets(fn, y_idx, x)
    nll = -_pick(fn, logsoftmax(x, axis=-1), y)
    return x, y, nll, softmax(x, axis=-1)


def crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx):
    """[nll, softmax(x + b), argmax(x + b, axis=1)] for logits x, bias b and class
    indices y_idx (the argmax has y_idx's dtype, as Theano)."""
    z, y, nll, sm = _xent_parts("crossentropy_softmax_argmax_1hot_with_bias", x, b, y_idx)
    return [nll, sm, M.cast(argmax(z, axis=1), y.dtype)]


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """[nll, softmax(x + b)]: the negative log-likelihood of y_idx under softmax(x + b)."""
    _, _, nll, sm = _xent_parts("crossentropy_softmax_1hot_with_bias", x, b, y_idx)
    return [nll, sm]


def crossentropy_softmax_1hot(x, y_idx):
    """[nll, softmax(x)]: the negative log-likelihood of y_idx under softmax(x)."""
    _, _, nll, sm = _xent_parts("crossentropy_softmax_1hot", x, None, y_idx)
    return [nll, sm]


def crossentropy_softmax_max_and_argmax_1hot_with_bias(x, b, y_idx):
    """[nll, softmax(x + b), max and argmax of that softmax per row]."""
    _, y, nll, sm = _xent_parts("crossentropy_softmax_max_and_argmax_1hot_with_bias",
                                x, b, y_idx)
    mx, am = max_and_argmax(sm, axis=-1)
    return [nll, sm, mx, am]


def crossentropy_softmax_max_and_argmax_1hot(x, y_idx):
    """[nll, softmax(x), max and argmax of that softmax per row]."""
    _, y, nll, sm = _xent_parts("crossentropy_softmax_max_and_argmax_1hot", x, None, y_idx)
    mx, am = max_and_argmax(sm, axis=-1)
    return [nll, sm, mx, am]


def crossentropy_softmax_1hot_with_bias_dx(dy, sm, y_idx):
    """Gradient with respect to the logits of the nll above: dy[:, None] * (sm - onehot)."""
    dy, sm = as_tensor_variable(dy), as_tensor_variable(sm)
    y = _check_int_targets("crossentropy_softmax_1hot_with_bias_dx", y_idx, sm)
    sh = shape(sm)
    y = CheckTargets("crossentropy_softmax_1hot_with_bias_dx")(y, sh[0], sh[1])
    g = dy.dimshuffle(0, "x") * sm
    return inc_subtensor(g[arange(sh[0]), y], -dy)


def crossentropy_categorical_1hot_grad(g_y, coding_dist, true_one_of_n):
    """Gradient of crossentropy_categorical_1hot with respect to coding_dist: zero but
    -g_y[i] / coding_dist[i, y[i]] at each target position."""
    fn = "crossentropy_categorical_1hot_grad"
    g_y, p = as_tensor_variable(g_y), _check_coding(fn, coding_dist)
    y = _check_int_targets(fn, true_one_of_n, p)
    picked = _pick(fn, p, y)
    n = shape(p)[0]
    return inc_subtensor(zeros_like(p)[arange(n), y], -g_y / picked)


__all__ = ["CheckTargets", "categorical_crossentropy", "crossentropy_categorical_1hot",
           "binary_crossentropy", "sigmoid_binary_crossentropy",
           "crossentropy_softmax_argmax_1hot_with_bias", "crossentropy_softmax_1hot_with_bias",
           "crossentropy_softmax_1hot", "crossentropy_softmax_max_and_argmax_1hot_with_bias",
           "crossentropy_softmax_max_and_argmax_1hot", "crossentropy_softmax_1hot_with_bias_dx",
           "crossentropy_categorical_1hot_grad"]
