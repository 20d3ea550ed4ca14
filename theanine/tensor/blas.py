"""Gemm: b * z + a * dot(x, y) in one op (BLAS gemm/gemv), created by the specialize
rewrites (a tensor op all the same: it is stated with tensor types and ops).

Inputs (z, a, x, y, b) in Theano's gemm order: z a matrix with x, y matrices, or z a
vector with (x, y) a matrix and a vector or a vector and a matrix; a and b are 0-d.
All five share one float dtype. z may broadcast along its broadcastable dims
(dot(x, W) + b with b a row: the bias is added into the product's buffer). The py
implementation reuses the buffer of the dot product for the sum, saving the
temporaries of the unfused graph; the gradient is the unfused expression's.
"""

from __future__ import annotations

from theanine.graph.basic import Apply, Op

from .basic import as_tensor_variable
from .linalg import dot, matrix_product
from .type import TensorType


class Gemm(Op):
    """b * z + a * dot(x, y)."""

    __props__ = ()

    def make_node(self, z, a, x, y, b):
        z, a, x, y, b = (as_tensor_variable(v) for v in (z, a, x, y, b))
        if len({v.dtype for v in (z, a, x, y, b)}) != 1 or not z.dtype.startswith("float"):
            raise TypeError(f"Gemm: all inputs must share one float dtype, got "
                            f"{[v.dtype for v in (z, a, x, y, b)]}")
        if a.ndim != 0 or b.ndim != 0:
            raise TypeError("Gemm: a and b must be scalars")
        shapes = {(2, 2, 2), (1, 2, 1), (1, 1, 2)}
        if (z.ndim, x.ndim, y.ndim) not in shapes:
            raise TypeError(f"Gemm: z, x, y must be matrix, matrix, matrix or vector with "
                            f"matrix-vector / vector-matrix, got ndims {z.ndim, x.ndim, y.ndim}")
        dot_b = _dot_broadcastable(x, y)
        out = TensorType(z.dtype, tuple(zb and db for zb, db in zip(z.broadcastable, dot_b)))
        return Apply(self, [z, a, x, y, b], [out()])

    def compute(self, node, z, a, x, y, b):
        if x.shape[-1] != y.shape[0]:
            raise ValueError(f"dot: shapes {x.shape} and {y.shape} are not aligned: the last "
                             f"dimension of a ({x.shape[-1]}) must equal the first dimension "
                             f"of b ({y.shape[0]})")
        r = matrix_product(x, y)
        bz = node.inputs[0].type.broadcastable
        if z.ndim != r.ndim or any(n != m and not (b and n == 1)
                                   for n, m, b in zip(z.shape, r.shape, bz)):
            raise ValueError(f"Gemm: dot(x, y) has shape {r.shape} but z has shape {z.shape}")
        dtype = node.outputs[0].type.numpy_dtype
        if r.dtype != dtype or not r.flags.writeable:
            r = r.astype(dtype)
        if a != 1:
            r *= a
        r += z if b == 1 else b * z
        return r

    def unfused(self, z, a, x, y, b):
        return b * z + a * dot(x, y)

    def grad(self, inputs, output_grads):
        from theanine.gradient import grad  # allow-listed: gradient sits above tensor

        out = self.unfused(*inputs)
        return grad(None, list(inputs), known_grads={out: output_grads[0]},
                    disconnected_inputs="ignore")

    def infer_shape(self, node, shapes):
        z, _, x, y, _ = node.inputs
        zs, _, xs, ys, _ = shapes
        ds = {(2, 2, 2): (xs[0], ys[1]), (1, 2, 1): (xs[0],), (1, 1, 2): (ys[1],)}[
            (z.ndim, x.ndim, y.ndim)]
        return [tuple(d if b else n for n, d, b in zip(zs, ds, z.broadcastable))]

    def __str__(self):
        return "gemm" if self.__class__ is Gemm else type(self).__name__


def _dot_broadcastable(x, y):
    if x.ndim == 2 and y.ndim == 2:
        return (x.broadcastable[0], y.broadcastable[1])
    return (x.broadcastable[0],) if x.ndim == 2 else (y.broadcastable[1],)


gemm = Gemm()
