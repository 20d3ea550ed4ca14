"""Matrix algebra backed by numpy.linalg (Theano's theano.tensor.nlinalg).

Ops: MatrixInverse, MatrixPinv, Det, Eig, Eigh, QRFull, SVD, Lstsq (the diagonal ops
are T.diagonal / T.diag of diagonal.py). Everything else is composed from ops, so it
differentiates for free: the gradients of eigh, svd and pinv here, and matrix_dot,
matrix_power, norm, tensorinv, tensorsolve (defined in linalg.py, exported here).

Invariants: every op takes matrices (2-d); integer inputs give float results
(float32 for 8/16-bit ints, else float64); float16 is computed in float32 and cast
back; outputs have exactly the dtypes declared in make_node.
"""

from __future__ import annotations

import numpy as np

# the package: Eigh's gradient uses slinalg.fold_triangle at call time (slinalg.py
# builds on this module)
import theanine.tensor as T
from theanine.graph.basic import Apply, Op, grad_not_implemented

from .basic import as_tensor_variable
from .diagonal import ExtractDiag, diag, diagonal, trace
from .linalg import dot, matrix_dot, matrix_power, norm, tensorinv, tensorsolve
from .math import minimum
from .ranges import eye
from .type import TensorType, upgrade_to_float

__all__ = ["MatrixInverse", "MatrixPinv", "Det", "Eig", "Eigh", "QRFull", "SVD", "Lstsq",
           "ExtractDiag", "matrix_inverse", "pinv", "det", "eig", "eigh", "qr",
           "svd", "lstsq", "trace", "diag", "extract_diag", "alloc_diag", "matrix_dot",
           "matrix_power", "norm", "tensorinv", "tensorsolve"]


def real_dtype(dtype):
    """The real dtype of the same precision (complex128 -> float64)."""
    return {"complex64": "float32", "complex128": "float64"}.get(dtype, dtype)


def as_matrix(x, fn, arg="x", square=False):
    """x as a matrix variable and its result dtype, or a TypeError naming the argument."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{fn}: argument {arg} must be a matrix (2-d), got a {x.ndim}-d "
                        f"{x.type}")
    return x, upgrade_to_float(x.dtype)


def lapack_input(x):
    """float16 (which LAPACK lacks) as float32; other arrays unchanged."""
    return x.astype("float32") if x.dtype == np.float16 else x


def check_square(x, fn):
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{fn}: expected a square matrix, got shape {x.shape}")


def _out(node, i, value):
    return np.asarray(value, dtype=node.outputs[i].type.dtype)


class MatrixInverse(Op):
    """Inverse of a square matrix (numpy.linalg.inv)."""

    __props__ = ()

    def make_node(self, x):
        x, dtype = as_matrix(x, "matrix_inverse")
        return Apply(self, [x], [TensorType(dtype, x.broadcastable)()])

    def compute(self, node, x):
        check_square(x, "matrix_inverse")
        return _out(node, 0, np.linalg.inv(lapack_input(x)))

    def grad(self, inputs, output_grads):
        xi = self(inputs[0])
        return [-dot(xi.T, dot(output_grads[0], xi.T))]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


class MatrixPinv(Op):
    """Moore-Penrose pseudo-inverse (numpy.linalg.pinv); (m, n) -> (n, m). The gradient
    assumes the rank is locally constant (true for full-rank inputs)."""

    __props__ = ()

    def make_node(self, x):
        x, dtype = as_matrix(x, "pinv")
        return Apply(self, [x], [TensorType(dtype, x.broadcastable[::-1])()])

    def compute(self, node, x):
        return _out(node, 0, np.linalg.pinv(lapack_input(x)))

    def grad(self, inputs, output_grads):
        (x,), (g,) = inputs, output_grads
        p = self(x)
        eye_m = _eye_like(x, 0)
        eye_n = _eye_like(x, 1)
        return [-dot(p.T, dot(g, p.T))
                + dot(eye_m - dot(x, p), dot(g.T, dot(p, p.T)))
                + dot(dot(p.T, p), dot(g.T, eye_n - dot(p, x)))]

    def infer_shape(self, node, shapes):
        return [shapes[0][::-1]]


def _eye_like(x, axis):
    """Identity matrix of side x.shape[axis], of x's float dtype."""
    return eye(x.shape[axis], dtype=upgrade_to_float(x.dtype))


def alloc_diag(v):
    """The square matrix with vector v on its diagonal (Theano's nlinalg.alloc_diag)."""
    v = as_tensor_variable(v)
    if v.ndim != 1:
        raise TypeError(f"alloc_diag: argument v must be a vector, got a {v.ndim}-d {v.type}")
    return diag(v)


