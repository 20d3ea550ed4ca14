"""The py linker: generate straight-line Python, one call per node.

    def graph_fn(i0, i1):
        v0 = f0(i0, c0)
        v1 = f1(v0, i1)
        del v0                      # freed after its last use
        return (v1,)

Each ``f`` is ``py_funcify(op, node)``: by default the op's pure ``compute``
bound to its node, or a wrapper around a Theano-style ``perform``. Backends
register faster or different implementations per Op class with
``py_funcify.register``. ``run_nodes`` replays a graph node by node to report
which node failed and with what inputs.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from theanine.graph.basic import Constant, has_compute


def check_available():
    return True


@functools.singledispatch
def py_funcify(op, node):
    """A pure callable computing `node`'s outputs from its input values."""
    if has_compute(op):
        return functools.partial(op.compute, node)
    nout = len(node.outputs)

    def perform_fn(*inputs):
        storage = [[None] for _ in range(nout)]
        op.perform(node, list(inputs), storage)
        return storage[0][0] if nout == 1 else tuple(c[0] for c in storage)

    return perform_fn


def link(fgraph, check_types=False, allow_gc=True, profile=None, funcify=py_funcify):
    """Compile `fgraph` into fn(*inputs) -> tuple(outputs)."""
    nodes = fgraph.toposort()
    env = {"_profile": profile, "_time": time.perf_counter}
    names = {}
    for k, v in enumerate(fgraph.inputs):
        names[id(v)] = f"i{k}"
    n_const = 0

    def name_of(v):
        nonlocal n_const
        if id(v) not in names:
            if not isinstance(v, Constant):
                raise ValueError(f"py linker: {v} is neither an input nor computed")
            names[id(v)] = f"c{n_const}"
            env[f"c{n_const}"] = v.data
            n_const += 1
        return names[id(v)]

    last_use = {}
    for k, node in enumerate(nodes):
        for v in node.inputs:
            last_use[id(v)] = k
    for v in fgraph.outputs:
        last_use[id(v)] = len(nodes)
    input_ids = {id(v) for v in fgraph.inputs}

    lines = []
    for k, node in enumerate(nodes):
        fn = funcify(node.op, node)
        env[f"f{k}"] = fn
        args = ", ".join(name_of(v) for v in node.inputs)
        outs = []
        for j, o in enumerate(node.outputs):
            names[id(o)] = f"v{k}" if len(node.outputs) == 1 else f"v{k}_{j}"
            outs.append(names[id(o)])
        lhs = outs[0] if len(outs) == 1 else ", ".join(outs)
        if profile is not None:
            env[f"n{k}"] = node
            lines.append("    _t = _time()")
            lines.append(f"    {lhs} = f{k}({args})")
            lines.append(f"    _profile.record(n{k}, _time() - _t)")
        else:
            lines.append(f"    {lhs} = f{k}({args})")
        if check_types:
            env[f"n{k}"] = node
            env["_check"] = check_outputs
            lines.append(f"    _check(n{k}, ({lhs},))")
        if allow_gc:
            dead = sorted({names[id(v)] for v in node.inputs
                           if last_use.get(id(v)) == k and id(v) not in input_ids
                           and not isinstance(v, Constant)})
            dead += [names[id(o)] for o in node.outputs if id(o) not in last_use]
            if dead:
                lines.append(f"    del {', '.join(dead)}")
    ret = ", ".join(name_of(v) for v in fgraph.outputs)
    params = ", ".join(f"i{k}" for k in range(len(fgraph.inputs)))
    src = f"def graph_fn({params}):\n" + "\n".join(lines) + f"\n    return ({ret}{',' if ret else ''})\n"
    code = compile(src, "<theanine py graph>", "exec")
    exec(code, env)
    fn = env["graph_fn"]
    fn.source = src
    return fn


def check_outputs(node, values):
    """Raise if a value does not match its output's type (config.check_types)."""
    for o, v in zip(node.outputs, values):
        t = o.type
        if not hasattr(t, "dtype"):
            continue
        if not isinstance(v, (np.ndarray, np.generic)):
            raise TypeError(f"{node.op} returned {type(v).__name__} for output {o.index}, "
                            f"expected an ndarray of {t}")
        if v.dtype.name != t.dtype or v.ndim != t.ndim:
            raise TypeError(f"{node.op} returned dtype {v.dtype}, ndim {v.ndim} for output "
                            f"{o.index}, expected {t}")
        for i, b in enumerate(t.broadcastable):
            if b and v.shape[i] != 1:
                raise TypeError(f"{node.op} output {o.index} has shape {v.shape} but dim {i} "
                                "is declared broadcastable")


def run_nodes(fgraph, values, funcify=py_funcify):
    """Evaluate node by node; on failure return (node, input values, exception)."""
    env = {id(v): x for v, x in zip(fgraph.inputs, values)}
    for node in fgraph.toposort():
        ins = [v.data if isinstance(v, Constant) else env[id(v)] for v in node.inputs]
        try:
            res = funcify(node.op, node)(*ins)
        except Exception as e:  # noqa: BLE001 - reported to the caller with context
            return node, ins, e
        res = (res,) if len(node.outputs) == 1 else res
        for o, r in zip(node.outputs, res):
            env[id(o)] = r
    return None
