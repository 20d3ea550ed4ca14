"""LinearRecurrence: a first-order recurrence that is affine in its state, computed
as a prefix scan (the scan_parallel_linear rewrite makes it out of Scan loops).

For t = 0 .. n-1 (``reverse``: t = n-1 .. 0, and "previous" means t+1), with
``h_prev`` the state before step t (``h0`` before the first step):

    mode      operands   h_t =
    affine    A, B       A_t * h_prev + B_t          (elementwise)
    add       B          h_prev + B_t                (cumsum)
    mul       A          h_prev * A_t                (cumprod)
    max       B          maximum(h_prev, B_t)        (ties: see below)
    min       B          minimum(h_prev, B_t)
    matrix    M, B       dot(h_prev, M) + B_t        (M loop-invariant, h0 (d,) or (b, d))

Outputs: ``trace`` (n rows, trace[t] = h_t, indexed by step t also when ``reverse``:
trace[n-1] is then the first state computed; only when ``store``) and ``final`` (the
state after the last step run: h_{n-1}, or h_0 when ``reverse``; ``h0`` itself when
n == 0). Both have h0's dtype; trace has shape (n,) + h0.shape.

Inputs: ``n`` an int64 scalar >= 0 (a negative n raises ValueError at run time), then
``h0`` (float, any ndim), then the operands in MODES[mode] order. A per-step operand
X has ndim h0.ndim + 1; its leading (time) axis has exactly n rows (X_t = X[t]; extra
rows are an error, not ignored), or is broadcastable with 1 row (X_t = X[0] at every
step); its other dims are all broadcastable (one value per step for every element of
the state) or broadcastable exactly where h0's are (one value per element), and then
equal to h0's where not broadcastable. Its dtype is h0's, a float. M is a (d, d)
matrix of h0's dtype, d = h0.shape[-1]; for h0 of shape (b, d) each row is a state
(dot(h_prev, M) is a matrix product of (b, d) by (d, d)).

``ties`` (max/min only) says which side wins when h_prev == B_t, for the gradient:
"carry" as in maximum(h_prev, B_t) (Theano's maximum sends the gradient to its first
argument on ties), "input" as in maximum(B_t, h_prev).

Values: as the sequential loop up to floating-point reassociation (docs/parallel_scan.md
states the tolerance); add, mul, max and min on py are exactly the sequential loop.

Backends: py runs ``compute`` (recurrence_numpy.py: NumPy cumsum/cumprod/accumulate,
else a chunked two-pass scan); numba has its own kernels
(backends/numba/ops_recurrence.py). The seam for jax is ``combine(mode, xp)``: the
associative combine of two steps' operands, written against an array namespace, so
that ``lax.associative_scan(combine(op.mode, jnp), elems, reverse=op.reverse)`` over
the per-step operands (broadcast to full length, with the step count as leading
axis) gives the composed maps from the start, to which ``apply_composed`` applies h0.
"Earlier" in ``combine`` means earlier in the order the steps run (for ``reverse``,
the higher index), which is what ``associative_scan(..., reverse=True)`` passes first.
For matrix, the per-step first operand is M broadcast to (n, d, d) (and B to
(n,) + h0.shape); the lowering's trace then equals ``apply_composed`` of the scan's
result, and ``final`` is its last step's row (the first row when ``reverse``), h0
when n == 0. max/min ties only matter for the gradient, which is built from the
graph (recurrence_grad.py) and needs no lowering of its own.
"""

from __future__ import annotations

import time

import numpy as np

from theanine.graph.basic import Apply, Op

from . import recurrence_grad, recurrence_numpy
from .basic import as_tensor_variable
from .math import cast
from .type import TensorType

MODES = {"affine": ("A", "B"), "add": ("B",), "mul": ("A",), "max": ("B",), "min": ("B",),
         "matrix": ("M", "B")}


