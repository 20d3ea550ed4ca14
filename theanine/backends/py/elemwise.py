"""py implementation of Elemwise: a closure with the node's dtypes precomputed.

Same results as Elemwise.compute (the reference), minus per-call lookups: the
output dtype is compared by identity with a stored np.dtype, and the broadcast
check runs only when an input's shape differs from the result's.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.tensor.elemwise import Elemwise, check_broadcast
from theanine.tensor.scalar_ops import Second

from .linker import IMPLS


@IMPLS.register(Elemwise)
def _funcify_elemwise(op, node):
    if op.scalar_op.cast_inputs and any(
            np.dtype(v.type.dtype).kind in "biu" for v in node.inputs):
        return lambda *inputs: op.compute(node, *inputs)
    impl = getattr(type(op.scalar_op).impl, "ufunc", None) or op.scalar_op.impl
    dtype = np.dtype(node.outputs[0].type.dtype)
    asarray = np.asarray
    fill = node.inputs[1] if isinstance(op.scalar_op, Second) else None
    if (isinstance(fill, Constant) and all(fill.type.broadcastable)
            and not np.asarray(fill.data).any()):
        zeros = np.zeros  # zeros_like(x): calloc'd pages, no broadcast and copy

        def zeros_like(x, _):
            return zeros(x.shape, dtype)

        return zeros_like
    if len(node.inputs) == 1:
        def unary(a):
            r = asarray(impl(a))
            return r if r.dtype is dtype else r.astype(dtype)

        return unary

    if len(node.inputs) == 2:
        def binary(a, b):
            r = impl(a, b)
            if r.dtype is not dtype:
                r = asarray(r).astype(dtype)
            shape = r.shape
            if a.shape != shape or b.shape != shape:
                check_broadcast(node, (a, b), shape)
            return r

        return binary

    def nary(*inputs):
        r = asarray(impl(*inputs))
        if r.dtype is not dtype:
            r = r.astype(dtype)
        shape = r.shape
        for a in inputs:
            if a.shape != shape:
                check_broadcast(node, inputs, shape)
                break
        return r

    return nary
