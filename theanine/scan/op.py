"""The Scan op: the core loop form every backend sees.

    outer inputs : n_steps, seqs[S], inits[C], consts[K]
    inner inputs : seq slices[S], carries[C], consts[K]
    inner outputs: new carries[C], per-step outputs ys[Y], (until condition)
    outer outputs: traces of the carries flagged in `traced`, finals[C], y traces[Y]
    memory_budget : bytes the gradient may keep for this loop's trace (None: the
                    config flag scan_memory_budget; 0: no limit): checkpointed_grad.py
    keep          : per carry, then per y: 0 stores every step's row; k > 0 stores only
                    the last k (a ring buffer; the output is the last min(steps, k)
                    rows, in order); -1 (carries only) stores the initial state as
                    row 0, then every step's (steps + 1 rows: concatenate([init],
                    trace) without a copy) -- set by the scan_memory rewrites

Reference semantics (the py implementation below):

    carry = inits
    for t in range(n_steps):
        carry, y_t, stop = inner(seqs[t], carry, consts)
        traces[t] = carry; ys[t] = y_t
        if stop: break                  # the stopping step is included
    finals = carry                      # = inits when no step ran

A trace of a tensor carry is an array with one row per step run; a trace of a
non-tensor carry (a random generator) is a list. Sequences must have at least
n_steps rows; n_steps < 0 is an error; n_steps == 0 gives empty traces.

Scan is an InnerGraphOp (graph/inner_graph.py), which owns the structural key of
the body, the body compiled for ``perform`` and pickling.
"""

from __future__ import annotations

import time

import numpy as np

from theanine.backends.py.linker import link, run_nodes
from theanine.config import config
from theanine.graph.basic import Apply
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.inner_graph import InnerGraphOp, graph_key  # noqa: F401 - old path
from theanine.graph.profiling import ProfileStats
from theanine.graph.traversal import inner_dependencies
from theanine.ifelse.lazy import lazy_ifelse
from theanine.tensor.basic import as_tensor_variable, constant
from theanine.tensor.math import cast
from theanine.tensor.shape import infer_shapes, make_vector
from theanine.tensor.type import TensorType

from .generators import carries_at_start
from .grad import scan_grad
from .utils import ListType, is_tensor


def trace_type(t):
    if isinstance(t, TensorType):
        return TensorType(t.dtype, (False,) + t.broadcastable)
    return ListType(t)


