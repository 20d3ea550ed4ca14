"""RevolveGrad (a memory-budgeted loop gradient, scan/checkpointed_grad.py) on device:
nested ``lax.scan`` segments whose bodies are ``jax.checkpoint``-ed, differentiated by
JAX, so no step of it goes back to the host.

The number of steps n and the states the budget allows (c = free + 1) are static
(shapes). With k levels of segments of L = ceil(n ** (1 / k)) steps, the backward
pass keeps about k * L states (the state entering each segment of each level, then
one innermost segment's residuals) and runs each step forward k times more; k is the
fewest levels with k * L <= c (at most MAX_LEVELS: beyond, the memory is that of
MAX_LEVELS levels). This is the multi-level checkpointing JAX can express with static
shapes, not the binomial schedule the other backends run from Python (docs/
scan_memory_budget.md).

The gradient is that of the scalar sum(lam * final states) + sum over steps of
sum(g_trace[t] * state_t) + sum(g_y[t] * y_t): its derivatives by the initial states,
sequences and constants are the loop's vector-Jacobian product with those cotangents.
The body is the forward loop's (RevolveGrad.loop) without its `until` condition (n is
the number of steps the loop ran). Run-time checks in the recomputed body are dropped:
the forward loop ran the same body on the same values and checked them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.graph.traversal import toposort
from theanine.scan.checkpointed_grad import RevolveGrad
from theanine.tensor.type import TensorType

from . import callback, checks
from .control import body_traceable, run_inner
from .evaluate import static_inputs
from .registry import lowering_for, lowerings

MAX_LEVELS = 4


def levels(n, states):
    """(k, L): the fewest levels k <= MAX_LEVELS with k * L <= states, L = ceil(n**(1/k))
    (the segment length; k = 1: one plain scan keeping every step)."""
    best = None
    for k in range(1, MAX_LEVELS + 1):
        length = max(int(np.ceil(n ** (1.0 / k) - 1e-9)), 1)
        while length ** k < n:  # float rounding
            length += 1
        if k * length <= states:
            return k, length
        if best is None or k * length < best[0] * best[1]:
            best = (k, length)
    return best


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
        # a body with Python code (io_callback: JAX cannot rematerialise its effects) or
        # host work: the schedule runs from Python (RevolveGrad.perform)
        raise callback.NeedsHost(f"{op}: a loop body that cannot be differentiated on device")
    n, free = int(n), int(free)
    seqs, inits, consts = list(outer[:S]), list(outer[S:S + C]), list(outer[S + C:S + C + K])
    rest = list(outer[S + C + K:])
    lam, rest = rest[:len(dc)], rest[len(dc):]
    gtr, gys = rest[:len(gtr_idx)], rest[len(gtr_idx):]
    dtypes = [v.type.numpy_dtype if isinstance(v.type, TensorType) else np.dtype("uint32")
              for v in loop.carry_inputs]
    inits = [jnp.asarray(v, d) for v, d in zip(inits, dtypes)]
    k, length = levels(n, free + 1)

    def loss(d_inits, d_seqs, d_consts):
        states, xs_all, cs = list(inits), list(seqs), list(consts)
        for j, v in zip(dc, d_inits):
            states[j] = v
        for j, v in zip(ds, d_seqs):
            xs_all[j] = v
        for j, v in zip(dk, d_consts):
            cs[j] = v
        per_step = xs_all + list(gtr) + list(gys)

        def step(carry, rows):
            st, acc = carry
            xs, g_t, g_y = rows[:S], rows[S:S + len(gtr)], rows[S + len(gtr):]
            with checks.collecting():  # checked by the forward loop (module docstring)
                res = run_inner(loop.inner_inputs, body_outs, list(xs) + list(st) + cs)
            new = [jnp.asarray(v, d) for v, d in zip(res[:C], dtypes)]
            for c, g in zip(gtr_idx, g_t):
                acc = acc + jnp.sum(g * new[c])
            for y, g in zip(gy_idx, g_y):
                acc = acc + jnp.sum(g * res[C + y])
            return (new, acc), None

        def plain(st, acc, start, steps):
            rows = [jax.lax.dynamic_slice_in_dim(v, start, steps) for v in per_step]
            (st, acc), _ = jax.lax.scan(step, (st, acc), rows, length=steps)
            return st, acc

        def run(st, acc, start, steps, level):
            block = length ** (level - 1)
            if level <= 1 or steps <= length or block >= steps:
                return plain(st, acc, start, steps) if steps else (st, acc)
            q, r = divmod(steps, block)
            inner = jax.checkpoint(lambda s, a, b: run(s, a, b, block, level - 1))

            def segment(carry, i):
                s, a = carry
                return inner(s, a, start + i * block), None

            (st, acc), _ = jax.lax.scan(segment, (st, acc), jnp.arange(q))
            return run(st, acc, start + q * block, r, level - 1) if r else (st, acc)

        acc0 = jnp.zeros((), jnp.result_type(*lam) if lam else jnp.float32)
        st, acc = run(states, acc0, 0, n, k)
        for j, g in zip(dc, lam):
            acc = acc + jnp.sum(g * st[j])
        return acc

    args = ([inits[j] for j in dc], [jnp.asarray(seqs[j]) for j in ds],
            [jnp.asarray(consts[j]) for j in dk])
    g_i, g_s, g_k = jax.grad(loss, argnums=(0, 1, 2))(*args)
    outs = list(g_s) + [jnp.asarray(g, inits[j].dtype) for g, j in zip(g_i, dc)] + list(g_k)
    return outs[0] if len(outs) == 1 else tuple(outs)
