"""The ops behind MRG_RandomStreams: MRGUniform draws from an MRG31k3p state
matrix; MultinomialFromUniform and ChoiceFromUniform turn uniforms into
multinomial counts and draws without replacement (Theano's ops of those names).

Invariants:
- MRGUniform(ndim, dtype)(rstate, size) -> (new_rstate, sample) is pure: the
  input state is never changed. rstate is an int32 (n_streams, 6) matrix; size an
  int64 vector of length ndim. The sample has shape size.
- All three are tensors in, tensors out, so every backend compiles them (numba
  inside loops too). Their gradients are undefined (disconnected for the state,
  the size and the number of draws).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Op, disconnected_type, grad_undefined
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.math import cast
from theanine.tensor.shape import shape_elements, static_length
from theanine.tensor.type import TensorType, canonical_dtype, float_dtypes, integer_dtypes

from . import mrg_core


def _undefined(op, k, x):
    return grad_undefined(op, k, x, "random samples have no gradient")


def _disconnected():
    return disconnected_type()


class MRGUniform(Op):
    """(rstate, size) -> (new_rstate, uniforms in [0, 1) of shape size)."""

    __props__ = ("ndim", "dtype")

    def __init__(self, ndim, dtype):
        self.ndim, self.dtype = int(ndim), canonical_dtype(dtype)
        if self.dtype not in float_dtypes:
            raise TypeError(f"MRGUniform: dtype must be one of {float_dtypes}, got "
                            f"{dtype!r}")

    def make_node(self, rstate, size):
        rstate, size = as_tensor_variable(rstate), as_tensor_variable(size)
        if rstate.ndim != 2 or rstate.dtype != "int32":
            raise TypeError(f"MRGUniform: the random state must be an int32 matrix, got "
                            f"{rstate.type}")
        if size.ndim != 1 or size.dtype != "int64":
            raise TypeError(f"MRGUniform: size must be an int64 vector, got {size.type}")
        if static_length(size) not in (None, self.ndim):
            raise ValueError(f"MRGUniform: size has {static_length(size)} entries, the "
                             f"sample {self.ndim} dims")
        entries = shape_elements(size, self.ndim) if static_length(size) else []
        bcast = tuple(isinstance(e, Constant) and int(e.data) == 1 for e in entries)
        bcast = bcast if len(bcast) == self.ndim else (False,) * self.ndim
        return Apply(self, [rstate, size], [rstate.type(), TensorType(self.dtype, bcast)()])

    def compute(self, node, rstate, size):
        size = tuple(int(s) for s in np.asarray(size))
        if len(size) != self.ndim:
            raise ValueError(f"MRG uniform: size must have {self.ndim} entries, got "
                             f"{size}")
        if any(s < 0 for s in size):
            raise ValueError(f"MRG uniform: size must hold non-negative lengths, got {size}")
        n = int(np.prod(size, dtype="int64"))
        if n > mrg_core.M1:
            raise ValueError(f"MRG uniform: at most 2**31 - 1 samples per draw, got size "
                             f"{size} ({n} samples)")
        state, out = mrg_core.uniform(rstate, n, self.dtype)
        return state, out.reshape(size)

    def grad(self, inputs, output_grads):
        return [_disconnected(), _disconnected()]

    def connection_pattern(self, node):
        return [[True, True], [False, True]]

    def do_constant_folding(self, node):
        return False  # a draw is never computed at compile time

    def infer_shape(self, node, shapes):
        return [shapes[0], tuple(shape_elements(node.inputs[1], self.ndim))]


def _from_uniform_inputs(name, pvals, unis, n):
    pvals, unis, n = (as_tensor_variable(v) for v in (pvals, unis, n))
    if pvals.ndim != 2 or pvals.dtype not in float_dtypes:
        raise TypeError(f"{name}: pvals must be a float matrix (one row of probabilities "
                        f"per draw), got {pvals.type}")
    if unis.ndim != 1 or unis.dtype not in float_dtypes:
        raise TypeError(f"{name}: unis must be a float vector, got {unis.type}")
    if n.ndim != 0 or n.dtype not in integer_dtypes:
        raise TypeError(f"{name}: n must be an integer scalar, got {n.type}")
    return pvals, unis, n


def _check_counts(name, pvals, unis, n):
    n = int(n)
    if n < 0:
        raise ValueError(f"{name}: n must be >= 0, got {n}")
    if unis.shape[0] != pvals.shape[0] * n:
        raise ValueError(f"{name}: unis must hold pvals.shape[0] * n = "
                         f"{pvals.shape[0]} * {n} uniforms, got {unis.shape[0]}")
    return n


class _FromUniform(Op):
    """Uniforms to draws: no gradient (undefined for pvals and unis, n disconnected)."""

    __props__ = ("dtype",)

    def grad(self, inputs, output_grads):
        return [_undefined(self, 0, inputs[0]), _undefined(self, 1, inputs[1]),
                _disconnected()]

    def connection_pattern(self, node):
        return [[True], [True], [False]]


class MultinomialFromUniform(_FromUniform):
    """(pvals (rows, k), unis (rows * n,), n) -> counts (rows, k) of n draws per row."""

    def __init__(self, dtype="int64"):
        self.dtype = canonical_dtype(dtype)

    def make_node(self, pvals, unis, n):
        pvals, unis, n = _from_uniform_inputs("multinomial", pvals, unis, n)
        return Apply(self, [pvals, unis, n], [TensorType(self.dtype, pvals.broadcastable)()])

    def compute(self, node, pvals, unis, n):
        n = _check_counts("multinomial", pvals, unis, n)
        return mrg_core.multinomial_from_uniform(pvals, unis, n, self.dtype)

    def infer_shape(self, node, shapes):
        return [shapes[0]]


class ChoiceFromUniform(_FromUniform):
    """(pvals (rows, k), unis (rows * n,), n) -> (rows, n) distinct outcomes per row."""

    def __init__(self, dtype="int64"):
        self.dtype = canonical_dtype(dtype)
        if self.dtype not in integer_dtypes:
            raise TypeError(f"choice: dtype must be an integer dtype, got {dtype!r}")

    def make_node(self, pvals, unis, n):
        pvals, unis, n = _from_uniform_inputs("choice", pvals, unis, n)
        bcast = (pvals.broadcastable[0], isinstance(n, Constant) and int(n.data) == 1)
        return Apply(self, [pvals, unis, n], [TensorType(self.dtype, bcast)()])

    def compute(self, node, pvals, unis, n):
        n = _check_counts("choice", pvals, unis, n)
        if n > pvals.shape[1]:
            raise ValueError(f"choice: cannot draw {n} distinct outcomes from "
                             f"{pvals.shape[1]} (replace=False)")
        return mrg_core.choice_from_uniform(pvals, unis, n, self.dtype)

    def infer_shape(self, node, shapes):
        return [(shapes[0][0], cast(node.inputs[2], "int64"))]