class LinearRecurrence(Op):
    """See the module docstring."""

    __props__ = ("mode", "reverse", "store", "ties")

    def __init__(self, mode, reverse=False, store=True, ties="carry", name=None,
                 profile=None):
        if mode not in MODES:
            raise ValueError(f"LinearRecurrence: mode must be one of {sorted(MODES)}, got "
                             f"{mode!r}")
        if ties not in ("carry", "input"):
            raise ValueError(f"LinearRecurrence: ties must be 'carry' or 'input', got {ties!r}")
        self.mode, self.reverse, self.store = mode, bool(reverse), bool(store)
        self.ties = ties if mode in ("max", "min") else "carry"
        self.name = name  # the loop it came from (shown, not compared)
        self.profile = profile  # that loop's ProfileStats, if it had one: times recorded

    def __str__(self):
        flags = (", reverse" if self.reverse else "") + ("" if self.store else ", final only")
        flags += f", {self.name}" if self.name else ""
        return f"LinearRecurrence{{{self.mode}{flags}}}"

    @property
    def operand_names(self):
        return MODES[self.mode]

    def make_node(self, n, h0, *operands):
        n, h0 = steps_and_state(self, n, h0)
        names = self.operand_names
        if len(operands) != len(names):
            raise TypeError(f"{self}: expected operands {', '.join(names)} "
                            f"({len(names)}), got {len(operands)}")
        ops = []
        for name, x in zip(names, operands):
            x = as_tensor_variable(x)
            if x.dtype != h0.dtype:
                raise TypeError(f"{self}: operand {name} has dtype {x.dtype}; it must have "
                                f"the initial state's dtype {h0.dtype} (cast it)")
            if name == "M":
                _check_matrix(self, x, h0)
            else:
                _check_per_step(self, name, x, h0)
            ops.append(x)
        final = h0.type()
        outs = [TensorType(h0.dtype, (False,) + h0.broadcastable)(), final] if self.store \
            else [final]
        return Apply(self, [n, h0] + ops, outs)

    def compute(self, node, n, h0, *operands):
        n = int(n)
        if n < 0:
            raise ValueError(f"{self}: n_steps must be >= 0, got {n}")
        for name, x, v in zip(self.operand_names, operands, node.inputs[2:]):
            _check_value(self, name, x, v, n, h0)
        t0 = time.perf_counter()
        trace, final = recurrence_numpy.run(self.mode, self.reverse, self.store, n,
                                            np.asarray(h0), operands)
        if self.profile and hasattr(self.profile, "record_extra"):
            self.profile.record_extra(str(self), time.perf_counter() - t0)
        return (trace, final) if self.store else final

    def infer_shape(self, node, shapes):
        n, h0 = node.inputs[0], shapes[1]
        return [(n,) + tuple(h0), tuple(h0)] if self.store else [tuple(h0)]

    def __getstate__(self):
        d = self.__dict__.copy()
        d["profile"] = None  # statistics stay with this process
        return d

    def connection_pattern(self, node):
        return [[False] * len(node.outputs)] + [[True] * len(node.outputs)
                                                for _ in node.inputs[1:]]

    def L_op(self, inputs, outputs, output_grads):
        return recurrence_grad.grads(self, inputs, outputs, output_grads)

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, self(*inputs) if self.store else [self(*inputs)],
                         output_grads)


def _check_per_step(op, name, x, h0):
    lanes = x.broadcastable[1:]
    if x.ndim != h0.ndim + 1 or not (lanes == h0.broadcastable or all(lanes)):
        raise TypeError(
            f"{op}: operand {name} is {x.type} (broadcastable {x.broadcastable}); it needs "
            f"a leading step axis and then the state's dims, broadcastable exactly where "
            f"the initial state's are ({h0.broadcastable}) or everywhere")


def _check_matrix(op, m, h0):
    if m.ndim != 2 or h0.ndim not in (1, 2):
        raise TypeError(f"{op}: M must be a matrix and h0 a vector or matrix, got M "
                        f"{m.type} and h0 {h0.type}")


def _check_value(op, name, x, var, n, h0):
    shape = np.shape(x)
    if name == "M":
        d = np.shape(h0)[-1]
        if shape != (d, d):
            raise ValueError(f"{op}: M has shape {shape}; the state's last dim is {d}, so "
                             f"M must be ({d}, {d})")
        return
    check_rows(op, f"operand {name}", shape, var.broadcastable, n, np.shape(h0))


