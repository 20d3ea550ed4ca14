"""The gradient of a Scan within a memory budget: checkpoints and recomputed steps.

The plain gradient (grad.py) reads every state the loop went through: n rows of each
carry. With a budget (``Scan.memory_budget``, else ``config.scan_memory_budget``, in
bytes; 0: none), the reverse pass keeps at most that many bytes of states and
recomputes the others, on the binomial (revolve) schedule of revolve.py:

    n     = the steps the forward loop ran (an `until` loop counts them)
    c     = budget // (bytes of one state of all carries)    states it may keep
    free  = max(c - 1, MIN_STATES)                           besides the initial one
    cost  = (bytes of a state, bytes a leaf keeps a step)    leaf_bytes.py
    r     = the fewest repetitions with capacity(free, r, cost) >= n

A checkpoint keeps one state; a leaf keeps, a step, its state and the per-step values
of its gradient (the input projections its rewrites batch, the per-step gradient
terms: about 4 states a step for a vanilla RNN), so a leaf takes about (free + 1) *
state / step of those steps, and the checkpoints held plus a leaf's arrays stay within
c states' bytes, the budget (at least one step, however tight the budget). Every
step is run forward at most r + 1 more times (r = 0: all steps in one leaf; with
equal costs the binomial bound C(free + r + 1, free), revolve.py).

The schedule is decided when the gradient runs (n and the arrays' sizes are known
then) by RevolveGrad.perform, which calls two compiled inner functions: an advance
(a Scan of the body over steps [a, m), final states only) and a leaf (a Scan of the
body over [a, b) keeping its trace, and that Scan's own gradient, with the adjoint
carried in from the later steps). Values equal the plain gradient's: the
recomputation runs the same body on the same values; random generators are carried
with the states into the checkpoints (the draws repeat), and the body's `until`
condition is dropped in the recomputation since the number of steps run is known.
Not used for truncated gradients (truncate_gradient >= 0).
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.backends.py.linker import link
from theanine.config import config
from theanine.gradient import disconnected_type, grad, grad_not_implemented
from theanine.graph.basic import Apply
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.inner_graph import InnerGraphOp
from theanine.ifelse.lazy import lazy_ifelse

from . import revolve
from .leaf_bytes import step_bytes
from .revolve import MIN_STATES
from .utils import is_tensor


def budget_of(op):
    """The memory budget in bytes that applies to `op`'s gradient (0: none)."""
    b = op.memory_budget
    return config.scan_memory_budget if b is None else b


def applies(op):
    """Whether the gradient of `op` is built by `checkpointed_grad`."""
    return budget_of(op) > 0 and op.truncate_gradient < 0 and op.n_carries > 0


def _float(v):
    return is_tensor(v) and v.type.dtype.startswith(("float", "complex"))


def _state_bytes(inits):
    """Bytes of one state of all tensor carries (at least 1)."""
    total = T.constant(np.int64(0))
    for v in inits:
        if is_tensor(v):
            size = T.prod(T.shape(v)) if v.ndim else T.constant(np.int64(1))
            total = total + T.cast(size, "int64") * np.dtype(v.dtype).itemsize
    return T.maximum(total, 1)


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



def _segment(op, seqs, start, length, inits, consts, traced):
    """A Scan of op's body (without `until`) over `length` steps from `start`; traced:
    keep every state and per-step output (a leaf), else only the final states (an
    advance). Returns (its node, the sequence slices it reads). A leaf's budget is 0:
    the rewrites may batch its per-step work (a leaf is short); an advance keeps the
    loop's budget, so its per-step work stays in its loop (an advance may run most
    of the steps)."""
    C = op.n_carries
    body = op.carry_outputs + (op.y_outputs if traced else [])
    seg = type(op)(op.inner_inputs, body, op.n_seqs, C, (traced,) * C, False,
                   f"{op.name or 'scan_fn'}_{'leaf' if traced else 'advance'}",
                   profile=op.profile, mode=op.mode,
                   memory_budget=0 if traced else budget_of(op))
    slices = [s[start:start + length] for s in seqs]
    return seg.make_node(length, *slices, *inits, *consts), slices


