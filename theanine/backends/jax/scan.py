"""Scan: the core loop form (scan/op.py) as ``lax.scan``, ``until`` loops as
``lax.while_loop``.

    carry = (carries, ring buffers, step, check code)
    carry, rows = lax.scan(step, carry, sequences[:n_steps], length=n_steps)

The body is the inner graph traced once (evaluate.py); sequences are sliced by
lax.scan, non-sequences are closed over (NumPy values among them stay concrete
in the body, so shapes computed from them are static). Per-step outputs are
stacked by lax.scan, except those the save-memory rewrite gave a ring buffer
(``Scan.keep`` k > 0): those are carried as k-row buffers written at step % k and
put in order after the loop; keep -1 stores the initial state as row 0. A
random generator carried by the loop is a JAX key like any carry. n_steps is a
static input (plan.py); n_steps == 0 gives empty traces whose shapes JAX infers
by tracing the body.

An ``until`` loop at the top of a function is deferred (plan.py): inside its
segment a while_loop runs at most n_steps steps (the loop's bound) writing
buffers of that many rows; the number of steps taken comes to the host, which
trims the buffers (``finish``), so what follows sees exactly the steps run, and
the gradient, a reverse scan over the trimmed traces, runs over exactly those
steps. A loop that cannot be traced (an until loop inside another loop's body,
a body needing a value known only at run time) runs on the host.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.graph.basic import Constant
from theanine.scan.op import Scan
from theanine.tensor.subtensor import Subtensor
from theanine.tensor.type import TensorType

from . import callback, checks, evaluate
from .control import body_traceable, run_inner
from .evaluate import static_inputs
from .hoisted import product_rows
from .registry import lowerings


class _Loop:
    """The parts of a Scan node's outer inputs and its output layout."""

    def __init__(self, node, ins):
        op = self.op = node.op
        S, C = op.n_seqs, op.n_carries
        self.n = int(ins[0])
        if self.n < 0:
            raise ValueError(f"{op}: n_steps must be >= 0, got {self.n}")
        outer = list(ins[1:])
        self.seqs, self.inits = outer[:S], outer[S:S + C]
        self.consts = outer[S + C:]
        for k, s in enumerate(self.seqs):
            if s.shape[0] < self.n:
                raise ValueError(f"{op}: sequence {k} has {s.shape[0]} rows, fewer than the "
                                 f"{self.n} steps asked for (n_steps)")
        self.dtypes = [_dtype(v) for v in op.carry_inputs]
        self.inits = [jnp.asarray(c, d) for c, d in zip(self.inits, self.dtypes)]
        self.keep = op.keep
        # rows stored per traced carry / y: every step (n), or a ring of k rows
        self.rows = [min(self.n, k) if k > 0 else self.n for k in self.keep]
        self.checked = False  # whether the body has run-time checks (set when traced)

    def step(self, xs, carries, code):
        """One step: (new carries, per-step outputs ys, until flag, code)."""
        op = self.op
        C = op.n_carries
        with checks.collecting() as col:
            res = run_inner(op.inner_inputs, op.inner_outputs,
                            list(xs) + list(carries) + list(self.consts))
            inner = col.code()
        self.checked |= bool(col.codes)
        new = []
        for k, (v, c, d) in enumerate(zip(res[:C], carries, self.dtypes)):
            v = jnp.asarray(v, d)
            if v.shape != c.shape:
                raise ValueError(f"{op}: output {k} (a recurrent state) has shape {v.shape} "
                                 f"after a step but its previous value (initial state, "
                                 f"outputs_info) has shape {c.shape}; the state must keep "
                                 "one shape")
            new.append(v)
        ys = [jnp.asarray(y) for y in res[C:C + op.n_ys]]
        stop = jnp.asarray(res[-1]) != 0 if op.has_until else None
        return new, ys, stop, jnp.where(code != 0, code, inner)

    def outputs(self, finals, carry_rows, y_rows, steps):
        """The Scan node's outputs from the stored rows (steps: an int)."""
        op = self.op
        out = []
        for k in range(op.n_carries):
            if op.traced[k]:
                rows = carry_rows[k]
                if self.keep[k] < 0:  # the initial state and every step's (_is_full)
                    out.append(rows)
                else:
                    out.append(_in_order(rows, steps, self.keep[k]))
        out.extend(finals)
        for j, rows in enumerate(y_rows):
            out.append(_in_order(rows, steps, self.keep[op.n_carries + j]))
        return out


def _dtype(v):
    return v.type.numpy_dtype if isinstance(v.type, TensorType) else np.dtype("uint32")


