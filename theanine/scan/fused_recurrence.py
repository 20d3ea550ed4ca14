"""FusedRecurrence: a LinearRecurrence with its elementwise neighbours inside it — the
operands computed from the inputs step by step, and per-step outputs computed from the
state — so that a backend runs it as one loop that stores no operand arrays and no
trace it does not need (the rewrite fuse_recurrences makes it, after fusion).

For t = 0 .. n-1 (``reverse``: t = n-1 .. 0), with x_i[t] the inputs' elements at step
t (an input with one row is the same at every step; lanes broadcast as in
LinearRecurrence's operands) and ``h_prev`` the state before step t:

    values  0 .. nin-1    x_0[t] .. x_{nin-1}[t]
            nin           h_prev
            nin + 1       h (the state after step t)
            nin + 2 + k   program step k: (scalar_op, value numbers, dtype), as Composite

    the operands (``operands``: value numbers, in the mode's order: A, B for affine,
    B for add, A for mul) depend on the inputs only; h = A*h_prev + B (or h_prev + B,
    h_prev * A); the per-step outputs (``outputs``: value numbers) depend on h_prev or h.

Node outputs: ``states`` (only when ``store``: trace[t] = h; with ``init_row``, n + 1
rows holding h0 first — last when reverse — so that the states before each step and
after it are both views of it), ``final`` (h after the last step, h0 when n == 0), then
one array of n rows per per-step output (dtype from the program, the state's shape).

Values: exactly the unfused graph's (``unfuse``): the same scalar ops in the same order
on every element; the recurrence as LinearRecurrence's (a reassociated prefix scan when
the implementation chooses one). The gradient is the unfused graph's gradient.
"""

from __future__ import annotations

import numpy as np

from theanine.gradient import grad
from theanine.graph.basic import Apply, Op
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.join import concatenate
from theanine.tensor.recurrence import MODES, LinearRecurrence, check_rows, steps_and_state
from theanine.tensor.recurrence_numpy import run as run_recurrence
from theanine.tensor.shape import shape_padleft
from theanine.tensor.type import TensorType

FUSABLE_MODES = ("affine", "add", "mul")


def depends_on_state(nin, program):
    """For each value number: whether it depends on h_prev or h."""
    dep = [False] * nin + [True, True]
    for _, args, _ in program:
        dep.append(any(dep[a] for a in args))
    return dep


