"""The gradient of a Scan is another Scan, running backwards over the steps run.

Reverse loop, for t = T-1 down to T-n (n = T, or truncate_gradient if smaller):

    inputs per step : x_t, c_t (the carry entering step t), g_trace[t], g_y[t]
    carries         : a (adjoint of the carry leaving step t), acc (const grads)
    body            : (a', g_x_t, g_consts_t) = VJP of the forward body at
                      (x_t, c_t, consts) with cotangents (a + g_trace[t], g_y[t])
                      acc' = acc + g_consts_t

With a memory budget, checkpointed_grad.py builds the gradient instead (checkpoints
and recomputed segments). Otherwise the carries entering each step are
[init, trace[0], ..., trace[T-2]], read from
a forward Scan that keeps every trace (the same node when it already does). Samples
of NumPy generators the reverse body needs are per-step outputs of that forward Scan
(read as sequences), not redrawn from the generators' states; the rewrites merge it
with the user's loop.
Gradients of the sequences are zero for steps the reverse loop does not reach.
"""

from __future__ import annotations

import theanine.tensor as T
from theanine.gradient import grad
from theanine.graph.basic import Apply, Op, disconnected_type
from theanine.graph.traversal import ancestors, clone_replace
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.scalar_ops import Second
from theanine.tensor.subtensor import IncSubtensor

from . import checkpointed_grad as checkpointed
from .generators import draws
from .utils import ListType, is_tensor


class ListStepInputs(Op):
    """[init] + trace[:-1], reversed: the non-tensor carry entering each step,
    last step first (for the reverse loop)."""

    __props__ = ()

    def make_node(self, init, trace):
        return Apply(self, [init, trace], [ListType(init.type)()])

    def compute(self, node, init, trace):
        return list(reversed([init] + list(trace[:-1]))) if trace else []

    def grad(self, inputs, output_grads):
        return [disconnected_type(), disconnected_type()]


class ReversedRows(Op):
    """seq[:n][::-1] of a list-typed sequence (the per-step generators a loop reads):
    what ``x[:n][::-1]`` is for a tensor sequence, for the reverse loop."""

    __props__ = ()

    def make_node(self, seq, n):
        n = T.as_tensor_variable(n)
        return Apply(self, [seq, n], [seq.type()])

    def compute(self, node, seq, n):
        return list(reversed(seq[:int(n)]))

    def grad(self, inputs, output_grads):
        return [disconnected_type(), disconnected_type()]

    def connection_pattern(self, node):
        return [[False], [False]]


def _float(v):
    return is_tensor(v) and v.type.dtype.startswith(("float", "complex"))


def _connected(g):
    return g is not None and not getattr(g.type, "is_disconnected", False)


def _last_row_only(g, trace):
    """If cotangent `g` of a trace is zeros except its last row (the gradient of
    trace[-1]), return that row: it belongs to the final state, and the reverse
    loop then needs no per-step buffer of zeros."""
    o = g.owner
    if o is None or not isinstance(o.op, IncSubtensor) or o.op.idx_list != (-1,) \
            or len(o.inputs) != 2:
        return None
    z = o.inputs[0].owner
    if z is None or not isinstance(z.op, Elemwise) or not isinstance(z.op.scalar_op, Second):
        return None
    fill = z.inputs[1]
    if not (hasattr(fill, "data") and not fill.data.any()) or z.inputs[0] is not trace:
        return None
    return o.inputs[1]


