"""theano.function: compile symbolic inputs -> outputs (+ updates) into a callable.

Steps: normalise inputs, outputs, updates and givens; substitute givens;
collect the shared variables the graph reads (and their default updates);
check for missing and unused inputs; rewrite the FunctionGraph with the mode's
pipeline (theanine/rewrites); link it
(explicit inputs + shared variables -> outputs + update values) with the
mode's backend, and wrap it in a Function (compiled_function.py).

Invariant: function() changes no shared variable and no argument; every
error names the argument at fault, what was expected and what was given.
"""

from __future__ import annotations

import os
import pickle
import warnings

from theanine.config import config
from theanine.graph.basic import Constant, Variable
from theanine.graph.fgraph import FunctionGraph, MissingInputError
from theanine.graph.sharding import current_mesh, normalize_spec, resolve
from theanine.graph.traversal import ancestors, clone_replace
from theanine.ifelse import lazy_ifelse
from theanine.rewrites.pipeline import rewrite_fgraph
from theanine.tensor.basic import as_tensor_variable

from .compiled_function import Function
from .io import In, Out
from .mode import get_mode
from .profiling import ProfileStats, register_atexit
from .shared import SharedVariable


class UnusedInputError(ValueError):
    """An input of function() is not used to compute any output or update."""


__all__ = ["function", "function_dump", "Function", "UnusedInputError", "MissingInputError"]

_ON_UNUSED = ("raise", "warn", "ignore")


def function(inputs, outputs=None, mode=None, updates=None, givens=None,
             no_default_updates=False, accept_inplace=False, name=None,
             rebuild_strict=True, allow_input_downcast=None, profile=None,
             on_unused_input=None, shard=None):
    """Compile a function from symbolic `inputs` to `outputs` (Theano's signature).

    inputs: a list of variables or In instances.
    outputs: a variable (the call returns one value), a list (returns a list), a
    dict {key: variable} (returns a dict), or None (returns []).
    updates: pairs or ordered dict {shared variable: new value expression}; every
    update is computed from the old values, then all are written.
    givens: pairs or dict {variable: replacement expression}.
    no_default_updates: True, or a list of shared variables whose
    ``default_update`` is not applied.
    on_unused_input: 'raise' (default: config.on_unused_input), 'warn' or 'ignore'.
    shard: {input: spec} splits inputs over the devices of the current mesh (the jax
    backend; docs/jax.md): spec k splits dimension k over the mesh's first axis
    (``shard={x: 0, y: 0}``: data parallelism over every device), a tuple names the
    mesh axes per dimension. Other inputs and shared variables are replicated
    unless the shared variable has a ``sharding``.
    """
    if not isinstance(inputs, (list, tuple)):
        raise TypeError("function: inputs must be a list, even for a single input "
                        f"(got {type(inputs).__name__}): write function([x], ...)")
    ins = [i if isinstance(i, In) else In(_check_input(i, k)) for k, i in enumerate(inputs)]
    seen = set()
    for k, i in enumerate(ins):
        _check_input(i.variable, k)
        if id(i.variable) in seen:
            raise ValueError(f"function: input {k} ({i.variable}) is given twice")
        seen.add(id(i.variable))
    out_vars, borrows, single, keys = _normalize_outputs(outputs)
    upd = _normalize_updates(updates)
    giv = _normalize_givens(givens)
    on_unused = on_unused_input if on_unused_input is not None else config.on_unused_input
    if on_unused not in _ON_UNUSED:
        raise ValueError(f"function: on_unused_input must be one of {_ON_UNUSED}, got "
                         f"{on_unused_input!r}")
    if no_default_updates not in (True, False) and not isinstance(no_default_updates,
                                                                   (list, tuple, set)):
        raise TypeError("function: no_default_updates must be True, False or a list of "
                        f"shared variables, got {no_default_updates!r}")
    mode = get_mode(mode)
    shard = _normalize_shard(shard, ins, mode)
    profile = _profile_obj(profile, name)
    return _build(ins, out_vars, borrows, single, keys, upd, giv, no_default_updates, mode,
                  name, allow_input_downcast, profile, on_unused, shard)


