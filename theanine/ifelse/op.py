"""IfElse, Theano's conditional: the branch values are ordinary inputs of the node.

    out = ifelse(c, then_value, else_value)     # IfElse(c, then_value, else_value)

Building an IfElse copies nothing upstream, and its gradient is two IfElse nodes over
the output gradients (Theano's), so a chain of k ifelse costs O(k) to build and to
differentiate.

Only the branch taken runs: before a graph is linked, ``lazy_ifelse`` (lazy.py) moves
the nodes that only one branch needs into that branch of a LazyIfElse node, the form
the backends run. A graph linked without that step (``backends.link`` called
directly) still gets the right values: ``compute`` selects among computed values.

Op interface (what a backend implements):
- ``IfElse(n_outs)`` node inputs: ``cond`` (a 0-d tensor of any dtype; nonzero is
  true), then ``n_outs`` then-values, then ``n_outs`` else-values; output k has the
  type of then-value k, which else-value k shares.
- value: ``then_values if cond else else_values``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op, Variable
from theanine.tensor.alloc import alloc, zeros_like
from theanine.tensor.basic import as_tensor_variable, constant
from theanine.tensor.shape import patternbroadcast


class IfElse(Op):
    """outputs = then_values if cond else else_values (see the module docstring).

    n_outs: the number of outputs. as_view and gpu are Theano's arguments, accepted
    (values are never copied; there is no GPU variant)."""

    __props__ = ("n_outs",)

    def __init__(self, n_outs, as_view=False, gpu=False, name=None):
        if not isinstance(n_outs, (int, np.integer)) or n_outs < 1:
            raise ValueError(f"IfElse: n_outs must be a positive int, got {n_outs!r}")
        self.n_outs, self.as_view, self.gpu, self.name = int(n_outs), as_view, gpu, name

    def __str__(self):
        return f"IfElse{{{self.name}}}" if self.name else "IfElse"

    def make_node(self, cond, *values):
        cond = as_tensor_variable(cond)
        if cond.ndim != 0:
            raise TypeError(f"ifelse: the condition must be a scalar (0-d), got {cond.type}")
        n = self.n_outs
        if len(values) != 2 * n:
            raise TypeError(f"{self}: expected {n} then-values and {n} else-values, got "
                            f"{len(values)} values")
        values = [as_tensor_variable(v) for v in values]
        for k, (t, e) in enumerate(zip(values[:n], values[n:])):
            if t.type != e.type:
                raise TypeError(f"{self}: output {k} has type {t.type} in the then branch "
                                f"but {e.type} in the else branch")
        return Apply(self, [cond, *values], [v.type() for v in values[:n]])

    def compute(self, node, cond, *values):
        chosen = values[:self.n_outs] if cond else values[self.n_outs:]
        return chosen[0] if self.n_outs == 1 else tuple(chosen)

    def infer_shape(self, node, shapes):
        cond, n = node.inputs[0], self.n_outs
        out, pick_t, pick_e, where = [], [], [], []
        for k, (ts, es) in enumerate(zip(shapes[1:1 + n], shapes[1 + n:])):
            row = []
            for d, (a, b) in enumerate(zip(ts, es)):
                if a is b or (_constant_int(a) is not None
                              and _constant_int(a) == _constant_int(b)):
                    row.append(a)
                else:
                    row.append(None)
                    pick_t.append(as_tensor_variable(a))
                    pick_e.append(as_tensor_variable(b))
                    where.append((k, d))
            out.append(row)
        if where:  # the lengths that differ between the branches: one more ifelse
            picked = ifelse(cond, pick_t, pick_e)
            for (k, d), v in zip(where, picked):
                out[k][d] = v
        return [tuple(row) for row in out]

    def connection_pattern(self, node):
        n = self.n_outs
        return ([[True] * n]  # cond: connected, with a zero gradient (Theano)
                + [[j == k for j in range(n)] for k in range(n)] * 2)

    def grad(self, inputs, output_grads):
        cond, n = inputs[0], self.n_outs
        ts, fs = inputs[1:1 + n], inputs[1 + n:]
        gs = [_zeros_shaped_like(o, o.dtype) if getattr(g.type, "is_disconnected", False)
              else g for o, g in zip(ts, output_grads)]
        zeros_t = [_zeros_shaped_like(t, g.dtype) for t, g in zip(ts, gs)]
        zeros_f = [_zeros_shaped_like(f, g.dtype) for f, g in zip(fs, gs)]
        name = self.name or ""
        g_t = IfElse(n, name=f"{name}grad_t")(cond, *gs, *zeros_t)
        g_f = IfElse(n, name=f"{name}grad_f")(cond, *zeros_f, *gs)
        g_t = g_t if isinstance(g_t, list) else [g_t]
        g_f = g_f if isinstance(g_f, list) else [g_f]
        return [zeros_like(cond, dtype=_float_dtype(cond))] + g_t + g_f


def _zeros_shaped_like(v, dtype):
    """Zeros of v's shape and broadcast pattern, reading only v.shape (which the shape
    rewrites infer without computing v: the untaken branch stays uncomputed)."""
    z = alloc(constant(np.zeros((), dtype=dtype)), *[v.shape[d] for d in range(v.ndim)])
    return patternbroadcast(z, v.broadcastable)


def _float_dtype(v):
    return v.dtype if v.dtype.startswith(("float", "complex")) else "float64"


def _constant_int(v):
    data = getattr(v, "data", None)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if data is not None and np.ndim(data) == 0:
        return int(data)
    return None


def ifelse(condition, then_branch, else_branch, name=None):
    """`then_branch` if the scalar `condition` is nonzero, else `else_branch`; only the
    branch taken is computed. Branches are variables (or values) or lists of equal
    length; each pair must have one dtype and ndim (broadcast patterns are unified).
    Returns one variable, or a list for lists."""
    single = not isinstance(then_branch, (list, tuple))
    thens = [then_branch] if single else list(then_branch)
    elses = list(else_branch) if isinstance(else_branch, (list, tuple)) else [else_branch]
    if len(thens) != len(elses):
        raise ValueError(f"ifelse: then_branch has {len(thens)} outputs but else_branch has "
                         f"{len(elses)}; they must match")
    if not thens:
        raise ValueError("ifelse: give at least one value per branch")
    thens = [t if isinstance(t, Variable) else as_tensor_variable(t) for t in thens]
    elses = [e if isinstance(e, Variable) else as_tensor_variable(e) for e in elses]
    for k, (t, e) in enumerate(zip(thens, elses)):
        if t.type == e.type:
            continue
        same = (getattr(t.type, "dtype", None) == getattr(e.type, "dtype", None)
                and getattr(t.type, "ndim", None) == getattr(e.type, "ndim", None))
        if not same:
            raise TypeError(f"ifelse: output {k} has type {t.type} in then_branch but "
                            f"{e.type} in else_branch; cast them to one type (e.g. T.cast)")
        bc = tuple(a and b for a, b in zip(t.broadcastable, e.broadcastable))
        thens[k], elses[k] = patternbroadcast(t, bc), patternbroadcast(e, bc)
    outs = IfElse(len(thens), name=name)(condition, *thens, *elses)
    outs = outs if isinstance(outs, list) else [outs]
    return outs[0] if single else outs


__all__ = ["IfElse", "ifelse"]