def scan_grad(op, inputs, outputs, output_grads):
    S, C, K, Y = op.n_seqs, op.n_carries, op.n_consts, op.n_ys
    n_steps = inputs[0]
    seqs = inputs[1:1 + S]
    inits = inputs[1 + S:1 + S + C]
    consts = inputs[1 + S + C:]
    n_tr = sum(op.traced)
    g_trace, it = [None] * C, iter(output_grads[:n_tr])
    for k in range(C):
        if op.traced[k]:
            g = next(it)
            g_trace[k] = g if _connected(g) else None
    g_final = [g if _connected(g) else None for g in output_grads[n_tr:n_tr + C]]
    g_ys = [g if _connected(g) else None for g in output_grads[n_tr + C:]]

    tr_out = iter(outputs[:n_tr])
    for k in range(C):
        tr = next(tr_out) if op.traced[k] else None
        last = _last_row_only(g_trace[k], tr) if g_trace[k] is not None else None
        if last is not None and not op.has_until:
            g_trace[k] = None
            g_final[k] = last if g_final[k] is None else g_final[k] + last
    if checkpointed.applies(op):  # a memory budget: checkpoints and recomputed segments
        return checkpointed.checkpointed_grad(op, inputs, outputs, g_trace, g_final, g_ys)
    diff_c = [k for k in range(C) if _float(inits[k])]
    diff_s = [k for k in range(S) if _float(seqs[k])]
    diff_k = [k for k in range(K) if _float(consts[k])]

    # fresh inner variables for the reverse body
    new_in = [v.type() for v in op.inner_inputs]
    fwd_outs = clone_replace(op.inner_outputs, dict(zip(op.inner_inputs, new_in)),
                             strict=True)
    x_in, c_in, k_in = new_in[:S], new_in[S:S + C], new_in[S + C:]
    a_in = {k: c_in[k].type() for k in diff_c}
    gtr_in = {k: c_in[k].type() for k in diff_c if g_trace[k] is not None}
    gy_in = {j: op.y_outputs[j].type() for j in range(Y)
             if g_ys[j] is not None and _float(op.y_outputs[j])}
    acc_in = {k: k_in[k].type() for k in diff_k}

    known = {}

    def add_known(var, cot):
        known[var] = known[var] + cot if var in known else cot

    for k in diff_c:
        add_known(fwd_outs[k], a_in[k] + gtr_in[k] if k in gtr_in else a_in[k])
    for j, v in gy_in.items():
        add_known(fwd_outs[C + j], v)
    wrt = [c_in[k] for k in diff_c] + [x_in[k] for k in diff_s] + [k_in[k] for k in diff_k]
    if known and wrt:
        gs = grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                  return_disconnected="zero")
    else:
        gs = [T.zeros_like(w) for w in wrt]
    # The reverse body reads the forward step's outputs (tanh's gradient uses tanh's
    # output, for one) from the stored traces instead of recomputing them.
    stored = {k: c_in[k].type() for k in range(C)
              if is_tensor(inits[k]) and fwd_outs[k] not in c_in}
    stored_y = {j: op.y_outputs[j].type() for j in range(Y)
                if is_tensor(op.y_outputs[j]) and fwd_outs[C + j] not in new_in}
    used = {id(v) for v in ancestors(gs)}
    stored = {k: v for k, v in stored.items() if id(fwd_outs[k]) in used}
    stored_y = {j: v for j, v in stored_y.items() if id(fwd_outs[C + j]) in used}
    if stored or stored_y:
        gs = clone_replace(gs, {fwd_outs[k]: v for k, v in stored.items()}
                           | {fwd_outs[C + j]: v for j, v in stored_y.items()})
    # NumPy generators' draws are read from the forward loop rather than redrawn from
    # stored generator copies: the reverse loop then holds tensors only (it compiles)
    drawn = draws(gs)
    drawn_in = {v: v.type() for v in drawn}
    if drawn:
        gs = clone_replace(gs, drawn_in)
    whole = all(op.traced) and not any(op.keep) and not drawn  # every row of every trace
    if whole:
        fwd = outputs
    else:
        fwd = type(op)(new_in, fwd_outs[:C + Y] + drawn + fwd_outs[C + Y:], S, C, (True,) * C,
                   op.has_until, op.name, op.truncate_gradient, op.profile,
                   op.mode).make_node(*inputs).outputs
    traces = fwd[:C]
    y_traces = fwd[2 * C:2 * C + Y]
    drawn_traces = fwd[2 * C + Y:]
    tensor_tr = [tr for tr, c in zip(traces, inits) if is_tensor(c)] + list(y_traces)
    n_run = tensor_tr[0].shape[0] if tensor_tr else n_steps
    trunc = op.truncate_gradient
    n_grad = n_run if trunc < 0 else T.minimum(trunc, n_run)

    g_c_new = gs[:len(diff_c)]
    g_x = gs[len(diff_c):len(diff_c) + len(diff_s)]
    g_k = gs[len(diff_c) + len(diff_s):]

    # the reverse Scan, in core form
    inner_seqs = (list(x_in) + list(c_in) + list(gtr_in.values()) + list(gy_in.values())
                  + list(stored.values()) + list(stored_y.values()) + list(drawn_in.values()))
    inner_carries = [a_in[k] for k in diff_c] + [acc_in[k] for k in diff_k]
    inner_outs = list(g_c_new) + [acc_in[k] + g for k, g in zip(diff_k, g_k)] + list(g_x)
    rop = type(op)(inner_seqs + inner_carries + list(k_in), inner_outs, len(inner_seqs),
               len(inner_carries), (False,) * len(inner_carries), False,
               f"grad_of_{op.name or 'scan_fn'}")

    def rev(x):
        return x[:n_run][::-1] if is_tensor(x) else ReversedRows()(x, n_run)

    outer_seqs = [rev(s) for s in seqs]
    for k in range(C):
        if is_tensor(inits[k]):
            both = T.concatenate([T.shape_padleft(inits[k]), traces[k]], axis=0)
            outer_seqs.append(rev(both))
        else:
            outer_seqs.append(ListStepInputs()(inits[k], traces[k]))
    outer_seqs += [rev(g_trace[k]) for k in gtr_in]
    outer_seqs += [rev(g_ys[j]) for j in gy_in]
    outer_seqs += [rev(traces[k]) for k in stored] + [rev(y_traces[j]) for j in stored_y]
    outer_seqs += [rev(tr) for tr in drawn_traces]
    outer_inits = [g_final[k] if g_final[k] is not None else T.zeros_like(inits[k])
                   for k in diff_c]
    outer_inits += [T.zeros_like(consts[k]) for k in diff_k]
    node = rop.make_node(n_grad, *outer_seqs, *outer_inits, *consts)
    n_car = len(inner_carries)
    finals = node.outputs[:n_car]
    gx_rev = node.outputs[n_car:]

    result = [disconnected_type()]  # n_steps
    gx_by_seq = dict(zip(diff_s, gx_rev))
    for k in range(S):
        if k not in gx_by_seq:
            result.append(disconnected_type() if not _float(seqs[k]) else T.zeros_like(seqs[k]))
            continue
        g = gx_by_seq[k][::-1]
        z = T.zeros_like(seqs[k])
        result.append(T.set_subtensor(z[n_run - n_grad:n_run], g))
    fin = dict(zip(diff_c, finals[:len(diff_c)]))
    for k in range(C):
        if k not in fin:
            result.append(disconnected_type())
            continue
        g = fin[k]
        if trunc >= 0:
            g = T.switch(T.le(n_run, trunc), g, 0)
        result.append(g)
    acc = dict(zip(diff_k, finals[len(diff_c):]))
    for k in range(K):
        result.append(acc[k] if k in acc else disconnected_type())
    return result
