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


CHUNK_SIZE = 2000  # nodes per generated function; see link()


def link(fgraph, check_types=False, allow_gc=True, profile=None, funcify=py_funcify,
         chunk_size=None):
    """Compile `fgraph` into fn(*inputs) -> tuple(outputs).

    Graphs of more than `chunk_size` nodes are split into several generated
    functions run one after the other (CPython compiles many short functions
    faster than one huge one). Values crossing a chunk boundary live in a list
    of slots ``s``; values used only inside one chunk stay Python locals.
    """
    chunk = chunk_size or CHUNK_SIZE
    nodes = fgraph.toposort()
    n_nodes = len(nodes)
    env = {"_profile": profile, "_time": time.perf_counter, "_check": check_outputs}
    chunked = n_nodes > chunk
    # Where each variable is defined (node index, -1 for inputs) and last used.
    defined, last_use, local = {}, {}, {}
    for k, v in enumerate(fgraph.inputs):
        defined[id(v)] = -1
        local[id(v)] = f"i{k}"
    consts = {}
    for k, node in enumerate(nodes):
        for v in node.inputs:
            last_use[id(v)] = k
            if v.owner is None and id(v) not in defined:
                if not isinstance(v, Constant):
                    raise ValueError(f"py linker: {v} is neither an input nor computed")
                if id(v) not in consts:
                    consts[id(v)] = name = f"c{len(consts)}"
                    env[name] = v.data
        multi = len(node.outputs) > 1
        for j, o in enumerate(node.outputs):
            defined[id(o)] = k
            local[id(o)] = f"v{k}_{j}" if multi else f"v{k}"
    n_chunks = (n_nodes + chunk - 1) // chunk
    for v in fgraph.outputs:
        last_use[id(v)] = n_chunks * chunk  # after every node, in no node's chunk
        if v.owner is None and id(v) not in defined and id(v) not in consts:
            if not isinstance(v, Constant):
                raise ValueError(f"py linker: output {v} is neither an input nor computed")
            consts[id(v)] = name = f"c{len(consts)}"
            env[name] = v.data
    # Slots: variables used in a chunk other than the one defining them.
    slot = {}
    if chunked:
        for k, v in enumerate(fgraph.inputs):
            slot[id(v)] = k
        for node in nodes:
            for o in node.outputs:
                lu = last_use.get(id(o))
                if lu is not None and lu // chunk != defined[id(o)] // chunk:
                    slot[id(o)] = len(slot)

    def ref(v, c):
        """How code in chunk `c` reads `v`."""
        vid = id(v)
        if vid in consts:
            return consts[vid]
        if chunked and vid in slot and (defined[vid] < 0 or defined[vid] // chunk != c):
            return f"s[{slot[vid]}]"
        return local[vid]

    input_ids = {id(v) for v in fgraph.inputs}
    bodies = [[] for _ in range(n_chunks)] if chunked else [[]]
    for k, node in enumerate(nodes):
        c = k // chunk if chunked else 0
        lines = bodies[c]
        env[f"f{k}"] = funcify(node.op, node)
        args = ", ".join([ref(v, c) for v in node.inputs])
        outs = [local[id(o)] for o in node.outputs]
        lhs = ", ".join(outs)
        if profile is not None:
            env[f"n{k}"] = node
            lines.append("    _t = _time()")
            lines.append(f"    {lhs} = f{k}({args})")
            lines.append(f"    _profile.record(n{k}, _time() - _t)")
        else:
            lines.append(f"    {lhs} = f{k}({args})")
        if check_types:
            env[f"n{k}"] = node
            lines.append(f"    _check(n{k}, ({lhs},))")
        for o in node.outputs:
            if id(o) in slot:
                lines.append(f"    s[{slot[id(o)]}] = {local[id(o)]}")
        if allow_gc:
            # Free each value after its last use: locals by del, slots by None.
            gone = {ref(v, c) for v in node.inputs
                    if last_use.get(id(v)) == k and id(v) not in input_ids
                    and id(v) not in consts}
            gone.update(local[id(o)] for o in node.outputs if id(o) not in last_use)
            dead = sorted(r for r in gone if not r.startswith("s["))
            if dead:
                lines.append(f"    del {', '.join(dead)}")
            lines.extend(f"    {r} = None" for r in sorted(gone) if r.startswith("s["))
    params = ", ".join(f"i{k}" for k in range(len(fgraph.inputs)))
    rets = [ref(v, len(bodies)) for v in fgraph.outputs]
    ret = ", ".join(rets) + ("," if rets else "")
    if not chunked:
        src = (f"def graph_fn({params}):\n" + "\n".join(bodies[0])
               + f"\n    return ({ret})\n")
    else:
        parts = [f"def chunk{c}(s):\n" + "\n".join(b) + "\n" for c, b in enumerate(bodies)]
        n_free = len(slot) - len(fgraph.inputs)
        main = [f"def graph_fn({params}):",
                f"    s = [{params}{',' if params else ''}] + [None] * {n_free}"]
        main += [f"    chunk{c}(s)" for c in range(len(bodies))]
        main.append(f"    return ({ret})")
        src = "".join(parts) + "\n".join(main) + "\n"
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
