"""The gradient of a Scan within a memory budget: checkpoints and recomputed segments.

The plain gradient (grad.py) reads every state the loop went through: T rows of each
carry. With a budget (``Scan.memory_budget``, else ``config.scan_memory_budget``, in
bytes; 0: none), the reverse loop runs over segments instead:

    n       = the steps the forward loop ran (an `until` loop counts them: one byte a step)
    c       = budget // (bytes of one state of all carries)       states we may keep
    k       = 1 if n + 1 <= c else ceil(sqrt(n)) if 2 sqrt(n) <= c else ceil(cbrt(n))
    S       = ceil(n / k) steps a segment, n_seg = ceil(n / S) segments
    forward : a loop over segments 0 .. n_seg-2 keeps the state entering each segment
              (a checkpoint: n_seg states in all)
    reverse : a loop over the segments, last first: it recomputes the segment from its
              checkpoint (a Scan of S steps over the slices of the sequences, keeping
              its trace) and runs that Scan's own gradient with the adjoint carried in
              from the later segments; the sequences' gradients are per-segment outputs.

The recomputed segment is an ordinary Scan, so its gradient is again this function, one
level down, with the states left after the checkpoints (c - k): where 2 sqrt(n) states
do not fit, k = cbrt(n) segments of n**(2/3) steps are each split again into sqrt
pieces (memory about 3 n**(1/3) states, at most `levels` levels). When everything fits
(k = 1) the reverse loop recomputes the states once. Each step is recomputed once per
level below the top: time is one or two extra forward passes.

Values equal the plain gradient's: the recomputation runs the same body on the same
values; random generators are checkpointed with the states (the draws repeat), and the
body's `until` condition is dropped in the recomputation since the number of steps run
is known. Not used for truncated gradients (truncate_gradient >= 0).
"""

from __future__ import annotations

import weakref

import numpy as np

import theanine.tensor as T
from theanine.config import config
from theanine.gradient import disconnected_type, grad
from theanine.graph.basic import Apply, Op

from .utils import ListType, is_tensor

LEVELS = 2  # checkpoint levels (see the module docstring)
_SEGMENTS = {}  # id(segment Scan op) -> (weakref, states left (a variable), levels left)


def budget_of(op):
    """The memory budget in bytes that applies to `op`'s gradient (0: none)."""
    b = op.memory_budget
    return config.scan_memory_budget if b is None else b


def applies(op):
    """Whether the gradient of `op` is built by `checkpointed_grad`."""
    seg = _SEGMENTS.get(id(op))
    if seg is not None and seg[0]() is op:
        return seg[2] > 0
    return budget_of(op) > 0 and op.truncate_gradient < 0 and op.n_carries > 0


class ListCheckpoints(Op):
    """[init] + trace, last first: the non-tensor carry (a random generator) entering
    each segment, for the reverse loop over segments."""

    __props__ = ()

    def make_node(self, init, trace):
        return Apply(self, [init, trace], [ListType(init.type)()])

    def compute(self, node, init, trace):
        return list(reversed([init] + list(trace)))

    def grad(self, inputs, output_grads):
        return [disconnected_type(), disconnected_type()]


def _float(v):
    return is_tensor(v) and v.type.dtype.startswith(("float", "complex"))


def _ceil_div(a, b):
    return (a + b - 1) // b


def _state_bytes(inits):
    total = T.constant(np.int64(1))
    for v in inits:
        if is_tensor(v):
            size = T.prod(T.shape(v)) if v.ndim else T.constant(np.int64(1))
            total = total + T.cast(size, "int64") * np.dtype(v.dtype).itemsize
    return total


def _segments(n, states, levels):
    """(segment length S, number of segments, states left for the level below)."""
    nf = T.cast(n, "float64")
    sq = T.cast(T.ceil(T.sqrt(nf)), "int64")
    k = T.switch(T.le(n + 1, states), 1, sq)
    if levels > 1:
        cb = T.cast(T.ceil(nf ** (1.0 / 3.0) - 1e-9), "int64")
        k = T.switch(T.le(n + 1, states), 1, T.switch(T.le(2 * sq, states), sq, cb))
    k = T.maximum(k, 1)
    length = T.maximum(_ceil_div(n, k), 1)
    return length, _ceil_div(n, length), T.maximum(states - k, 1)