class Det(Op):
    """Determinant of a square matrix, a scalar (numpy.linalg.det)."""

    __props__ = ()

    def make_node(self, x):
        x, dtype = as_matrix(x, "det")
        return Apply(self, [x], [TensorType(dtype, ())()])

    def compute(self, node, x):
        check_square(x, "det")
        return _out(node, 0, np.linalg.det(lapack_input(x)))

    def grad(self, inputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        return [gz * self(x) * MatrixInverse()(x).T]

    def infer_shape(self, node, shapes):
        return [()]


class Eig(Op):
    """Eigenvalues w and right eigenvectors v (columns) of a square matrix
    (numpy.linalg.eig). As in Theano the outputs have the input's (float) dtype, so
    complex eigenvalues raise: cast the input to complex128 to get them."""

    __props__ = ()

    def make_node(self, x):
        x, dtype = as_matrix(x, "eig")
        outs = [TensorType(dtype, (False,))(), TensorType(dtype, (False, False))()]
        return Apply(self, [x], outs)

    def compute(self, node, x):
        check_square(x, "eig")
        w, v = np.linalg.eig(lapack_input(x))
        dtype = node.outputs[0].type.dtype
        if np.iscomplexobj(w) and not dtype.startswith("complex"):
            if np.any(np.abs(w.imag) > 1e3 * np.finfo(w.real.dtype).eps * (1 + np.abs(w))):
                raise ValueError("eig: this real matrix has complex eigenvalues, which a "
                                 f"{dtype} result cannot hold; cast the input to complex128 "
                                 "(T.cast(x, 'complex128')) to get them")
            w, v = w.real, v.real
        return _out(node, 0, w), _out(node, 1, v)

    def infer_shape(self, node, shapes):
        n = shapes[0][0]
        return [(n,), (n, n)]


class Eigh(Op):
    """Eigenvalues (ascending, real) and orthonormal eigenvectors of a symmetric or
    Hermitian matrix, read from its lower (UPLO='L') or upper ('U') triangle only
    (numpy.linalg.eigh). The gradient is with respect to that triangle."""

    __props__ = ("UPLO",)

    def __init__(self, UPLO="L"):
        if UPLO not in ("L", "U"):
            raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        self.UPLO = UPLO

    def make_node(self, x):
        x, dtype = as_matrix(x, "eigh", arg="a")
        w = TensorType(real_dtype(dtype), (False,))()
        return Apply(self, [x], [w, TensorType(dtype, (False, False))()])

    def compute(self, node, x):
        check_square(x, "eigh")
        w, v = np.linalg.eigh(lapack_input(x), self.UPLO)
        return _out(node, 0, w), _out(node, 1, v)

    def grad(self, inputs, output_grads):
        """With A = V diag(w) V^T: dA = V (diag(gw) + (V^T gV)^T * F) V^T where
        F[n, m] = 1 / (w[n] - w[m]) off the diagonal, then folded onto the triangle
        the op reads (the upper entries' gradient added to their mirror)."""
        (x,) = inputs
        gw, gv = output_grads
        w, v = self(x)
        inner = None
        if not getattr(gw.type, "is_disconnected", False):
            inner = alloc_diag(gw)
        if not getattr(gv.type, "is_disconnected", False):
            eye = _eye_like(v, 0)
            gap = w.dimshuffle(0, "x") - w.dimshuffle("x", 0)
            f = (1 - eye) / (gap + eye)
            term = dot(v.T, gv).T * f
            inner = term if inner is None else inner + term
        g = dot(v, dot(inner, v.T))

        return [T.slinalg.fold_triangle(g, lower=self.UPLO == "L")]

    def infer_shape(self, node, shapes):
        n = shapes[0][0]
        return [(n,), (n, n)]


class QRFull(Op):
    """QR decomposition (numpy.linalg.qr) with mode 'reduced', 'complete', 'r' (R only)
    or 'raw' ((h, tau) as LAPACK)."""

    __props__ = ("mode",)

    def __init__(self, mode="reduced"):
        if mode not in ("reduced", "complete", "r", "raw"):
            raise ValueError(f"qr: mode must be 'reduced', 'complete', 'r' or 'raw', got "
                             f"{mode!r}")
        self.mode = mode

    def make_node(self, x):
        x, dtype = as_matrix(x, "qr", arg="a")
        m = TensorType(dtype, (False, False))
        if self.mode == "r":
            outs = [m()]
        elif self.mode == "raw":
            outs = [m(), TensorType(dtype, (False,))()]
        else:
            outs = [m(), m()]
        return Apply(self, [x], outs)

    def compute(self, node, x):
        res = np.linalg.qr(lapack_input(x), self.mode)
        if self.mode == "r":
            return _out(node, 0, res)
        return _out(node, 0, res[0]), _out(node, 1, res[1])

    def infer_shape(self, node, shapes):
        m, n = shapes[0]
        k = minimum(m, n)
        return {"reduced": [(m, k), (k, n)], "complete": [(m, m), (m, n)], "r": [(k, n)],
                "raw": [(n, m), (k,)]}[self.mode]


class SVD(Op):
    """Singular value decomposition (numpy.linalg.svd): (U, s, V) with a = U diag(s) V,
    or s alone when compute_uv is false. Only the gradient through s is implemented."""

    __props__ = ("full_matrices", "compute_uv")

    def __init__(self, full_matrices=True, compute_uv=True):
        self.full_matrices, self.compute_uv = bool(full_matrices), bool(compute_uv)

    def make_node(self, x):
        x, dtype = as_matrix(x, "svd", arg="a")
        s = TensorType(real_dtype(dtype), (False,))()
        if not self.compute_uv:
            return Apply(self, [x], [s])
        m = TensorType(dtype, (False, False))
        return Apply(self, [x], [m(), s, m()])

    def compute(self, node, x):
        res = np.linalg.svd(lapack_input(x), self.full_matrices, self.compute_uv)
        if not self.compute_uv:
            return _out(node, 0, res)
        return tuple(_out(node, i, r) for i, r in enumerate(res))

    def infer_shape(self, node, shapes):
        m, n = shapes[0]
        k = minimum(m, n)
        if not self.compute_uv:
            return [(k,)]
        if self.full_matrices:
            return [(m, m), (k,), (n, n)]
        return [(m, k), (k,), (k, n)]

    def grad(self, inputs, output_grads):
        (x,) = inputs
        gs = output_grads[0] if not self.compute_uv else output_grads[1]
        others = [] if not self.compute_uv else [output_grads[0], output_grads[2]]
        if any(not getattr(g.type, "is_disconnected", False) for g in others):
            return [grad_not_implemented(self, 0, x, "only the singular values s have a "
                                         "gradient; use svd(a, compute_uv=False)")]
        u, _, vt = SVD(full_matrices=False)(x)
        return [dot(u * gs.dimshuffle("x", 0), vt)]


class Lstsq(Op):
    """Least-squares solution of a x = b (numpy.linalg.lstsq): outputs x, residuals,
    rank (int64) and the singular values of a. rcond is an input (a float scalar)."""

    __props__ = ()

    def make_node(self, a, b, rcond):
        a, adt = as_matrix(a, "lstsq", arg="a")
        b = as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise TypeError(f"lstsq: argument b must be a vector or a matrix, got a {b.ndim}-d "
                            f"{b.type}")
        rcond = as_tensor_variable(rcond, dtype="float64" if isinstance(rcond, (int, float))
                                   else None)
        if rcond.ndim != 0:
            raise TypeError(f"lstsq: rcond must be a scalar, got {rcond.type}")
        dtype = upgrade_to_float(np.result_type(adt, b.dtype).name)
        outs = [TensorType(dtype, (False,) * b.ndim)(), TensorType(real_dtype(dtype), (False,))(),
                TensorType("int64", ())(), TensorType(real_dtype(dtype), (False,))()]
        return Apply(self, [a, b, rcond], outs)

    def compute(self, node, a, b, rcond):
        dtype = node.outputs[0].type.dtype
        a, b = (np.asarray(v, dtype=dtype) for v in (a, b))
        res = np.linalg.lstsq(lapack_input(a), lapack_input(b), rcond=float(rcond))
        return tuple(_out(node, i, r) for i, r in enumerate(res))

    def grad(self, inputs, output_grads):
        return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]


