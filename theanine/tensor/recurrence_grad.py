"""The gradient of LinearRecurrence: another LinearRecurrence, running the other way.

Forward direction (a reverse op is handled by flipping its per-step values), with
G the cotangent of the trace, GF that of the final state, prev[t] the state before
step t (h0, trace[0], ..., trace[n-2]), and lam[t] = dL/dh_t in full:

    lam[t] = G[t] + d h_{t+1}/d h_t * lam[t+1],      lam[n-1] = G[n-1] + GF

With nu[t] = d h_t/d h_prev * lam[t] (the adjoint sent to the state before step t),
nu runs backwards as an affine recurrence that starts from GF:

    affine, mul: nu[t] = A[t] * (G[t] + nu[t+1])            (a: A)
    add:         nu[t] = G[t] + nu[t+1]                     (lam = nu)
    max, min:    nu[t] = a[t] * (G[t] + nu[t+1]),  a[t] = [h_prev wins at step t]
    matrix:      nu[t] = (G[t] + nu[t+1]) . M^T
    lam = G + (nu shifted one step: nu[1], ..., nu[n-1], GF);  dh0 = nu[0] (GF if n == 0)
    dA = sum(lam * prev), dB = sum(lam) (max/min: lam where B wins), dM = prev^T . lam,
    each summed over the dims the operand broadcasts.

A constant in time (affine, mul: A with one row, as a decay) and no GF: lam itself is
the recurrence, lam[t] = A * lam[t+1] + G[t] from lam[n] = 0, and dh0 = A * lam[0]:
one recurrence whose trace is dB, with no operand A*G and no shifted sum to compute
(a constant A cannot be shifted by a step, so with a GF the general form is used).

The comparisons of max/min follow tensor.maximum/minimum's gradient (ties go to the
first argument; `ties` says which argument the state was), so values match the
gradient of the sequential loop.
"""

from __future__ import annotations

from .alloc import alloc, zeros_like
from .elemwise import sum_to
from .join import concatenate
from .linalg import tensordot
from .math import cast, ge, gt, le, lt
from .shape import shape_padleft

_WINS = {  # (mode, ties) -> (state wins, B wins), as functions of (prev, B)
    ("max", "carry"): (ge, lt),
    ("max", "input"): (gt, lambda p, b: ge(b, p)),
    ("min", "carry"): (le, gt),
    ("min", "input"): (lt, lambda p, b: le(b, p)),
}


def _connected(g):
    return g is not None and not getattr(g.type, "is_disconnected", False)


def _flip(x):
    return x if x.broadcastable[0] else x[::-1]


def grads(op, inputs, outputs, output_grads):
    """[None (n), dh0, d operands...] for LinearRecurrence `op` (see the module doc)."""
    n, h0, *ops = inputs
    g_trace = output_grads[0] if op.store else None
    g_final = output_grads[-1]
    g_trace = g_trace if _connected(g_trace) else None
    g_final = g_final if _connected(g_final) else None
    if g_trace is None and g_final is None:
        return [None, zeros_like(h0)] + [zeros_like(x) for x in ops]
    needs_prev = op.mode != "add"
    trace = outputs[0] if op.store else None
    if needs_prev and trace is None:
        trace = type(op)(op.mode, op.reverse, True, op.ties)(n, h0, *ops)[0]
    per_step = [name != "M" for name in op.operand_names]
    if op.reverse:
        ops = [_flip(x) if s else x for x, s in zip(ops, per_step)]
        trace = _flip(trace) if trace is not None else None
        g_trace = _flip(g_trace) if g_trace is not None else None
    res = _forward(op, type(op), n, h0, ops, trace, g_trace, g_final)
    if op.reverse:
        res = [res[0]] + [_flip(g) if s else g for g, s in zip(res[1:], per_step)]
    return [None] + res


def _forward(op, lr, n, h0, ops, trace, g, gf):
    """[dh0, d operands...] of a forward recurrence."""
    no_final = gf is None
    if g is None:
        g = alloc(zeros_like(h0), n, *[h0.shape[i] for i in range(h0.ndim)])
    if gf is None:
        gf = zeros_like(h0)
    prev = None
    if trace is not None:
        prev = concatenate([shape_padleft(h0), trace])[:-1]
    mode = op.mode
    if mode == "add":
        nu, dh0 = lr("add", True)(n, gf, g)
        return [dh0, sum_to(nu, ops[0])]
    if mode == "matrix":
        m, b = ops
        mt = m.T
        nu, dh0 = lr("matrix", True)(n, gf, mt, tensordot(g, mt, [[g.ndim - 1], [0]]))
        lam = g + _next(nu, gf)
        axes = list(range(lam.ndim - 1))
        return [dh0, tensordot(prev, lam, [axes, axes]), sum_to(lam, b)]
    if mode in ("max", "min"):
        (b,) = ops
        keep, take = _WINS[(mode, op.ties)]
        a = cast(keep(prev, b), h0.dtype)
        nu, dh0 = lr("affine", True)(n, gf, a, a * g)
        lam = g + _next(nu, gf)
        return [dh0, sum_to(cast(take(prev, b), h0.dtype) * lam, b)]
    a = ops[0]
    if no_final and a.broadcastable[0]:
        lam, first = lr("affine", True)(n, zeros_like(h0), a, g)
        dh0 = a[0] * first  # a's lanes broadcast everywhere or where h0's do
    else:
        nu, dh0 = lr("affine", True)(n, gf, a, a * g)
        lam = g + _next(nu, gf)
    da = sum_to(lam * prev, a)
    return [dh0, da] + ([sum_to(lam, ops[1])] if mode == "affine" else [])


def _next(nu, gf):
    """nu[1], ..., nu[n-1], gf (n rows; none when nu has none)."""
    return concatenate([nu, shape_padleft(gf)])[1:]