class Scan(InnerGraphOp):
    """A loop over a closed inner graph (see the module docstring)."""

    __props__ = ("key", "n_seqs", "n_carries", "traced", "has_until", "name",
                 "truncate_gradient", "keep")
    memory_budget = None

    def __init__(self, inner_inputs, inner_outputs, n_seqs, n_carries, traced, has_until,
                 name=None, truncate_gradient=-1, profile=False, mode=None, keep=None,
                 memory_budget=None):
        super().__init__(inner_inputs, inner_outputs)
        self.n_seqs, self.n_carries = n_seqs, n_carries
        self.n_consts = len(inner_inputs) - n_seqs - n_carries
        self.n_ys = len(inner_outputs) - n_carries - int(has_until)
        if self.n_consts < 0 or self.n_ys < 0:
            raise ValueError("Scan: inner inputs/outputs do not match the counts given")
        self.traced = tuple(bool(t) for t in traced)
        if len(self.traced) != n_carries:
            raise ValueError("Scan: `traced` needs one flag per carry")
        self.has_until = bool(has_until)
        self.name = name
        self.truncate_gradient = int(truncate_gradient)
        self.profile = profile
        self.mode = mode
        self.memory_budget = memory_budget  # not a prop: it shapes only the gradient
        self.keep = self._check_keep(keep)
        for k in range(n_carries):
            ci = self.inner_inputs[n_seqs + k]
            co = self.inner_outputs[k]
            if ci.type != co.type:
                raise TypeError(f"Scan: carry {k} enters as {ci.type} but leaves as {co.type}")

    def __str__(self):
        return f"Scan{{{self.name or 'scan_fn'}}}"

    # -- views of the inner graph --------------------------------------------------
    @property
    def seq_inputs(self):
        return self.inner_inputs[:self.n_seqs]

    @property
    def carry_inputs(self):
        return self.inner_inputs[self.n_seqs:self.n_seqs + self.n_carries]

    @property
    def const_inputs(self):
        return self.inner_inputs[self.n_seqs + self.n_carries:]

    @property
    def carry_outputs(self):
        return self.inner_outputs[:self.n_carries]

    @property
    def y_outputs(self):
        return self.inner_outputs[self.n_carries:self.n_carries + self.n_ys]

    def _check_keep(self, keep):
        n = self.n_carries + self.n_ys
        keep = (0,) * n if keep is None else tuple(int(k) for k in keep)
        if len(keep) != n or min(keep, default=0) < -1 or -1 in keep[self.n_carries:]:
            raise ValueError(f"Scan: `keep` needs one count >= 0 per carry and per-step "
                             f"output, or -1 for a carry ({n} in all), got {keep}")
        outs = self.carry_outputs + self.y_outputs
        for k, (m, v) in enumerate(zip(keep, outs)):
            if m and (not is_tensor(v) or (k < self.n_carries and not self.traced[k])):
                raise ValueError(f"Scan: keep[{k}] = {m} for an output with no tensor trace")
        return keep

    # -- graph ---------------------------------------------------------------------
    def make_node(self, n_steps, *outer):
        n_steps = as_tensor_variable(n_steps)
        if n_steps.ndim != 0 or not n_steps.dtype.startswith(("int", "uint")):
            raise TypeError(f"scan: n_steps must be an integer scalar, got {n_steps.type}")
        n_steps = cast(n_steps, "int64")
        if len(outer) != len(self.inner_inputs):
            raise ValueError(f"{self}: expected {len(self.inner_inputs)} outer inputs, got "
                             f"{len(outer)}")
        outer = list(outer)
        for k, (o, i) in enumerate(zip(outer, self.inner_inputs)):
            if k < self.n_seqs and not is_tensor(i):
                if o.type != ListType(i.type):
                    raise TypeError(f"{self}: sequence {k} is {o.type}; expected "
                                    f"{ListType(i.type)}")
            elif k < self.n_seqs:
                o = as_tensor_variable(o)
                if o.dtype != i.type.dtype or o.ndim != i.type.ndim + 1:
                    raise TypeError(f"{self}: sequence {k} is {o.type}; its slices must be "
                                    f"{i.type}")
            elif o.type != i.type:
                o = i.type.filter_variable(o)
            outer[k] = o
        outs = [trace_type(c.type)() for c, t in zip(self.carry_inputs, self.traced) if t]
        outs += [c.type() for c in self.carry_inputs]
        outs += [trace_type(y.type)() for y in self.y_outputs]
        return Apply(self, [n_steps] + outer, outs)

    def connection_pattern(self, node):
        """Which outer outputs each outer input reaches, through the inner graph and
        the carries over any number of steps (Theano's connectedness: the gradient of
        a trace with respect to the initial state of a carry whose previous value no
        step reads is disconnected). A final state is connected to its own initial
        state (zero steps return it), as is a trace that stores it as row 0."""
        cp = self.__dict__.get("_cp")
        if cp is None:
            cp = self._cp = self._connections()
        return [list(row) for row in cp]

    def _connections(self):
        S, C, Y = self.n_seqs, self.n_carries, self.n_ys
        deps = inner_dependencies(self.inner_inputs, self.inner_outputs)
        carry_in = range(S, S + C)
        # the carries whose new value reads carry n's entering value, per n
        feeds = [[m for m in range(C) if (S + n) in deps[m]] for n in range(C)]
        rows = [[False] * (sum(self.traced) + C + Y)]  # n_steps
        for u in range(len(self.inner_inputs)):
            infected = {m for m in range(C) if u in deps[m]}
            stack = list(infected)
            while stack:
                for m in feeds[stack.pop()]:
                    if m not in infected:
                        infected.add(m)
                        stack.append(m)
            reached = {u} | {S + n for n in infected}
            own = u - S if u in carry_in else None
            traces = [m in infected or (own == m and self.keep[m] < 0)
                      for m in range(C) if self.traced[m]]
            finals = [m in infected or own == m for m in range(C)]
            ys = [bool(reached & deps[C + j]) for j in range(Y)]
            rows.append(traces + finals + ys)
        return tuple(tuple(r) for r in rows)

    def L_op(self, inputs, outputs, output_grads):
        return scan_grad(self, inputs, outputs, output_grads)

    def with_inner_outputs(self, inner_outputs):
        return Scan(self.inner_inputs, inner_outputs, self.n_seqs, self.n_carries,
                    self.traced, self.has_until, self.name, self.truncate_gradient,
                    self.profile, self.mode, self.keep, self.memory_budget)

    # -- running -------------------------------------------------------------------
    def link_inner(self, fgraph):
        """The py reference linker runs the body in ``perform`` (every backend's
        fallback), with type checks when config.check_types is on; a branch of an
        ifelse in the body runs only when taken (lazy_ifelse)."""
        fg = FunctionGraph(fgraph.inputs, lazy_ifelse(fgraph.inputs, fgraph.outputs))
        return link(fg, check_types=config.check_types)

    def compute(self, node, n_steps, *outer):
        t0 = time.perf_counter()
        res = run_scan(self, self.inner_function(), node, int(n_steps), outer)
        if self.profile and hasattr(self.profile, "record_extra"):
            self.profile.record_extra(str(self), time.perf_counter() - t0)
        return res if len(node.outputs) != 1 else res[0]

    def __getstate__(self):
        d = super().__getstate__()
        d["profile"] = bool(self.profile)  # statistics stay with this process
        return d

    def __setstate__(self, d):
        super().__setstate__(d)
        if self.profile is True:
            self.profile = ProfileStats(self.name or "scan_fn")