def matrix_inverse(x):
    """Inverse of square matrix x."""
    return MatrixInverse()(x)


def pinv(x):
    """Moore-Penrose pseudo-inverse of matrix x."""
    return MatrixPinv()(x)


def det(x):
    """Determinant of square matrix x."""
    return Det()(x)


def eig(x):
    """(w, v): eigenvalues and right eigenvectors of square matrix x."""
    return Eig()(x)


def eigh(a, UPLO="L"):
    """(w, v): ascending eigenvalues and eigenvectors of symmetric matrix a."""
    return Eigh(UPLO)(a)


def qr(a, mode="reduced"):
    """QR decomposition: (q, r), or r alone with mode='r' (numpy.linalg.qr)."""
    return QRFull(mode)(a)


def svd(a, full_matrices=1, compute_uv=1):
    """Singular value decomposition: (U, s, V), or s alone with compute_uv=0."""
    return SVD(full_matrices, compute_uv)(a)


def lstsq(a, b, rcond=-1):
    """[x, residuals, rank, s]: least-squares solution of a x = b (numpy.linalg.lstsq)."""
    return Lstsq()(a, b, rcond)


def extract_diag(x):
    """The main diagonal of matrix x."""
    x, _ = as_matrix(x, "extract_diag")
    return diagonal(x)