def steps_and_state(op, n, h0):
    """(n as an int64 scalar, h0 as a float tensor) for op's make_node, or TypeError."""
    n = as_tensor_variable(n)
    if n.ndim != 0 or not n.dtype.startswith(("int", "uint")):
        raise TypeError(f"{op}: n (the number of steps) must be an integer scalar, "
                        f"got {n.type}")
    h0 = as_tensor_variable(h0)
    if not h0.dtype.startswith("float"):
        raise TypeError(f"{op}: h0 (the initial state) must be a float tensor, got "
                        f"{h0.type}")
    return cast(n, "int64"), h0


def check_rows(op, what, shape, broadcastable, n, state_shape):
    """A per-step value of `shape` (`what` names it) fits n steps of a state of
    `state_shape`: n rows, or one row broadcastable along the steps, then the
    state's dims wherever not broadcastable. ValueError otherwise."""
    rows = shape[0]
    if rows != n and not (rows == 1 and broadcastable[0]):
        raise ValueError(f"{op}: {what} has {rows} rows for {n} steps")
    for i, (a, b) in enumerate(zip(shape[1:], state_shape)):
        if a != b and not broadcastable[i + 1]:
            raise ValueError(f"{op}: {what} has shape {tuple(shape)}, which does not match "
                             f"the state's shape {tuple(state_shape)} in dimension {i + 1}")


def linear_recurrence(mode, h0, *operands, n=None, reverse=False, store=True,
                      ties="carry"):
    """(trace, final), or final alone when not ``store``, of a LinearRecurrence; ``n``
    defaults to the rows of the first per-step operand."""
    if n is None:
        per_step = [as_tensor_variable(x) for name, x in zip(MODES.get(mode, ()), operands)
                    if name != "M"]
        if not per_step:
            raise ValueError("linear_recurrence: give n (no per-step operand)")
        n = per_step[-1].shape[0]
    return LinearRecurrence(mode, reverse, store, ties)(n, h0, *operands)


# -- the seam for backends with an associative scan primitive (jax) --------------------
def combine(mode, xp):
    """The associative combine ``(earlier, later) -> composed`` of two steps' operands
    (tuples in the order of MODES[mode]), written with the array namespace ``xp``
    (numpy, jax.numpy). For matrix, operands are (M_power, B) with M_power
    broadcast per step and ``xp.matmul`` composing."""
    if mode == "affine":
        return lambda e, l: (e[0] * l[0], l[0] * e[1] + l[1])
    if mode == "add":
        return lambda e, l: (e[0] + l[0],)
    if mode == "mul":
        return lambda e, l: (e[0] * l[0],)
    if mode in ("max", "min"):
        f = xp.maximum if mode == "max" else xp.minimum
        return lambda e, l: (f(e[0], l[0]),)
    if mode == "matrix":
        return lambda e, l: (xp.matmul(e[0], l[0]), _row_times(xp, e[1], l[0]) + l[1])
    raise ValueError(f"combine: unknown mode {mode!r}")


def _row_times(xp, b, m):
    """b @ m for states b: (d,) or (b, d) rows, with or without a leading batch axis
    shared with m ((k, d, d) in an associative scan's batched calls). A vector state
    has one dim fewer than m; matmul would read a batch of vectors (k, d) as one
    matrix, so it becomes (k, 1, d) for the product."""
    if b.ndim == m.ndim:
        return xp.matmul(b, m)
    return xp.matmul(b[..., None, :], m)[..., 0, :]


def apply_composed(mode, xp, h0, composed):
    """The states h_t from h0 and the composed operands of steps 0..t (from
    ``combine`` and an associative scan)."""
    if mode == "affine":
        return composed[0] * h0 + composed[1]
    if mode == "add":
        return h0 + composed[0]
    if mode == "mul":
        return h0 * composed[0]
    if mode in ("max", "min"):
        return (xp.maximum if mode == "max" else xp.minimum)(h0, composed[0])
    if mode == "matrix":
        return xp.matmul(h0, composed[0]) + composed[1]
    raise ValueError(f"apply_composed: unknown mode {mode!r}")


__all__ = ["LinearRecurrence", "linear_recurrence", "combine", "apply_composed", "MODES"]