def _steps_run(op, inputs, outputs):
    """The number of steps the forward loop ran."""
    S, C = op.n_seqs, op.n_carries
    if not op.has_until:
        return T.cast(inputs[0], "int64")
    n_tr = sum(op.traced)
    tensors = [o for o in outputs[:n_tr] + outputs[n_tr + C:] if is_tensor(o)]
    if tensors:
        return T.cast(tensors[0].shape[0], "int64")
    # a loop that keeps nothing: count its steps with a one-byte per-step output
    one = T.constant(np.int8(1))
    counter = type(op)(op.inner_inputs, op.carry_outputs + [one, op.inner_outputs[-1]], S, C,
                   (False,) * C, True, f"{op.name or 'scan_fn'}_count")
    return T.cast(counter.make_node(*inputs).outputs[C].shape[0], "int64")


def _segment(op, seqs, start, length, inits, consts):
    """A Scan of op's body (without `until`) over `length` steps from `start`, keeping
    every trace; returns (its node, the sequence slices it reads). Its own budget is
    0 (the rewrites may batch its per-step work: a segment is short); the levels below
    are set by _SEGMENTS."""
    body = op.carry_outputs + op.y_outputs
    seg = type(op)(op.inner_inputs, body, op.n_seqs, op.n_carries, (True,) * op.n_carries, False,
               f"{op.name or 'scan_fn'}_segment", profile=op.profile, mode=op.mode,
               memory_budget=0)
    slices = [s[start:start + length] for s in seqs]
    return seg.make_node(length, *slices, *inits, *consts), slices


def _inner_like(v):
    return v.type()