def checkpointed_grad(op, inputs, outputs, g_trace, g_final, g_ys):
    """Gradients of every input of Scan `op` (as scan_grad returns them), with the
    cotangents already sorted out by scan_grad: g_trace / g_final per carry, g_ys per
    per-step output (None where disconnected)."""
    S, C, K = op.n_seqs, op.n_carries, op.n_consts
    seqs, inits, consts = inputs[1:1 + S], inputs[1 + S:1 + S + C], inputs[1 + S + C:]
    diff_c = [k for k in range(C) if _float(inits[k])]
    diff_s = [k for k in range(S) if _float(seqs[k])]
    diff_k = [k for k in range(K) if _float(consts[k])]
    gtr = {k: g for k, g in enumerate(g_trace) if g is not None and k in diff_c}
    gy = {j: g for j, g in enumerate(g_ys) if g is not None and _float(op.y_outputs[j])}
    n = _steps_run(op, inputs, outputs)
    states = T.constant(np.int64(budget_of(op))) // _state_bytes(inits)
    free = T.maximum(states - 1, MIN_STATES)  # besides the state entering step 0
    lam = [g_final[k] if g_final[k] is not None else T.zeros_like(inits[k]) for k in diff_c]

    # the inner graph: an advance (final states) and a leaf's gradient
    # separate step ranges for the two, so that no rewrite merges the advance's loop
    # into the leaf's (the advance would then keep a trace)
    a_start, a_length = T.lscalar("advance_start"), T.lscalar("advance_steps")
    start, length = T.lscalar("start"), T.lscalar("steps")
    full_in = [s.type() for s in seqs]
    state_in = [v.type() for v in inits]
    const_in = [v.type() for v in consts]
    lam_in = [v.type() for v in lam]
    gtr_in = {k: g.type() for k, g in gtr.items()}
    gy_in = {j: g.type() for j, g in gy.items()}
    adv, _ = _segment(op, full_in, a_start, a_length, state_in, const_in, traced=False)
    node, slices = _segment(op, full_in, start, length, state_in, const_in, traced=True)
    known = {node.outputs[C + k]: g for k, g in zip(diff_c, lam_in)}
    for k, g in gtr_in.items():
        known[node.outputs[k]] = g[start:start + length]
    for j, g in gy_in.items():
        known[node.outputs[2 * C + j]] = g[start:start + length]
    wrt = ([state_in[k] for k in diff_c] + [slices[k] for k in diff_s]
           + [const_in[k] for k in diff_k])
    if known and wrt:
        gs = grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                  return_disconnected="zero")
    else:
        gs = [T.zeros_like(w) for w in wrt]
    inner_in = ([a_start, a_length, start, length] + full_in + state_in + const_in + lam_in
                + list(gtr_in.values()) + list(gy_in.values()))
    rev = RevolveGrad(inner_in, adv.outputs[:C] + list(gs),
                      (S, C, K, tuple(diff_c), tuple(diff_s), tuple(diff_k)),
                      f"grad_of_{op.name or 'scan_fn'}_revolve", op, (tuple(gtr), tuple(gy)))
    outs = rev.make_node(n, free, *seqs, *inits, *consts, *lam, *gtr.values(),
                         *gy.values()).outputs

    by_seq = dict(zip(diff_s, outs[:len(diff_s)]))
    result = [disconnected_type()]
    for k in range(S):
        if k in by_seq:
            result.append(by_seq[k])
        else:
            result.append(T.zeros_like(seqs[k]) if _float(seqs[k]) else disconnected_type())
    g_c = dict(zip(diff_c, outs[len(diff_s):len(diff_s) + len(diff_c)]))
    result += [g_c[k] if k in g_c else disconnected_type() for k in range(C)]
    g_k = dict(zip(diff_k, outs[len(diff_s) + len(diff_c):]))
    result += [g_k[k] if k in g_k else disconnected_type() for k in range(K)]
    return result


