"""py implementation of Gemm: Gemm.compute with the node's constants read once.

`a` and `b` are nearly always the constant 1 (z + dot(x, y)); then a call is one
matrix_product (np.dot) and one in-place add. Shape checks and errors are Gemm.compute's.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.tensor.blas import Gemm
from theanine.tensor.linalg import matrix_product

from .linker import IMPLS


def _one(v):
    return isinstance(v, Constant) and v.data.size == 1 and float(v.data) == 1.0


@IMPLS.register(Gemm)
def _funcify_gemm(op, node):
    z, a, x, y, b = node.inputs
    dtype = np.dtype(node.outputs[0].type.dtype)
    if not (_one(a) and _one(b)) or z.type.dtype != node.outputs[0].type.dtype:
        return lambda *args: op.compute(node, *args)
    dot = matrix_product

    def gemm_plain(zv, av, xv, yv, bv):
        try:
            r = dot(xv, yv)
        except ValueError:
            return op.compute(node, zv, av, xv, yv, bv)  # raises its clear message
        if r.shape != zv.shape or r.dtype is not dtype or not r.flags.writeable:
            return op.compute(node, zv, av, xv, yv, bv)  # its checks and messages
        r += zv
        return r

    return gemm_plain
