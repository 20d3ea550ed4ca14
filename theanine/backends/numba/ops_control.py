"""numba emitters: LazyIfElse (lazy branches) and IfElse, OpFromGraph (its inner graph
as one function); Print and FromFunctionOp (as_op), which call back into Python from
compiled code; the identity forward of the gradient markers (ViewOp and its
subclasses: consider_constant, disconnected_grad, zero_grad, grad_clip, ...).

LazyIfElse (what lazy_ifelse makes of an IfElse in every compiled region) becomes an
``if`` over two region functions, so only the branch taken runs:

    if cond:
        r = then_4(a, b)
        v1 = r[0]
    else:
        r = else_5(a, b)
        v1 = r[0]

Both branches assign the same names, so numba unifies their types: each output
must have one dtype and ndim in both branches (arrays of different layouts unify
to layout 'A').

Print and FromFunctionOp run their Python code in a ``numba.objmode`` block, so a
Scan whose body holds one still compiles to a native loop that leaves compiled
code only for that node:

    b = np.empty((), np.float64); b[()] = x      # 0-d values enter Python as 0-d arrays
    with numba.objmode(o="Array(float64, 1, 'C')"):
        o, = run_python(3, b)                     # op number 3 of this process

A function holding such a block is compiled without nogil (the block takes the
GIL). The op is looked up by its number in this process's table at run time
(kernels/callback.py), so a kernel loaded from the disk cache (compiled by another
process, where number 3 was another op with the same input and output types) calls
this process's op.
"""

from __future__ import annotations

import functools

import numpy as np

from theanine.builders import OpFromGraph
from theanine.ifelse import IfElse, LazyIfElse
from theanine.tensor.gradient_ops import ViewOp
from theanine.tensor.python_ops import FromFunctionOp, Print

from .codegen import np_dtype
from .kernels import callback
from .registry import Unsupported, register

_KEYS = {}  # op -> its number; equal ops share one (ops are kept for the process's life)


def _perform(op, *values):
    storage = [[None] for _ in op.otypes]
    op.perform(None, list(values), storage)
    # the compiled code declared C-contiguous, writeable arrays of the output types
    return tuple(np.require(c[0], requirements="CW") for c in storage)


def _key(op):
    key = _KEYS.get(op)
    if key is None:
        call = (functools.partial(op.compute, None) if isinstance(op, Print)
                else functools.partial(_perform, op))
        key = _KEYS[op] = callback.add(call)
    return key


def _objmode_type(var):
    name = np.dtype(var.type.dtype).name
    return f"Array({'boolean' if name == 'bool' else name}, {var.type.ndim}, 'C')"


def _call_python(ctx, node, ins, outs):
    """Emit the objmode call of node's Python code; assigns `outs` (may be empty)."""
    ctx.calls_python = True
    args = []
    for v, e in zip(node.inputs, ins):
        if ctx.is_scalar(v):
            b = ctx.tmp("b")
            ctx.line(f"{b} = np.empty((), {np_dtype(v.type.dtype)})")
            ctx.line(f"{b}[()] = {e}")
            e = b
        args.append(e)
    got = [ctx.tmp("o") for _ in outs]
    decl = ", ".join(f'{g}="{_objmode_type(o)}"' for g, o in zip(got, node.outputs))
    call = f"run_python({', '.join([str(_key(node.op))] + args)})"
    with ctx.block(f"with numba.objmode({decl}):"):
        ctx.line(f"{''.join(g + ', ' for g in got)}= {call}" if got else call)
    for g, o, var in zip(got, outs, node.outputs):
        ctx.line(f"{o} = {g}[()]" if ctx.is_scalar(var) else f"{o} = {g}")


@register(Print)
def _print(ctx, node, ins, outs):
    _call_python(ctx, node, ins, [])
    ctx.line(f"{outs[0]} = {ins[0]}")


@register(FromFunctionOp)
def _from_function(ctx, node, ins, outs):
    _call_python(ctx, node, ins, outs)


@register(OpFromGraph, outer=True)
def _op_from_graph(ctx, node, ins, outs):
    """The inner graph as one region function, called once."""
    fn = ctx.region(node.op.inner_inputs, node.op.inner_outputs)
    r = ctx.tmp("r")
    ctx.line(f"{r} = {fn}({', '.join(ins)})")
    for k, o in enumerate(outs):
        ctx.line(f"{o} = {r}[{k}]")


@register(LazyIfElse, outer=True)
def _lazy_ifelse(ctx, node, ins, outs):
    op = node.op
    for k, o in enumerate(node.outputs):
        for b in (op.then_outs[k], op.else_outs[k]):
            if (getattr(b.type, "dtype", None), getattr(b.type, "ndim", None)) != \
                    (o.type.dtype, o.type.ndim):
                raise Unsupported(f"{op}: output {k} is {b.type} in a branch but {o.type} "
                                  "outside; compiled branches need one dtype and ndim")
    args = ", ".join(ins[1:])
    for header, branch in ((f"if {ins[0]}:", op.then_outs), ("else:", op.else_outs)):
        fn = ctx.region(op.inner_inputs, branch)
        with ctx.block(header):
            r = ctx.tmp("r")
            ctx.line(f"{r} = {fn}({args})")
            for k, o in enumerate(outs):
                ctx.line(f"{o} = {r}[{k}]")


@register(IfElse)
def _ifelse(ctx, node, ins, outs):
    """An IfElse that reached a backend without lazy_ifelse: choose among values
    already computed."""
    n = node.op.n_outs
    for header, vals in ((f"if {ins[0]}:", ins[1:1 + n]), ("else:", ins[1 + n:])):
        with ctx.block(header):
            for o, v in zip(outs, vals):
                ctx.line(f"{o} = {v}")


@register(ViewOp)
def _identity_grad(ctx, node, ins, outs):
    ctx.line(f"{outs[0]} = {ins[0]}")
