"""Linear recurrences (tensor/recurrence.py, scan/fused_recurrence.py) as
``lax.associative_scan`` prefix scans on GPUs and sequential ``lax.scan`` loops on
CPUs, and ZeroPad (tensor/zero_pad.py).

LinearRecurrence on a GPU: the per-step operands, broadcast to n rows, are composed by
the op's own associative ``combine`` (earlier step first; ``reverse=True`` runs from
the last row), and ``apply_composed`` applies h0: h_t for every t at once. On a CPU,
XLA runs the log-depth scan's extra work (about twice the multiply-adds, in passes
over memory) slower than one loop: the scalar recurrence x_t = 0.999 x_{t-1} + a_t
(N=1e6) took 2.3-3.3x a hand-written lax.scan that way and 1.29x as a lax.scan
(benchmarks/RESULTS.md), so there each step applies its operands to the carry
(``apply_composed`` of one step) in a lax.scan. ``PARALLEL`` forces one or the
other (tests run both). FusedRecurrence
is the same recurrence with its elementwise neighbours: the program steps that do not
depend on the state run on whole arrays before the scan, the others on the traces
after it (the unfused graph's values, computed by the same scalar functions as
Elemwise's lowering). The number of steps and ZeroPad's shape and bounds decide
shapes, so they are static (the linker specialises on them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theanine.scan.fused_recurrence import FusedRecurrence, depends_on_state
from theanine.tensor.recurrence import (
    MODES,
    LinearRecurrence,
    apply_composed,
    check_rows,
    combine,
)
from theanine.tensor.zero_pad import ZeroPad

from .device import default_device
from .elemwise import apply_scalar
from .evaluate import static_inputs
from .registry import lowerings

PARALLEL = None  # None: associative scans on GPUs (and TPUs), loops on CPUs


def parallel():
    """Whether recurrences lower to lax.associative_scan (see the module docstring):
    the device the backend runs on is not a CPU, unless PARALLEL says otherwise."""
    if PARALLEL is not None:
        return PARALLEL
    return (default_device() or jax.devices()[0]).platform != "cpu"


def _steps(op, n):
    n = int(n)
    if n < 0:
        raise ValueError(f"{op}: n_steps must be >= 0, got {n}")
    return n


def _recurrence(mode, reverse, n, h0, operands):
    """(trace, final): trace[t] = h_t (n rows, by step index), final the last state
    computed (h0 when n == 0)."""
    if n == 0:
        return jnp.zeros((0,) + h0.shape, h0.dtype), h0
    if not parallel():
        return _loop(mode, reverse, n, h0, operands)
    elems = []
    for name, x in zip(MODES[mode], operands):
        shape = x.shape if name == "M" else h0.shape
        elems.append(jnp.broadcast_to(x, (n,) + shape))
    composed = jax.lax.associative_scan(combine(mode, jnp), tuple(elems), reverse=reverse)
    trace = apply_composed(mode, jnp, h0, composed).astype(h0.dtype)
    return trace, (trace[0] if reverse else trace[-1])


def _loop(mode, reverse, n, h0, operands):
    """The recurrence as a lax.scan: operands with a row per step are scanned over,
    the others (M, and operands broadcast along time) are closed over, not copied to
    n rows."""
    names = MODES[mode]
    per_step = [name != "M" and x.ndim > h0.ndim and x.shape[0] != 1
                for name, x in zip(names, operands)]
    fixed = [x[0] if name != "M" and x.ndim > h0.ndim else x
             for name, x in zip(names, operands)]

    def step(h, rows):
        it = iter(rows)
        e = tuple(next(it) if p else c for p, c in zip(per_step, fixed))
        h = apply_composed(mode, jnp, h, e).astype(h0.dtype)
        return h, h

    rows = tuple(x for p, x in zip(per_step, operands) if p)
    final, trace = jax.lax.scan(step, h0, rows, length=n, reverse=reverse)
    return trace, final


@lowerings.register(LinearRecurrence)
@static_inputs(0)
def _linear_recurrence(node, n, h0, *operands):
    op = node.op
    n = _steps(op, n)
    h0 = jnp.asarray(h0)
    for name, x, var in zip(op.operand_names, operands, node.inputs[2:]):
        x = jnp.asarray(x)
        if name == "M":
            d = h0.shape[-1]
            if x.shape != (d, d):
                raise ValueError(f"{op}: M has shape {x.shape}; the state's last dim is {d}, "
                                 f"so M must be ({d}, {d})")
        else:
            check_rows(op, f"operand {name}", x.shape, var.broadcastable, n, h0.shape)
    trace, final = _recurrence(op.mode, op.reverse, n, h0, [jnp.asarray(x) for x in operands])
    return (trace, final) if op.store else final


def _states(trace, h0, reverse):
    """h0 and the trace as one array: h0 first (last when reverse)."""
    head = h0[None].astype(trace.dtype)
    if trace.shape[0] == 0:  # XLA's CPU compiler aborts on some joins of empty arrays
        return head
    return jnp.concatenate([trace, head] if reverse else [head, trace])


@lowerings.register(FusedRecurrence)
@static_inputs(0)
def _fused_recurrence(node, n, h0, *xs):
    op = node.op
    n = _steps(op, n)
    h0 = jnp.asarray(h0)
    xs = [jnp.asarray(x) for x in xs]
    for k, (x, var) in enumerate(zip(xs, node.inputs[2:])):
        check_rows(op, f"input {k}", x.shape, var.broadcastable, n, h0.shape)
    dep = depends_on_state(op.nin, op.program)
    values = list(xs) + [None, None]
    for k, (sop, args, dtype) in enumerate(op.program):
        pre = not dep[op.nin + 2 + k]
        values.append(apply_scalar(sop, dtype, [values[a] for a in args]) if pre else None)
    trace, final = _recurrence(op.mode, op.reverse, n, h0, [values[r] for r in op.operands])
    result = []
    if op.store:
        result.append(_states(trace, h0, op.reverse) if op.init_row else trace)
    result.append(final)
    if op.outputs:
        full = _states(trace, h0, op.reverse)
        values[op.nin] = full[1:] if op.reverse else full[:-1]
        values[op.nin + 1] = trace
        for k, (sop, args, dtype) in enumerate(op.program):
            if dep[op.nin + 2 + k]:
                values[op.nin + 2 + k] = apply_scalar(sop, dtype, [values[a] for a in args])
        shape = (n,) + h0.shape
        for r, o in zip(op.outputs, node.outputs[-len(op.outputs):]):
            result.append(jnp.broadcast_to(values[r], shape).astype(o.type.dtype))
    return tuple(result) if len(result) > 1 else result[0]


@lowerings.register(ZeroPad)
@static_inputs(lambda node: range(1, len(node.inputs)))
def _zero_pad(node, y, start, stop, *shape):
    shape = tuple(int(s) for s in shape)
    y = jnp.asarray(y)
    a, b, _ = slice(int(start), int(stop)).indices(shape[0])
    if a == 0 and b == shape[0] and y.shape == shape:
        return y
    rows = (max(b - a, 0),) + shape[1:]
    bc = node.inputs[0].broadcastable
    if any(s != r and not (s == 1 and flag) for s, r, flag in zip(y.shape, rows, bc)):
        raise ValueError(f"zero_pad: a value of shape {y.shape} does not fit rows {a}:{b} "
                         f"of shape {shape}")
    return jnp.zeros(shape, y.dtype).at[a:b].set(jnp.broadcast_to(y, rows))
