"""Generate the source of a numba module for a closed graph (a "region").

    import numpy as np, numba
    from theanine.backends.numba.runtime import *      # compiled helpers (kernels/)

    @numba.njit(...)
    def body_1(x, h):             # inner functions: scan bodies and loops, branches
        ...
    @numba.njit(cache=True, ...)
    def kernel(i0, i1):           # the entry point the Python glue calls
        i1 = i1[()]               # 0-d arrays enter as scalars
        v0 = ...                  # one block of statements per node (registry emitters)
        return box(v0)            # 0-d values leave as 0-d arrays

The module text alone determines the compiled code (its hash is the cache
key): array constants of inner graphs are written into it, those of the
top-level graph are kernel arguments (the glue passes them). Names are unique
per module, every graph variable is assigned once.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import tokenize

import numpy as np

from theanine.graph.basic import Apply, Constant
from theanine.graph.traversal import toposort
from theanine.ifelse.lazy import lazy_ifelse

from .registry import Unsupported, emitter_for, region_planner

NJIT_OPTS = "error_model='numpy', nogil=True"
# inner functions are called only from compiled code: no Python or C entry points
INNER_OPTS = ", no_cpython_wrapper=True, no_cfunc_wrapper=True"
MAX_INLINE_CONST = 4096  # elements of an inner array constant written into the source

HEADER = ("import math\nimport numpy as np\nimport numba\n"
          "from theanine.backends.numba.runtime import *  # noqa: F401,F403\n\n")


def np_dtype(dtype):
    name = np.dtype(dtype).name
    return "np.bool_" if name == "bool" else f"np.{name}"


def literal(data, dtype):
    """Source for a scalar constant of `dtype`."""
    v = np.asarray(data).reshape(())
    kind = np.dtype(dtype).kind
    if kind == "b":
        return "True" if bool(v) else "False"
    if kind in "iu":
        return f"{np_dtype(dtype)}({int(v)})"
    if kind == "f":
        return f"{np_dtype(dtype)}({_float_src(float(v))})"
    if kind == "c":
        c = complex(v)
        return f"{np_dtype(dtype)}(complex({_float_src(c.real)}, {_float_src(c.imag)}))"
    raise Unsupported(f"constant of dtype {dtype}")


def tuple_src(items):
    """Source of a tuple of these expressions."""
    return f"({', '.join(items)},)" if items else "()"


def _float_src(x):
    if np.isnan(x):
        return "np.nan"
    if np.isinf(x):
        return "np.inf" if x > 0 else "-np.inf"
    return repr(x)


_DIGITS = re.compile(r"\d+")


def canonical(src, name):
    """`src`, the source of function `name`, with its name and its local variables
    (parameters and assigned names) replaced by placeholders numbered in order of
    first appearance, which no identifier can equal: two functions with the same
    canonical source compute the same thing. Globals, helper calls, constants,
    strings, attribute names (``x.shape``) and keyword names (``dtype=``) are kept as
    written (so an objmode block's typed locals are not renamed: such functions
    merge only when their names are equal too)."""
    tree = ast.parse(src)
    local = {a.arg for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
             for a in fn.args.args}
    local |= {n.id for n in ast.walk(tree)
              if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local.add(name)
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    renamed = {}
    out = []
    depth = 0
    for k, tok in enumerate(toks):
        text = tok.string
        if tok.type == tokenize.OP:
            depth += text in "([{"
            depth -= text in ")]}"
        elif tok.type == tokenize.NAME and text in local:
            after = toks[k + 1].string if k + 1 < len(toks) else ""
            attribute = k > 0 and toks[k - 1].string == "."
            keyword = depth > 0 and after == "="
            if not (attribute or keyword):
                text = renamed.setdefault(text, f"<{len(renamed)}>")
        out.append(text)
    return "\0".join(out)  # no token holds a NUL: the join is one-to-one


def is_tensor(v):
    t = v.type
    return hasattr(t, "ndim") and hasattr(t, "dtype") and hasattr(t, "broadcastable")


class Module:
    """The functions and constants of one generated module."""

    def __init__(self):
        self.defs = []
        self.counter = 0
        self.shapes = {}  # source with numbers blanked -> [(name, source, canonical)]

    def add_function(self, name, src):
        """Add inner function `name` (its full source) unless a function that differs
        only in the names of its local variables is already in the module; returns
        the name to call. A large loop body is often the same block repeated (layers
        written in a Python loop), and numba compiles each distinct function once, so
        its parts compile once per shape, not once per occurrence."""
        # canonical() tokenizes (~1 ms a function): only for functions that may match,
        # those equal to an earlier one once every number is blanked out
        rough = self.shapes.setdefault(_DIGITS.sub("#", src), [])
        shape = canonical(src, name) if rough else None
        for k, (other, other_src, other_shape) in enumerate(rough):
            if other_shape is None:
                other_shape = canonical(other_src, other)
                rough[k] = (other, other_src, other_shape)
            if other_shape == shape:
                return other
        rough.append((name, src, shape))
        self.add(src)
        return name

    def unique(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def add(self, src):
        self.defs.append(src)

    def array_global(self, data):
        a = np.ascontiguousarray(data)
        if a.size > MAX_INLINE_CONST or a.dtype.kind not in "biufc":
            raise Unsupported(f"array constant of shape {a.shape}, dtype {a.dtype} in a "
                              "compiled loop")
        name = self.unique("K")
        self.add(f"{name} = np.frombuffer(bytes.fromhex('{a.tobytes().hex()}'), "
                 f"dtype=np.{a.dtype.name}).reshape({a.shape!r})\n")
        return name

    def text(self):
        return HEADER + "\n".join(self.defs)


class Ctx:
    """Statement builder for one function (see registry for the emitter API)."""

    # a part of a large loop body (_emit_parts sets it), where compile time matters
    # most: a vector-matrix product calls the compiled dot_checked (~0.1 s less
    # compile a product, ~25 ns more a call) instead of writing its checks and np.dot
    in_part = False

    def __init__(self, module, indent=1):
        self.module = module
        self.dests, self.dest = {}, None
        self.lines = []
        self.depth = indent
        self.calls_python = False  # an objmode block: compiled without nogil (it takes the GIL)

    def line(self, s):
        self.lines.append("    " * self.depth + s + "\n")

    def tmp(self, prefix="t"):
        return self.module.unique(prefix)

    @contextlib.contextmanager
    def block(self, header):
        self.line(header)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    @contextlib.contextmanager
    def loops(self, bounds):
        """Nested ``for`` loops over range(b) for each bound expression (None: no loop
        for that dim); yields one index name per bound."""
        idx = [self.tmp("j") for _ in bounds]
        depth0 = self.depth
        for j, b in zip(idx, bounds):
            if b is not None:
                self.line(f"for {j} in range({b}):")
                self.depth += 1
        try:
            yield idx
        finally:
            self.depth = depth0

    def loops_except(self, x, nd, axis):
        """Nested loops over every dim of array x but `axis`; yields the index names
        (the one of `axis` is left for the caller's own loop)."""
        return self.loops([None if d == axis else f"{x}.shape[{d}]" for d in range(nd)])

    @staticmethod
    def dtype(var):
        return np_dtype(var.type.dtype)

    @staticmethod
    def is_scalar(var):
        return var.type.ndim == 0

    def helper(self, src):
        """Add module-level source once per module: a generated helper function, or an
        import of compiled helpers that runtime.py does not gather (the linear-recurrence
        kernels of recurrence_kernels.py, imported by name); fixed helpers belong in
        kernels/."""
        if src not in self.module.defs:
            self.module.add(src)

    def region(self, inputs, outputs, name=None):
        """Emit the closed graph inputs -> outputs as a module function taking and
        returning unboxed values (0-d as scalars); returns its name."""
        name = name or self.module.unique("body")
        return emit_function(self.module, name, inputs, outputs, boxed=False, cache=False)


def emit_function(module, name, inputs, outputs, boxed, cache, const_params=(), dests=()):
    """Add `def name(inputs...)` computing outputs to `module`.

    boxed: parameters and results are 0-d arrays (the entry called from Python),
    else scalars; results are a bare value for one output when boxed, always a
    tuple otherwise. const_params: Constants that are parameters (after inputs).
    dests: variables computed by elementwise nodes that are written into arrays
    given as extra last parameters (scan writes rows of its outputs in place)."""
    # only the branch taken of an ifelse runs (ifelse/lazy.py); dests follow their nodes
    dests = list(dests)
    lazy = lazy_ifelse(list(inputs) + list(const_params), list(outputs) + dests)
    outputs, dests = lazy[:len(outputs)], lazy[len(outputs):]
    ctx = Ctx(module)
    ctx.dests = {}
    names = {}
    params = []
    for v in dests:
        ctx.dests[id(v)] = module.unique("d")
    for v in list(inputs) + list(const_params):
        if not is_tensor(v):
            raise Unsupported(f"a {v.type} value (not a tensor)")
        p = module.unique("a")
        params.append(p)
        if v.type.ndim == 0 and boxed:
            ctx.line(f"{p} = {p}[()]")
        names[id(v)] = p

    def ref(v, names=names, module=module):
        if id(v) in names:
            return names[id(v)]
        if isinstance(v, Constant):
            if not is_tensor(v):
                raise Unsupported(f"a constant of type {v.type}")
            if v.type.ndim == 0:
                return literal(v.data, v.type.dtype)
            names[id(v)] = module.array_global(v.data)
            return names[id(v)]
        raise Unsupported(f"{v} is not an input of the compiled region")

    nodes = toposort(outputs, stop_at=inputs)
    for node in nodes:
        if emitter_for(node.op) is None:
            raise Unsupported(f"no numba implementation of {type(node.op).__name__}")
        for o in node.outputs:
            if not is_tensor(o):
                raise Unsupported(f"{node.op} produces a {o.type} value")
    planner = region_planner()
    items = planner[0](nodes) if planner else nodes
    readers = {id(o): 1 for o in outputs}  # uses outside the group that computes them
    group_of = {}
    for it in items:
        for node in getattr(it, "members", ()):
            group_of[node] = it
    for node in nodes:
        for v in node.inputs:
            if v.owner is None or group_of.get(v.owner) is not group_of.get(node, node):
                readers[id(v)] = readers.get(id(v), 0) + 1

    def needed(v):
        return id(v) in readers or id(v) in ctx.dests

    sizes = None
    if not boxed and not dests and len(items) > 1:
        sizes = _trial_sizes(items, ref, names, needed)
    if sizes is not None and sum(sizes) > PART_LINES:
        _emit_parts(ctx, items, sizes, ref, names, needed, outputs)
    else:
        _emit_items(ctx, items, ref, names, needed)
    rets = []
    for o in outputs:
        if not is_tensor(o):
            raise Unsupported(f"an output of type {o.type}")
        r = ref(o)
        if boxed and o.type.ndim == 0:
            b = module.unique("b")
            ctx.line(f"{b} = np.empty((), {np_dtype(o.type.dtype)})")
            ctx.line(f"{b}[()] = {r}")
            r = b
        elif boxed and id(o) in {id(v) for v in inputs}:
            r = f"{r}.copy()" if o.type.ndim else r
        rets.append(r)
    if boxed and len(rets) == 1:
        ctx.line(f"return {rets[0]}")
    else:
        ctx.line(f"return ({', '.join(rets)}{',' if rets else ''})")
    opts = NJIT_OPTS.replace(", nogil=True", "") if ctx.calls_python else NJIT_OPTS
    entry = boxed or cache  # a kernel entry point keeps its name
    opts += (", cache=True" if cache else "") if entry else INNER_OPTS
    params += [ctx.dests[id(v)] for v in dests]
    src = (f"@numba.njit({opts})\ndef {name}({', '.join(params)}):\n" + "".join(ctx.lines))
    if entry:
        module.add(src)
        return name
    return module.add_function(name, src)


# A region whose statements exceed this many lines is emitted as several functions
# ("parts") called in sequence: numba's compile time grows with the square of a
# function's size (SSA reconstruction and inlining rescan the whole function: a
# body of 120 / 240 / 650 generated lines took 6.6 / 14.7 / 46 s of CPU), so parts
# of bounded size keep it linear.
PART_LINES = 120


def _trial_sizes(items, ref, names, needed):
    """Lines each item generates, from an emission into a scratch module (nothing
    of it is kept)."""
    scratch = Module()
    ctx = Ctx(scratch)
    ctx.dests = {}
    local = dict(names)
    sizes = []
    try:
        for it in items:
            before = len(ctx.lines)
            _emit_items(ctx, [it], lambda v: ref(v, local, scratch), local, needed)
            sizes.append(len(ctx.lines) - before)
    except Unsupported:
        return None
    return sizes


def _members(item):
    return getattr(item, "members", None) or [item]


def _emit_items(ctx, items, ref, names, needed):
    """Statements for items (nodes, or loop-fused groups) in order."""
    planner = region_planner()
    for item in items:
        if not isinstance(item, Apply):  # a loop-fused group of elementwise nodes
            planner[1](ctx, item, ref, names, needed)
            continue
        node = item
        emit = emitter_for(node.op)
        ins = [ref(v) for v in node.inputs]
        outs = [ctx.module.unique("v") for _ in node.outputs]
        ctx.dest = ctx.dests.get(id(node.outputs[0]))
        emit(ctx, node, ins, outs)
        ctx.dest = None
        for o, n in zip(node.outputs, outs):
            names[id(o)] = n


def _emit_parts(ctx, items, sizes, ref, names, needed, outputs):
    """Emit `items` as consecutive part functions of at most PART_LINES lines each
    (a larger item alone), each taking the values it reads from earlier parts and
    the region's inputs, and returning those that later parts or the outputs read."""
    module = ctx.module
    parts, lines = [[]], 0
    for it, n in zip(items, sizes):
        if parts[-1] and lines + n > PART_LINES:
            parts.append([])
            lines = 0
        parts[-1].append(it)
        lines += n
    made = {}
    for c, part in enumerate(parts):
        for it in part:
            for node in _members(it):
                for o in node.outputs:
                    made[id(o)] = c
    read_after = {id(o): len(parts) for o in outputs}
    for c, part in enumerate(parts):
        for it in part:
            for node in _members(it):
                for v in node.inputs:
                    read_after[id(v)] = max(read_after.get(id(v), -1), c)
    for c, part in enumerate(parts):
        free, seen = [], set()
        for it in part:
            for node in _members(it):
                for v in node.inputs:
                    if (made.get(id(v), -1) < c and id(v) in names and id(v) not in seen
                            and not isinstance(v, Constant)):
                        seen.add(id(v))
                        free.append(v)
        exports = [o for it in part for node in _members(it) for o in node.outputs
                   if read_after.get(id(o), -1) > c]
        sub = Ctx(module)
        sub.in_part = True
        sub.dests = {}
        local = {}
        params = []
        for v in free:
            local[id(v)] = module.unique("a")
            params.append(local[id(v)])

        def sub_ref(v, local=local):
            if id(v) in local:
                return local[id(v)]
            if isinstance(v, Constant):
                return ref(v)
            raise Unsupported(f"{v} is not computed before its part of the region")

        _emit_items(sub, part, sub_ref, local, needed)
        rets = [sub_ref(o) for o in exports]
        sub.line(f"return ({', '.join(rets)}{',' if rets else ''})")
        opts = NJIT_OPTS.replace(", nogil=True", "") if sub.calls_python else NJIT_OPTS
        fname = module.unique("part")
        fname = module.add_function(fname, f"@numba.njit({opts}{INNER_OPTS})\ndef {fname}("
                                    f"{', '.join(params)}):\n" + "".join(sub.lines))
        r = ctx.tmp("r")
        ctx.line(f"{r} = {fname}({', '.join(names[id(v)] for v in free)})")
        ctx.calls_python = ctx.calls_python or sub.calls_python
        for k, o in enumerate(exports):
            n = module.unique("v")
            ctx.line(f"{n} = {r}[{k}]")
            names[id(o)] = n
