"""Rop: Jacobian-vector products.

Built as the transpose of Lop (u -> J^T u is linear, so the gradient of
(J^T u) . v with respect to u is J v), except where an op between wrt and f
defines Theano's R_op: then forward mode, node by node.
"""

from __future__ import annotations

import warnings

from theanine.graph.traversal import ancestors, clone_replace, toposort
from theanine.tensor.alloc import zeros_like
from theanine.tensor.basic import as_tensor_variable

from .gradient import (
    DisconnectedInputError,
    _accumulate,
    _cast_like,
    _disconnected_result,
    _float_zeros_like,
    _is_disconnected,
    _is_discrete,
    _live,
    grad,
)


def Rop(f, wrt, eval_points, disconnected_outputs="raise", return_disconnected="zero"):
    """Jacobian-vector product sum_j (d f / d wrt[j]) eval_points[j], same structure as f.

    Built as the transpose of Lop: u -> J^T u is linear, so grad of (J^T u) . v with
    respect to u is J v. An output f[i] that does not depend on any wrt is handled
    per disconnected_outputs ('raise', 'warn', 'ignore') and return_disconnected."""
    if disconnected_outputs not in ("raise", "warn", "ignore"):
        raise ValueError("Rop: disconnected_outputs must be 'raise', 'warn' or 'ignore', "
                         f"got {disconnected_outputs!r}")
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError("Rop: return_disconnected must be 'zero', 'None' or "
                         f"'Disconnected', got {return_disconnected!r}")
    structure = type(f) if isinstance(f, (list, tuple)) else None
    fs = list(f) if structure else [f]
    wrts = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    evs = list(eval_points) if isinstance(eval_points, (list, tuple)) else [eval_points]
    if len(wrts) != len(evs):
        raise ValueError(f"Rop: wrt has {len(wrts)} variables but eval_points has {len(evs)}")
    evs = [_cast_like(as_tensor_variable(e), w, f"Rop: eval_points[{k}]")
           for k, (w, e) in enumerate(zip(wrts, evs))]
    if _has_user_rop(fs, wrts):
        fs_t = _rop_forward(fs, wrts, evs)
        return _rop_results(fs, fs_t, wrts, structure, disconnected_outputs,
                            return_disconnected)
    _, _, live = _live(fs, wrts, [])
    results = [None] * len(fs)
    u_of = {}  # one symbolic output gradient per distinct connected float output
    for k, o in enumerate(fs):
        if id(o) not in live:
            msg = f"Rop: output {k} ({o}) does not depend on any of wrt {wrts}"
            if disconnected_outputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_outputs == "warn":
                warnings.warn(msg, stacklevel=2)
            results[k] = _disconnected_result(o, return_disconnected)
        elif _is_discrete(o):
            results[k] = _float_zeros_like(o)
        elif o not in u_of:
            u_of[o] = o.type()
    if u_of:
        gs = grad(None, wrts, known_grads=u_of, disconnected_inputs="ignore",
                  return_disconnected="Disconnected")
        pairs = [(g, e) for g, e in zip(gs, evs) if not _is_disconnected(g)]
        kg = _accumulate([g for g, _ in pairs], [e for _, e in pairs])
        us = list(u_of.values())
        jv = grad(None, us, known_grads=kg, disconnected_inputs="ignore") if kg else [
            zeros_like(u) for u in us]
        # J v does not depend on u's value (J^T u is linear in u): u := 0
        jv = clone_replace(jv, {u: zeros_like(o) for o, u in u_of.items()})
        jv_of = dict(zip(u_of, jv))
        for k, o in enumerate(fs):
            if results[k] is None and o in jv_of:
                results[k] = jv_of[o]
    return structure(results) if structure else results[0]


def _has_user_rop(fs, wrts):
    """True when an op between wrt and f defines Theano's R_op method."""
    return any(getattr(n.op, "R_op", None) is not None
               for n in toposort(fs, stop_at=wrts) if _depends_on(n, wrts))


def _depends_on(node, wrts):
    ids = {id(w) for w in wrts}
    return any(id(v) in ids for v in ancestors(node.inputs))


def _rop_forward(fs, wrts, evs):
    """Forward mode, node by node: an op's own R_op(inputs, eval_points) where it has
    one (Theano's protocol; None for inputs without a tangent), else the node's
    Jacobian-vector product through Rop on that node alone."""
    tangent = {id(w): e for w, e in zip(wrts, evs)}
    for node in toposort(fs, stop_at=wrts):
        ins_t = [tangent.get(id(i)) if not _is_discrete(i) else None for i in node.inputs]
        if all(t is None for t in ins_t):
            continue
        if getattr(node.op, "R_op", None) is not None:
            outs_t = node.op.R_op(list(node.inputs), ins_t)
        else:
            outs_t = _node_jvp(node, ins_t)
        for o, t in zip(node.outputs, outs_t):
            if t is not None and not _is_discrete(o) and not _is_disconnected(t):
                tangent[id(o)] = t
    return [tangent.get(id(o)) for o in fs]


def _node_jvp(node, ins_t):
    """The node's Jacobian-vector product, its inputs taken as independent (a copy of
    the node over fresh inputs, so an input that is an ancestor of another is not
    counted twice), substituted back afterwards."""
    fresh = [i.type() for i in node.inputs]
    copy = node.clone_with_new_inputs(fresh, strict=True)
    float_outs = [o for o in copy.outputs if not _is_discrete(o)]
    pairs = [(f, t) for f, t in zip(fresh, ins_t) if t is not None]
    if not float_outs:
        return [None] * len(node.outputs)
    res = Rop(float_outs, [f for f, _ in pairs], [t for _, t in pairs],
              disconnected_outputs="ignore", return_disconnected="None")
    back = dict(zip(fresh, node.inputs))
    by_out = {id(o): (clone_replace(r, back) if r is not None else None)
              for o, r in zip(float_outs, res)}
    return [by_out.get(id(o)) for o in copy.outputs]


def _rop_results(fs, fs_t, wrts, structure, disconnected_outputs, return_disconnected):
    results = []
    for k, (o, t) in enumerate(zip(fs, fs_t)):
        if t is None and not _is_discrete(o):
            msg = f"Rop: output {k} ({o}) does not depend on any of wrt {wrts}"
            if disconnected_outputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_outputs == "warn":
                warnings.warn(msg, stacklevel=3)
            results.append(_disconnected_result(o, return_disconnected))
        elif _is_discrete(o):
            results.append(_float_zeros_like(o))
        else:
            results.append(t)
    return structure(results) if structure else results[0]
