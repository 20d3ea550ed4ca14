"""Matrix algebra backed by scipy.linalg (Theano's theano.tensor.slinalg).

Ops: Cholesky, Solve, Eigvalsh, Expm. kron, cho_solve, the solve_* variants and
every gradient are compositions of ops.

Invariants: integer inputs give float results; an op that reads only one triangle of
its input (Cholesky, Eigvalsh, triangular Solve) has a gradient that is zero on the
triangle it ignores, so finite differences on any matrix agree with it.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op

from . import math as M
from .alloc import zeros_like
from .basic import as_tensor_variable
from .diagonal import diag, diagonal
from .join import concatenate
from .linalg import dot, outer
from .nlinalg import Eigh, as_matrix, check_square, lapack_input, real_dtype
from .ranges import tril, triu
from .reduce import any as any_
from .scipy_deferred import linalg as scipy_linalg
from .shape import patternbroadcast, reshape
from .type import TensorType, upcast, upgrade_to_float

__all__ = ["Cholesky", "Solve", "Eigvalsh", "Expm", "cholesky", "solve",
           "solve_lower_triangular", "solve_upper_triangular", "solve_symmetric", "cho_solve",
           "eigvalsh", "expm", "kron", "tril", "triu", "fold_triangle",
           "symmetric_from_triangle"]


def fold_triangle(g, lower=True):
    """The gradient with respect to the lower (upper) triangle of a matrix read as
    symmetric: tril(g) + triu(g, 1).T (or triu(g) + tril(g, -1).T)."""
    if lower:
        return tril(g) + triu(g, 1).T
    return triu(g) + tril(g, -1).T


class Cholesky(Op):
    """Cholesky factor L (lower, a = L L^T) or U (upper, a = U^T U) of a symmetric
    positive-definite matrix, read from that triangle only. on_error='nan' returns a
    matrix of NaN instead of raising when a is not positive definite."""

    __props__ = ("lower", "on_error")

    def __init__(self, lower=True, on_error="raise"):
        if on_error not in ("raise", "nan"):
            raise ValueError(f"cholesky: on_error must be 'raise' or 'nan', got {on_error!r}")
        self.lower, self.on_error = bool(lower), on_error

    def make_node(self, x):
        x, dtype = as_matrix(x, "cholesky")
        return Apply(self, [x], [TensorType(dtype, x.broadcastable)()])

    def compute(self, node, x):
        check_square(x, "cholesky")
        dtype = node.outputs[0].type.dtype
        try:
            c = scipy_linalg.cholesky(lapack_input(x), lower=self.lower)
        except np.linalg.LinAlgError:
            if self.on_error == "nan":
                return np.full(x.shape, np.nan, dtype=dtype)
            raise np.linalg.LinAlgError(
                "cholesky: the matrix is not positive definite; use "
                "Cholesky(on_error='nan') to get NaN instead of this error") from None
        return np.asarray(c, dtype=dtype)

    def grad(self, inputs, output_grads):
        """Murray (2016): with L = chol(A), Phi(X) = tril(X) with half its diagonal,
        S = L^-T Phi(L^T dL) L^-1 and dA = tril(S + S^T) - diag(diag(S))."""
        (x,), (dz,) = inputs, output_grads
        c = self(x)
        if self.on_error == "nan":
            ok = M.invert(any_(M.isnan(c)))
            c = M.switch(ok, c, 1)
            dz = M.switch(ok, dz, 1)
        if not self.lower:
            c, dz = c.T, dz.T
        p = dot(c.T, dz)
        phi = tril(p) - 0.5 * diag(diagonal(p))
        s = solve_upper_triangular(c.T, solve_upper_triangular(c.T, phi.T).T)
        sym = s + s.T
        g = (tril(sym) if self.lower else triu(sym)) - diag(diagonal(s))
        if self.on_error == "nan":
            g = M.switch(ok, g, np.nan)
        return [g]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def cholesky(x, lower=True):
    """Cholesky factor of symmetric positive-definite matrix x (lower by default)."""
    return Cholesky(lower)(x)


_STRUCTURES = ("general", "symmetric", "lower_triangular", "upper_triangular")


class Solve(Op):
    """x solving a x = b for a square matrix a and b a vector or a matrix.
    A_structure: 'general' or 'symmetric' (LU solve of all of a), 'lower_triangular'
    or 'upper_triangular' (triangular solve reading that triangle only)."""

    __props__ = ("A_structure", "lower", "overwrite_A", "overwrite_b")

    def __init__(self, A_structure="general", lower=False, overwrite_A=False,
                 overwrite_b=False):
        if A_structure not in _STRUCTURES:
            raise ValueError(f"Solve: A_structure must be one of {_STRUCTURES}, got "
                             f"{A_structure!r}")
        self.A_structure, self.lower = A_structure, bool(lower)
        self.overwrite_A, self.overwrite_b = bool(overwrite_A), bool(overwrite_b)

    def make_node(self, a, b):
        a, _ = as_matrix(a, "solve", arg="a")
        b = as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise TypeError(f"solve: argument b must be a vector or a matrix, got a {b.ndim}-d "
                            f"{b.type}")
        dtype = upgrade_to_float(upcast(a.dtype, b.dtype))
        return Apply(self, [a, b], [TensorType(dtype, b.broadcastable)()])

    def compute(self, node, a, b):
        check_square(a, "solve")
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"solve: a of shape {a.shape} and b of shape {b.shape} do not "
                             "match: b must have as many rows as a")
        dtype = node.outputs[0].type.dtype
        a, b = lapack_input(a), lapack_input(b)
        if self.A_structure.endswith("triangular"):
            x = scipy_linalg.solve_triangular(a, b, lower=self.A_structure.startswith("lower"))
        else:
            x = scipy_linalg.solve(a, b)
        return np.asarray(x, dtype=dtype)

    def grad(self, inputs, output_grads):
        """gb = solve(a^T, gz); ga = -gb x^T (restricted to the triangle read)."""
        (a, b), (gz,) = inputs, output_grads
        c = self(a, b)
        flip = {"lower_triangular": "upper_triangular", "upper_triangular": "lower_triangular"}
        trans = Solve(flip.get(self.A_structure, self.A_structure), not self.lower)
        gb = trans(a.T, gz)
        ga = -outer(gb, c) if c.ndim == 1 else -dot(gb, c.T)
        if self.A_structure == "lower_triangular":
            ga = tril(ga)
        elif self.A_structure == "upper_triangular":
            ga = triu(ga)
        return [ga, gb]

    def infer_shape(self, node, shapes):
        sa, sb = shapes
        return [(sa[1],) + tuple(sb[1:])]


_ASSUME = {"gen": "general", "sym": "symmetric", "her": "symmetric", "pos": "symmetric"}


def solve(a, b, assume_a="gen", lower=False):
    """x solving a x = b (a square, b a vector or matrix). assume_a: 'gen', 'sym',
    'pos' (all of a is used; as Theano's general solve)."""
    if assume_a not in _ASSUME:
        raise ValueError(f"solve: assume_a must be one of {tuple(_ASSUME)}, got {assume_a!r}")
    return Solve(_ASSUME[assume_a], lower)(a, b)


def solve_lower_triangular(a, b):
    """x solving a x = b, a lower triangular (its upper part is ignored)."""
    return Solve("lower_triangular", True)(a, b)


def solve_upper_triangular(a, b):
    """x solving a x = b, a upper triangular (its lower part is ignored)."""
    return Solve("upper_triangular", False)(a, b)


def solve_symmetric(a, b):
    """x solving a x = b, a symmetric."""
    return Solve("symmetric")(a, b)


def cho_solve(c_and_lower, b):
    """x solving a x = b given (c, lower), c the Cholesky factor of a (scipy's cho_solve)."""
    c, lower = c_and_lower
    c = as_tensor_variable(c)
    if lower:
        return solve_upper_triangular(c.T, solve_lower_triangular(c, b))
    return solve_upper_triangular(c, solve_lower_triangular(c.T, b))


class Eigvalsh(Op):
    """Ascending eigenvalues of symmetric a, or of the generalized problem a v = w b v
    with b symmetric positive definite (scipy.linalg.eigh), reading the lower
    (lower=True) or upper triangle of a and b only."""

    __props__ = ("lower",)

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def make_node(self, a, b=None):
        a, dtype = as_matrix(a, "eigvalsh", arg="a")
        inputs = [a]
        if b is not None:
            b, bdt = as_matrix(b, "eigvalsh", arg="b")
            dtype = upcast(dtype, bdt)
            inputs.append(b)
        return Apply(self, inputs, [TensorType(real_dtype(dtype), (False,))()])

    def compute(self, node, a, b=None):
        check_square(a, "eigvalsh")
        if b is not None and b.shape != a.shape:
            raise ValueError(f"eigvalsh: b of shape {b.shape} must have the shape of a "
                             f"{a.shape}")
        w = scipy_linalg.eigh(lapack_input(a), None if b is None else lapack_input(b),
                              lower=self.lower, eigvals_only=True)
        return np.asarray(w, dtype=node.outputs[0].type.dtype)

    def infer_shape(self, node, shapes):
        return [(shapes[0][0],)]

    def grad(self, inputs, output_grads):
        """dw_n = v_n^T (da - w_n db) v_n with b-orthonormal eigenvectors v, which are
        L^-T u for b = L L^T and u the eigenvectors of L^-1 a L^-T."""
        (gw,) = output_grads
        lower = self.lower
        gwr = gw.dimshuffle("x", 0)
        if len(inputs) == 1:
            _, v = Eigh("L" if lower else "U")(inputs[0])
            return [fold_triangle(dot(v * gwr, v.T), lower)]
        a, b = (symmetric_from_triangle(x, lower) for x in inputs)
        chol = Cholesky(lower=True)(b)
        c = solve_lower_triangular(chol, solve_lower_triangular(chol, a).T)
        w, u = Eigh("L")(c)
        v = solve_upper_triangular(chol.T, u)
        ga = dot(v * gwr, v.T)
        gb = -dot(v * (gw * w).dimshuffle("x", 0), v.T)
        return [fold_triangle(ga, lower), fold_triangle(gb, lower)]


def symmetric_from_triangle(x, lower=True):
    """The symmetric matrix whose lower (upper) triangle is that of x."""
    if lower:
        return tril(x) + tril(x, -1).T
    return triu(x) + triu(x, 1).T


def eigvalsh(a, b=None, lower=True):
    """Ascending eigenvalues of symmetric a (generalized with b if given)."""
    return Eigvalsh(lower)(a, b)


class Expm(Op):
    """Matrix exponential (scipy.linalg.expm). The gradient is the adjoint Frechet
    derivative, the top-right block of expm([[a^T, g], [0, a^T]])."""

    __props__ = ()

    def make_node(self, a):
        a, dtype = as_matrix(a, "expm", arg="A")
        return Apply(self, [a], [TensorType(dtype, a.broadcastable)()])

    def compute(self, node, a):
        check_square(a, "expm")
        return np.asarray(scipy_linalg.expm(lapack_input(a)), dtype=node.outputs[0].type.dtype)

    def grad(self, inputs, output_grads):
        (a,), (g,) = inputs, output_grads
        at = a.T
        block = concatenate([concatenate([at, g], axis=1),
                             concatenate([zeros_like(at), at], axis=1)], axis=0)
        n = a.shape[0]
        return [self(block)[:n, n:]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]


def expm(A):
    """Matrix exponential of square matrix A."""
    return Expm()(A)


def kron(a, b):
    """Kronecker product (numpy.kron): the operand with fewer dims is padded with
    leading length-1 dims; the result has shape a.shape * b.shape."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    nd = max(a.ndim, b.ndim)
    a = a.dimshuffle(*(["x"] * (nd - a.ndim) + list(range(a.ndim))))
    b = b.dimshuffle(*(["x"] * (nd - b.ndim) + list(range(b.ndim))))
    pa, pb = [], []
    for i in range(nd):
        pa += [i, "x"]
        pb += ["x", i]
    prod = a.dimshuffle(*pa) * b.dimshuffle(*pb)
    sa, sb = a.shape, b.shape
    out = reshape(prod, [sa[i] * sb[i] for i in range(nd)])

    return patternbroadcast(out, [x and y for x, y in zip(a.broadcastable, b.broadcastable)])