def run_scan(op, fn, node, n, outer, pause=None):
    """The reference loop (see the module docstring); returns the outer outputs.

    pause(t), when given, is asked before each step t >= 1; True stops the loop
    there with ``Paused`` (below), which holds what the steps so far
    computed, so that another implementation can run the rest from step t."""
    S, C = op.n_seqs, op.n_carries
    if n < 0:
        raise ValueError(f"{op}: n_steps must be >= 0, got {n}")
    seqs, carries, consts = outer[:S], list(outer[S:S + C]), list(outer[S + C:])
    for k, s in enumerate(seqs):
        if len(s) < n:
            raise ValueError(f"{op}: sequence {k} has {len(s)} rows, fewer than the "
                             f"{n} steps asked for (n_steps)")
    tensor_c = [is_tensor(v) for v in op.carry_inputs]
    carries = carries_at_start(op, carries)
    traces = [None] * C
    ys = None
    steps = 0
    rows = [min(n, k) if k > 0 else n for k in op.keep]  # rows stored per trace
    first = [1 if k < 0 else 0 for k in op.keep]  # row 0 holds the initial state
    inits = list(carries)
    for t in range(n):
        if pause is not None and t and pause(t):
            raise Paused(op, t, n, outer, carries, _done_rows(op, traces, ys, t, first))
        args = [*[s[t] for s in seqs], *carries, *consts]
        try:
            res = fn(*args)
        except Exception as e:
            err = step_error(op, fn, t, args, e)
            if err is e:
                raise
            raise err from e
        new = res[:C]
        if ys is None:
            traces = [_alloc_trace(new[k], first[k] + rows[k], tensor_c[k])
                      if op.traced[k] else None for k in range(C)]
            for k in range(C):
                if first[k]:
                    traces[k][0] = inits[k]
            ys = [np.empty((r,) + np.shape(y), dtype=y.dtype)
                  for r, y in zip(rows[C:], res[C:C + op.n_ys])]
        for k in range(C):
            if tensor_c[k] and np.shape(new[k]) != np.shape(carries[k]):
                raise ValueError(
                    f"{op}: output {k} (a recurrent state) has shape {np.shape(new[k])} at "
                    f"step {t} but its previous value (initial state, outputs_info) has "
                    f"shape {np.shape(carries[k])}; the state must keep one shape")
            if traces[k] is not None:
                if tensor_c[k]:
                    traces[k][first[k] + t % rows[k]] = new[k]
                else:
                    traces[k].append(new[k])
        for k, y in enumerate(res[C:C + op.n_ys]):
            if np.shape(y) != ys[k].shape[1:]:
                raise ValueError(f"{op}: per-step output {k} has shape {np.shape(y)} at step "
                                 f"{t} but {ys[k].shape[1:]} at step 0")
            ys[k][t % rows[C + k]] = y
        carries = list(new)
        steps = t + 1
        if op.has_until and res[-1]:
            break
    if ys is None:
        traces, ys = _empty_outputs(op, fn, seqs, carries, consts, tensor_c)
        traces = [np.array([c]) if f else tr for tr, c, f in zip(traces, inits, first)]
    out = []
    for k in range(C):
        if op.traced[k]:
            tr = traces[k]
            out.append(tr if not tensor_c[k] else tr[:steps + 1] if first[k]
                       else _in_order(tr, steps))
    out.extend(carries)
    out.extend(_in_order(y, steps) for y in ys)
    return tuple(out)