def function_dump(filename, inputs, outputs=None, mode=None, updates=None, givens=None,
                  no_default_updates=False, accept_inplace=False, name=None,
                  rebuild_strict=True, allow_input_downcast=None, profile=None,
                  on_unused_input=None, extra_tag_to_remove=None):
    """Theano's function_dump: pickle the arguments of theano.function to `filename`
    (to reproduce a compilation elsewhere) instead of compiling:

        d = pickle.load(open(filename, "rb")); f = theano.function(**d)

    extra_tag_to_remove is accepted (Theano stripped those tags; theanine pickles
    the graphs as they are)."""
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"function_dump: filename must be a path, got {filename!r}")
    d = dict(inputs=inputs, outputs=outputs, mode=mode, updates=updates, givens=givens,
             no_default_updates=no_default_updates, accept_inplace=accept_inplace,
             name=name, rebuild_strict=rebuild_strict,
             allow_input_downcast=allow_input_downcast, profile=profile,
             on_unused_input=on_unused_input)
    with open(filename, "wb") as f:
        pickle.dump(d, f, protocol=pickle.HIGHEST_PROTOCOL)


def _check_input(v, k):
    if isinstance(v, SharedVariable):
        raise TypeError(f"function: input {k} ({v}) is a shared variable; it cannot be an "
                        "explicit input. Substitute a non-shared variable via givens=")
    if isinstance(v, Constant):
        raise TypeError(f"function: input {k} ({v}) is a constant; inputs must be "
                        "symbolic variables such as T.matrix()")
    if not isinstance(v, Variable):
        raise TypeError(f"function: input {k} must be a symbolic variable or In, got {v!r}")
    # A computed variable may be an input too (Theano): the graph is cut there.
    return v


def _normalize_outputs(outputs):
    """(variables, borrow flags, single, dict keys or None)."""
    keys = None
    if outputs is None:
        outs, single = [], False
    elif isinstance(outputs, dict):
        keys = sorted(outputs, key=str)
        outs, single = [outputs[k] for k in keys], False
    elif isinstance(outputs, (list, tuple)):
        outs, single = list(outputs), False
    else:
        outs, single = [outputs], True
    out_vars, borrows = [], []
    for k, o in enumerate(outs):
        borrows.append(isinstance(o, Out) and bool(o.borrow))
        o = o.variable if isinstance(o, Out) else o
        if isinstance(o, Variable) and getattr(o.type, "is_null", False):
            raise TypeError(f"function: output {k} ({o}) is an undefined gradient, which has "
                            f"no value: {o.type.why_null}")
        if isinstance(o, Variable) and getattr(o.type, "is_disconnected", False):
            raise TypeError(f"function: output {k} ({o}) is a disconnected gradient, which "
                            "has no value; ask grad for return_disconnected='zero'")
        if not isinstance(o, Variable):
            try:
                o = as_tensor_variable(o)
            except (TypeError, ValueError):
                raise TypeError(f"function: output {k} must be a symbolic variable, "
                                f"got {o!r}") from None
        out_vars.append(o)
    return out_vars, borrows, single, keys


def _normalize_updates(updates):
    if updates is None:
        return []
    if isinstance(updates, dict):
        pairs = list(updates.items())
    elif isinstance(updates, (list, tuple)):
        pairs = []
        for k, p in enumerate(updates):
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise TypeError(f"function: updates[{k}] must be a (shared variable, "
                                f"expression) pair, got {p!r}")
            pairs.append(tuple(p))
    else:
        raise TypeError("function: updates must be a list of pairs or an (ordered) dict, "
                        f"got {type(updates).__name__}")

    out, seen = [], set()
    for var, expr in pairs:
        if not isinstance(var, SharedVariable):
            raise TypeError(f"function: update target {var!r} is not a shared variable; "
                            "only theano.shared variables can be updated")
        if id(var) in seen:
            raise ValueError(f"function: shared variable {var} has two updates")
        seen.add(id(var))
        expr = expr if isinstance(expr, Variable) else _constant_of(var.type, expr, var)
        try:
            expr = var.type.filter_variable(expr)
        except TypeError:
            raise TypeError(
                f"function: an update must have the same type as its shared variable "
                f"(shared variable {var.name or var}: {var.type}; update {expr}: "
                f"{expr.type}). Cast the update with T.cast(expr, "
                f"'{getattr(var.type, 'dtype', '?')}'), or if only the broadcast pattern "
                "differs, use T.unbroadcast / T.addbroadcast.") from None
        out.append((var, expr))
    return out


