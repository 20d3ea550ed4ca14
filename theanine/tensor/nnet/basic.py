"""Model-level helpers of ``T.nnet``: hierarchical softmax, confusion matrix, and
Theano's prepend-a-column helpers. All are compositions of other ops.
"""

from __future__ import annotations

from theanine.tensor import math as M
from theanine.tensor.alloc import alloc
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.join import concatenate
from theanine.tensor.linalg import batched_dot, dot
from theanine.tensor.ranges import arange
from theanine.tensor.shape import reshape, shape
from theanine.tensor.sorting import unique
from theanine.tensor.type import discrete_dtypes

from .softmax_ops import softmax


def _expect_ndim(fn, name, v, ndim):
    v = as_tensor_variable(v)
    if v.ndim != ndim:
        raise TypeError(f"{fn}: {name} must have {ndim} dimensions, got {v.ndim} ({v.type})")
    return v


def h_softmax(x, batch_size, n_outputs, n_classes, n_outputs_per_class, W1, b1, W2, b2,
              target=None):
    """Two-level hierarchical softmax (Theano's ``h_softmax``).

    The n_outputs outputs are split into n_classes classes of n_outputs_per_class
    outputs each (n_classes * n_outputs_per_class >= n_outputs). The probability of
    output o is P(class o // n_outputs_per_class) * P(o % n_outputs_per_class | class).

    x: (batch_size, n_in); W1: (n_in, n_classes); b1: (n_classes,);
    W2: (n_classes, n_in, n_outputs_per_class); b2: (n_classes, n_outputs_per_class).
    With target=None, returns the (batch_size, n_outputs) matrix of all output
    probabilities; with an integer vector `target`, the (batch_size,) probabilities
    of those outputs only (the cheap training path: one class per example).
    """
    fn = "h_softmax"
    x = _expect_ndim(fn, "x", x, 2)
    W1, b1 = _expect_ndim(fn, "W1", W1, 2), _expect_ndim(fn, "b1", b1, 1)
    W2, b2 = _expect_ndim(fn, "W2", W2, 3), _expect_ndim(fn, "b2", b2, 2)
    class_probs = softmax(dot(x, W1) + b1, axis=-1)  # (batch, n_classes)
    if target is None:
        # (batch, n_in) . (n_classes, n_in, per_class) -> (batch, n_classes, per_class)
        within = softmax(dot(x, W2) + b2, axis=-1)
        probs = class_probs.dimshuffle(0, 1, "x") * within
        probs = reshape(probs, (batch_size, n_classes * n_outputs_per_class))
        return probs[:, :n_outputs]
    target = _expect_ndim(fn, "target", target, 1)
    if target.dtype not in discrete_dtypes or target.dtype == "bool":
        raise TypeError(f"{fn}: target must hold integer output indices, got dtype "
                        f"{target.dtype}")
    target_classes = target // n_outputs_per_class
    target_in_class = target % n_outputs_per_class
    rows = arange(shape(x)[0])
    # one class per example: (batch, n_in) . (batch, n_in, per_class) -> (batch, per_class)
    acts = batched_dot(x, W2[target_classes]) + b2[target_classes]
    within = softmax(acts, axis=-1)
    return class_probs[rows, target_classes] * within[rows, target_in_class]


def confusion_matrix(actual, pred):
    """[conf_mat, order] for vectors of actual and predicted labels (Theano's).

    order is the sorted vector of the labels seen in either; conf_mat[i, j] (int64)
    counts the examples of actual label order[i] predicted as order[j]."""
    fn = "confusion_matrix"
    actual, pred = _expect_ndim(fn, "actual", actual, 1), _expect_ndim(fn, "pred", pred, 1)
    order = unique(concatenate([actual, pred]))
    one_hot_actual = M.cast(M.eq(actual.dimshuffle(0, "x"), order), "int64")
    one_hot_pred = M.cast(M.eq(pred.dimshuffle(0, "x"), order), "int64")
    return [dot(one_hot_actual.T, one_hot_pred), order]


def prepend_scalar_to_each_row(val, x):
    """A column of `val` joined before the columns of the matrix `x`."""
    x = _expect_ndim("prepend_scalar_to_each_row", "x", x, 2)
    val = as_tensor_variable(val)
    if val.ndim != 0:
        raise TypeError(f"prepend_scalar_to_each_row: val must be a scalar, got {val.type}")
    col = alloc(M.cast(val, x.dtype), shape(x)[0], 1)
    return concatenate([col, x], axis=1)


prepend_scalar_constant_to_each_row = prepend_scalar_to_each_row


def prepend_0_to_each_row(x):
    """A column of zeros joined before the columns of the matrix `x`."""
    return prepend_scalar_to_each_row(0, x)


def prepend_1_to_each_row(x):
    """A column of ones joined before the columns of the matrix `x`."""
    return prepend_scalar_to_each_row(1, x)


__all__ = ["h_softmax", "confusion_matrix", "prepend_scalar_to_each_row",
           "prepend_scalar_constant_to_each_row", "prepend_0_to_each_row",
           "prepend_1_to_each_row"]