class FusedRecurrence(Op):
    """See the module docstring."""

    __props__ = ("mode", "reverse", "store", "init_row", "nin", "program", "operands",
                 "outputs")

    def __init__(self, mode, nin, program, operands, outputs=(), reverse=False, store=True,
                 init_row=False):
        if mode not in FUSABLE_MODES:
            raise ValueError(f"FusedRecurrence: mode must be one of {FUSABLE_MODES}, got "
                             f"{mode!r}")
        self.mode, self.reverse, self.store = mode, bool(reverse), bool(store)
        self.init_row = bool(init_row) and self.store
        self.nin = int(nin)
        self.program = tuple((sop, tuple(int(a) for a in args), str(dtype))
                             for sop, args, dtype in program)
        self.operands = tuple(int(r) for r in operands)
        self.outputs = tuple(int(r) for r in outputs)
        n_values = self.nin + 2 + len(self.program)
        for k, (_, args, _) in enumerate(self.program):
            if any(not 0 <= a < self.nin + 2 + k for a in args):
                raise ValueError(f"FusedRecurrence: step {k} uses a value not yet computed: "
                                 f"{args}")
        if len(self.operands) != len(MODES[mode]):
            raise ValueError(f"FusedRecurrence: mode {mode} takes operands "
                             f"{MODES[mode]}, got {len(self.operands)} value numbers")
        dep = depends_on_state(self.nin, self.program)
        for r in self.operands + self.outputs:
            if not 0 <= r < n_values:
                raise ValueError(f"FusedRecurrence: value number {r} does not exist")
        if any(dep[r] for r in self.operands):
            raise ValueError("FusedRecurrence: an operand depends on the state")
        if not all(dep[r] for r in self.outputs):
            raise ValueError("FusedRecurrence: a per-step output does not depend on the state")
        self._hash = hash((type(self), self.mode, self.reverse, self.store, self.init_row,
                           self.nin, self.program, self.operands, self.outputs))

    def __hash__(self):
        return self._hash

    def __str__(self):
        flags = ", reverse" if self.reverse else ""
        flags += ", states" if self.init_row else "" if self.store else ", final only"
        return (f"FusedRecurrence{{{self.mode}{flags}, {len(self.program)} steps, "
                f"{len(self.outputs)} outputs}}")

    def value_dtypes(self, in_dtypes, state_dtype):
        dtypes = list(in_dtypes) + [state_dtype, state_dtype]
        for _, _, dtype in self.program:
            dtypes.append(dtype)
        return dtypes

    def make_node(self, n, h0, *xs):
        n, h0 = steps_and_state(self, n, h0)
        xs = [as_tensor_variable(x) for x in xs]
        if len(xs) != self.nin:
            raise TypeError(f"{self}: takes {self.nin} inputs after n and h0, got {len(xs)}")
        for k, x in enumerate(xs):
            lanes = x.broadcastable[1:]
            if x.ndim != h0.ndim + 1 or not (lanes == h0.broadcastable or all(lanes)):
                raise TypeError(
                    f"{self}: input {k} is {x.type} (broadcastable {x.broadcastable}); it "
                    f"needs a leading step axis and then the state's dims, broadcastable "
                    f"exactly where the state's are ({h0.broadcastable}) or everywhere")
        dtypes = [x.dtype for x in xs] + [h0.dtype, h0.dtype]
        for sop, args, dtype in self.program:
            expected = sop.output_dtype(*[dtypes[a] for a in args])
            if expected != dtype:
                raise TypeError(f"{self}: {sop} of {[dtypes[a] for a in args]} gives "
                                f"{expected}, the program says {dtype}")
            dtypes.append(dtype)
        for name, r in zip(MODES[self.mode], self.operands):
            if dtypes[r] != h0.dtype:
                raise TypeError(f"{self}: operand {name} has dtype {dtypes[r]}; it must have "
                                f"the state's dtype {h0.dtype}")
        per_step = (False,) + h0.broadcastable
        outs = [TensorType(h0.dtype, per_step)()] if self.store else []
        outs.append(h0.type())
        outs += [TensorType(dtypes[r], per_step)() for r in self.outputs]
        return Apply(self, [n, h0] + xs, outs)

    # -- NumPy reference -------------------------------------------------------------
    def compute(self, node, n, h0, *xs):
        n = int(n)
        if n < 0:
            raise ValueError(f"{self}: n_steps must be >= 0, got {n}")
        h0 = np.asarray(h0)
        for k, (x, v) in enumerate(zip(xs, node.inputs[2:])):
            _check_input(self, k, np.asarray(x), v, n, h0)
        dep = depends_on_state(self.nin, self.program)
        values = [np.asarray(x) for x in xs] + [None, None]
        for k, step in enumerate(self.program):
            values.append(None if dep[self.nin + 2 + k] else _run_step(step, values))
        ops = [values[r] for r in self.operands]
        need_trace = self.store or bool(self.outputs)
        trace, final = run_recurrence(self.mode, self.reverse, need_trace, n, h0, ops)
        result = []
        if self.store:
            result.append(_states(trace, h0, self.reverse) if self.init_row else trace)
        result.append(final)
        if self.outputs:
            values[self.nin] = _previous(trace, h0, self.reverse)
            values[self.nin + 1] = trace
            for k, step in enumerate(self.program):
                if dep[self.nin + 2 + k]:
                    values[self.nin + 2 + k] = _run_step(step, values)
            shape = (n,) + h0.shape
            for r, o in zip(self.outputs, node.outputs[-len(self.outputs):]):
                result.append(np.array(np.broadcast_to(values[r], shape), dtype=o.type.dtype))
        return tuple(result) if len(result) > 1 else result[0]

    def infer_shape(self, node, shapes):
        n, h0 = node.inputs[0], tuple(shapes[1])
        out = []
        if self.store:
            out.append(((n + 1) if self.init_row else n,) + h0)
        out.append(h0)
        out += [(n,) + h0 for _ in self.outputs]
        return out

    # -- the unfused graph, and the gradient through it ------------------------------
    def unfuse(self, inputs):
        """The graph this op computes (LinearRecurrence and Elemwise ops) applied to
        `inputs` (n, h0, x...): the list of variables matching the node's outputs."""
        n, h0, *xs = inputs
        h0 = as_tensor_variable(h0)
        dep = depends_on_state(self.nin, self.program)
        values = list(xs) + [None, None]
        for k, (sop, args, _) in enumerate(self.program):
            pre = not dep[self.nin + 2 + k]
            values.append(Elemwise(sop)(*[values[a] for a in args]) if pre else None)
        trace, final = LinearRecurrence(self.mode, self.reverse, True)(
            n, h0, *[values[r] for r in self.operands])
        result = []
        if self.store:
            result.append(_states(trace, h0, self.reverse, concatenate, shape_padleft)
                          if self.init_row else trace)
        result.append(final)
        if self.outputs:
            values[self.nin] = _previous(trace, h0, self.reverse, concatenate, shape_padleft)
            values[self.nin + 1] = trace
            for k, (sop, args, _) in enumerate(self.program):
                if dep[self.nin + 2 + k]:
                    values[self.nin + 2 + k] = Elemwise(sop)(*[values[a] for a in args])
            result += [values[r] for r in self.outputs]
        return result

    def connection_pattern(self, node):
        n_out = len(node.outputs)
        return [[False] * n_out] + [[True] * n_out for _ in node.inputs[1:]]

    def L_op(self, inputs, outputs, output_grads):
        unfused = self.unfuse(inputs)
        known = {u: g for u, g in zip(unfused, output_grads)
                 if g is not None and not getattr(g.type, "is_disconnected", False)}
        grads = grad(None, list(inputs[1:]), known_grads=known, disconnected_inputs="ignore",
                     return_disconnected="zero", null_gradients="return")
        return [None] + list(grads)

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, None, output_grads)


def _run_step(step, values):
    """One program step on NumPy arrays, as Elemwise.compute runs it."""
    sop, args, dtype = step
    xs = [values[a] for a in args]
    if sop.cast_inputs:
        xs = [x.astype(dtype) if x.dtype.kind in "biu" else x for x in xs]
    r = np.asarray(sop.impl(*xs))
    return r if r.dtype == dtype else r.astype(dtype)


def _states(trace, h0, reverse, join=None, pad=None):
    """h0 and the trace as one array: h0 first (last when reverse)."""
    if join is None:
        head = h0[None].astype(trace.dtype)
        return np.concatenate([trace, head] if reverse else [head, trace])
    return join([trace, pad(h0)] if reverse else [pad(h0), trace])


def _previous(trace, h0, reverse, join=None, pad=None):
    """The state before each step, in step order."""
    full = _states(trace, h0, reverse, join, pad)
    return full[1:] if reverse else full[:-1]


def _check_input(op, k, x, var, n, h0):
    check_rows(op, f"input {k}", x.shape, var.broadcastable, n, np.shape(h0))


__all__ = ["FusedRecurrence", "FUSABLE_MODES", "depends_on_state"]
