"""Scan as a native loop: the inner graph becomes a numba function (`body`) that
LLVM inlines into the loop, so no Python runs per step.

    def scan_3(n, s0, c0, k0):          # n_steps, sequences, initial carries, consts
        tr0 = np.empty((n,) + c0.shape, dtype)     # traces: preallocated
        y0 = np.empty((0, 0), dtype)               # per-step outputs: sized at step 0
        steps = n
        for t in range(n):
            r = body_2(s0[t], c0, k0)
            if t == 0: y0 = np.empty((n,) + r[1].shape, dtype)
            tr0[t] = r[0]; y0[t] = r[1]
            c0 = r[0]
            if r[2]: steps = t + 1; break          # until
        return tr0[:steps], c0, y0[:steps]

0-d carries are scalars (registers). With zero steps the per-step outputs get
their row shapes from one probe call of the body on zero slices, as on py.
Nested scans are nested functions of the same module; gradient scans are
ordinary Scans. Carries that are not tensors (random generators) are not
supported here: such a Scan runs on py (object mode). A ring buffer's rows come
back in step order through kernels/basic.py's ring_in_order.

CheckSteps (the n_steps check of a vectorised scan) is here too.
"""

from __future__ import annotations

from theanine.graph.traversal import toposort
from theanine.scan.op import Scan
from theanine.scan.utils import CheckSteps
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import Elemwise

from .codegen import INNER_OPTS, NJIT_OPTS, Ctx, emit_function, np_dtype
from .registry import Unsupported, register


def _elementwise(v):
    return v.owner is not None and isinstance(v.owner.op, (Elemwise, Composite))


def _zeros_of(var, like):
    """Source for a zero slice of sequence `like` (0-d slices are scalars)."""
    if var.type.ndim == 0:
        return f"{np_dtype(var.type.dtype)}(0)"
    return f"np.zeros({like}.shape[1:], {np_dtype(var.type.dtype)})"


def _rowcopy(ctx, ndim):
    """Name of a module helper copying an array of `ndim` dims into an equal-shaped
    view, loop by loop. Not ``dst[t] = src``: numba lowers an array assigned into
    a slice with a shape-mismatch message whose string formatting it compiles once
    per process and pair of ranks (2.4 s of CPU at the first one, measured)."""
    name = f"rowcopy{ndim}"
    idx = [f"i{d}" for d in range(ndim)]
    src = f"@numba.njit({NJIT_OPTS}{INNER_OPTS})\ndef {name}(dst, src):\n"
    for d, i in enumerate(idx):
        src += "    " * (d + 1) + f"for {i} in range(src.shape[{d}]):\n"
    src += "    " * (ndim + 1) + f"dst[{', '.join(idx)}] = src[{', '.join(idx)}]\n"
    ctx.helper(src)
    return name


def _store(ctx, var, dst, value):
    """Statement storing one step's `value` of graph variable `var` at `dst`."""
    if var.type.ndim == 0:
        return f"{dst} = {value}"
    return f"{_rowcopy(ctx, var.type.ndim)}({dst}, {value})"


# A body this large is not compiled a second time with its per-step outputs written
# straight into their rows (that halves the copies of a small body's outputs, but
# doubles the compile time of a large one).
DIRECT_MAX_NODES = 24


@register(Scan, outer=True)
def _scan(ctx, node, ins, outs):
    fname = scan_function(ctx, node)
    res = ctx.tmp("r")
    ctx.line(f"{res} = {fname}({', '.join(ins)})")
    for k, o in enumerate(outs):
        ctx.line(f"{o} = {res}[{k}]")


def scan_entry(module, node, name="kernel"):
    """Add the kernel entry of a module computing Scan `node` alone: the loop
    function itself, taking and returning 0-d values as 0-d arrays (one numba
    function less to type and one LLVM module less to optimise than a kernel that
    calls the loop: -10% compile time of an LSTM's gradient loop)."""
    return scan_function(Ctx(module), node, name=name, entry=True)