def _in_order(buf, steps, keep):
    """The rows of the last min(steps, keep) steps, oldest first (keep 0 or -1: all)."""
    if keep <= 0 or steps <= buf.shape[0]:
        return buf[:steps]
    cut = steps % buf.shape[0]
    return jnp.concatenate([buf[cut:], buf[:cut]]) if cut else buf


def _is_ring(loop, k):
    return loop.keep[k] > 0 and loop.rows[k] < loop.n


def _write(buf, t, value, rows):
    return jax.lax.dynamic_update_index_in_dim(buf, value, t % rows, 0)


@lowerings.register(Scan)
@static_inputs(0)
def _scan(node, *ins, env=None):
    if node.op.has_until:
        raise callback.NeedsHost(f"{node.op}: an until loop inside a traced body (its number "
                                 "of steps decides shapes)")
    loop = _Loop(node, ins)
    op, C = loop.op, loop.op.n_carries
    traced = [k for k in range(C) if op.traced[k]]
    outs_idx = traced + [C + j for j in range(op.n_ys)]  # stored outputs, keep order
    # sequences read in the body from an ancestor's value (rows of it, or a hoisted
    # product recomputed per step: hoisted.py) rather than sliced by lax.scan
    views = [(product_rows(v, env) or _view(v, env)) if loop.n else None
             for v in node.inputs[1:1 + op.n_seqs]]

    def body(carry, xs):
        carries, bufs, t, code = carry
        rows = iter(xs)
        xs = [next(rows) if v is None else v.row(t) for v in views]
        new, ys, _, code = loop.step(xs, carries, code)
        values = [new[k] for k in traced] + ys
        bufs = list(bufs)
        stacked = []
        for m, (k, v) in enumerate(zip(outs_idx, values)):
            if _is_full(loop, k):
                bufs[m] = jax.lax.dynamic_update_index_in_dim(bufs[m], v, t + 1, 0)
                stacked.append(None)
            elif _is_ring(loop, k):
                bufs[m] = _write(bufs[m], t, v, loop.rows[k])
                stacked.append(None)
            else:
                stacked.append(v)
        return (new, bufs, t + 1, code), stacked

    bufs = [None] * len(outs_idx)
    try:
        shapes = _row_shapes(loop, outs_idx)
    except Exception as e:  # noqa: BLE001 - an empty loop whose body reads a missing row
        if loop.n:
            raise
        raise callback.NeedsHost(f"{op}: zero steps, and tracing the body failed ({e})") from e
    for m, k in enumerate(outs_idx):
        if _is_full(loop, k):  # the initial state, then a row per step, written in place
            init = loop.inits[k]
            bufs[m] = jnp.zeros((loop.n + 1,) + init.shape, init.dtype).at[0].set(init)
        elif _is_ring(loop, k):
            bufs[m] = jnp.zeros((loop.rows[k],) + shapes[m].shape, shapes[m].dtype)
    carry = (loop.inits, bufs, jnp.int64(0), jnp.int32(0))
    xs = [s[:loop.n] for s, v in zip(loop.seqs, views) if v is None]
    (finals, bufs, _, code), stacked = jax.lax.scan(body, carry, xs, length=loop.n)
    if loop.checked:  # else the carried code stays 0 and XLA drops it
        checks.add_code(code)
    rows = [s if b is None else b for b, s in zip(bufs, stacked)]
    carry_rows = dict(zip(traced, rows[:len(traced)]))
    return _single(loop.outputs(finals, carry_rows, rows[len(traced):], loop.n))


_scan.wants_env = True


def _is_full(loop, k):
    """A traced carry kept with its initial state as row 0 (keep -1): carried as one
    buffer of n + 1 rows, so the output is that buffer (no copy to join them)."""
    return k < loop.op.n_carries and loop.keep[k] < 0


class _View:
    """A sequence that is rows of a larger value: row t is base[offset + stride * t]."""

    def __init__(self, base, offset, stride):
        self.base, self.offset, self.stride = base, offset, stride

    def row(self, t):
        return jax.lax.dynamic_index_in_dim(self.base, self.offset + self.stride * t, 0,
                                            keepdims=False)


