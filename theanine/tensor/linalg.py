"""Products of tensors: T.dot, T.tensordot, T.batched_dot, T.batched_tensordot, T.outer;
and the composed matrix functions that T.nlinalg exports (matrix_dot, matrix_power,
norm, tensorinv, tensorsolve).

Two Op classes do all the arithmetic, each one BLAS call through NumPy:

- ``Dot``: vector/matrix products, inputs of 1 or 2 dims (numpy.dot).
- ``BatchedDot``: the same over a leading batch axis, inputs of 2 or 3 dims
  (numpy.matmul).

Everything else is a composition of these with DimShuffle and Reshape, so
it is differentiable for free and a backend implements only the two ops.
Invariant: the output dtype is the NumPy upcast of the input dtypes and a
0-d argument to ``dot`` multiplies elementwise (Theano 1.0).
"""

from __future__ import annotations

import numpy as np

# the package: used at call time by the composed matrix functions (nlinalg.py and
# slinalg.py, which hold their ops, build on this module)
import theanine.tensor as T
from theanine.graph.basic import Apply, Op

from . import reduce as R
from .basic import as_tensor_variable, constant
from .elemwise import _is_py_scalar
from .math import abs_, cast, mul, neq, sqrt
from .ranges import eye
from .shape import patternbroadcast, reshape
from .type import TensorType, upcast, upgrade_to_float

__all__ = ["Dot", "BatchedDot", "dot", "tensordot", "batched_dot", "batched_tensordot",
           "outer"]


ROW_BLOCK = 64  # rows of `a` per BLAS call in matrix_product


def matrix_product(a, b):
    """np.dot(a, b). A tall float matrix times a small one (K * N <= 8192, at least
    two blocks of rows) runs as np.matmul over 64-row blocks of a: OpenBLAS's
    small-matrix kernels then skip packing a, 1.3-1.8x faster here (3200x64 by
    64x32: 132 -> 81 us in float32; 784x10 inputs: 1.4-1.9x). A 1x1 b stays with
    np.dot, which scales a by it with BLAS axpy (0 * inf is 0 there, NaN in matmul)."""
    if (a.ndim == 2 and b.ndim == 2 and a.shape[0] >= 2 * ROW_BLOCK
            and a.shape[1] * b.shape[1] <= 8192 and a.dtype == b.dtype
            and a.dtype.kind in "fc" and a.flags.c_contiguous and b.size > 1):
        m, k, n = a.shape[0] - a.shape[0] % ROW_BLOCK, a.shape[1], b.shape[1]
        out = np.empty((a.shape[0], n), dtype=a.dtype)
        np.matmul(a[:m].reshape(-1, ROW_BLOCK, k), b, out=out[:m].reshape(-1, ROW_BLOCK, n))
        if m < a.shape[0]:
            np.dot(a[m:], b, out=out[m:])
        return out
    return np.dot(a, b)


def _kind(v):
    return {1: "vector", 2: "matrix"}.get(v.ndim, f"{v.ndim}-d tensor")