class Paused(Exception):
    """run_scan stopped before step `t` of `n` (its `pause` asked it to).

    ``rest()`` gives (n - t, outer inputs) for the remaining steps: sequences
    from row t, the carries after step t; ``join(outputs)`` combines the outer
    outputs of a loop run on those with the rows computed before the pause into
    the outer outputs of the whole loop, exactly as one loop of n steps gives
    them (traces in order, ring buffers' last rows, per-step outputs)."""

    def __init__(self, op, t, n, outer, carries, done):
        super().__init__(f"{op} paused before step {t} of {n}")
        self.op, self.t, self.n, self.outer = op, t, n, outer
        self.carries, (self.traces, self.ys) = list(carries), done

    def rest(self):
        op, t = self.op, self.t
        S, C = op.n_seqs, op.n_carries
        seqs = [s[t:] for s in self.outer[:S]]
        return self.n - t, tuple(seqs) + tuple(self.carries) + tuple(self.outer[S + C:])

    def join(self, outputs):
        op = self.op
        C, keep = op.n_carries, op.keep
        outputs = list(outputs)
        out, at = [], 0
        for k in range(C):
            if op.traced[k]:
                out.append(_stitch(self.traces[k], outputs[at], keep[k]))
                at += 1
        out.extend(outputs[at:at + C])
        at += C
        for j in range(op.n_ys):
            out.append(_stitch(self.ys[j], outputs[at + j], keep[C + j]))
        return tuple(out)


def _stitch(before, after, keep):
    """Rows before a pause, then the rows of the loop that continued: for a trace
    holding its initial state as row 0 (keep -1) the continuation's row 0 is the
    state at the pause, already the last row before it; a ring of `keep` rows
    keeps the last `keep`."""
    after = np.asarray(after)
    if keep < 0:
        after = after[1:]
    rows = np.concatenate([before, after.astype(before.dtype, copy=False)])
    return rows[-keep:] if keep > 0 and len(rows) > keep else rows