def checkpointed_grad(op, inputs, outputs, g_trace, g_final, g_ys):
    """Gradients of every input of Scan `op` (as scan_grad returns them), with the
    cotangents already sorted out by scan_grad: g_trace / g_final per carry, g_ys per
    per-step output (None where disconnected)."""
    S, C, K = op.n_seqs, op.n_carries, op.n_consts
    seqs, inits, consts = inputs[1:1 + S], inputs[1 + S:1 + S + C], inputs[1 + S + C:]
    seg_info = _SEGMENTS.get(id(op))
    if seg_info is not None and seg_info[0]() is op:
        states, levels = seg_info[1], seg_info[2]
    else:
        states = T.maximum(T.constant(np.int64(budget_of(op))) // _state_bytes(inits), 3)
        levels = LEVELS
    n = _steps_run(op, inputs, outputs)
    length, n_seg, states_below = _segments(n, states, levels)
    diff_c = [k for k in range(C) if _float(inits[k])]
    diff_s = [k for k in range(S) if _float(seqs[k])]
    diff_k = [k for k in range(K) if _float(consts[k])]
    ckpts = _checkpoints(op, seqs, inits, consts, length, n_seg)

    # -- the reverse loop over segments, last first -----------------------------------
    k_in = T.lscalar("segment")
    ck_in = [_inner_like(v) for v in inits]  # the checkpoint (sequence)
    a_in = {k: _inner_like(inits[k]) for k in diff_c}
    acc_in = {k: _inner_like(consts[k]) for k in diff_k}
    full_in = [_inner_like(s) for s in seqs]
    const_in = [_inner_like(v) for v in consts]
    gtr = {k: g for k, g in enumerate(g_trace) if g is not None and k in diff_c}
    gy = {j: g for j, g in enumerate(g_ys) if g is not None and _float(op.y_outputs[j])}
    gtr_in = {k: _inner_like(g) for k, g in gtr.items()}
    gy_in = {j: _inner_like(g) for j, g in gy.items()}
    len_in, n_in = T.lscalar("S"), T.lscalar("n")
    below_in = T.lscalar("states")
    start = k_in * len_in
    steps = T.minimum(len_in, n_in - start)
    node, slices = _segment(op, full_in, start, steps, ck_in, const_in)
    n_tr = C
    known = {}
    for k in diff_c:
        known[node.outputs[n_tr + k]] = a_in[k]
    for k, g in gtr_in.items():
        known[node.outputs[k]] = g[start:start + steps]
    for j, g in gy_in.items():
        known[node.outputs[2 * C + j]] = g[start:start + steps]
    key = id(node.op)
    _SEGMENTS[key] = (weakref.ref(node.op, lambda _: _SEGMENTS.pop(key, None)), below_in,
                      levels - 1)
    wrt = [ck_in[k] for k in diff_c] + [slices[k] for k in diff_s] + [const_in[k]
                                                                       for k in diff_k]
    if known and wrt:
        gs = grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                  return_disconnected="zero")
    else:
        gs = [T.zeros_like(w) for w in wrt]
    g_c = gs[:len(diff_c)]
    g_s = gs[len(diff_c):len(diff_c) + len(diff_s)]
    g_k = gs[len(diff_c) + len(diff_s):]
    padded = [T.set_subtensor(T.zeros_like(full_in[k][:len_in])[:steps], g)
              for k, g in zip(diff_s, g_s)]
    outs = list(g_c) + [acc_in[k] + g for k, g in zip(diff_k, g_k)] + padded
    inner_seqs = [k_in] + ck_in
    inner_carries = [a_in[k] for k in diff_c] + [acc_in[k] for k in diff_k]
    inner_consts = (full_in + const_in + list(gtr_in.values()) + list(gy_in.values())
                    + [len_in, n_in, below_in])
    rop = type(op)(inner_seqs + inner_carries + inner_consts, outs, len(inner_seqs),
               len(inner_carries), (False,) * len(inner_carries), False,
               f"grad_of_{op.name or 'scan_fn'}_segments")
    order = T.arange(n_seg)[::-1]
    outer_inits = [g_final[k] if g_final[k] is not None else T.zeros_like(inits[k])
                   for k in diff_c] + [T.zeros_like(consts[k]) for k in diff_k]
    rnode = rop.make_node(n_seg, order, *ckpts, *outer_inits, *seqs, *consts,
                          *gtr.values(), *gy.values(), length, n, states_below)
    n_car = len(inner_carries)
    finals, g_seg = rnode.outputs[:n_car], rnode.outputs[n_car:]

    result = [disconnected_type()]
    by_seq = dict(zip(diff_s, g_seg))
    for k in range(S):
        if k not in by_seq:
            result.append(T.zeros_like(seqs[k]) if _float(seqs[k]) else disconnected_type())
            continue
        g = by_seq[k][::-1]  # segments in order
        g = T.reshape(g, [n_seg * length] + [g.shape[i] for i in range(2, g.ndim)])
        result.append(T.set_subtensor(T.zeros_like(seqs[k])[:n], g[:n]))
    fin = dict(zip(diff_c, finals[:len(diff_c)]))
    result += [fin[k] if k in fin else disconnected_type() for k in range(C)]
    acc = dict(zip(diff_k, finals[len(diff_c):]))
    result += [acc[k] if k in acc else disconnected_type() for k in range(K)]
    return result


def _checkpoints(op, seqs, inits, consts, length, n_seg):
    """The state entering each segment, last segment first (one sequence per carry)."""
    C = op.n_carries
    k_in = T.lscalar("segment")
    c_in = [_inner_like(v) for v in inits]
    full_in = [_inner_like(s) for s in seqs]
    const_in = [_inner_like(v) for v in consts]
    len_in = T.lscalar("S")
    node, _ = _segment(op, full_in, k_in * len_in, len_in, c_in, const_in)
    finals = node.outputs[C:2 * C]
    fwd = type(op)([k_in] + c_in + full_in + const_in + [len_in], finals, 1, C, (True,) * C, False,
               f"{op.name or 'scan_fn'}_checkpoints")
    steps = T.maximum(n_seg - 1, 0)
    traces = fwd.make_node(steps, T.arange(steps), *inits, *seqs, *consts,
                           length).outputs[:C]
    out = []
    for init, tr in zip(inits, traces):
        if is_tensor(init):
            out.append(T.concatenate([T.shape_padleft(init), tr])[::-1])
        else:
            out.append(ListCheckpoints()(init, tr))
    return out