def _normalize_givens(givens):
    if givens is None:
        return []
    if isinstance(givens, dict):
        pairs = list(givens.items())
    elif isinstance(givens, (list, tuple)):
        pairs = list(givens)
    else:
        raise TypeError("function: givens must be a list of pairs or a dict, got "
                        f"{type(givens).__name__}")

    out = []
    for k, p in enumerate(pairs):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise TypeError(f"function: givens[{k}] must be a (variable, replacement) "
                            f"pair, got {p!r}")
        old, new = p
        if not isinstance(old, Variable):
            raise TypeError(f"function: givens[{k}] key {old!r} is not a symbolic variable")
        new = new if isinstance(new, Variable) else _constant_of(old.type, new, old)
        try:
            new = old.type.filter_variable(new)
        except TypeError:
            raise TypeError(f"function: givens replaces {old} ({old.type}) by {new} "
                            f"({new.type}); the types must match (cast or reshape the "
                            "replacement)") from None
        if any(v is old for v in ancestors([new])):
            raise ValueError(f"function: givens replaces {old} by {new}, an expression of "
                             f"{old} itself; the replacement cannot depend on the variable "
                             "it replaces (use a new variable, or an update for state)")
        out.append((old, new))
    return out


def _constant_of(t, value, target):
    """A Python or NumPy value used as an update or givens value: a constant of the
    target's type (as Theano), if it converts without loss."""
    if not hasattr(t, "ndim"):
        return as_tensor_variable(value)
    try:
        data = t.filter(value, arg=f"value given for {target}")
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"function: {e}") from None
    return as_tensor_variable(data)


def _normalize_shard(shard, ins, mode):
    """{input position: normalised spec} (graph/sharding.py), checked against the
    inputs and the current mesh; {} without shard."""
    if shard is None or (isinstance(shard, dict) and not shard):
        return {}
    if not isinstance(shard, dict):
        raise TypeError("function: shard must be a dict {input variable: sharding spec}, "
                        f"e.g. shard={{x: 0}}, got {type(shard).__name__}")
    if mode.backend != "jax":
        raise ValueError("function: shard= splits inputs over devices, which needs the jax "
                         f"backend (mode='JAX'); this function's mode {mode} uses the "
                         f"{mode.backend!r} backend")
    pos = {id(i.variable): k for k, i in enumerate(ins)}
    mesh = current_mesh()
    out = {}
    for var, spec in shard.items():
        v = var.variable if isinstance(var, In) else var
        if id(v) not in pos:
            why = (" (a shared variable: give it a sharding with theano.shared(value, "
                   "sharding=...))" if isinstance(v, SharedVariable) else "")
            raise ValueError(f"function: shard key {v!r} is not an input of this function"
                             f"{why}; inputs: {[str(i.variable) for i in ins]}")
        k = pos[id(v)]
        what = f"function: shard[{v}] (input {k})"
        if not hasattr(v.type, "ndim"):
            raise TypeError(f"{what}: only tensor inputs can be split, got {v.type}")
        out[k] = normalize_spec(spec, v.type.ndim, what)
        resolve(out[k], mesh, what)
    return out


def _profile_obj(profile, name):
    if profile is None:
        if config.profile:
            return register_atexit(ProfileStats(name or "function"))
        return None
    if profile is True:
        return ProfileStats(name or "function")
    if profile is False:
        return None
    if not isinstance(profile, ProfileStats):
        raise TypeError(f"function: profile must be True, False, None or a ProfileStats, "
                        f"got {profile!r}")
    return profile


def _collect_shared(exprs, updates, no_default_updates, givens, in_vars):
    """Shared variables the graph reads or updates, and the default updates to add.

    A shared variable's ``default_update`` applies when the graph reads it, it
    has no explicit update, and no_default_updates does not exclude it. Default
    update expressions may read further shared variables: iterate to a fixed point."""
    explicit = {id(v) for v, _ in updates}
    skip_all = no_default_updates is True
    skip = set() if skip_all else {id(v) for v in (no_default_updates or [])}
    found, seen, extra = [], set(), []
    for v, _ in updates:
        seen.add(id(v))
        found.append(v)
    pending = list(exprs)
    while pending:
        for v in ancestors(pending, stop_at=in_vars):
            if isinstance(v, SharedVariable) and id(v) not in seen:
                seen.add(id(v))
                found.append(v)
        pending = []
        for v in found:
            du = getattr(v, "default_update", None)
            if du is None or skip_all or id(v) in skip or id(v) in explicit:
                continue
            explicit.add(id(v))
            du = v.type.filter_variable(du)
            if givens:
                du = clone_replace(du, givens)
            extra.append((v, du))
            pending.append(du)
    return found, extra


