"""The py linker: generate straight-line Python, one call per node.

    def graph_fn(i0, i1):
        r0 = f0(i0, c0)
        r0 = f1(r0, i1)             # r0's value is dead: its name is reused
        return (r0,)

Each ``f`` is ``py_funcify(op, node)``: the implementation registered for the
op's class in ``IMPLS`` (theanine.graph.dispatch.Registry; the modules holding
the registrations are listed in this package's ``__init__``), else the op's pure
``compute`` bound to its node, or a wrapper around a Theano-style ``perform``.
``run_nodes`` replays a graph node by node to report which node failed and with
what inputs.

Invariants (allow_gc): an intermediate value is released right after the
node that uses it last: its name is rebound by that node's output, or
deleted. Graphs of more than CHUNK_SIZE nodes become one function per chunk
(CPython compiles many short functions faster than one huge one); values
crossing a chunk boundary live in a list of slots ``s``, set to None after
their last use. Type checks and profiling wrap the node functions, so they
add no generated statements.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from theanine.graph.basic import Constant, check_runnable, has_compute
from theanine.graph.dispatch import Registry
from theanine.graph.traversal import gc_paused

from . import IMPL_MODULES

# op class -> fn(op, node) returning the callable that computes the node's outputs
IMPLS = Registry("py", modules=IMPL_MODULES)


def check_available():
    return True


def py_funcify(op, node):
    """A pure callable computing `node`'s outputs from its input values."""
    impl = IMPLS.lookup(op)
    if impl is not None:
        return impl(op, node)
    if has_compute(op):
        return functools.partial(op.compute, node)
    check_runnable(op)
    nout = len(node.outputs)

    def perform_fn(*inputs):
        storage = [[None] for _ in range(nout)]
        op.perform(node, list(inputs), storage)
        return storage[0][0] if nout == 1 else tuple(c[0] for c in storage)

    return perform_fn


CHUNK_SIZE = 2000  # nodes per generated function


