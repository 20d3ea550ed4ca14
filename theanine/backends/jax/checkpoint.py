"""RevolveGrad (a memory-budgeted loop gradient, scan/checkpointed_grad.py) on device:
the binomial (revolve) schedule of scan/revolve.py, planned at trace time and run by
one ``lax.fori_loop`` over its actions, so no step of it goes back to the host.

The number of steps n and the states the budget allows (free + 1) are static
(shapes), so the schedule is known when the function is traced: `plan` runs
revolve.reverse and records its actions as int arrays (kind: advance or leaf; first
step; number of steps; the checkpoint slot it starts from; the slot an advance
writes). Checkpoints live in one (slots, state...) buffer per carry, written with
dynamic_update_slice: the slot of a checkpoint is its depth (the schedule drops them
last-made first). The loop switches (lax.switch) on the kind:

- advance: a fori_loop of the body over its steps from its slot's state, the final
  state written to its slot;
- leaf: a scan of the body over the longest leaf's steps (static), writing the state
  entering each step into the slots above the one it starts from (free: the
  schedule holds its checkpoints in the slots below; steps past the leaf's count
  change nothing), then a reverse scan that takes each step's vector-Jacobian
  product (jax.vjp of the body: the step runs once more, its residuals live for that
  step only) with the adjoint of its new state (the later steps' adjoint plus the
  trace's cotangent) and of its per-step outputs, masked past the count.

A leaf keeps one state a step (the states entering its steps), so the schedule's
costs are equal (revolve.EQUAL): checkpoints and a leaf's states share one buffer of
free + 1 states, the budget's. Values equal the unbudgeted gradient's: the same body
on the same values, random keys carried with the states. The body is the forward
loop's (RevolveGrad.loop) without its `until` condition (n is the number of steps
the loop ran). Run-time checks in the recomputed body are dropped: the forward loop
ran the same body on the same values and checked them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.graph.traversal import toposort
from theanine.scan import revolve
from theanine.scan.checkpointed_grad import RevolveGrad
from theanine.tensor.type import TensorType

from . import callback, checks
from .control import body_traceable, run_inner
from .evaluate import static_inputs
from .registry import lowering_for, lowerings

ADVANCE, LEAF = 0, 1


def plan(n, free):
    """(actions, slots, longest): the revolve schedule for n steps and `free` states
    as an int64 array of rows (kind, first step, steps, slot read, slot written), the
    state slots it uses (slot 0: the initial state; a leaf's states go in the slots
    above the one it reads) and its longest leaf."""
    rows, depth, need, longest = [], [0], [1], [0]

    class Slot:
        def __init__(self, i):
            self.i = i

    class Held(Slot):
        def __del__(self):
            depth[0] -= 1

    def advance(state, a, m):
        depth[0] += 1
        need[0] = max(need[0], depth[0] + 1)
        rows.append((ADVANCE, a, m - a, state.i, depth[0]))
        return Held(depth[0])

    def leaf(state, a, b):
        rows.append((LEAF, a, b - a, state.i, 0))
        need[0] = max(need[0], state.i + b - a)
        longest[0] = max(longest[0], b - a)

    revolve.reverse(n, free, Slot(0), advance, leaf)
    return np.array(rows, dtype=np.int64).reshape(-1, 5), need[0], longest[0]


@lowerings.register(RevolveGrad)
@static_inputs(0, 1)
def _revolve_grad(node, n, free, *outer):
    op = node.op
    loop = op.loop
    S, C, K, dc, ds, dk = op.layout
    gtr_idx, gy_idx = op.cotangents
    body_outs = loop.carry_outputs + loop.y_outputs if loop is not None else []
    if (loop is None or any(not isinstance(v.type, TensorType) for v in loop.seq_inputs)
            or not body_traceable(loop.inner_inputs, body_outs)
            or any(lowering_for(nd.op) is None
                   for nd in toposort(body_outs, stop_at=loop.inner_inputs))):
        # a body with Python code (io_callback: JAX cannot rerun its effects) or host
        # work: the schedule runs from Python (RevolveGrad.perform)
        raise callback.NeedsHost(f"{op}: a loop body that cannot be differentiated on device")
    n, free = int(n), int(free)
    seqs, inits, consts = list(outer[:S]), list(outer[S:S + C]), list(outer[S + C:S + C + K])
    rest = list(outer[S + C + K:])
    lam, rest = rest[:len(dc)], rest[len(dc):]
    gtr, gys = rest[:len(gtr_idx)], rest[len(gtr_idx):]
    dtypes = [v.type.numpy_dtype if isinstance(v.type, TensorType) else np.dtype("uint32")
              for v in loop.carry_inputs]
    inits = [jnp.asarray(v, d) for v, d in zip(inits, dtypes)]
    seqs = [jnp.asarray(v) for v in seqs]
    consts = [jnp.asarray(v) for v in consts]
    lam = [jnp.asarray(g, inits[j].dtype) for g, j in zip(lam, dc)]
    g_seq = [jnp.zeros_like(seqs[j]) for j in ds]
    g_const = [jnp.zeros_like(consts[j]) for j in dk]
    if n == 0:
        return _result(g_seq, lam, g_const)
    actions, slots, longest = plan(n, free)

    def step(t, states, cs):
        xs = [jax.lax.dynamic_index_in_dim(s, t, keepdims=False) for s in seqs]
        with checks.collecting():  # checked by the forward loop (module docstring)
            res = run_inner(loop.inner_inputs, body_outs, xs + list(states) + list(cs))
        return [jnp.asarray(v, d) for v, d in zip(res[:C], dtypes)], res[C:]

    def read(buf, slot):
        return [jax.lax.dynamic_index_in_dim(b, slot, keepdims=False) for b in buf]

    def advance(carry, row):
        buf, lam_, gs, gk = carry
        first, count, src, dst = row[1], row[2], row[3], row[4]
        st = jax.lax.fori_loop(0, count, lambda i, st: step(first + i, st, consts)[0],
                               read(buf, src))
        buf = [jax.lax.dynamic_update_index_in_dim(b, v, dst, 0) for b, v in zip(buf, st)]
        return buf, lam_, gs, gk

    def leaf(carry, row):
        buf, lam_, gs, gk = carry
        first, count, src = row[1], row[2], row[3]

        def slot(i):  # the slot of the state entering step first + i
            return jnp.minimum(src + i, slots - 1)

        def forward(acc, i):
            st, bf = acc
            on = i < count
            bf = [jax.lax.dynamic_update_index_in_dim(
                b, jnp.where(on, v, jax.lax.dynamic_index_in_dim(b, slot(i), keepdims=False)),
                slot(i), 0) for b, v in zip(bf, st)]
            new = step(jnp.minimum(first + i, n - 1), st, consts)[0]
            return ([jnp.where(on, v, s) for v, s in zip(new, st)], bf), None

        (_, buf), _ = jax.lax.scan(forward, (read(buf, src), buf), jnp.arange(longest))

        def backward(acc, i):
            lam_, gs, gk = acc
            t = jnp.minimum(first + i, n - 1)
            on = i < count
            st = read(buf, slot(i))
            xs_d = [jax.lax.dynamic_index_in_dim(seqs[j], t, keepdims=False) for j in ds]

            def f(d_st, d_xs, d_cs):
                full, xs_all, cs = list(st), list(seqs), list(consts)
                for j, v in zip(dc, d_st):
                    full[j] = v
                for j, v in zip(dk, d_cs):
                    cs[j] = v
                xs = [jax.lax.dynamic_index_in_dim(s, t, keepdims=False) for s in xs_all]
                for j, v in zip(ds, d_xs):
                    xs[j] = v
                with checks.collecting():
                    res = run_inner(loop.inner_inputs, body_outs, xs + full + cs)
                new = [jnp.asarray(v, d) for v, d in zip(res[:C], dtypes)]
                return [new[j] for j in dc], [res[C + y] for y in gy_idx]

            _, vjp = jax.vjp(f, [st[j] for j in dc], xs_d, [consts[j] for j in dk])
            cot_st = list(lam_)
            for c, g in zip(gtr_idx, gtr):
                if c in dc:
                    k = dc.index(c)
                    cot_st[k] = cot_st[k] + jax.lax.dynamic_index_in_dim(
                        g, t, keepdims=False).astype(cot_st[k].dtype)
            cot_y = [jax.lax.dynamic_index_in_dim(g, t, keepdims=False) for g in gys]
            g_st, g_xs, g_cs = vjp((cot_st, cot_y))
            lam_ = [jnp.where(on, g, v) for g, v in zip(g_st, lam_)]
            gk = [v + jnp.where(on, g, jnp.zeros_like(g)) for v, g in zip(gk, g_cs)]
            gs = [jax.lax.dynamic_update_index_in_dim(
                v, jnp.where(on, g, jax.lax.dynamic_index_in_dim(v, t, keepdims=False)), t, 0)
                for v, g in zip(gs, g_xs)]
            return (lam_, gs, gk), None

        (lam_, gs, gk), _ = jax.lax.scan(backward, (lam_, gs, gk), jnp.arange(longest),
                                        reverse=True)
        return buf, lam_, gs, gk

    buf = [jnp.zeros((slots,) + v.shape, v.dtype).at[0].set(v) for v in inits]
    table = jnp.asarray(actions)

    def body(i, carry):
        return jax.lax.switch(table[i, 0], [advance, leaf], carry, table[i])

    _, lam, g_seq, g_const = jax.lax.fori_loop(0, len(actions), body,
                                               (buf, lam, g_seq, g_const))
    return _result(g_seq, lam, g_const)


def _result(g_seq, lam, g_const):
    outs = list(g_seq) + list(lam) + list(g_const)
    return outs[0] if len(outs) == 1 else tuple(outs)
