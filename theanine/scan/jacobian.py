"""jacobian and hessian, built on scan as in Theano: one gradient per row.

The loop has no recurrence and each row's gradient is linear in its one-hot seed, so
in FAST_RUN the scan rewrites (theanine/rewrites/scan/hoist.py, batching rules in
vectorize_rules.py) compute all rows at once, as batched ops over the rows of the
identity (what jax.jacrev does), whenever every op of the row gradient has a batching
rule; work without one stays in the loop, which then still gives the same values."""

from __future__ import annotations

import theanine.tensor as T
from theanine.gradient import grad

from .api import scan


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression / d wrt for a vector (or scalar) expression.

    For each wrt, a tensor of shape expression.shape + wrt.shape (a list of them when
    wrt is a list). A scalar expression gives its gradient."""
    expression = T.as_tensor_variable(expression)
    single = not isinstance(wrt, (list, tuple))
    wrts = [wrt] if single else list(wrt)
    if expression.ndim == 0:
        res = grad(expression, wrts, consider_constant=consider_constant,
                   disconnected_inputs=disconnected_inputs)
        return res[0] if single else res
    if expression.ndim != 1:
        raise TypeError(f"jacobian: expression must be a vector or a scalar, got a "
                        f"{expression.ndim}-d tensor; flatten it first")

    def row(i, expr, *ws):
        return grad(expr[i], list(ws), consider_constant=consider_constant,
                    disconnected_inputs=disconnected_inputs)

    res, _ = scan(row, sequences=T.arange(expression.shape[0]),
                  non_sequences=[expression] + wrts, return_list=True, name="jacobian")
    return res[0] if single else res


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Matrix of second derivatives of scalar `cost` wrt each vector in `wrt`."""
    cost = T.as_tensor_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"hessian: cost must be a scalar, got a {cost.ndim}-d tensor")
    single = not isinstance(wrt, (list, tuple))
    wrts = [wrt] if single else list(wrt)
    out = []
    for w in wrts:
        if w.ndim != 1:
            raise TypeError(f"hessian: wrt must be vectors, got {w} with {w.ndim} dims")
        g = grad(cost, w, consider_constant=consider_constant,
                 disconnected_inputs=disconnected_inputs)
        out.append(jacobian(g, w, consider_constant=consider_constant,
                            disconnected_inputs=disconnected_inputs))
    return out[0] if single else out