@gc_paused()
def link(fgraph, check_types=False, allow_gc=True, profile=None, funcify=py_funcify,
         chunk_size=None, monitor=None, **_):
    """Compile `fgraph` into fn(*inputs) -> tuple(outputs); ``fn.source`` is the code.
    monitor: (pre_func, post_func) called around each node (Theano's MonitorMode).
    Other options (a device backend's ``updates=``) do not apply here."""
    chunk = chunk_size or CHUNK_SIZE
    nodes = fgraph.toposort()
    n_chunks = max(1, -(-len(nodes) // chunk))
    chunked = n_chunks > 1
    env, consts = {}, {}
    pos = {id(v): -1 for v in fgraph.inputs}  # defining node index; -1 for inputs
    last, last_here = {}, {}  # last use anywhere / in the chunk defining the value

    def see_root(v):
        if id(v) not in pos and id(v) not in consts:
            if not isinstance(v, Constant):
                raise ValueError(f"py linker: {v} is neither an input nor computed")
            consts[id(v)] = name = f"c{len(consts)}"
            env[name] = v.data

    for k, node in enumerate(nodes):
        for v in node.inputs:
            see_root(v)
            last[id(v)] = k
            if pos.get(id(v), -1) // chunk == k // chunk:
                last_here[id(v)] = k
        for o in node.outputs:
            pos[id(o)] = k
    for v in fgraph.outputs:
        see_root(v)
        last[id(v)] = last_here[id(v)] = n_chunks * chunk  # alive to the end
    slot = {}
    if chunked:
        slot = {id(v): k for k, v in enumerate(fgraph.inputs)}
        for node in nodes:
            for o in node.outputs:
                if id(o) in last and last[id(o)] // chunk != pos[id(o)] // chunk:
                    slot[id(o)] = len(slot)
    bodies = []
    for c in range(n_chunks):
        bodies.append(_chunk_body(nodes, c * chunk, min(len(nodes), (c + 1) * chunk),
                                  fgraph.inputs, chunked, pos, last, last_here, slot,
                                  consts, allow_gc))
    calls = {}  # (function name, line) -> (node index, argument expressions)
    for c, body in enumerate(bodies):
        for line, (k, args) in body[2].items():
            calls[(f"chunk{c}" if chunked else "graph_fn", line)] = (k, args)
    for k, node in enumerate(nodes):
        fn = funcify(node.op, node)
        if profile is not None:
            fn = _timed(fn, node, profile)
        if check_types:
            fn = _checked(fn, node)
        if monitor is not None:
            fn = _monitored(fn, k, node, *monitor)
        env[f"f{k}"] = fn
    params = ", ".join(f"i{k}" for k in range(len(fgraph.inputs)))
    rets = [consts.get(id(v)) or (f"s[{slot[id(v)]}]" if chunked else bodies[-1][1][id(v)])
            for v in fgraph.outputs]
    ret = ", ".join(rets) + ("," if rets else "")
    if not chunked:
        sources = [f"def graph_fn({params}):\n" + "".join(bodies[0][0])
                   + f"    return ({ret})\n"]
    else:
        # Compiled one by one: CPython compiles a huge module superlinearly.
        sources = [f"def chunk{c}(s):\n" + "".join(b) for c, (b, _, _) in enumerate(bodies)]
        n_free = len(slot) - len(fgraph.inputs)
        sources.append(f"def graph_fn({params}):\n"
                       f"    s = [{params}{',' if params else ''}] + [None] * {n_free}\n"
                       + "".join(f"    chunk{c}(s)\n" for c in range(n_chunks))
                       + f"    return ({ret})\n")
    for src in sources:
        exec(compile(src, "<theanine py graph>", "exec"), env)
    fn = env["graph_fn"]
    fn.source = "".join(sources)
    codes = {env[f"chunk{c}"].__code__ for c in range(n_chunks)} if chunked else {fn.__code__}
    fn.locate = lambda exc: _locate(exc, codes, calls, nodes)
    return fn


def _locate(exc, codes, calls, nodes):
    """(node, its input values) of the node call that raised `exc`, read from the
    traceback (the generated function's line and local variables), or None. Nothing
    runs again: user code in the graph runs as often as the graph says."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code in codes:
            hit = calls.get((frame.f_code.co_name, tb.tb_lineno))
            if hit is None:
                return None
            k, args = hit
            scope = dict(frame.f_globals)
            scope.update(frame.f_locals)
            try:
                values = [eval(a, scope) for a in args]  # noqa: S307 - our own names
            except Exception:  # noqa: BLE001 - a value is gone: report the node alone
                values = None
            return nodes[k], values
        tb = tb.tb_next
    return None


def _chunk_body(nodes, start, stop, inputs, chunked, pos, last, last_here, slot, consts,
                allow_gc):
    """Statements for nodes[start:stop]; returns (lines, {id(var): local name},
    {line number of a node's call: (node index, argument expressions)})."""
    reg = {} if chunked else {id(v): f"i{k}" for k, v in enumerate(inputs)}
    free, lines, calls = [], [], {}
    n_regs = 0
    for k in range(start, stop):
        node = nodes[k]
        args = []
        for v in node.inputs:
            vid = id(v)
            args.append(consts.get(vid) or reg.get(vid) or f"s[{slot[vid]}]")
        released, dead, dead_slots = [], [], []
        if allow_gc:
            for v in dict.fromkeys(node.inputs):  # unique, in order
                vid = id(v)
                if pos.get(vid, -1) < 0:
                    continue  # graph inputs and constants are never freed
                if vid in reg and last_here[vid] == k:
                    released.append(reg.pop(vid))
                    if vid not in slot:
                        dead.append(released[-1])
                elif vid in slot and last[vid] == k:
                    dead_slots.append(f"s[{slot[vid]}]")
        targets, unused = [], []
        for o in node.outputs:
            if released:
                name = released.pop(0)
            elif free:
                name = free.pop()
            else:
                name, n_regs = f"r{n_regs}", n_regs + 1
            if name in dead:
                dead.remove(name)  # rebinding the name frees the dead value
            reg[id(o)] = name
            targets.append(name)
            if id(o) not in last and allow_gc:  # an output nobody uses
                unused.append(reg.pop(id(o)))
        call = f"f{k}({', '.join(args)})"
        calls[len(lines) + 2] = (k, args)  # line 1 is the def line
        if len(targets) == 1 and id(node.outputs[0]) in slot:
            lines.append(f"    {targets[0]} = s[{slot[id(node.outputs[0])]}] = {call}\n")
        else:
            lines.append(f"    {', '.join(targets)} = {call}\n")
            if len(targets) > 1:
                lines.extend(f"    s[{slot[id(o)]}] = {reg[id(o)]}\n"
                             for o in node.outputs if id(o) in slot)
        if dead or unused:
            lines.append(f"    del {', '.join(dead + unused)}\n")
        lines.extend(f"    {r} = None\n" for r in dead_slots)
        free.extend(released + unused)
    return lines, reg, calls


def _checked(fn, node):
    """fn, then check its outputs against the node's output types."""
    single = len(node.outputs) == 1
    expected = _expected(node)

    def run(*args):
        out = fn(*args)
        check_outputs(node, (out,) if single else out, expected)
        return out

    return run


def _timed(fn, node, profile):
    """fn, recording its run time in `profile`."""
    clock = time.perf_counter

    def run(*args):
        t0 = clock()
        out = fn(*args)
        profile.record(node, clock() - t0)
        return out

    return run


class NodeStorage:
    """What MonitorMode's functions receive as ``fn``: the node's input and output
    values, each in a one-element list (Theano's storage cells)."""

    __slots__ = ("inputs", "outputs")

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs


def _monitored(fn, k, node, pre, post):
    """fn, with pre(k, node, storage) before and post(k, node, storage) after."""
    single = len(node.outputs) == 1

    def run(*args):
        storage = NodeStorage([[a] for a in args], [[None] for _ in node.outputs])
        if pre is not None:
            pre(k, node, storage)
        out = fn(*args)
        for cell, v in zip(storage.outputs, (out,) if single else out):
            cell[0] = v
        if post is not None:
            post(k, node, storage)
        return out

    return run


def _expected(node):
    """Per output: None (not a tensor), or (np.dtype, ndim, the broadcastable axes)."""
    return [(np.dtype(o.type.dtype), o.type.ndim,
             [i for i, b in enumerate(o.type.broadcastable) if b])
            if hasattr(o.type, "dtype") else None for o in node.outputs]


def check_outputs(node, values, expected):
    """Raise if a value does not match its output's type (config.check_types);
    `expected` is ``_expected(node)``, made once per node by the caller."""
    for o, v, want in zip(node.outputs, values, expected):
        if want is None:
            continue
        dtype, ndim, axes = want
        if not isinstance(v, (np.ndarray, np.generic)):
            raise TypeError(f"{node.op} returned {type(v).__name__} for output {o.index}, "
                            f"expected an ndarray of {o.type}")
        # (a dtype's name is a slow property; a byte-swapped array has the same name)
        if (v.dtype != dtype and v.dtype.name != dtype.name) or v.ndim != ndim:
            raise TypeError(f"{node.op} returned dtype {v.dtype}, ndim {v.ndim} for output "
                            f"{o.index}, expected {o.type}")
        for i in axes:
            if v.shape[i] != 1:
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
