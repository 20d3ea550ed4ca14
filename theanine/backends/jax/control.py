"""Control and identity ops: IfElse (``lax.cond``: only the branch taken runs),
Print (an ordered io_callback, so prints keep graph order and run once per call),
gradient markers, the steps check a loop rewrite leaves behind, and the step
inputs of a non-tensor carry for a reverse loop.

A branch is traced like a function body: its run-time checks are carried out of
the cond. Branches whose outputs differ in shape cannot be one XLA conditional:
the IfElse then runs on the host (plan.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theanine.gradient import _IdentityGradOp
from theanine.graph.traversal import toposort
from theanine.ifelse import IfElse
from theanine.printing import Print
from theanine.rewrites.scan_vectorize import CheckSteps
from theanine.scan.grad import ListStepInputs

from . import callback, checks, evaluate
from .checks import require
from .registry import lowering_for, lowerings


def run_inner(inputs, outputs, values):
    """The values of `outputs` of a closed inner graph given its inputs' `values`."""
    env = {id(v): x for v, x in zip(inputs, values)}
    evaluate.run(toposort(outputs, stop_at=inputs), env)
    return [evaluate.value_of(env, o) for o in outputs]


def body_traceable(inputs, outputs):
    """Whether a closed inner graph can be traced as a loop body or a branch: no node
    that must run on the host (a Python op with unknown output shapes, an op whose
    output shapes depend on values, an until loop)."""
    for node in toposort(outputs, stop_at=inputs):
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


def _branch(op, outs, checked):
    """A branch as a function for lax.cond; appends to `checked` whether its body
    has run-time checks."""
    def fn(free):
        with checks.collecting() as col:
            res = run_inner(op.inner_inputs, outs, free)
            code = col.code()
        checked.append(bool(col.codes))
        return [jnp.asarray(r) for r in res], code

    return fn


@lowerings.register(IfElse)
def _ifelse(node, cond, *free):
    op = node.op
    if evaluate.is_concrete(cond):
        res = run_inner(op.inner_inputs, op.then_outs if cond else op.else_outs, free)
        return res[0] if op.n_outs == 1 else tuple(res)
    checked = []
    try:
        res, code = jax.lax.cond(jnp.asarray(cond) != 0, _branch(op, op.then_outs, checked),
                                 _branch(op, op.else_outs, checked), list(free))
    except TypeError as e:
        raise callback.NeedsHost(f"{op}: its branches' outputs differ in shape ({e})") from e
    if any(checked):  # else the code is 0: no error code for the function to return
        checks.add_code(code)
    return res[0] if op.n_outs == 1 else tuple(res)


_ifelse.traceable = lambda node: body_traceable(
    node.op.inner_inputs, node.op.then_outs + node.op.else_outs)


def _print(node, x):
    return callback.run(node, [x])


_print.no_fold = True  # prints when the function runs, never while compiling
lowerings.register(Print)(_print)


@lowerings.register(_IdentityGradOp)
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
