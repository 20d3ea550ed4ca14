"""theano.function: compile symbolic inputs -> outputs (+ updates) into a callable.

Steps: normalise inputs/outputs/updates/givens; substitute givens; collect the
shared variables the graph reads (and their default updates); check for
missing and unused inputs; link the FunctionGraph(explicit inputs + shared
variables -> outputs + update values) with the mode's backend.

Invariant: a call either succeeds and then writes every update, or raises and
leaves every shared variable (and In default) unchanged.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from theanine import backends
from theanine.config import config
from theanine.graph.basic import Constant, Variable
from theanine.graph.fgraph import FunctionGraph, MissingInputError
from theanine.graph.traversal import ancestors, clone_replace

from .io import In, Out
from .mode import get_mode
from .profiling import ProfileStats
from .shared import SharedVariable


class UnusedInputError(ValueError):
    """An input of function() is not used to compute any output or update."""


__all__ = ["function", "Function", "UnusedInputError", "MissingInputError"]


def function(inputs, outputs=None, mode=None, updates=None, givens=None,
             no_default_updates=False, accept_inplace=False, name=None,
             rebuild_strict=True, allow_input_downcast=None, profile=None,
             on_unused_input=None):
    """Compile a function from symbolic `inputs` to `outputs` (Theano's signature).

    outputs: a variable (the call returns one value), a list (returns a list), or None.
    updates: pairs or ordered dict {shared variable: new value expression}.
    givens: pairs or dict {variable: replacement expression}.
    """
    if not isinstance(inputs, (list, tuple)):
        raise TypeError("function: inputs must be a list, even for a single input "
                        f"(got {type(inputs).__name__}): write function([x], ...)")
    ins = [i if isinstance(i, In) else In(_check_input(i, k)) for k, i in enumerate(inputs)]
    seen = set()
    for k, i in enumerate(ins):
        _check_input(i.variable, k)
        if id(i.variable) in seen:
            raise ValueError(f"function: input {i.variable} is given twice")
        seen.add(id(i.variable))
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    outs = [] if outputs is None else ([outputs] if single else list(outputs))
    out_vars, borrows = [], []
    for k, o in enumerate(outs):
        borrows.append(isinstance(o, Out) and o.borrow)
        o = o.variable if isinstance(o, Out) else o
        if not isinstance(o, Variable):
            from theanine.tensor.basic import as_tensor_variable

            try:
                o = as_tensor_variable(o)
            except TypeError:
                raise TypeError(f"function: output {k} must be a symbolic variable, "
                                f"got {o!r}") from None
        out_vars.append(o)
    upd = _normalize_updates(updates)
    giv = _normalize_givens(givens)
    mode = get_mode(mode)
    profile = _profile_obj(profile, name)
    return _build(ins, out_vars, borrows, single, upd, giv, no_default_updates, mode,
                  name, allow_input_downcast, profile, on_unused_input or config.on_unused_input)


def _check_input(v, k):
    if isinstance(v, SharedVariable):
        raise TypeError(f"function: input {k} ({v}) is a shared variable; it cannot be an "
                        "explicit input. Substitute a non-shared variable via givens=")
    if isinstance(v, Constant):
        raise TypeError(f"function: input {k} ({v}) is a constant; inputs must be "
                        "symbolic variables such as T.matrix()")
    if not isinstance(v, Variable):
        raise TypeError(f"function: input {k} must be a symbolic variable or In, got {v!r}")
    if v.owner is not None:
        raise TypeError(f"function: input {k} ({v}) is computed from other variables; "
                        "inputs must be root variables (use givens= to replace it)")
    return v


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
    from theanine.tensor.basic import as_tensor_variable

    out, seen = [], set()
    for var, expr in pairs:
        if not isinstance(var, SharedVariable):
            raise TypeError(f"function: update target {var!r} is not a shared variable; "
                            "only theano.shared variables can be updated")
        if id(var) in seen:
            raise ValueError(f"function: shared variable {var} has two updates")
        seen.add(id(var))
        expr = as_tensor_variable(expr) if not isinstance(expr, Variable) else expr
        try:
            expr = var.type.filter_variable(expr)
        except TypeError:
            raise TypeError(
                f"function: an update must have the same type as its shared variable "
                f"(shared variable {var.name or var}: {var.type}; update {expr}: "
                f"{expr.type}). Cast the update with T.cast(expr, '{var.type.dtype}'), or "
                "if only the broadcast pattern differs, use T.unbroadcast / "
                "T.addbroadcast.") from None
        out.append((var, expr))
    return out


def _normalize_givens(givens):
    if givens is None:
        return []
    pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
    from theanine.tensor.basic import as_tensor_variable

    out = []
    for k, p in enumerate(pairs):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise TypeError(f"function: givens[{k}] must be a (variable, replacement) pair")
        old, new = p
        if not isinstance(old, Variable):
            raise TypeError(f"function: givens[{k}] key {old!r} is not a symbolic variable")
        new = new if isinstance(new, Variable) else as_tensor_variable(new)
        try:
            new = old.type.filter_variable(new)
        except TypeError:
            raise TypeError(f"function: givens replaces {old} ({old.type}) by {new} "
                            f"({new.type}); the types must match (cast or reshape the "
                            "replacement)") from None
        out.append((old, new))
    return out


def _profile_obj(profile, name):
    if profile is None:
        profile = config.profile
    if profile is True:
        return ProfileStats(name or "function")
    if profile is False:
        return None
    return profile


def _collect_shared(roots, updates, no_default_updates):
    """Shared variables that `roots` read, plus default updates to add."""
    explicit = {id(v) for v, _ in updates}
    skip_all = no_default_updates is True
    skip = {id(v) for v in (no_default_updates or [])} if not skip_all else set()
    found, extra = [], []
    seen = set()
    todo = list(roots)
    while todo:
        for v in ancestors(todo):
            if isinstance(v, SharedVariable) and id(v) not in seen:
                seen.add(id(v))
                found.append(v)
        todo = []
        for v in found:
            du = getattr(v, "default_update", None)
            if (du is not None and not skip_all and id(v) not in skip
                    and id(v) not in explicit):
                explicit.add(id(v))
                du = v.type.filter_variable(du)
                extra.append((v, du))
                todo.append(du)
    return found, extra


def _build(ins, out_vars, borrows, single, updates, givens, no_default_updates, mode,
           name, allow_input_downcast, profile, on_unused_input):
    in_updates = [(k, i.update) for k, i in enumerate(ins) if i.update is not None]
    exprs = out_vars + [e for _, e in updates] + [u for _, u in in_updates]
    if givens:
        exprs = clone_replace(exprs, givens)
    n_out, n_upd = len(out_vars), len(updates)
    out_vars = exprs[:n_out]
    updates = [(v, e) for (v, _), e in zip(updates, exprs[n_out:n_out + n_upd])]
    in_updates = [(k, e) for (k, _), e in zip(in_updates, exprs[n_out + n_upd:])]
    shared_vars, defaults = _collect_shared(exprs, updates, no_default_updates)
    updates = updates + defaults
    if defaults:
        more, _ = _collect_shared([e for _, e in defaults], updates, True)
        for v in more:
            if all(v is not s for s in shared_vars):
                shared_vars.append(v)
    graph_outs = out_vars + [e for _, e in updates] + [e for _, e in in_updates]
    in_vars = [i.variable for i in ins]
    used = {id(v) for v in ancestors(graph_outs)}
    for k, v in enumerate(in_vars):
        if id(v) not in used:
            msg = (f"function: input {k} ({v}) is not used to compute any output. Pass "
                   "on_unused_input='ignore' (or 'warn') to accept it.")
            if on_unused_input == "raise":
                raise UnusedInputError(msg)
            if on_unused_input == "warn":
                warnings.warn(msg, stacklevel=3)
    fgraph = FunctionGraph(in_vars + shared_vars, graph_outs)
    fn = backends.link(mode.backend, fgraph, check_types=config.check_types,
                       allow_gc=config.allow_gc, profile=profile)
    return Function(fn, fgraph, ins, shared_vars, [s.container for s in shared_vars],
                    n_out, borrows, single, updates, in_updates, mode, name,
                    allow_input_downcast, profile)


class _Maker:
    """What Theano kept as f.maker: the compiled graph, inputs and mode."""

    def __init__(self, fgraph, inputs, mode):
        self.fgraph, self.inputs, self.mode = fgraph, inputs, mode


class Function:
    """A compiled function. Call it with values for its inputs (positional or by
    name); it returns the outputs and applies the updates."""

    def __init__(self, fn, fgraph, ins, shared_vars, containers, n_out, borrows, single,
                 updates, in_updates, mode, name, allow_input_downcast, profile):
        self.fn, self.ins, self.shared_vars = fn, ins, shared_vars
        self.containers = containers
        self.n_out, self.borrows, self.single = n_out, borrows, single
        self.updates, self.in_updates = updates, in_updates
        self.mode, self.name, self.profile = mode, name, profile
        self.allow_input_downcast = allow_input_downcast
        self.maker = _Maker(fgraph, ins, mode)
        self.trust_input = False
        self.defaults = [i.value for i in ins]
        self._index = {}
        for k, i in enumerate(ins):
            if i.name is not None:
                self._index.setdefault(i.name, k)
        cidx = {id(s): k for k, s in enumerate(shared_vars)}
        self._upd_slots = [cidx[id(v)] for v, _ in updates]

    # -- calling ----------------------------------------------------------------
    def _arguments(self, args, kwargs):
        n = len(self.ins)
        if len(args) > n:
            raise TypeError(f"{self._label()} takes at most {n} arguments, got {len(args)}")
        vals = list(args) + [_MISSING] * (n - len(args))
        for key, v in kwargs.items():
            k = self._index.get(key)
            if k is None:
                raise TypeError(f"{self._label()} has no input named {key!r}; named "
                                f"inputs: {sorted(self._index)}")
            if vals[k] is not _MISSING:
                raise TypeError(f"{self._label()} got two values for input {key!r}")
            vals[k] = v
        out = []
        for k, (i, v) in enumerate(zip(self.ins, vals)):
            if v is _MISSING:
                if self.defaults[k] is None:
                    raise TypeError(f"{self._label()}: missing value for input {k} "
                                    f"({i.variable})")
                v = self.defaults[k]
            if self.trust_input:
                out.append(v)
                continue
            ad = i.allow_downcast if i.allow_downcast is not None else self.allow_input_downcast
            try:
                out.append(i.variable.type.filter(v, strict=i.strict, allow_downcast=ad,
                                                  arg=f"input {k} ({i.variable})"))
            except TypeError as e:
                raise TypeError(f"bad argument to {self._label()}: {e}") from None
        return out

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter() if self.profile is not None else 0.0
        vals = self._arguments(args, kwargs)
        svals = [c.value for c in self.containers]
        try:
            res = self.fn(*vals, *svals)
        except Exception as e:  # noqa: BLE001 - re-raised with the failing node named
            raise _explain(e, self.maker.fgraph, vals + svals, self._label()) from e
        n_out, n_upd = self.n_out, len(self.updates)
        everything = vals + svals
        outs = [_own(r, everything, b) for r, b in zip(res[:n_out], self.borrows)]
        for slot, r in zip(self._upd_slots, res[n_out:n_out + n_upd]):
            r = np.asarray(r)
            if r is not svals[slot] and _aliases(r, everything):
                r = r.copy()
            self.containers[slot].value = r
        for (k, _), r in zip(self.in_updates, res[n_out + n_upd:]):
            self.defaults[k] = np.asarray(r)
        if self.profile is not None:
            self.profile.record_call(time.perf_counter() - t0)
        if self.single:
            return outs[0]
        return outs

    def _label(self):
        return f"function {self.name!r}" if self.name else "theano function"

    # -- Theano's Function API ----------------------------------------------------
    @property
    def input_storage(self):
        return self.containers

    def __getitem__(self, name):
        k = self._index[name]
        return self.defaults[k]

    def __setitem__(self, name, value):
        k = self._index[name]
        self.defaults[k] = value

    def copy(self, share_memory=False, swap=None, delete_updates=False, name=None,
             profile=None):
        """A copy of this function. Without share_memory, the copy has its own
        copies of the shared values; `swap` maps shared variables to others."""
        swap = swap or {}
        conts = []
        for s, c in zip(self.shared_vars, self.containers):
            if s in swap:
                new = swap[s]
                if new.type != s.type:
                    raise TypeError(f"copy: swap {s} ({s.type}) for {new} ({new.type}): "
                                    "types differ")
                conts.append(new.container)
            elif share_memory:
                conts.append(c)
            else:
                from .shared import Container

                conts.append(Container(c.type, np.array(c.value, copy=True), c.name))
        f = Function(self.fn, self.maker.fgraph, self.ins, self.shared_vars, conts,
                     self.n_out, self.borrows, self.single,
                     [] if delete_updates else self.updates, self.in_updates, self.mode,
                     name or self.name, self.allow_input_downcast, profile or self.profile)
        if delete_updates:
            f._upd_slots = []
        f.defaults = list(self.defaults)
        return f

    def __reduce__(self):
        from theanine.graph.serialize import dump_graph

        fg = self.maker.fgraph
        state = dump_graph(fg.inputs, fg.outputs)
        state["update_slots"] = list(self._upd_slots)
        state["in_update_slots"] = [k for k, _ in self.in_updates]
        ins = [(i.name, i.value, i.strict, i.allow_downcast, i.borrow) for i in self.ins]
        return (_unpickle_function,
                (state, len(self.ins), ins, self.n_out, self.borrows, self.single,
                 len(self.updates), len(self.in_updates), self.mode, self.name,
                 self.allow_input_downcast, list(self.defaults)))


def _unpickle_function(state, n_in, ins_spec, n_out, borrows, single, n_upd, n_in_upd,
                       mode, name, allow_input_downcast, defaults):
    from theanine.graph.serialize import load_graph

    roots, outs = load_graph(state)
    in_vars, shared_vars = roots[:n_in], roots[n_in:]
    ins = []
    for k, (v, (nm, val, strict, ad, borrow)) in enumerate(zip(in_vars, ins_spec)):
        ins.append(In(v, name=nm, value=val, strict=strict, allow_downcast=ad,
                      borrow=borrow))
    slots = state["update_slots"]
    updates = [(shared_vars[s], e) for s, e in zip(slots, outs[n_out:n_out + n_upd])]
    in_updates = [(k, e) for k, e in zip(state["in_update_slots"], outs[n_out + n_upd:])]
    fgraph = FunctionGraph(in_vars + shared_vars, outs)
    fn = backends.link(mode.backend, fgraph, check_types=config.check_types,
                       allow_gc=config.allow_gc)
    f = Function(fn, fgraph, ins, shared_vars, [s.container for s in shared_vars], n_out,
                 borrows, single, updates, in_updates, mode, name, allow_input_downcast,
                 None)
    f.defaults = defaults
    return f


_MISSING = object()


def _aliases(r, values):
    if not isinstance(r, np.ndarray):
        return False
    for v in values:
        if r is v:
            return True
    if r.base is None:
        return False
    return any(isinstance(v, np.ndarray) and np.may_share_memory(r, v) for v in values)


def _own(r, values, borrow):
    """An output value the caller may keep: an ndarray, not aliasing inputs or state."""
    if not isinstance(r, np.ndarray):
        return np.asarray(r)
    if not borrow and (_aliases(r, values) or not r.flags.writeable):
        return r.copy()
    return r


def _explain(e, fgraph, values, label):
    """Re-run node by node to name the failing op, its inputs' shapes and types."""
    from theanine.backends.py.linker import run_nodes

    try:
        found = run_nodes(fgraph, values)
    except Exception:  # noqa: BLE001 - diagnosis must never hide the original error
        found = None
    if found is None:
        return e
    node, ins, err = found
    shapes = [np.shape(x) for x in ins]
    types = [str(v.type) for v in node.inputs]
    names = [str(v) for v in node.inputs]
    msg = (f"{err}\nin {label}, while computing node: {node.op}\n"
           f"  inputs: {names}\n  input shapes: {shapes}\n  input types: {types}")
    try:
        new = type(err)(msg)
    except Exception:  # noqa: BLE001 - some exception classes take other arguments
        new = ValueError(msg)
    return new
