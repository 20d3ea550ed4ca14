"""theano.scan: Theano 1.0's front end, translated into the core Scan form.

Translation (see README.md beside this file):
- a sequence with taps T becomes one core sequence per tap, x[k - lo : L - (hi - k)]
  with lo = min(T, 0), hi = max(T, 0); go_backwards reverses x first;
- an output with taps [-1] is a carry; with taps T (m = -min T) a carry holding a
  window of the last m values, whose trace's last column is the output;
- an output with info None is a per-step output (y);
- shared variables updated inside fn (explicit updates or the default updates of
  random streams) become carries whose final value is returned in `updates`;
- every other variable fn uses from outside becomes a non-sequence (const).
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.graph.basic import Constant, Variable
from theanine.graph.profiling import ProfileStats
from theanine.graph.sharedvalue import SharedVariable
from theanine.graph.traversal import ancestors, clone_replace, toposort

from .op import Scan
from .utils import OrderedUpdates, is_tensor, until


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, profile=False,
         allow_gc=None, strict=False, return_list=False, _finals=False):
    """Loop `fn` over `sequences` (Theano 1.0 semantics). Returns (outputs, updates).

    `_finals` (internal, for reduce/foldl/foldr): return the final state of each
    recurrent output instead of its trace (the initial state when no step runs)."""
    seqs = _wrap_list(sequences)
    outs_info = _wrap_list(outputs_info)
    non_seqs = [_as_var(v, f"non_sequences[{k}]")
                for k, v in enumerate(_wrap_list(non_sequences))]
    if not isinstance(truncate_gradient, (int, np.integer)):
        raise TypeError(f"scan: truncate_gradient must be an int, got {truncate_gradient!r}")

    # -- sequences ----------------------------------------------------------------
    seq_specs = []  # (outer variable, taps)
    for k, s in enumerate(seqs):
        if isinstance(s, dict):
            if "input" not in s:
                raise ValueError(f"scan: sequences[{k}] is a dict without 'input'")
            x = _as_var(s["input"], f"sequences[{k}]['input']")
            taps = list(s.get("taps", [0]) or [0])
        else:
            x, taps = _as_var(s, f"sequences[{k}]"), [0]
        if x.ndim == 0:
            raise TypeError(f"scan: sequences[{k}] is a 0-d tensor; sequences are iterated "
                            "over their first dimension")
        if go_backwards:
            x = x[::-1]
        seq_specs.append((x, [int(t) for t in taps]))
    core_seqs, seq_args, lengths = [], [], []
    for x, taps in seq_specs:
        lo, hi = min(min(taps), 0), max(max(taps), 0)
        length = x.shape[0]
        lengths.append(length - (hi - lo))
        for tap in taps:
            sl = x[tap - lo:] if hi - tap == 0 else x[tap - lo:length - (hi - tap)]
            inner = x.type.clone(broadcastable=x.broadcastable[1:])()
            inner.name = f"{x.name}[t{tap:+d}]" if x.name else None
            core_seqs.append(sl)
            seq_args.append(inner)

    # -- n_steps ------------------------------------------------------------------
    if n_steps is None:
        if not lengths:
            raise ValueError("scan: give sequences or n_steps (the number of steps cannot "
                             "be inferred without sequences)")
        steps = lengths[0]
        for ln in lengths[1:]:
            steps = T.minimum(steps, ln)
    else:
        steps = _as_var(n_steps, "n_steps")
        if steps.ndim != 0 or not steps.dtype.startswith(("int", "uint")):
            raise TypeError(f"scan: n_steps must be an integer scalar, got {steps.type}"
                            f"{' = ' + str(n_steps) if not isinstance(n_steps, Variable) else ''}")

    # -- outputs_info -------------------------------------------------------------
    out_specs = []  # ("carry", init, taps) | ("y",)
    carry_args = []
    for k, info in enumerate(outs_info):
        if info is None:
            out_specs.append(("y",))
            continue
        if isinstance(info, dict):
            if info.get("initial") is None:
                if info.get("taps"):
                    raise ValueError(f"scan: outputs_info[{k}] has taps but no 'initial' "
                                     "state; give dict(initial=..., taps=...)")
                out_specs.append(("y",))
                continue
            init = _as_var(info["initial"], f"outputs_info[{k}]['initial']")
            taps = [int(t) for t in (info.get("taps") or [-1])]
        else:
            init, taps = _as_var(info, f"outputs_info[{k}]"), [-1]
        if any(t >= 0 for t in taps):
            raise ValueError(f"scan: outputs_info[{k}] has taps {taps}; output taps must "
                             "be strictly negative (they read past values)")
        if taps == [-1]:
            inner = init.type()
            inner.name = f"{init.name}[t-1]" if init.name else None
            out_specs.append(("carry", init, taps))
            carry_args.append([inner])
        else:
            m = -min(taps)
            if init.ndim == 0:
                raise TypeError(f"scan: outputs_info[{k}] uses taps {taps}, so its initial "
                                f"state needs a leading axis of at least {m} rows")
            window = init[:m]
            w = window.type()
            out_specs.append(("window", window, taps))
            carry_args.append([w[m + t] for t in taps])
            carry_args[-1].insert(0, w)

    # -- call fn once -------------------------------------------------------------
    args = list(seq_args)
    for spec, ca in zip([s for s in out_specs if s[0] != "y"], carry_args):
        args.extend(ca if spec[0] == "carry" else ca[1:])
    args.extend(non_seqs)
    raw = fn(*args)
    outputs, fn_updates, cond = _parse_return(raw)
    if outs_info and len(outputs) != len(outs_info):
        raise ValueError(f"scan: fn returned {len(outputs)} outputs but outputs_info has "
                         f"{len(outs_info)} entries; they must match (use None in "
                         "outputs_info for outputs that are not fed back)")
    if not outs_info:
        out_specs = [("y",)] * len(outputs)
    outputs = [_as_output(o, k) for k, o in enumerate(outputs)]

    # -- carries and ys -------------------------------------------------------------
    inner_carry_in, inner_carry_out, inits, traced = [], [], [], []
    ys_in = []
    ci = iter(carry_args)
    for k, (spec, out) in enumerate(zip(out_specs, outputs)):
        if spec[0] == "y":
            ys_in.append(out)
            continue
        ca = next(ci)
        init = spec[1]
        if spec[0] == "carry":
            c_in = ca[0]
            out = _match_type(out, c_in.type, k, init)
            inner_carry_in.append(c_in)
            inner_carry_out.append(out)
        else:
            w = ca[0]
            elem_type = w.type.clone(broadcastable=w.broadcastable[1:])
            out = _match_type(out, elem_type, k, init)
            new_w = T.concatenate([w[1:], T.shape_padleft(out)], axis=0)
            new_w = T.patternbroadcast(new_w, w.broadcastable)
            inner_carry_in.append(w)
            inner_carry_out.append(new_w)
        inits.append(init)
        traced.append(True)

    # -- updates: explicit, and default updates of shared variables used ---------------
    updates = list(fn_updates)
    roots = inner_carry_out + ys_in + [e for _, e in updates] + ([cond] if cond is not None
                                                                 else [])
    seen = {id(s) for s, _ in updates}
    todo = roots
    while todo:
        new = []
        for v in ancestors(todo):
            du = getattr(v, "default_update", None)
            if isinstance(v, SharedVariable) and du is not None and id(v) not in seen:
                seen.add(id(v))
                updates.append((v, du))
                new.append(du)
        todo = new
    shared_carries = []
    for s, e in updates:
        if not isinstance(s, SharedVariable):
            raise TypeError(f"scan: fn returned an update for {s!r}, which is not a shared "
                            "variable")
        e = e if isinstance(e, Variable) else T.as_tensor_variable(e)
        e = s.type.filter_variable(e) if is_tensor(s) else e
        shared_carries.append((s, e))
    n_user_carries = len(inner_carry_in)
    # replace each updated shared variable inside the loop by a carry
    repl = {}
    for s, _ in shared_carries:
        c = s.type()
        c.name = s.name
        repl[s] = c
    seq_and_carry_in = seq_args + inner_carry_in + [repl[s] for s, _ in shared_carries]
    outs_all = inner_carry_out + [e for _, e in shared_carries] + ys_in
    if cond is not None:
        outs_all.append(cond)
    if repl:
        outs_all = clone_replace(outs_all, repl)
    for s, _ in shared_carries:
        inits.append(s)
        traced.append(False)

    # -- free variables become non-sequences ------------------------------------------
    consts_outer, consts_inner = _free_variables(outs_all, seq_and_carry_in, non_seqs)
    if strict:
        for v in consts_outer:
            if isinstance(v, SharedVariable) and all(v is not n for n in non_seqs):
                raise ValueError(f"scan(strict=True): fn uses the shared variable {v} without "
                                 "it being passed in non_sequences; add it to non_sequences")
    outs_all = clone_replace(outs_all, dict(zip(consts_outer, consts_inner)))
    n_c = len(inner_carry_in) + len(shared_carries)
    inner_outs = outs_all
    op = Scan(seq_and_carry_in + consts_inner, inner_outs, len(seq_args), n_c, traced,
              cond is not None, name, truncate_gradient,
              profile=_profile(profile, name), mode=mode)
    node = op.make_node(steps, *core_seqs, *inits, *consts_outer)
    n_tr = sum(traced)
    traces = node.outputs[:n_tr]
    finals = node.outputs[n_tr:n_tr + n_c]
    y_traces = node.outputs[n_tr + n_c:]

    # -- results in the order of outputs_info ----------------------------------------------
    results, yi = [], iter(y_traces)
    ti = iter(finals[:n_user_carries] if _finals else traces[:n_user_carries])
    for spec in out_specs:
        if spec[0] == "y":
            results.append(next(yi)[-1] if _finals else next(yi))
        elif spec[0] == "carry":
            results.append(next(ti))
        else:
            results.append(next(ti)[-1] if _finals else next(ti)[:, -1])
    for r in results:
        if name:
            r.name = name
    upd = OrderedUpdates()
    for (s, _), f in zip(shared_carries, finals[n_user_carries:]):
        upd[s] = f
    if return_list:
        return results, upd
    if not results:
        return None, upd
    return (results[0] if len(results) == 1 else results), upd


def _profile(profile, name):
    if not profile:
        return False

    return profile if isinstance(profile, ProfileStats) else ProfileStats(name or "scan_fn")


def _wrap_list(v):
    """None -> [], a list or tuple -> a list, anything else -> [it]."""
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _as_var(v, arg):
    if isinstance(v, Variable):
        return v
    try:
        return T.as_tensor_variable(v)
    except TypeError:
        raise TypeError(f"scan: {arg} must be a symbolic tensor or a number/array, got "
                        f"{v!r}") from None


def _parse_return(raw):
    """Split fn's return into (outputs, update pairs, until condition).

    Accepted: outputs; updates (dict or list of pairs); (outputs, updates);
    (outputs, until); (outputs, updates, until); (updates, until)."""
    if isinstance(raw, until):
        return [], [], raw.condition
    if isinstance(raw, dict):
        return [], list(raw.items()), None
    if not isinstance(raw, (list, tuple)):
        return [raw], [], None
    items, cond, updates = list(raw), None, []
    if items and isinstance(items[-1], until):
        cond = items.pop().condition
    if any(isinstance(it, until) for it in items):
        raise ValueError("scan: until(...) must be the last thing fn returns, as in "
                         "`return outputs, until(cond)` or `return outputs, updates, "
                         "until(cond)`")
    if items and isinstance(items[-1], dict):
        updates = list(items.pop().items())
    elif items and _is_pair_list(items[-1]):
        updates = list(items.pop())
    elif _is_pair_list(items):
        return [], list(items), cond
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = list(items[0])
    return items, updates, cond


def _is_pair_list(v):
    return (isinstance(v, (list, tuple)) and len(v) > 0
            and all(isinstance(p, (list, tuple)) and len(p) == 2 and _is_shared(p[0])
                    for p in v))


def _is_shared(v):
    return isinstance(v, SharedVariable)


def _as_output(o, k):
    if isinstance(o, Variable):
        return o
    if isinstance(o, (int, float, complex, bool, np.ndarray, np.generic)):
        raise TypeError(f"scan: fn returned the Python/NumPy constant {o!r} as output {k}; "
                        "return a symbolic variable (e.g. T.constant(value) or an "
                        "expression of fn's arguments)")
    raise TypeError(f"scan: fn returned {o!r} as output {k}; expected a symbolic variable")


def _match_type(out, typ, k, init):
    """Check fn's output k against its state's type; fix only the safe direction."""
    if out.type == typ:
        return out
    if getattr(out, "dtype", None) != typ.dtype:
        raise TypeError(
            f"scan: output {k} of fn has dtype {out.dtype}, but its initial state "
            f"(outputs_info[{k}] = {init}) has dtype {typ.dtype}. Cast one of them, e.g. "
            f"outputs_info=T.cast(init, '{out.dtype}') or return T.cast(out, "
            f"'{typ.dtype}') from fn.")
    if out.ndim != typ.ndim:
        raise TypeError(f"scan: output {k} of fn has {out.ndim} dimensions but its initial "
                        f"state (outputs_info[{k}]) has {typ.ndim}; they must match")
    bad = [i for i, (a, b) in enumerate(zip(out.broadcastable, typ.broadcastable))
           if b and not a]
    if bad:
        raise TypeError(
            f"scan: output {k} of fn has broadcastable pattern {out.broadcastable} but its "
            f"initial state has {typ.broadcastable}: dimension(s) {bad} of the state are "
            "broadcastable but the output's are not. Use T.unbroadcast(init, "
            f"{', '.join(map(str, bad))}) on the initial state, or T.addbroadcast on fn's "
            "output if it really has length 1.")
    return T.patternbroadcast(out, typ.broadcastable)


def _free_variables(outputs, inner_inputs, non_seqs):
    """Outer variables used by the inner graph: the non-sequences first, then
    every other cut point (a non-constant variable not depending on the loop)."""
    inner_ids = {id(v) for v in inner_inputs}
    dep = set(inner_ids)
    for node in toposort(outputs, stop_at=inner_inputs):
        if any(id(i) in dep for i in node.inputs):
            for o in node.outputs:
                dep.add(id(o))
    free, seen = [], set()

    def add(v):
        if id(v) not in seen and id(v) not in dep and not isinstance(v, Constant):
            seen.add(id(v))
            free.append(v)

    for node in toposort(outputs, stop_at=inner_inputs):
        if any(id(o) in dep for o in node.outputs):
            for i in node.inputs:
                add(i)
    for o in outputs:
        add(o)
    order = [v for v in non_seqs if id(v) in seen]
    order += [v for v in free if all(v is not n for n in non_seqs)]
    inner = []
    for v in order:
        c = v.type()
        c.name = v.name
        inner.append(c)
    return order, inner