class Dot(Op):
    """numpy.dot of two tensors of 1 or 2 dims each.

    vector.vector -> scalar, matrix.vector -> vector, vector.matrix -> vector,
    matrix.matrix -> matrix. Use ``T.dot`` for other ndims."""

    __props__ = ()

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for name, v in (("a", a), ("b", b)):
            if v.ndim not in (1, 2):
                raise TypeError(f"Dot: argument {name} must be a vector or a matrix, got a "
                                f"{v.ndim}-d {v.type}; use T.dot for other ndims")
        bc = a.broadcastable[:-1] + b.broadcastable[1:]
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), bc)()])

    def compute(self, node, a, b):
        if a.shape[-1] != b.shape[0]:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned: the last "
                             f"dimension of a ({a.shape[-1]}) must equal the first dimension "
                             f"of b ({b.shape[0]})")
        return np.asarray(matrix_product(a, b), dtype=node.outputs[0].type.dtype)

    def grad(self, inputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        if a.ndim == 1 and b.ndim == 1:  # gz is a scalar
            return [gz * b, gz * a]
        if a.ndim == 2 and b.ndim == 2:
            return [_dot(gz, b.T), _dot(a.T, gz)]
        if a.ndim == 2:  # matrix . vector, gz a vector
            return [outer(gz, b), _dot(a.T, gz)]
        return [_dot(b, gz), outer(a, gz)]  # vector . matrix

    def infer_shape(self, node, shapes):
        sa, sb = shapes
        return [tuple(sa[:-1]) + tuple(sb[1:])]

    def __str__(self):
        return "dot"


_dot = Dot()


class BatchedDot(Op):
    """Dot products batched over the first axis: inputs of 2 or 3 dims.

    (B,N,K).(B,K,M) -> (B,N,M); (B,N,K).(B,K) -> (B,N); (B,K).(B,K,M) -> (B,M);
    (B,K).(B,K) -> (B,)."""

    __props__ = ()

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for name, v in (("a", a), ("b", b)):
            if v.ndim not in (2, 3):
                raise TypeError(f"BatchedDot: argument {name} must have 2 or 3 dimensions "
                                f"(batch first), got a {v.ndim}-d {v.type}")
        bc = ((a.broadcastable[0] and b.broadcastable[0]),) + a.broadcastable[1:-1] \
            + b.broadcastable[2:]
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), bc)()])

    def compute(self, node, a, b):
        if a.shape[0] != b.shape[0] or a.shape[-1] != b.shape[1]:
            raise ValueError(f"batched_dot: shapes {a.shape} and {b.shape} do not match: the "
                             "batch sizes (first dims) must be equal and the last dimension "
                             "of a must equal the second dimension of b")
        dtype = node.outputs[0].type.dtype
        if a.ndim == 2 and b.ndim == 2:
            return np.einsum("bk,bk->b", a, b).astype(dtype, copy=False)
        a3 = a if a.ndim == 3 else a[:, None, :]
        b3 = b if b.ndim == 3 else b[:, :, None]
        r = np.matmul(a3, b3)
        if a.ndim == 2:
            r = r[:, 0, :]
        elif b.ndim == 2:
            r = r[:, :, 0]
        return np.asarray(r, dtype=dtype)

    def grad(self, inputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        if a.ndim == 3 and b.ndim == 3:
            return [_batched_dot(gz, b.dimshuffle(0, 2, 1)),
                    _batched_dot(a.dimshuffle(0, 2, 1), gz)]
        if a.ndim == 3:  # gz (B,N)
            return [gz.dimshuffle(0, 1, "x") * b.dimshuffle(0, "x", 1),
                    _batched_dot(a.dimshuffle(0, 2, 1), gz)]
        if b.ndim == 3:  # gz (B,M)
            return [_batched_dot(b, gz), a.dimshuffle(0, 1, "x") * gz.dimshuffle(0, "x", 1)]
        g = gz.dimshuffle(0, "x")
        return [g * b, g * a]

    def infer_shape(self, node, shapes):
        sa, sb = shapes
        return [(sa[0],) + tuple(sa[1:-1]) + tuple(sb[2:])]

    def __str__(self):
        return "batched_dot"


_batched_dot = BatchedDot()


def dot(a, b):
    """Theano's T.dot: 0-d operands multiply elementwise; vectors and matrices use the
    Dot op; higher ndims contract the last axis of `a` with the second-to-last of `b`
    (the only axis of a vector `b`), as numpy.dot."""
    if _is_py_scalar(a) or _is_py_scalar(b):
        return mul(a, b)  # Python scalars stay weak
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        return tensordot(a, b, [[a.ndim - 1], [max(0, b.ndim - 2)]])
    return _dot(a, b)


def outer(x, y):
    """Outer product of two vectors (other ndims are flattened first)."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if x.ndim != 1:
        x = x.flatten()
    if y.ndim != 1:
        y = y.flatten()
    return _dot(x.dimshuffle(0, "x"), y.dimshuffle("x", 0))


def _normalize_axes(a, b, axes, batched):
    """Two lists of axes to contract (of a and of b), validated."""
    first = 1 if batched else 0
    fn = "batched_tensordot" if batched else "tensordot"
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0:
            raise ValueError(f"{fn}: axes must be a non-negative int, got {n}")
        if n > a.ndim - first or n > b.ndim - first:
            raise ValueError(f"{fn}: axes={n} is more than the number of (non-batch) "
                             f"dimensions of a ({a.ndim - first}) or b ({b.ndim - first})")
        return list(range(a.ndim - n, a.ndim)), list(range(first, first + n))
    try:
        a_axes, b_axes = axes
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: axes must be an int or a pair of lists of axes, got "
                         f"{axes!r}") from None
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"{fn}: axes must list as many axes of a as of b, got {a_axes} "
                         f"and {b_axes}")
    out = []
    for name, v, ax in (("a", a, a_axes), ("b", b, b_axes)):
        norm = []
        for d in ax:
            if not -v.ndim <= int(d) < v.ndim:
                raise ValueError(f"{fn}: axis {d} is out of range for argument {name} with "
                                 f"{v.ndim} dimensions")
            d = int(d) % v.ndim
            if batched and d == 0:
                raise ValueError(f"{fn}: axis 0 of argument {name} is the batch axis and "
                                 "cannot be contracted")
            norm.append(d)
        if len(set(norm)) != len(norm):
            raise ValueError(f"{fn}: axes {ax} of argument {name} repeat a dimension")
        out.append(norm)
    return out[0], out[1]


def _prod(dims):
    if not dims:
        return constant(np.int64(1))
    r = dims[0]
    for d in dims[1:]:
        r = r * d
    return r


def _contract(a, b, axes, batched):
    """tensordot / batched_tensordot: move the contracted axes together, reshape both
    operands to (batch x) rows x K and K x columns, one (Batched)Dot, reshape back."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    fn = "batched_tensordot" if batched else "tensordot"
    if batched and (a.ndim < 2 or b.ndim < 2):
        raise TypeError(f"{fn}: both arguments need a batch axis and at least one more, got "
                        f"{a.ndim}-d and {b.ndim}-d")
    a_axes, b_axes = _normalize_axes(a, b, axes, batched)
    lead = [0] if batched else []
    a_free = [d for d in range(a.ndim) if d not in a_axes and d not in lead]
    b_free = [d for d in range(b.ndim) if d not in b_axes and d not in lead]
    a_t = _to_2d(a, lead + a_free + a_axes, lead, a_free, a_axes, free_first=True)
    b_t = _to_2d(b, lead + b_axes + b_free, lead, b_free, b_axes, free_first=False)
    r = _batched_dot(a_t, b_t) if batched else _dot(a_t, b_t)
    bc = ((a.broadcastable[0] and b.broadcastable[0],) if batched else ()) \
        + tuple(a.broadcastable[d] for d in a_free) + tuple(b.broadcastable[d] for d in b_free)
    if len(bc) != r.ndim:
        sa, sb = a.shape, b.shape
        dims = ([sa[0]] if batched else []) + [sa[d] for d in a_free] + [sb[d] for d in b_free]
        r = reshape(r, dims)
    return patternbroadcast(r, bc)


def _to_2d(x, perm, lead, free, summed, free_first):
    """x transposed to `perm`, then its free and summed axes each merged into one
    (the free one omitted when there are none): (lead,) free, K or (lead,) K, free."""
    xt = x.dimshuffle(*perm) if perm != list(range(x.ndim)) else x
    if len(summed) == 1 and len(free) <= 1:
        return xt

    sx = x.shape
    k = _prod([sx[d] for d in summed])
    f = [_prod([sx[d] for d in free])] if free else []
    dims = [sx[0] for _ in lead] + (f + [k] if free_first else [k] + f)
    return reshape(xt, dims)


def tensordot(a, b, axes=2):
    """Sum products over `axes` (numpy.tensordot): an int n contracts the last n axes
    of `a` with the first n of `b`; a pair of lists names the axes of each."""
    return _contract(a, b, axes, batched=False)


def batched_tensordot(x, y, axes=2):
    """tensordot of x[i] and y[i] for each i of the first (batch) axis. Axes count the
    batch axis: an int n contracts the last n axes of x with axes 1..n of y."""
    return _contract(x, y, axes, batched=True)


def batched_dot(a, b):
    """Dot product of a[i] and b[i] along the first axis: (B,N,K).(B,K,M) -> (B,N,M),
    2-d arguments act as batches of vectors, 1-d ones scale each batch entry, and more
    dims contract the last axis of `a` with the second-to-last of `b` (Theano 1.0)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0:
        raise TypeError("batched_dot: argument a must have at least one (batch) axis")
    if b.ndim == 0:
        raise TypeError("batched_dot: argument b must have at least one (batch) axis")
    if a.ndim == 1:
        return a.dimshuffle(*([0] + ["x"] * (b.ndim - 1))) * b
    if b.ndim == 1:
        return a * b.dimshuffle(*([0] + ["x"] * (a.ndim - 1)))
    if a.ndim > 3 or b.ndim > 3:
        return batched_tensordot(a, b, [[a.ndim - 1], [max(1, b.ndim - 2)]])
    return _batched_dot(a, b)


# -- matrix functions composed of ops (exported by T.nlinalg, not as T.*) ---------------
def matrix_dot(*args):
    """Product of several matrices, dot(dot(a, b), c)... left to right."""
    if not args:
        raise TypeError("matrix_dot: give at least one matrix")
    rval = args[0]
    for a in args[1:]:
        rval = dot(rval, a)
    return rval


def matrix_power(M, n):
    """M to the integer power n by repeated squaring; n = 0 gives the identity and
    negative n a power of the inverse."""
    if not isinstance(n, (int, np.integer)):
        raise TypeError(f"matrix_power: n must be a Python int, got {n!r}")
    M, _ = T.nlinalg.as_matrix(M, "matrix_power", arg="M")
    if n < 0:
        M, n = T.nlinalg.matrix_inverse(M), -n
    if n == 0:
        return eye(M.shape[0], dtype=M.dtype)
    result, base = None, M
    while n:
        if n & 1:
            result = base if result is None else dot(result, base)
        n >>= 1
        if n:
            base = dot(base, base)
    return result


def norm(x, ord):
    """Vector or matrix norm (numpy.linalg.norm). Vectors: ord None/2, any p, inf/'inf',
    -inf/'-inf', 0 (count of non-zeros). Matrices: None/'fro', 'nuc', inf, -inf, 1, -1,
    2, -2 (largest / smallest singular value)."""
    x = as_tensor_variable(x)
    inf = ord in (np.inf, "inf")
    ninf = ord in (-np.inf, "-inf")
    if x.ndim == 1:
        if ord is None or ord == 2:
            return sqrt(R.sum(abs_(x) ** 2))
        if inf:
            return R.max(abs_(x))
        if ninf:
            return R.min(abs_(x))
        if ord == 0:
            return cast(R.sum(neq(x, 0)), upgrade_to_float(x.dtype))
        if isinstance(ord, (int, float, np.number)) and not isinstance(ord, bool):
            return R.sum(abs_(x) ** ord) ** (1.0 / ord)
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    if x.ndim == 2:
        if ord is None or ord == "fro":
            return sqrt(R.sum(abs_(x) ** 2))
        if inf or ninf:
            rows = R.sum(abs_(x), axis=1)
            return R.max(rows) if inf else R.min(rows)
        if ord in (1, -1):
            cols = R.sum(abs_(x), axis=0)
            return R.max(cols) if ord == 1 else R.min(cols)
        if ord in (2, -2, "nuc"):
            s = T.nlinalg.svd(x, compute_uv=0)
            return R.sum(s) if ord == "nuc" else (R.max(s) if ord == 2 else R.min(s))
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    raise ValueError(f"norm: argument x must be a vector or a matrix, got a {x.ndim}-d "
                     f"{x.type}")


def tensorinv(a, ind=2):
    """The 'inverse' of an N-d array for tensordot with `ind` axes
    (numpy.linalg.tensorinv): result shape a.shape[ind:] + a.shape[:ind]."""
    a = as_tensor_variable(a)
    if not isinstance(ind, (int, np.integer)) or not 0 < ind < a.ndim:
        raise ValueError(f"tensorinv: ind must be an int in [1, {a.ndim - 1}], got {ind!r}")
    sh = a.shape
    left, right = [sh[i] for i in range(ind)], [sh[i] for i in range(ind, a.ndim)]
    inv = T.nlinalg.matrix_inverse(reshape(a, [_prod(left), _prod(right)]))
    return reshape(inv, right + left)


def tensorsolve(a, b, axes=None):
    """x such that tensordot(a, x, axes=x.ndim) = b (numpy.linalg.tensorsolve); `axes`
    are axes of a moved to the end first."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if axes is not None:
        axes = [int(d) % a.ndim for d in axes]
        a = a.dimshuffle(*([d for d in range(a.ndim) if d not in axes] + axes))
    nx = a.ndim - b.ndim
    if nx < 1:
        raise ValueError(f"tensorsolve: argument a ({a.ndim}-d) must have more dimensions "
                         f"than b ({b.ndim}-d)")
    sh = a.shape
    xdims = [sh[i] for i in range(b.ndim, a.ndim)]
    n = _prod(xdims)
    x = T.slinalg.solve(reshape(a, [-1, n]), b.flatten())
    return reshape(x, xdims)