def _done_rows(op, traces, ys, t, first):
    """The rows of the traces and per-step outputs after t steps, in order."""
    tr = [None if traces[k] is None else traces[k][:t + 1] if first[k]
          else _in_order(traces[k], t) for k in range(op.n_carries)]
    return tr, [_in_order(y, t) for y in ys]


def step_error(op, fn, t, values, e):
    """Exception `e`, raised by step t of `op`'s body `fn` on the inner `values`, with
    the step and the inner node that failed named; the same class as the node's
    error, or `e` itself when that cannot be. The py-linked body names the node from
    the traceback (nothing runs again: user code in the body runs once per step);
    another body is re-run node by node on NumPy."""
    locate = getattr(fn, "locate", None)
    try:
        if locate is not None:
            hit = locate(e)
            found = None if hit is None else (hit[0], hit[1], e)
        else:
            found = run_nodes(FunctionGraph(op.inner_inputs, op.inner_outputs), values)
    except Exception:  # noqa: BLE001 - diagnosis must never hide the original error
        found = None
    if found is None:
        err, where = e, ""
    else:
        node, ins, err = found
        shapes = [np.shape(x) for x in ins] if ins is not None else "(not kept)"
        where = (f", while computing its inner node {node.op}\n"
                 f"  inputs: {[str(v) for v in node.inputs]}\n"
                 f"  input shapes: {shapes}")
    try:
        return type(err)(f"{err}\nin step {t} of {op}{where}")
    except Exception:  # noqa: BLE001 - some exception classes take other arguments
        return e


def _in_order(buf, steps):
    """The rows of the last min(steps, len(buf)) steps, oldest first: buf holds row t
    at t % len(buf) (the whole trace when it has a row per step)."""
    rows = len(buf)
    if steps <= rows:
        return buf[:steps]
    cut = steps % rows
    return np.concatenate([buf[cut:], buf[:cut]]) if cut else buf


def _alloc_trace(v, n, tensor):
    if tensor:
        return np.empty((n,) + np.shape(v), dtype=v.dtype)
    return []


def _empty_outputs(op, fn, seqs, carries, consts, tensor_c):
    """Zero steps: empty traces whose row shapes come from one probe call of the
    body on zero-valued sequence slices (results discarded)."""
    traces = [np.empty((0,) + np.shape(c), dtype=c.dtype) if t else []
              for c, t in zip(carries, tensor_c)]
    if op.n_ys == 0:
        return traces, []
    probe = [np.zeros(np.shape(s)[1:], dtype=s.dtype) for s in seqs]
    try:
        with np.errstate(all="ignore"):
            res = fn(*probe, *carries, *consts)
        shapes = [np.shape(y) for y in res[op.n_carries:op.n_carries + op.n_ys]]
    except Exception as e:  # noqa: BLE001 - the probe read a value it cannot have
        try:
            shapes = _inferred_row_shapes(op, probe, carries, consts)
        except Exception:  # noqa: BLE001 - re-raised with the probe's reason
            raise ValueError(f"{op}: n_steps is 0 and the shapes of the per-step outputs "
                             f"could not be determined by a probe step ({e})") from e
    ys = [np.empty((0,) + tuple(int(d) for d in shp), dtype=y.type.dtype)
          for shp, y in zip(shapes, op.y_outputs)]
    return traces, ys


def _inferred_row_shapes(op, probe, carries, consts):
    """The per-step outputs' shapes from the body's shape inference (no value is
    read: a jacobian row's index into an empty vector has the vector's shape)."""
    def compile_shapes():
        shapes = infer_shapes(op.y_outputs, op.inner_inputs)
        return link(FunctionGraph(op.inner_inputs, [
            make_vector(*s, dtype="int64") if s else constant(np.zeros(0, "int64"))
            for s in shapes]))

    row_shapes = op.cached("row_shapes", compile_shapes)
    with np.errstate(all="ignore"):
        return row_shapes(*probe, *carries, *consts)
