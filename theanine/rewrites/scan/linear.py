"""scan_parallel_linear: a loop carry whose update is affine in itself becomes a
LinearRecurrence (a prefix scan: parallel chunks instead of one long dependency chain).

Detected (h the carry entering a step, A, B, M functions of the sequences' slices and
the non-sequences only, never of a carry or of the step's random draws):

    h_t = A*h + B    (any mix of +, -, unary -, *, / by a value free of h, second)
    h_t = h + B      (cumsum)          h_t = h * A         (cumprod)
    h_t = maximum(h, B), maximum(B, h), minimum(...)
    h_t = dot(h, M) + B, dot(M, h) + B for a vector h    (M loop-invariant)
    elementwise parts may be switch(c, u, w) with c free (ReLU and max gradients)

Each node between h and h_t must have h's exact type (no broadcasting of the state,
no cast). Not detected: loops with `until`, a carry kept as a ring buffer, windowed
(multi-tap) carries (their update is a concatenation), a carry read non-linearly by
its own update.

The rewrite of one carry: A and B for every step come from a map (a new Scan without
carries, which the scan rules turn into whole-array operations) or, when loop-
invariant, are computed once with a broadcastable step axis; one LinearRecurrence
node computes the trace and final state; the rest of the loop reads the carry before
and after each step as sequences (the trace shifted by one row, and the trace), so the
other carries are examined in turn (a cascade h2_t = a*h2 + h1_t becomes two
recurrences) and a loop left with only per-step outputs becomes vectorised work.

Off with ``config.scan.parallel_linear = False`` (THEANO_FLAGS=scan.parallel_linear=False)
or ``Mode(excluding=["scan_parallel_linear"])``. Whether a recurrence runs chunked or
sequentially is decided by its implementation at run time (lengths and widths are
known there); see docs/parallel_scan.md.
"""

from __future__ import annotations

import numpy as np

from theanine.config import config
from theanine.graph.rewrite import rule
from theanine.graph.traversal import ancestors, clone_replace, toposort
from theanine.scan.op import Scan
from theanine.scan.utils import CheckSteps, is_tensor
from theanine.tensor import scalar_ops as so
from theanine.tensor.alloc import alloc
from theanine.tensor.basic import constant
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.join import concatenate
from theanine.tensor.linalg import Dot, dot
from theanine.tensor.math import cast, switch
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.shape import patternbroadcast, shape_padleft
from theanine.tensor.subtensor import Subtensor

from .parts import ScanParts


class _NotAffine(Exception):
    """The carry's update is not one of the detected forms."""


def _one(v, value):
    return constant(np.full((1,) * v.ndim, value, dtype=v.dtype))


def _scale(x, f, how):
    """x (None: 1 for an A, 0 for a B) combined with free value f."""
    return f if x is None else how(x, f)


def _elementwise_form(node, forms, like):
    """The form (A, B) of an elementwise node's output: value = A*h + B."""
    sop = node.op.scalar_op
    ins = node.inputs
    dep = [i for i, v in enumerate(ins) if id(v) in forms]
    fr = [v for v in ins if id(v) not in forms]
    if isinstance(sop, so.Add):
        a_terms = [forms[id(ins[i])][1] for i in dep]
        a = a_terms[0] if len(a_terms) == 1 else None
        if len(a_terms) > 1:  # h appears more than once: its coefficients add up
            for t in a_terms:
                t = _one(like, 1) if t is None else t
                a = t if a is None else a + t
        b = None
        for i, v in enumerate(ins):
            term = forms[id(v)][2] if i in dep else v
            if term is not None:
                b = term if b is None else b + term
        return ("aff", a, b)
    if isinstance(sop, so.Sub):
        x, y = ins
        if id(y) not in forms:
            _, a, b = forms[id(x)]
            return ("aff", a, _sub(b, y))
        _, ay, by = forms[id(y)]
        ay = _one(like, 1) if ay is None else ay
        if id(x) not in forms:
            return ("aff", -ay, _sub(x, by))
        _, ax, bx = forms[id(x)]
        return ("aff", (_one(like, 1) if ax is None else ax) - ay, _sub(bx, by))
    if isinstance(sop, so.Neg):
        _, a, b = forms[id(ins[0])]
        return ("aff", -(a if a is not None else _one(like, 1)), None if b is None else -b)
    if isinstance(sop, so.Mul) and len(dep) == 1:
        _, a, b = forms[id(ins[dep[0]])]
        f = fr[0]
        for v in fr[1:]:
            f = f * v
        return ("aff", _scale(a, f, lambda p, q: p * q), None if b is None else b * f)
    if isinstance(sop, so.TrueDiv) and dep == [0]:
        _, a, b = forms[id(ins[0])]
        d = ins[1]
        return ("aff", (a if a is not None else _one(like, 1)) / d,
                None if b is None else b / d)
    if isinstance(sop, so.Switch):
        return _switch_form(node, forms, like)
    if isinstance(sop, so.Second):
        if 1 in dep:
            return forms[id(ins[1])]
        return ("aff", _one(like, 0), ins[1])
    raise _NotAffine