def _view(var, env):
    """How sequence `var` reads rows of an ancestor's value through basic slices of its
    first axis (x[::-1], x[1:], x[:n][::-1], ...), or None. The loop then indexes that
    value in its body: no reversed or sliced copy of the sequence is made (a reverse
    loop over a forward loop's trace reads the trace itself)."""
    offset, stride, found = 0, 1, None
    while env is not None and var.owner is not None and isinstance(var.owner.op, Subtensor):
        node = var.owner
        pattern = node.op.idx_list
        if len(pattern) != 1 or not isinstance(pattern[0], tuple):
            break
        parts, slots = [], iter(node.inputs[1:])
        for p in pattern[0][1:]:
            parts.append(evaluate.value_of(env, next(slots)) if p == "s" else p)
        start, step = parts[0], 1 if parts[2] is None else parts[2]
        if not all(p is None or evaluate.is_concrete(p) for p in (start, step)) or step == 0:
            break  # a step of 0 is the Subtensor's own error
        base = node.inputs[0]
        if not isinstance(base, Constant) and id(base) not in env:
            break
        length = evaluate.value_of(env, base).shape[0]
        start = _slice_start(None if start is None else int(start), int(step), length)
        offset, stride = start + int(step) * offset, int(step) * stride
        var, found = base, base
    if found is None:
        return None
    return _View(evaluate.value_of(env, found), offset, stride)


def _slice_start(start, step, length):
    """The first index of x[start::step] (Python's rules) for a first axis of `length`."""
    if start is None:
        return 0 if step > 0 else length - 1
    if start < 0:
        start += length
    return min(max(start, 0), length) if step > 0 else min(max(start, -1), length - 1)


def _row_shapes(loop, outs_idx):
    """ShapeDtypeStructs of one step's stored values (for buffers made before the loop),
    or Nones when no output has a buffer."""
    if not any(_is_ring(loop, k) for k in outs_idx) and not loop.op.has_until:
        return [None] * len(outs_idx)
    xs = [jax.ShapeDtypeStruct(s.shape[1:], s.dtype) for s in loop.seqs]
    return jax.eval_shape(lambda c, x: _stored(loop, c, x), loop.inits, xs)


def _stored(loop, carries, xs):
    """One step's values that the loop stores: traced carries, then ys."""
    op, C = loop.op, loop.op.n_carries
    new, ys, _, _ = loop.step(xs, carries, jnp.int32(0))
    return [new[k] for k in range(C) if op.traced[k]] + ys


def _single(outs):
    return outs[0] if len(outs) == 1 else tuple(outs)


# -- until loops ------------------------------------------------------------------------
def _deferred(node, *ins):
    """Inside the segment: run the until loop into buffers of its bound. Returns the
    raw values (finals, buffers, steps run)."""
    loop = _Loop(node, ins)
    op, C = loop.op, loop.op.n_carries
    n = loop.n
    traced = [k for k in range(C) if op.traced[k]]
    outs_idx = traced + [C + j for j in range(op.n_ys)]
    shapes = _row_shapes(loop, outs_idx)
    bufs = []
    for m, k in enumerate(outs_idx):
        extra = 1 if k < C and loop.keep[k] < 0 else 0
        b = jnp.zeros((max(loop.rows[k], 1) + extra,) + shapes[m].shape, shapes[m].dtype)
        if extra:
            b = b.at[0].set(loop.inits[k])
        bufs.append(b)

    def cond(state):
        _, _, t, stop, _ = state
        return (t < n) & jnp.logical_not(stop)

    def body(state):
        carries, bufs, t, _, code = state
        xs = [jax.lax.dynamic_index_in_dim(s, t, 0, keepdims=False) for s in loop.seqs]
        new, ys, stop, code = loop.step(xs, carries, code)
        values = [new[k] for k in traced] + ys
        out = []
        for k, b, v in zip(outs_idx, bufs, values):
            if k < C and loop.keep[k] < 0:
                out.append(jax.lax.dynamic_update_index_in_dim(b, v, t + 1, 0))
            else:
                out.append(_write(b, t, v, max(loop.rows[k], 1)))
        return new, out, t + 1, stop, code

    state = (loop.inits, bufs, jnp.int64(0), jnp.asarray(False), jnp.int32(0))
    finals, bufs, steps, _, code = jax.lax.while_loop(cond, body, state)
    if loop.checked:
        checks.add_code(code)
    return (finals, bufs, steps)


def _finish(node, raw):
    """On the host: the until loop's outputs trimmed to the steps it ran."""
    finals, bufs, steps = raw
    op, C = node.op, node.op.n_carries
    steps = int(steps)
    out = []
    traced = [k for k in range(C) if op.traced[k]]
    for k, b in zip(traced, bufs[:len(traced)]):
        out.append(b[:steps + 1] if op.keep[k] < 0 else _in_order(b, steps, op.keep[k]))
    out.extend(finals)
    for j, b in enumerate(bufs[len(traced):]):
        out.append(_in_order(b, steps, op.keep[C + j]))
    return out


_scan.traceable = lambda node: body_traceable(node.op.inner_inputs, node.op.inner_outputs)
_scan.deferred = _deferred
_scan.finish = _finish
