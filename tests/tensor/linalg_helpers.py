"""Helpers shared by the linear algebra tests."""

import numpy as np

import theanine as theano
import theanine.tensor as T


def sym(value, name="x"):
    """A symbolic tensor of `value`'s dtype and ndim (nothing broadcastable)."""
    return T.TensorType(value.dtype, (False,) * value.ndim)(name)


def run(fn, *values):
    """Compile fn over symbols like `values`; return (its value, the symbolic output)."""
    ins = [sym(v, f"x{i}") for i, v in enumerate(values)]
    out = fn(*ins)
    return theano.function(ins, out)(*values), out


def rand(rng, shape, dtype="float64"):
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def spd(rng, n, dtype="float64"):
    """A symmetric positive definite matrix."""
    a = rng.standard_normal((n, n))
    return (a @ a.T + n * np.eye(n)).astype(dtype)


def tol(dtype):
    return {"float32": 1e-4, "float64": 1e-10}[np.dtype(dtype).name]