def _build(ins, out_vars, borrows, single, keys, updates, givens, no_default_updates,
           mode, name, allow_input_downcast, profile, on_unused_input, shard=None):
    in_upd = [(k, i.update) for k, i in enumerate(ins) if i.update is not None]
    for m, (k, u) in enumerate(in_upd):
        t = ins[k].variable.type
        try:
            in_upd[m] = (k, t.filter_variable(u))
        except TypeError:
            raise TypeError(f"function: the In update of input {k} ({ins[k].variable}) "
                            f"must have its type {t}, got {u!r} of type "
                            f"{getattr(u, 'type', type(u).__name__)}; cast it") from None
    exprs = out_vars + [e for _, e in updates] + [u for _, u in in_upd]
    if givens:
        exprs = clone_replace(exprs, givens)
    n_out, n_upd = len(out_vars), len(updates)
    out_vars = exprs[:n_out]
    updates = [(v, e) for (v, _), e in zip(updates, exprs[n_out:n_out + n_upd])]
    in_upd_exprs = exprs[n_out + n_upd:]
    in_vars = [i.variable for i in ins]
    shared_vars, defaults_upd = _collect_shared(exprs, updates, no_default_updates, givens,
                                                in_vars)
    updates = updates + defaults_upd
    graph_outs = out_vars + [e for _, e in updates] + in_upd_exprs
    in_vars, graph_outs = _cut_at_inputs(in_vars, graph_outs)
    used = {id(v) for v in ancestors(graph_outs)}
    for k, v in enumerate(in_vars):
        if id(v) not in used:
            msg = (f"function: input {k} ({v}) is not used to compute any output. Pass "
                   "on_unused_input='ignore' (or 'warn') to accept it.")
            if on_unused_input == "raise":
                raise UnusedInputError(msg)
            if on_unused_input == "warn":
                warnings.warn(msg, stacklevel=3)

    fgraph = rewrite_fgraph(FunctionGraph(in_vars + shared_vars, graph_outs), mode)
    # only the branch taken of an ifelse runs: its exclusive nodes move into it
    fgraph = FunctionGraph(fgraph.inputs, lazy_ifelse(fgraph.inputs, fgraph.outputs),
                           check=False)
    defaults = [_filter_default(k, i, allow_input_downcast) for k, i in enumerate(ins)]
    slot = {id(s): j for j, s in enumerate(shared_vars)}
    return Function(fgraph, ins, shared_vars, [s.container for s in shared_vars], n_out,
                    borrows, single, keys, [slot[id(v)] for v, _ in updates], mode, name,
                    allow_input_downcast, profile, defaults, shard=shard)


def _cut_at_inputs(in_vars, outputs):
    """An input that is a computed variable (``function([m.T], ...)``, as Theano
    allows) is replaced by a fresh root of its type, so the compiled graph starts
    there and nothing above it is computed or seen by the rewrites.
    Returns (graph inputs, outputs)."""
    cut = {}
    for v in in_vars:
        if v.owner is not None:
            root = v.type()
            root.name = v.name
            cut[v] = root
    if not cut:
        return in_vars, outputs
    return [cut.get(v, v) for v in in_vars], clone_replace(outputs, cut)


def _filter_default(k, i, allow_input_downcast):
    """An In default converted to its input's type now, so errors show at compile time."""
    if i.value is None:
        return None
    t = i.variable.type
    ad = i.allow_downcast if i.allow_downcast is not None else allow_input_downcast
    try:
        if hasattr(t, "ndim"):
            return t.filter(i.value, strict=i.strict, allow_downcast=ad,
                            arg=f"default value of input {k} ({i.name or i.variable})")
        return t.filter(i.value, strict=i.strict, allow_downcast=ad)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"function: {e}") from None
