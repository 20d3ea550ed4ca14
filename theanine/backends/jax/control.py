"""Control and identity ops: LazyIfElse (``lax.cond`` over its two branch graphs:
only the branch taken runs), IfElse (a select among computed values: only reached
when a graph is linked without lazy_ifelse), OpFromGraph (its inner graph inlined
into the trace), Print (an ordered io_callback, so prints keep graph order and run
once per call), the run-time checks SpecifyShape and Assert, ViewOp and the gradient
markers, the steps check a loop rewrite leaves behind, and, for a reverse loop, the
step inputs of a non-tensor carry and the reversed rows of a non-tensor sequence.

Every inner graph traced here (a branch, a loop body, an OpFromGraph graph) first
goes through lazy_ifelse, as the other backends' inner graphs do, so an ifelse in a
loop body is a ``lax.cond`` there too. A branch is traced like a function body: its
run-time checks are carried out of the cond. Branches whose outputs differ in shape
cannot be one XLA conditional: the node then runs on the host (plan.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.builders import OpFromGraph
from theanine.graph.traversal import toposort
from theanine.ifelse import IfElse, LazyIfElse, lazy_ifelse
from theanine.scan.grad import ListStepInputs, ReversedRows
from theanine.scan.utils import CheckSteps
from theanine.tensor.checks import Assert, SpecifyShape
from theanine.tensor.gradient_ops import ViewOp
from theanine.tensor.python_ops import Print

from . import callback, checks, evaluate
from .checks import require
from .evaluate import static_inputs
from .registry import lowering_for, lowerings


def run_inner(inputs, outputs, values):
    """The values of `outputs` of a closed inner graph given its inputs' `values`
    (an ifelse in it runs only the branch taken)."""
    outputs = lazy_ifelse(inputs, outputs)
    env = {id(v): x for v, x in zip(inputs, values)}
    evaluate.run(toposort(outputs, stop_at=inputs), env)
    return [evaluate.value_of(env, o) for o in outputs]


def body_traceable(inputs, outputs):
    """Whether a closed inner graph can be traced as a loop body or a branch: no node
    that must run on the host (a Python op with unknown output shapes, an op whose
    output shapes depend on values, an until loop)."""
    for node in toposort(lazy_ifelse(inputs, outputs), stop_at=inputs):
        fn = lowering_for(node.op)
        if fn is None:
            if not callback.traceable(node):
                return False
        elif (getattr(fn, "host", False) or getattr(node.op, "has_until", False)
              or (hasattr(fn, "deferred") and not hasattr(fn, "traceable"))):
            return False
        elif getattr(fn, "traceable", None) is not None and not fn.traceable(node):
            return False
    return True


def _branch(op, outs, checked, cuts):
    """A branch as a function for lax.cond of the traced values among `cuts`; the
    small values known when tracing (shapes, constants) are closed over, not passed,
    so they stay known inside the branch (a gradient's zeros of an input's shape are
    an alloc of that shape). Appends to `checked` whether its body has run-time
    checks."""
    def fn(traced):
        it = iter(traced)
        free = [next(it) if t else c for c, t in zip(cuts, _traced_mask(cuts))]
        with checks.collecting() as col:
            res = run_inner(op.inner_inputs, outs, free)
            code = col.code()
        checked.append(bool(col.codes))
        return [jnp.asarray(r) for r in res], code

    return fn


@lowerings.register(LazyIfElse)
def _lazy_ifelse(node, cond, *cuts):
    op = node.op
    if evaluate.is_concrete(cond):
        res = run_inner(op.inner_inputs, op.then_outs if cond else op.else_outs, cuts)
        return res[0] if op.n_outs == 1 else tuple(res)
    checked = []
    traced = [c for c, t in zip(cuts, _traced_mask(cuts)) if t]
    try:
        res, code = jax.lax.cond(jnp.asarray(cond) != 0,
                                 _branch(op, op.then_outs, checked, cuts),
                                 _branch(op, op.else_outs, checked, cuts), traced)
    except TypeError as e:
        raise callback.NeedsHost(f"{op}: its branches' outputs differ in shape ({e})") from e
    if any(checked):  # else the code is 0: no error code for the function to return
        checks.add_code(code)
    return res[0] if op.n_outs == 1 else tuple(res)


def _traced_mask(values):
    """Which branch inputs lax.cond takes as operands: traced values, and large NumPy
    constants (one constant outside the cond, not one per branch)."""
    return [not evaluate.is_concrete(v) or np.size(v) > evaluate.FOLD_LIMIT
            for v in values]


_lazy_ifelse.traceable = lambda node: body_traceable(
    node.op.inner_inputs, node.op.then_outs + node.op.else_outs)


@lowerings.register(IfElse)
def _ifelse(node, cond, *values):
    n = node.op.n_outs
    thens, elses = values[:n], values[n:]
    if evaluate.is_concrete(cond):
        chosen = thens if cond else elses
    elif any(jnp.shape(t) != jnp.shape(e) for t, e in zip(thens, elses)):
        raise callback.NeedsHost(f"{node.op}: its branches' outputs differ in shape")
    else:
        c = jnp.asarray(cond) != 0
        chosen = [jax.lax.select(c, jnp.asarray(t), jnp.asarray(e))
                  for t, e in zip(thens, elses)]
    return chosen[0] if n == 1 else tuple(chosen)


@lowerings.register(OpFromGraph)
def _op_from_graph(node, *values):
    res = run_inner(node.op.inner_inputs, node.op.inner_outputs, values)
    return res[0] if len(res) == 1 else tuple(res)


_op_from_graph.traceable = lambda node: body_traceable(
    node.op.inner_inputs, node.op.inner_outputs)


@lowerings.register(SpecifyShape)
def _specify_shape(node, x, shape):
    given = jnp.shape(x)
    if jnp.shape(shape)[0] != len(given):
        raise AssertionError(f"specify_shape: expected {jnp.shape(shape)[0]} dimensions, "
                             f"got an array of shape {given}")
    if evaluate.is_concrete(shape):  # known when tracing: the error names both shapes
        expected = tuple(int(s) for s in np.asarray(shape))
        require(expected == tuple(given), AssertionError,
                f"specify_shape: expected shape {expected}, got an array of shape {given}")
    else:
        require(jnp.all(jnp.asarray(given, dtype=shape.dtype) == shape), AssertionError,
                f"specify_shape: expected the shape specified, got an array of shape {given}")
    return x


@lowerings.register(Assert)
def _assert(node, value, *conds):
    for c in conds:
        require(np.all(c) if evaluate.is_concrete(c) else jnp.all(c), AssertionError,
                node.op.msg)
    return value


def _print(node, x):
    return callback.run(node, [x])


_print.no_fold = True  # prints when the function runs, never while compiling
lowerings.register(Print)(_print)


@lowerings.register(ViewOp)
def _identity(node, x):
    return x


@lowerings.register(CheckSteps)
def _check_steps(node, seq, n):
    require(n >= 0, ValueError, "scan: n_steps must be >= 0")
    require(seq.shape[0] >= n, ValueError,
            f"scan: a sequence has {seq.shape[0]} rows, fewer than the steps asked for "
            "(n_steps)")
    return seq


@lowerings.register(ListStepInputs)
def _list_step_inputs(node, init, trace):
    if trace.shape[0] == 0:
        return trace
    return jnp.concatenate([jnp.asarray(init)[None], trace[:-1]])[::-1]


@lowerings.register(ReversedRows)
@static_inputs(1)
def _reversed_rows(node, seq, n):
    return seq[:int(n)][::-1]