class RevolveGrad(InnerGraphOp):
    """The reverse pass of a loop under a memory budget, run by the revolve schedule.

    outer inputs : n (steps run), free (states it may keep besides the initial one),
                   seqs[S], inits[C], consts[K], lam (cotangents of the final states
                   of the differentiable carries), then the cotangents of the traces
                   and per-step outputs the gradient reads (full length)
    inner inputs : the advance's start and steps, the leaf's start and steps, then
                   the outer inputs after `free` (the same types)
    inner outputs: the final states after the advance's steps from its start, then
                   the leaf's gradients: of its initial state (differentiable
                   carries), its sequence slices, the constants
    outputs      : gradients of the differentiable seqs (full length; rows >= n are
                   zero), inits, consts (layout: S, C, K and the differentiable
                   indices)

    perform runs revolve.reverse: the advances keep checkpoints (at most `free`
    states with a leaf's trace), each leaf recomputes its steps keeping their states
    and gives the adjoint of the state entering it to the next leaf back. The two
    inner functions are linked by the linker running the node (``runner``).

    loop: the forward Scan op (its body: a backend that differentiates loops itself,
    the jax lowering, runs it); cotangents: the carries whose traces and the per-step
    outputs whose values have cotangents among the inputs, in their order."""

    __props__ = ("key", "layout", "name", "cotangents")

    def __init__(self, inner_inputs, inner_outputs, layout, name=None, loop=None,
                 cotangents=((), ())):
        super().__init__(inner_inputs, inner_outputs)
        self.layout, self.name, self.loop = tuple(layout), name, loop
        self.cotangents = tuple(tuple(c) for c in cotangents)

    def __str__(self):
        return f"RevolveGrad{{{self.name}}}" if self.name else "RevolveGrad"

    def make_node(self, n, free, *outer):
        ins = [T.cast(T.as_tensor_variable(v), "int64") for v in (n, free)]
        if len(outer) != len(self.inner_inputs) - 4:
            raise ValueError(f"{self}: expected {len(self.inner_inputs) - 4} inputs after n "
                             f"and free, got {len(outer)}")
        ins += [i.type.filter_variable(v) for v, i in zip(outer, self.inner_inputs[4:])]
        S, C, K, dc, ds, dk = self.layout
        seqs, inits, consts = ins[2:2 + S], ins[2 + S:2 + S + C], ins[2 + S + C:2 + S + C + K]
        outs = ([seqs[k].type() for k in ds] + [inits[k].type() for k in dc]
                + [consts[k].type() for k in dk])
        return Apply(self, ins, outs)

    def with_inner_outputs(self, inner_outputs):
        return RevolveGrad(self.inner_inputs, inner_outputs, self.layout, self.name,
                           self.loop, self.cotangents)

    def link_inner(self, fgraph):
        fg = FunctionGraph(fgraph.inputs, lazy_ifelse(fgraph.inputs, fgraph.outputs))
        return link(fg, check_types=config.check_types)

    def runner(self, link_fn):
        """fn(n, free, *outer) -> outputs, its inner functions linked by link_fn."""
        S, C, K, dc, ds, dk = self.layout
        ins = self.inner_inputs

        def linked(outs):
            return link_fn(FunctionGraph(ins, lazy_ifelse(ins, outs)),
                           check_types=config.check_types)

        advance_fn = linked(self.inner_outputs[:C])
        leaf_fn = linked(self.inner_outputs[C:])
        leaf_bytes = step_bytes(ins, self.inner_outputs[C:], ins[3], type(self.loop))
        n_dc, n_ds = len(dc), len(ds)

        def run(n, free, *outer):
            seqs, inits = outer[:S], outer[S:S + C]
            consts = outer[S + C:S + C + K]
            rest = list(outer[S + C + K + n_dc:])
            lam = [list(outer[S + C + K:S + C + K + n_dc])]
            g_seq = [np.zeros_like(seqs[k]) for k in ds]
            g_const = [np.zeros_like(consts[k]) for k in dk]

            def args(state, a, steps):
                a, steps = np.int64(a), np.int64(steps)
                return [a, steps, a, steps, *seqs, *state, *consts, *lam[0], *rest]

            def advance(state, a, m):
                return list(advance_fn(*args(state, a, m - a)))

            def leaf(state, a, b):
                res = leaf_fn(*args(state, a, b - a))
                lam[0] = list(res[:n_dc])
                for g, part in zip(g_seq, res[n_dc:n_dc + n_ds]):
                    g[a:b] = part
                for g, part in zip(g_const, res[n_dc + n_ds:]):
                    g += part

            # a checkpoint keeps one state; a leaf keeps its states and the per-step
            # values of its gradient (leaf_bytes.py): the schedule counts both
            ckpt = max(sum(v.nbytes for v in inits if isinstance(v, np.ndarray)), 1)
            per_step = max(leaf_bytes(args(inits, 0, 0), int(n)), 1)
            revolve.reverse(int(n), int(free), list(inits), advance, leaf,
                            cost=(ckpt, per_step))
            g_init = [np.asarray(g, dtype=inits[k].dtype) for g, k in zip(lam[0], dc)]
            return tuple(g_seq + g_init + g_const)

        run.linked = (advance_fn, leaf_fn)
        return run

    def compute(self, node, *values):
        run = self.cached("runner", lambda: self.runner(link))
        res = run(*values)
        return res[0] if len(res) == 1 else res

    def grad(self, inputs, output_grads):
        why = ("Second derivatives through a memory-budgeted loop gradient: take them "
               "without a budget (memory_budget=0).")
        return [grad_not_implemented(self, k, x, why) for k, x in enumerate(inputs)]

    def connection_pattern(self, node):
        return [[True] * len(node.outputs) for _ in node.inputs]

    def infer_shape(self, node, shapes):
        S, C, K, dc, ds, dk = self.layout
        ins = shapes[2:]
        return ([ins[k] for k in ds] + [ins[S + k] for k in dc]
                + [ins[S + C + k] for k in dk])
