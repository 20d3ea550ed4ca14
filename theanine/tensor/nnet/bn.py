"""Batch normalization (``T.nnet.bn``): Theano 1.0's batch_normalization,
batch_normalization_train and batch_normalization_test, as compositions of
elementwise ops and reductions (so every input gets a gradient).

Parameters (gamma, beta, mean, var, running averages) are given either with the
input's ndim (length 1 on the normalized axes) or with those axes left out; the
statistics returned by batch_normalization_train take the form of gamma.
"""

from __future__ import annotations

import numpy as np

from theanine.tensor import math as M
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.reduce import mean as tmean
from theanine.tensor.reduce import var as tvar
from theanine.tensor.shape import addbroadcast, patternbroadcast, shape


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """(inputs - mean) * gamma / std + beta, elementwise with broadcasting.

    mode 'low_mem' and 'high_mem' (Theano's choice of kernel) give the same values;
    'high_mem' computes (inputs - mean) * (gamma / std) + beta."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', "
                         f"got {mode!r}")
    x, gamma, beta, mean, std = (as_tensor_variable(v) for v in (inputs, gamma, beta, mean,
                                                                   std))
    if mode == "low_mem":
        return (x - mean) / std * gamma + beta
    return (x - mean) * (gamma / std) + beta


def _norm_axes(axes, ndim, fn):
    if isinstance(axes, str):
        if axes == "per-activation":
            return (0,)
        if axes == "spatial":
            return (0,) + tuple(range(2, ndim))
        raise ValueError(f"{fn}: axes must be 'per-activation', 'spatial' or a tuple of "
                         f"ints, got {axes!r}")
    if not isinstance(axes, (tuple, list, np.ndarray)):
        raise ValueError(f"{fn}: axes must be 'per-activation', 'spatial' or a tuple of "
                         f"ints, got {axes!r}")
    axes = tuple(sorted(int(a) for a in axes))
    if not axes:
        raise ValueError(f"{fn}: give at least one axis to normalize over")
    if axes[0] < 0 or axes[-1] >= ndim or len(set(axes)) != len(axes):
        raise ValueError(f"{fn}: axes must be distinct ints in [0, {ndim}) for a {ndim}-d "
                         f"input, got {axes}")
    return axes


def _param(fn, name, p, ndim, axes):
    """`p` with the input's ndim, broadcastable on `axes`; and whether it was expanded."""
    p = as_tensor_variable(p)
    kept = [i for i in range(ndim) if i not in axes]
    if p.ndim == ndim:
        return addbroadcast(p, *axes), False
    if p.ndim == len(kept):
        pattern = ["x"] * ndim
        for j, i in enumerate(kept):
            pattern[i] = j
        return p.dimshuffle(pattern), True
    raise ValueError(f"{fn}: {name} must have {ndim} dimensions (length 1 on the "
                     f"normalized axes {axes}) or {len(kept)} (those axes left out), "
                     f"got {p.ndim} ({p.type})")


def _squeeze(v, axes):
    return v.dimshuffle([i for i in range(v.ndim) if i not in axes])


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None,
                              running_var=None):
    """Normalize `inputs` with its own mean and variance over `axes`.

    axes: 'per-activation' (axis 0), 'spatial' (0 and 2, 3, ...) or a tuple of ints.
    Returns (out, mean, invstd), where invstd = 1 / sqrt(var + epsilon) and
    out = (inputs - mean) * invstd * gamma + beta; with running_mean and running_var
    also (new_running_mean, new_running_var): the exponential moving averages with
    weight running_average_factor, the variance unbiased (times m / (m - 1) for m
    values per statistic)."""
    fn = "batch_normalization_train"
    x = as_tensor_variable(inputs)
    axes = _norm_axes(axes, x.ndim, fn)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: give both running_mean and running_var, or neither")
    gamma, squeezed = _param(fn, "gamma", gamma, x.ndim, axes)
    beta, _ = _param(fn, "beta", beta, x.ndim, axes)
    mean = tmean(x, axes, keepdims=True)
    var = tvar(x, axes, keepdims=True)
    invstd = M.inv(M.sqrt(var + epsilon))
    out = (x - mean) * (invstd * gamma) + beta
    results = [out, mean, invstd]
    if running_mean is not None:
        rm, _ = _param(fn, "running_mean", running_mean, x.ndim, axes)
        rv, _ = _param(fn, "running_var", running_var, x.ndim, axes)
        sh = shape(x)
        m = M.cast(M.mul(*[sh[a] for a in axes]) if len(axes) > 1 else sh[axes[0]],
                   var.dtype)
        f = running_average_factor
        results.append(rm * (1.0 - f) + mean * f)
        results.append(rv * (1.0 - f) + var * (m / (m - 1)) * f)
    if squeezed:
        results = [out] + [_squeeze(r, axes) for r in results[1:]]
    if running_mean is not None:
        # the new averages keep the given ones' types, so they can be shared updates
        for k, old in ((3, running_mean), (4, running_var)):
            old = as_tensor_variable(old)
            results[k] = patternbroadcast(M.cast(results[k], old.dtype), old.broadcastable)
    return tuple(results)


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation",
                             epsilon=1e-4):
    """Normalize `inputs` with given statistics: (inputs - mean) * gamma /
    sqrt(var + epsilon) + beta (axes as in batch_normalization_train)."""
    fn = "batch_normalization_test"
    x = as_tensor_variable(inputs)
    axes = _norm_axes(axes, x.ndim, fn)
    gamma, _ = _param(fn, "gamma", gamma, x.ndim, axes)
    beta, _ = _param(fn, "beta", beta, x.ndim, axes)
    mean, _ = _param(fn, "mean", mean, x.ndim, axes)
    var, _ = _param(fn, "var", var, x.ndim, axes)
    return (x - mean) * (gamma / M.sqrt(var + epsilon)) + beta


__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]