def scan_function(ctx, node, name=None, entry=False):
    """Add the loop function of Scan `node` to ctx's module; returns its name.
    entry: the function is a kernel entry (cached, 0-d values boxed)."""
    op = node.op
    for v in op.inner_inputs + op.inner_outputs:
        if not (hasattr(v.type, "ndim") and hasattr(v.type, "dtype")):
            raise Unsupported(f"{op}: a non-tensor value ({v.type}) in the loop")
    S, C, Y = op.n_seqs, op.n_carries, op.n_ys
    inner_outs = op.inner_outputs  # rewritten by the pipeline (rewrites/inner_graphs.py)
    body = ctx.region(op.inner_inputs, inner_outs)
    # per-step outputs computed by an elementwise loop are written straight into
    # their row of the output (a second body function, used from step 1 on); so are
    # such carries, into their trace's row (untraced: into one of two rows, in turn),
    # where the next step reads them: no array allocated and copied a step
    direct = [j for j, v in enumerate(inner_outs[C:C + Y]) if _elementwise(v)
              and v.type.ndim > 0 and inner_outs.index(v) == C + j]
    direct_c = [k for k, v in enumerate(inner_outs[:C]) if _in_place_carry(op, k, v)]
    if (direct or direct_c) and _n_nodes(op.inner_inputs, inner_outs) > DIRECT_MAX_NODES:
        direct, direct_c = [], []
    body_dst = None
    if direct or direct_c:
        body_dst = ctx.module.unique("bodyd")
        body_dst = emit_function(ctx.module, body_dst, op.inner_inputs, inner_outs, boxed=False,
                                 cache=False, dests=[inner_outs[k] for k in direct_c]
                                 + [inner_outs[C + j] for j in direct])
    m = ctx.module
    fname = name or m.unique("scan")
    n = "n"
    seqs = [f"s{k}" for k in range(S)]
    carries = [f"c{k}" for k in range(C)]
    consts = [f"k{k}" for k in range(op.n_consts)]
    L = []

    def line(depth, s):
        L.append("    " * depth + s + "\n")

    if entry:  # 0-d arguments arrive as 0-d arrays
        for p, v in zip([n] + seqs + carries + consts, node.inputs):
            if v.type.ndim == 0:
                line(1, f"{p} = {p}[()]")
    line(1, f"if {n} < 0:")
    line(2, "raise ValueError('scan: n_steps must be >= 0')")
    for k, s in enumerate(seqs):
        line(1, f"if {s}.shape[0] < {n}:")
        line(2, f"raise ValueError('scan: sequence {k} has fewer rows than the steps asked "
                "for (n_steps)')")
    cvars = op.carry_inputs
    # rows stored per trace: all n, a ring of the last `keep` (row t at t % rows), or
    # (keep -1) the initial state and then all n (row t at t + 1)
    rows = [f"min({n}, {m})" if m > 0 else f"{n} + 1" if m else n for m in op.keep]
    at = [f"t % {r}" if m > 0 else "t + 1" if m else "t" for m, r in zip(op.keep, rows)]
    traces = []
    for k, (c, cv) in enumerate(zip(carries, cvars)):
        if op.traced[k]:
            tr = f"tr{k}"
            shape = f"({rows[k]},) + {c}.shape" if cv.type.ndim else f"{rows[k]}"
            line(1, f"{tr} = np.empty({shape}, {np_dtype(cv.type.dtype)})")
            if op.keep[k] < 0:
                line(1, _store(ctx, cv, f"{tr}[0]", c))
            traces.append((k, tr))
        elif k in direct_c:  # the two rows an untraced carry is written into in turn
            line(1, f"cb{k} = np.empty((2,) + {c}.shape, {np_dtype(cv.type.dtype)})")
    rows_c = {k: f"tr{k}[{at[k]}]" if op.traced[k] else f"cb{k}[t % 2]" for k in direct_c}
    yvars = op.y_outputs
    for j, yv in enumerate(yvars):
        zero = ", ".join(["0"] * (yv.type.ndim + 1))
        line(1, f"y{j} = np.empty(({zero},), {np_dtype(yv.type.dtype)})")
    line(1, f"steps = {n}")
    # sequences of arrays may be any view (linker.layouts): read in place when their
    # rows lie contiguous (in order or reversed: kernels/basic.py's c_rows), else
    # (a transposed sequence) each row is copied when read
    args, rows_at = [], []
    for k, (s, v) in enumerate(zip(seqs, op.seq_inputs)):
        if not v.type.ndim:
            args.append(f"{s}[t]")
            continue
        line(1, f"h{k}, q{k} = c_rows({s})")
        rows_at.append(f"x{k} = q{k}[t] if h{k} == 1 else q{k}[q{k}.shape[0] - 1 - t] "
                       f"if h{k} == -1 else np.ascontiguousarray({s}[t])")
        args.append(f"x{k}")
    args += carries + consts
    line(1, f"for t in range({n}):")
    for x in rows_at:
        line(2, x)
    if body_dst is None:
        line(2, f"r = {body}({', '.join(args)}{',' if len(args) == 1 else ''})")
    else:
        line(2, "if t == 0:")
        line(3, f"r = {body}({', '.join(args)}{',' if len(args) == 1 else ''})")
        line(2, "else:")
        dsts = [rows_c[k] for k in direct_c] + [f"y{j}[{at[C + j]}]" for j in direct]
        line(3, f"r = {body_dst}({', '.join(args + dsts)})")
    for j, yv in enumerate(yvars):
        shape = f"({rows[C + j]},) + r[{C + j}].shape" if yv.type.ndim else f"{rows[C + j]}"
        line(2, "if t == 0:")
        line(3, f"y{j} = np.empty({shape}, {np_dtype(yv.type.dtype)})")
        if yv.type.ndim:
            line(2, f"if r[{C + j}].shape != y{j}.shape[1:]:")
            line(3, f"raise ValueError('scan: per-step output {j} changes shape between "
                    "steps')")
        if j in direct:
            line(2, "if t == 0:")
            line(3, _store(ctx, yv, f"y{j}[t]", f"r[{C + j}]"))
        else:
            line(2, _store(ctx, yv, f"y{j}[{at[C + j]}]", f"r[{C + j}]"))
    for k, cv in enumerate(cvars):
        if cv.type.ndim:
            line(2, f"if r[{k}].shape != c{k}.shape:")
            line(3, f"raise ValueError('scan: output {k} (a recurrent state) changes shape "
                    "between steps; the state must keep one shape')")
    for k, tr in traces:
        if k in direct_c:
            line(2, "if t == 0:")
            line(3, _store(ctx, cvars[k], f"{tr}[{at[k]}]", f"r[{k}]"))
        else:
            line(2, _store(ctx, cvars[k], f"{tr}[{at[k]}]", f"r[{k}]"))
    for k in range(C):
        line(2, f"c{k} = r[{k}]")
    if op.has_until:
        line(2, "if r[-1]:")
        line(3, "steps = t + 1")
        line(3, "break")
    if Y:
        probe = [_zeros_of(v, s) for v, s in zip(op.seq_inputs, seqs)] + carries + consts
        line(1, f"if {n} == 0:")
        line(2, f"r = {body}({', '.join(probe)}{',' if len(probe) == 1 else ''})")
        for j, yv in enumerate(yvars):
            shape = f"(0,) + r[{C + j}].shape" if yv.type.ndim else "0"
            line(2, f"y{j} = np.empty({shape}, {np_dtype(yv.type.dtype)})")
    cut = "[:steps]" if op.has_until else ""  # a whole array is returned without a copy

    def result(name, m):
        if m < 0:
            return f"{name}[:steps + 1]" if op.has_until else name
        return f"ring_in_order({name}, steps)" if m else f"{name}{cut}"

    for k in direct_c:  # a final state apart from the trace it was written into
        if op.traced[k]:
            line(1, f"if {n} > 1:")
            line(2, f"c{k} = c{k}.copy()")
    finals = list(carries)
    if entry:  # 0-d final states leave as 0-d arrays
        for k, cv in enumerate(cvars):
            if cv.type.ndim == 0:
                line(1, f"b{k} = np.empty((), {np_dtype(cv.type.dtype)})")
                line(1, f"b{k}[()] = c{k}")
                finals[k] = f"b{k}"
    rets = ([result(tr, op.keep[k]) for k, tr in traces] + finals
            + [result(f"y{j}", op.keep[C + j]) for j in range(Y)])
    if entry and len(rets) == 1:  # a kernel of one output returns it bare
        line(1, f"return {rets[0]}")
    else:
        line(1, f"return ({', '.join(rets)},)" if rets else "return ()")
    params = [n] + seqs + carries + consts
    opts = NJIT_OPTS + (", cache=True" if entry else INNER_OPTS)
    m.add(f"@numba.njit({opts})\ndef {fname}({', '.join(params)}):\n" + "".join(L))
    return fname


def _in_place_carry(op, k, v):
    """Whether carry k's new value `v` may be written into a row of a buffer where the
    next step reads it: computed by an elementwise loop, no other output, and a row
    other than the one the step reads (a ring of one row would be read and written at
    once, and an elementwise loop may read its input transposed)."""
    return (_elementwise(v) and v.type.ndim > 0 and sum(o is v for o in op.inner_outputs) == 1
            and (not op.traced[k] or op.keep[k] != 1))


def _n_nodes(inputs, outputs):
    return sum(1 for _ in toposort(outputs, stop_at=inputs))


@register(CheckSteps)
def _check_steps(ctx, node, ins, outs):
    seq, n = ins
    with ctx.block(f"if {n} < 0:"):
        ctx.line("raise ValueError('scan: n_steps must be >= 0')")
    with ctx.block(f"if {seq}.shape[0] < {n}:"):
        ctx.line("raise ValueError('scan: a sequence has fewer rows than the steps asked "
                 "for (n_steps)')")
    ctx.line(f"{outs[0]} = {seq}")