def _sub(p, q):
    if q is None:
        return p
    return -q if p is None else p - q


def _extremum_form(node, forms, h):
    """maximum/minimum of h itself and a free value (only as the update's last node)."""
    ins = node.inputs
    if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op,
                                                    (so.Maximum, so.Minimum)):
        if len(ins) == 2 and sum(v is h for v in ins) == 1 and all(
                v is h or id(v) not in forms for v in ins):
            mode = "max" if isinstance(node.op.scalar_op, so.Maximum) else "min"
            other = ins[1] if ins[0] is h else ins[0]
            return (mode, other, "carry" if ins[0] is h else "input")
    return None


def _dot_form(node, forms, h):
    """dot(h + B, M), or dot(M, h + B) for a vector h, with M and B free."""
    x, y = node.inputs
    if id(x) in forms and id(y) not in forms and y.ndim == 2:
        kind, a, b = forms[id(x)]
        if kind == "aff" and a is None:
            return ("mat", y, None if b is None else dot(b, y))
    if id(y) in forms and id(x) not in forms and x.ndim == 2 and h.ndim == 1:
        kind, a, b = forms[id(y)]
        if kind == "aff" and a is None:
            return ("mat", x.T, None if b is None else dot(x, b))
    raise _NotAffine


def _switch_form(node, forms, like):
    """switch(c, u, w) with c free: the form of u where c holds, of w elsewhere."""
    c, u, w = node.inputs
    if id(c) in forms:
        raise _NotAffine
    fu = forms.get(id(u), ("aff", _one(like, 0), u))
    fw = forms.get(id(w), ("aff", _one(like, 0), w))
    a = None if fu[1] is None and fw[1] is None else switch(
        c, _one(like, 1) if fu[1] is None else fu[1], _one(like, 1) if fw[1] is None else fw[1])
    b = None if fu[2] is None and fw[2] is None else switch(
        c, _one(like, 0) if fu[2] is None else fu[2], _one(like, 0) if fw[2] is None else fw[2])
    return ("aff", a, b)


def affine_form(out, h, stop, tainted):
    """The update `out` of carry `h` as (mode, operands, ties), or None.
    `stop`: the body's inputs; `tainted`: ids of variables that depend on a carry."""
    forms = {id(h): ("aff", None, None)}
    for node in toposort([out], stop_at=stop):
        if not any(id(v) in forms for v in node.inputs):
            continue
        o = node.outputs[0]
        if len(node.outputs) != 1 or o.type != h.type:
            return None
        if any(id(v) in tainted and id(v) not in forms for v in node.inputs):
            return None  # a free operand reads another carry
        try:
            top = _extremum_form(node, forms, h) if o is out else None
            if top is not None:
                forms[id(o)] = top
            elif isinstance(node.op, Dot):
                forms[id(o)] = _dot_form(node, forms, h)
            elif isinstance(node.op, Elemwise):
                if any(forms[id(v)][0] != "aff" for v in node.inputs if id(v) in forms):
                    if isinstance(node.op.scalar_op, so.Add):
                        forms[id(o)] = _matrix_sum(node, forms)
                        continue
                    return None
                forms[id(o)] = _elementwise_form(node, forms, h)
            else:
                return None
        except _NotAffine:
            return None
    form = forms.get(id(out))
    if form is None:
        return None
    kind, x, y = form
    if kind in ("max", "min"):
        return kind, [x], y
    if kind == "mat":
        return "matrix", [x, y if y is not None else _one(h, 0)], None
    if x is None and y is None:
        return None
    if x is None:
        return "add", [y], None
    if y is None:
        return "mul", [x], None
    return "affine", [x, y], None


