"""verify_grad: symbolic gradients checked against central finite differences
(float64 steps and tolerances by the least precise input), as Theano shipped it."""

from __future__ import annotations

import numpy as np

from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.reduce import sum as tsum
from theanine.tensor.sharedvar import shared
from theanine.tensor.type import TensorType

from .gradient import GradientError, grad


def numeric_grad(f, pt, eps):
    """Central finite differences of scalar f at the list of arrays pt."""
    out = []
    for p in pt:
        g = np.zeros(p.shape, dtype="float64")
        flat = p.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            fp = float(f(*pt))
            flat[i] = orig - eps
            fm = float(f(*pt))
            flat[i] = orig
            g.reshape(-1)[i] = (fp - fm) / (2 * eps)
        out.append(g)
    return out


_EPS = {"float64": 1e-6, "float32": 1e-3, "float16": 1e-1}
_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 1e-1}


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, out_type=None, abs_tol=None,
                rel_tol=None, mode=None, cast_to_output_type=False, no_debug_ref=True):
    """Check T.grad of `fun` at point `pt` (list of arrays) against central finite
    differences of a random projection of fun's output. Raises GradientError."""
    from theanine.compile.function import function  # allow-listed: compile is above

    if not isinstance(pt, (list, tuple)):
        raise TypeError(f"verify_grad: pt must be a list of numpy arrays, got {type(pt)}")
    pt = [np.array(p) for p in pt]
    for i, p in enumerate(pt):
        if p.dtype.kind not in "fc":
            raise TypeError(f"verify_grad: pt[{i}] must be a float array, got {p.dtype}")
    rng = rng if rng is not None else np.random.default_rng(42)
    if isinstance(rng, np.random.RandomState):
        rng = np.random.default_rng(rng.randint(2**31))
    # the least precise input sets the step and the tolerances
    real = [np.finfo(p.dtype).dtype.name for p in pt]
    dtype = max(real, key=lambda d: _TOL.get(d, 1e-4))
    eps = eps or _EPS.get(dtype, 1e-6)
    abs_tol = abs_tol if abs_tol is not None else _TOL.get(dtype, 1e-4)
    rel_tol = rel_tol if rel_tol is not None else _TOL.get(dtype, 1e-4)
    ins = [TensorType(p.dtype.name, tuple(s == 1 for s in p.shape))(f"input {i}")
           for i, p in enumerate(pt)]
    out = as_tensor_variable(fun(*ins))
    f_out = function(ins, out, mode=mode, on_unused_input="ignore")
    o_val = np.asarray(f_out(*pt))
    for _ in range(n_tests):
        proj = shared(rng.random(o_val.shape).astype(out.dtype) + 0.5, name="random_projection")
        cost = tsum(proj * out)
        gs = grad(cost, ins, disconnected_inputs="ignore")
        f_cost = function(ins, cost, mode=mode, on_unused_input="ignore")
        f_grad = function(ins, gs, mode=mode, on_unused_input="ignore")
        sym = f_grad(*pt)
        num = numeric_grad(f_cost, [p.copy() for p in pt], eps)
        for k, (a, b) in enumerate(zip(sym, num)):
            a = np.asarray(a, dtype="float64")
            if a.shape != b.shape:
                raise GradientError(k, 0, b.shape, a.shape, b.shape, np.inf, np.inf,
                                    abs_tol, rel_tol)
            abs_err = np.abs(a - b)
            rel_err = abs_err / np.maximum(np.abs(a) + np.abs(b), 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if bad.any():
                pos = int(np.argmax(np.where(bad, abs_err, -1)))
                raise GradientError(k, pos, b.shape, a.reshape(-1)[pos], b.reshape(-1)[pos],
                                    abs_err.reshape(-1)[pos], rel_err.reshape(-1)[pos],
                                    abs_tol, rel_tol)


verify_grad.E_grad = GradientError  # Theano's name for the error verify_grad raises
