"""py implementation of Composite (fused elementwise ops): generated straight-line NumPy.

    def fused(i0, i1):
        v2 = exp(i0)                  # a fresh array
        multiply(v2, i1, out=v2)      # v2 is dead after this step: its buffer is reused
        return v2

A step writes into the buffer of an argument when the argument is a temporary made
by an earlier step's ufunc (never an input, never a value an impl may have returned
as is), it is not used later, and the step is a float ufunc whose args and result
share the temporary's dtype and broadcast pattern. Other steps run as
Elemwise.compute does (cast integer args of float ops, result cast to the step dtype).
Runtime broadcasting of a dim not declared broadcastable raises Elemwise's error.
"""

from __future__ import annotations

import functools

import numpy as np

from theanine.tensor import scalar_ops as so
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import check_broadcast
from theanine.tensor.scipy_deferred import special

from .linker import IMPLS

# scalar op class -> NumPy ufunc computing it for float args of the result's dtype
UFUNCS = {
    so.Add: np.add, so.Mul: np.multiply, so.Sub: np.subtract, so.TrueDiv: np.true_divide,
    so.Neg: np.negative, so.Exp: np.exp, so.Log: np.log, so.Log1p: np.log1p,
    so.Expm1: np.expm1, so.Tanh: np.tanh, so.Sqrt: np.sqrt, so.Sqr: np.square,
    so.Sin: np.sin, so.Cos: np.cos, so.Abs: np.abs, so.Maximum: np.maximum,
    so.Minimum: np.minimum, so.Inv: np.reciprocal,
}
DEFERRED_UFUNCS = {so.Sigmoid: "expit"}  # scipy.special's, read when a graph uses one


def _ufunc(sop):
    name = DEFERRED_UFUNCS.get(type(sop))
    return UFUNCS.get(type(sop)) if name is None else getattr(special, name)


def _and(patterns):
    return tuple(all(d) for d in zip(*patterns))


def _source(op, in_types):
    """(source of `fused`, environment)."""
    nin = op.nin
    env = {"_np": np}
    last_use = {}
    for k, (_, args, _) in enumerate(op.program):
        for a in args:
            last_use[a] = k
    bcast = [t.broadcastable for t in in_types]
    dtypes = [t.dtype for t in in_types]
    names = [f"i{k}" for k in range(nin)]
    fresh, lines = set(), []  # fresh: values that are buffers made by a ufunc step
    for k, (sop, args, dtype) in enumerate(op.program):
        v = nin + k
        bc = _and([bcast[a] for a in args])
        bcast.append(bc)
        dtypes.append(dtype)
        names.append(f"v{v}")
        xs = [names[a] for a in args]
        uf = _ufunc(sop)
        n_ok = uf is not None and (len(args) == uf.nin or uf.nin == 2 and len(args) > 2
                                   and uf in (np.add, np.multiply))
        if n_ok and dtype.startswith("float") and all(dtypes[a] == dtype for a in args):
            env[f"u{k}"] = uf
            reuse = next((a for a in args if a in fresh and last_use[a] == k
                          and bcast[a] == bc and (len(args) <= 2 or args.count(a) == 1)),
                         None)  # an n-ary sum must not overwrite a term it reads again
            order = list(args)
            if reuse is not None and len(args) > 2:  # commutative: read the buffer first
                order.remove(reuse)
                order.insert(0, reuse)
            out = f", out={names[reuse]}" if reuse is not None else ""
            head = ", ".join(names[a] for a in order[:uf.nin])
            lines.append(f"    {names[v]} = u{k}({head}{out})\n")
            part = bc if reuse is not None else _and([bcast[a] for a in order[:2]])
            for a in order[2:]:  # n-ary add/mul: accumulate, in place once full-size
                grown = _and([part, bcast[a]])
                into = f", out={names[v]}" if grown == part else ""
                lines.append(f"    {names[v]} = u{k}({names[v]}, {names[a]}{into})\n")
                part = grown
            fresh.add(v)
            continue
        env[f"s{k}"] = sop.impl
        env[f"_d{k}"] = np.dtype(dtype)
        if sop.cast_inputs:
            xs = [f"({x}.astype(_d{k}) if {x}.dtype.kind in 'biu' else {x})" for x in xs]
        lines.append(f"    {names[v]} = _np.asarray(s{k}({', '.join(xs)}))\n")
        lines.append(f"    if {names[v]}.dtype != _d{k}: {names[v]} = "
                     f"{names[v]}.astype(_d{k})\n")
    src = f"def fused({', '.join(names[:nin])}):\n" + "".join(lines) + \
        f"    return {names[-1]}\n"
    return src, env


@functools.lru_cache(maxsize=4096)
def _compiled(op, types):
    """The source and the function computing Composite `op` on inputs of `types` (a
    pure function of both: the source reads nothing else), so that repeated
    composites compile once."""
    src, env = _source(op, list(types))
    exec(compile(src, "<theanine fused>", "exec"), env)
    return src, env["fused"]


@IMPLS.register(Composite)
def _funcify_composite(op, node):
    if node.outputs[0].ndim == 0:  # ufuncs return NumPy scalars: no buffers to reuse
        return lambda *inputs: op.compute(node, *inputs)
    src, body = _compiled(op, tuple(v.type for v in node.inputs))

    def fused(*inputs):
        try:
            r = body(*inputs)
        except ValueError:
            shapes = [np.shape(a) for a in inputs]
            check_broadcast(node, inputs, np.broadcast_shapes(*shapes))
            raise
        shape = r.shape
        for a in inputs:
            if a.shape != shape:
                check_broadcast(node, inputs, shape)
                break
        return r

    fused.source = src
    return fused