def _matrix_sum(node, forms):
    """dot(h, M) + free values."""
    mats = [forms[id(v)] for v in node.inputs if id(v) in forms]
    if len(mats) != 1 or mats[0][0] != "mat":
        raise _NotAffine
    _, m, b = mats[0]
    for v in node.inputs:
        if id(v) not in forms:
            b = v if b is None else b + v
    return ("mat", m, b)


def _tainted(parts, stop):
    """ids of the body's variables that depend on a carry entering the step."""
    ids = {id(c["inner"]) for c in parts.carries}
    for n in toposort(parts.inner_outputs(), stop_at=stop):
        if any(id(v) in ids for v in n.inputs):
            ids.update(id(o) for o in n.outputs)
    return ids


def _reads(expr, inner_ids, stop):
    return any(id(v) in inner_ids for v in ancestors([expr], stop_at=stop))


def _eligible(c):
    h = c["inner"]
    return (is_tensor(h) and h.dtype.startswith("float") and not c["keep"]
            and c["out"] is not h)


@rule(Scan)
def scan_parallel_linear(graph, node):
    """A carry updated as A*h + B (or cumsum, cumprod, running max/min, dot(h, M) + B)
    becomes a LinearRecurrence; see the module docstring."""
    if not config.scan.parallel_linear:
        return None
    parts = ScanParts(node)
    if parts.cond is not None:
        return None
    stop = ([i for _, i in parts.seqs] + [c["inner"] for c in parts.carries]
            + [i for _, i in parts.consts])
    tainted = _tainted(parts, stop)
    seq_ids = {id(i) for _, i in parts.seqs}
    for c in parts.carries:
        if not _eligible(c):
            continue
        form = affine_form(c["out"], c["inner"], stop, tainted)
        if form is None:
            continue
        mode, operands, ties = form
        if mode == "matrix" and _reads(operands[0], seq_ids, stop):
            continue  # dot(h, M_t): M must not change between steps
        return _convert(graph, parts, c, mode, operands, ties, stop, seq_ids)
    return None


def _fit(x, h0, per_step_lanes=True):
    """Operand x in h0's dtype, its state dims broadcastable where h0's are or all."""
    if x.dtype != h0.dtype:
        x = cast(x, h0.dtype)
    lanes = x.broadcastable[1:]
    if per_step_lanes and lanes != h0.broadcastable and not all(lanes):
        full = alloc(x, x.shape[0], *[h0.shape[i] for i in range(h0.ndim)])
        x = patternbroadcast(full, (x.broadcastable[0],) + h0.broadcastable)
    return x


_REVERSED = (("slice", None, None, -1),)


_WHOLE = ((("slice", 0, None, None),), (("slice", None, None, None),), ())


def _reversed_of(v):
    """z when v is z[::-1] (also as z[::-1][0:], how scan takes a sequence), else None."""
    o = v.owner
    while o is not None and isinstance(o.op, Subtensor) and o.op.idx_list in _WHOLE:
        o = o.inputs[0].owner
    if o is not None and isinstance(o.op, Subtensor) and o.op.idx_list == _REVERSED:
        return o.inputs[0]
    return None


def _unreverse(parts, n):
    """When every sequence is read backwards (z[::-1], as the reverse loop of a
    gradient reads the forward traces), read the last n rows of each z in step order
    instead and return True (the recurrence then runs backwards, and per-step outputs
    come out in step order: no reversed view reaches the recurrence); else False."""
    zs = [_reversed_of(o) for o, _ in parts.seqs]
    if not zs or any(z is None for z in zs):
        return False
    for s, z in zip(parts.seqs, zs):
        z = CheckSteps()(z, n)  # at least n rows, as the loop needs
        s[0] = z[z.shape[0] - n:]
    return True


def _state_views(h0, trace, reverse):
    """(the states before each step, after each step) in step order: views of the
    trace with h0 joined (before it, or after it when the recurrence runs backwards)."""
    if reverse:
        return concatenate([trace, shape_padleft(h0)])[1:], trace
    return concatenate([shape_padleft(h0), trace])[:-1], trace


def _flip(x):
    return x[::-1]


def _convert(graph, parts, c, mode, operands, ties, stop, seq_ids):
    op, n = parts.op, parts.n_steps
    h, h0 = c["inner"], c["init"]
    const_outer = {i: o for o, i in parts.consts}
    others = [d for d in parts.carries if d is not c]
    backwards = not others and all(not y["keep"] for y in parts.ys) and \
        _unreverse(parts, n)
    per_step = [e for e in operands if _reads(e, seq_ids, stop)]
    traces = {}
    if per_step:  # A, B, ... at every step: a map, which the scan rules vectorise
        seq_in, const_in = [i for _, i in parts.seqs], [i for _, i in parts.consts]
        mop = Scan(seq_in + const_in, per_step, len(seq_in), 0, (), False,
                   f"{op.name or 'scan_fn'}_operands")
        outs = mop.make_node(n, *[o for o, _ in parts.seqs], *[o for o, _ in parts.consts])
        traces = {id(e): t for e, t in zip(per_step, outs.outputs)}
    ready = []
    for k, e in enumerate(operands):
        if mode == "matrix" and k == 0:
            ready.append(_fit(clone_replace([e], const_outer)[0], h0, False))
        elif id(e) in traces:
            ready.append(_fit(traces[id(e)], h0))
        else:  # loop-invariant: one value, a broadcastable step axis
            ready.append(_fit(shape_padleft(clone_replace([e], const_outer)[0]), h0))
    parts.carries = others
    rest = parts.inner_outputs()
    used = {id(v) for v in ancestors(rest, stop_at=stop)} if rest else set()
    uses_h, uses_out = id(h) in used, id(c["out"]) in used
    store = uses_h or uses_out or (c["trace"] is not None and graph.n_clients(c["trace"]) > 0)
    lr = LinearRecurrence(mode, backwards, store, ties or "carry", op.name,
                          op.profile)(n, h0, *ready)
    trace, final = lr if store else (None, lr)
    result = {c["final"]: final}
    if c["trace"] is not None and store:
        result[c["trace"]] = _flip(trace) if backwards else trace
    if not rest:
        return result
    mapping = {}
    before, after = _state_views(h0, trace, backwards) if store else (None, None)
    if uses_h:  # the state before each step: h0, trace[0], ..., trace[n-2]
        mapping[h] = h.type()
        parts.seqs.append([before, mapping[h]])
    if uses_out:
        mapping[c["out"]] = c["out"].type()
        parts.seqs.append([after, mapping[c["out"]]])
    if mapping:
        parts.substitute(mapping)
    built = parts.build()
    if backwards:  # no carries are left: every output is per step, in step order
        built = {old: _flip(new) for old, new in built.items()}
    result.update(built)
    return result


@rule(LinearRecurrence)
def linear_recurrence_final_only(graph, node):
    """A LinearRecurrence whose trace nobody reads computes only its final state."""
    op = node.op
    if not op.store or graph.n_clients(node.outputs[0]) > 0:
        return None
    new = LinearRecurrence(op.mode, op.reverse, False, op.ties, op.name,
                           op.profile)(*node.inputs)
    return {node.outputs[1]: new}

