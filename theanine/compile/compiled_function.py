"""Function: the callable that theano.function returns.

Invariants:
- A call either succeeds and then writes every update (shared containers and
  In defaults), or raises and leaves all of them unchanged.
- Returned values never alias inputs, shared values, constants or each other
  (unless Out(borrow=True), which still never aliases an input that was not
  In(borrow=True)); see calling.py.
- ``fgraph.outputs`` is outputs + shared updates + In updates, in that order;
  ``fgraph.inputs`` is the explicit inputs then the shared variables.
"""

from __future__ import annotations

import numpy as np

from theanine import backends
from theanine.backends.py.linker import py_funcify, run_nodes
from theanine.config import config
from theanine.graph.basic import Constant, Variable
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.inner_graph import InnerGraphOp
from theanine.graph.serialize import dump_graph, load_graph
from theanine.tensor.python_ops import FromFunctionOp, Print
from theanine.tensor.type import TensorType

from . import calling, interim
from .io import In
from .mode import MonitorMode
from .profiling import ProfileStats

_MISSING = object()
_AMBIGUOUS = -1


class Maker:
    """What Theano kept as ``f.maker``: the compiled graph, the inputs and the mode."""

    def __init__(self, fgraph, inputs, mode):
        self.fgraph, self.inputs, self.mode = fgraph, inputs, mode

    @property
    def outputs(self):
        return self.fgraph.outputs


class Function:
    """A compiled function. Call it with values for its inputs, by position or
    by name (``f(1.0, b=2.0)``); it returns the outputs and applies the updates.

    ``f['name']`` reads and ``f['name'] = v`` sets an input's default value;
    ``f.trust_input = True`` skips the checks and conversions of the inputs."""

    def __init__(self, fgraph, ins, shared_vars, containers, n_out, borrows, single,
                 output_keys, update_slots, mode, name, allow_input_downcast, profile,
                 defaults, fn=None, trust_input=False, shard=None):
        n_upd = len(update_slots)
        pairs = [(len(ins) + s, n_out + j) for j, s in enumerate(update_slots)]
        self.shard = dict(shard or {})
        self.fn = fn if fn is not None else link(fgraph, mode, profile, pairs, self.shard)
        self.ins, self.shared_vars, self.containers = ins, shared_vars, containers
        self.n_out, self.borrows, self.single = n_out, borrows, single
        self.output_keys = output_keys
        self.update_slots = list(update_slots)
        self.mode, self.name, self.profile = mode, name, profile
        self.allow_input_downcast = allow_input_downcast
        self.maker = Maker(fgraph, ins, mode)
        self.defaults = defaults
        self._index = {}
        for k, i in enumerate(ins):
            if i.name is not None:
                self._index[i.name] = _AMBIGUOUS if i.name in self._index else k
        consts = {}
        for node in fgraph.toposort():
            for v in node.inputs:
                if isinstance(v, Constant) and isinstance(v.data, np.ndarray):
                    consts[id(v.data)] = v.data
        for v in fgraph.outputs:
            if isinstance(v, Constant) and isinstance(v.data, np.ndarray):
                consts[id(v.data)] = v.data
        self._const_arrays = list(consts.values())
        self._const_ids = frozenset(consts)
        outs = fgraph.outputs
        results = []
        for j, slot in enumerate(self.update_slots):
            results.append(calling.ResultSpec("update", n_out + j, slot,
                                              shared_vars[slot].type, False, f"u{j}"))
        in_upd = [k for k, i in enumerate(ins) if i.update is not None]
        for m, k in enumerate(in_upd):
            results.append(calling.ResultSpec("in_update", n_out + n_upd + m, k,
                                              ins[k].variable.type, False, f"n{m}"))
        for i in range(n_out):
            results.append(calling.ResultSpec("output", i, None, outs[i].type, borrows[i],
                                              f"o{i}"))
        self.results = results
        self._n_in = len(ins)
        self._trust_input = trust_input
        self._call = calling.make_caller(self)

    # -- calling ----------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != self._n_in:
            return self._call_bound(args, kwargs)
        return self._call(*args)

    def _call_bound(self, args, kwargs):
        subset = None
        if "output_subset" in kwargs and "output_subset" not in self._index:
            kwargs = dict(kwargs)
            subset = kwargs.pop("output_subset")
        n = self._n_in
        if len(args) > n:
            names = [str(i.name or i.variable) for i in self.ins]
            raise TypeError(f"{self._label()} takes {n} argument(s) {names}, got "
                            f"{len(args)}")
        vals = list(args) + [_MISSING] * (n - len(args))
        for key, v in kwargs.items():
            k = self._index.get(key)
            if k is None:
                raise TypeError(f"{self._label()} got an unexpected keyword argument "
                                f"{key!r}; its named inputs are {sorted(self._index)}")
            if k == _AMBIGUOUS:
                raise TypeError(f"{self._label()}: keyword {key!r} is ambiguous: several "
                                "inputs have that name; pass them by position")
            if vals[k] is not _MISSING:
                raise TypeError(f"{self._label()} got two values for input {key!r}")
            vals[k] = v
        for k, v in enumerate(vals):
            if v is _MISSING:
                if self.defaults[k] is None:
                    i = self.ins[k]
                    raise TypeError(f"{self._label()}: missing value for input {k} "
                                    f"({i.name or i.variable}); it has no default")
                vals[k] = self.defaults[k]
        res = self._call(*vals)
        if subset is None:
            return res
        if self.output_keys is not None:
            return {key: res[key] for key in subset}
        res = [res] if self.single else res
        return [res[i] for i in subset]

    def _filter_input(self, k, v):
        i = self.ins[k]
        t = i.variable.type
        ad = i.allow_downcast if i.allow_downcast is not None else self.allow_input_downcast
        arg = f"input {k} ({i.name or i.variable})"
        try:
            if isinstance(t, TensorType):
                return t.filter(v, strict=i.strict, allow_downcast=ad, arg=arg)
            return t.filter(v, strict=i.strict, allow_downcast=ad)
        except (TypeError, ValueError, OverflowError) as e:
            msg = str(e) if arg in str(e) else f"{arg}: expected {t}: {e}"
            raise TypeError(f"bad argument to {self._label()}: {msg}") from None

    def _secure(self, idx, value, pool, exempt):
        spec = self.results[idx]
        if spec.kind == "update":
            label = f"update of shared variable {self.shared_vars[spec.slot]}"
        else:
            label = f"{spec.kind} {spec.position}"
        return calling.secure(spec, value, pool, exempt, self._const_arrays, label)

    def _explain(self, e, values):
        return explain(e, self.maker.fgraph, values, self._label(), self.fn)

    def _label(self):
        return f"function {self.name!r}" if self.name else "theano function"

    @property
    def trust_input(self):
        return self._trust_input

    @trust_input.setter
    def trust_input(self, value):
        self._trust_input = bool(value)
        self._call = calling.make_caller(self)

    # -- Theano's Function API ----------------------------------------------------
    @property
    def updates(self):
        """[(shared variable, update expression)] written after each call."""
        outs = self.maker.fgraph.outputs
        return [(self.shared_vars[s], outs[self.n_out + j])
                for j, s in enumerate(self.update_slots)]

    def get_shared(self):
        """The shared variables this function reads or updates."""
        return list(self.shared_vars)

    def __getitem__(self, key):
        """The value of an input (its default) or of a shared variable this function
        uses, keyed by the input's name or by the variable (Theano's ``f[x]``)."""
        return self.container[key].value

    def __setitem__(self, key, value):
        self.container[key].value = value

    def __contains__(self, key):
        if isinstance(key, Variable):
            return any(i.variable is key for i in self.ins) or \
                any(s is key for s in self.shared_vars)
        return key in self._index

    @property
    def container(self):
        """``f.container[x]``: the storage cell of input (or shared variable) x, keyed
        by variable or name; ``.value`` (or ``.data``, ``.storage[0]``) reads and sets
        it, converted to the variable's type."""
        return _Cells(self)

    @property
    def value(self):
        """``f.value[x]``: the value of input (or shared variable) x, as ``f[x]``."""
        return _Values(self)

    def _cell(self, key):
        if isinstance(key, Variable):
            for k, i in enumerate(self.ins):
                if i.variable is key:
                    return _Cell(self, "input", k)
            for j, v in enumerate(self.shared_vars):
                if v is key:
                    return _Cell(self, "shared", j)
            raise KeyError(f"{key} is neither an input nor a shared variable of "
                           f"{self._label()}")
        return _Cell(self, "input", self._position(key))

    def _position(self, name):
        k = self._index.get(name)
        if k is None or k == _AMBIGUOUS:
            why = "is ambiguous" if k == _AMBIGUOUS else "is not the name of an input"
            raise KeyError(f"{name!r} {why} of {self._label()}; named inputs: "
                           f"{sorted(self._index)}")
        return k

    def copy(self, share_memory=False, swap=None, delete_updates=False, name=None,
             profile=None):
        """A copy of this function (Theano's Function.copy).

        As in Theano, the copy reads and updates the same shared variables as the
        original (their storage is shared); In defaults are copied.
        swap: {shared variable: other shared variable of the same type} makes the
        copy use the other variable's storage instead. delete_updates: the copy
        applies no shared updates. share_memory: Theano's intermediate-storage
        sharing; generated code keeps no intermediate storage between calls, so it
        changes nothing here."""
        swap = dict(swap or {})
        by_id = {id(s): k for k, s in enumerate(self.shared_vars)}
        conts = list(self.containers)
        for old, new in swap.items():
            if id(old) not in by_id:
                raise ValueError(f"copy: swap key {old} is not a shared variable of "
                                 f"{self._label()}; its shared variables are "
                                 f"{[str(s) for s in self.shared_vars]}")
            if getattr(new, "type", None) != old.type or not hasattr(new, "container"):
                raise TypeError(f"copy: swap {old} ({old.type}) for {new} "
                                f"({getattr(new, 'type', type(new).__name__)}): expected a "
                                "shared variable of the same type")
            conts[by_id[id(old)]] = new.container
        fg = self.maker.fgraph
        slots = self.update_slots
        fn = self.fn
        if profile is True:
            profile = ProfileStats(name or self.name or "function")
        profile = profile or self.profile
        if delete_updates and slots:
            keep = fg.outputs[:self.n_out] + fg.outputs[self.n_out + len(slots):]
            fg, slots, fn = FunctionGraph(fg.inputs, keep), [], None
        if profile is not self.profile:
            fn = None
        return Function(fg, self.ins, self.shared_vars, conts, self.n_out, self.borrows,
                        self.single, self.output_keys, slots, self.mode,
                        name or self.name, self.allow_input_downcast, profile,
                        list(self.defaults), fn=fn, trust_input=self.trust_input,
                        shard=self.shard)

    def __reduce__(self):
        fg = self.maker.fgraph
        ins = [(i.name, i.strict, i.allow_downcast, i.borrow, i.mutable, i.update is not None)
               for i in self.ins]
        profile_name = self.profile.name if self.profile is not None else None
        return (_unpickle_function,
                (dump_graph(fg.inputs, fg.outputs), ins, self.containers, self.n_out,
                 self.borrows, self.single, self.output_keys, self.update_slots,
                 self.mode, self.name, self.allow_input_downcast, profile_name,
                 self.defaults, self.trust_input, self.shard))


class _Cells:
    """Function.container: cells keyed by variable or name."""

    __slots__ = ("f",)

    def __init__(self, f):
        self.f = f

    def __getitem__(self, key):
        return self.f._cell(key)

    def __setitem__(self, key, value):
        self.f._cell(key).value = value

    def __contains__(self, key):
        return key in self.f


class _Values(_Cells):
    """Function.value: values keyed by variable or name."""

    __slots__ = ()

    def __getitem__(self, key):
        return self.f._cell(key).value


class _Storage:
    """A cell's ``storage``: Theano code writes ``storage[0] = value``."""

    __slots__ = ("cell",)

    def __init__(self, cell):
        self.cell = cell

    def __getitem__(self, i):
        if i != 0:
            raise IndexError("storage has one element")
        return self.cell.value

    def __setitem__(self, i, value):
        if i != 0:
            raise IndexError("storage has one element")
        self.cell.value = value

    def __len__(self):
        return 1


class _Cell:
    """The storage of one input default (In value) or shared variable of a Function."""

    __slots__ = ("f", "kind", "k")

    def __init__(self, f, kind, k):
        self.f, self.kind, self.k = f, kind, k

    @property
    def value(self):
        if self.kind == "input":
            return self.f.defaults[self.k]
        return self.f.containers[self.k].value

    @value.setter
    def value(self, v):
        if self.kind == "input":
            self.f.defaults[self.k] = self.f._filter_input(self.k, v)
            return
        c = self.f.containers[self.k]
        t = c.type
        try:
            c.value = (t.filter(v, arg=f"value of {c.name or 'shared variable'}")
                       if isinstance(t, TensorType) else t.filter(v))
        except (TypeError, ValueError, OverflowError) as e:
            raise TypeError(f"{self.f._label()}: {e}") from None

    data = value

    @property
    def storage(self):
        return _Storage(self)

    def __repr__(self):
        return f"<cell of {self.kind} {self.k} of {self.f._label()}>"


def link(fgraph, mode, profile, updates=(), shard=None):
    """The backend's callable; `updates` pairs (input position, output position) of the
    shared variables the function updates (a device backend may reuse their memory);
    `shard` {input position: sharding spec} (only the jax backend takes it)."""
    extra = {"updates": updates}
    if shard:
        extra["shard"] = shard
    if isinstance(mode, MonitorMode):
        extra["monitor"] = (mode.pre_func, mode.post_func)
    fn = backends.link(mode.backend, fgraph,
                       check_types=config.check_types or mode.check_types,
                       allow_gc=config.allow_gc, profile=profile, **extra)
    if mode.backend == "numba":  # a cold function's first calls may run on JAX
        fn = interim.wrap(fn, fgraph, dict(extra, profile=profile))
    return fn


def _unpickle_function(state, ins_spec, containers, n_out, borrows, single, output_keys,
                       update_slots, mode, name, allow_input_downcast, profile_name,
                       defaults, trust_input, shard=None):
    roots, outs = load_graph(state)
    n_in = len(ins_spec)
    in_vars, shared_vars = roots[:n_in], roots[n_in:]
    n_upd = len(update_slots)
    in_upd = iter(outs[n_out + n_upd:])
    ins = []
    for v, (nm, strict, ad, borrow, mutable, has_update) in zip(in_vars, ins_spec):
        ins.append(In(v, name=nm, strict=strict, allow_downcast=ad, borrow=borrow,
                      mutable=mutable, update=next(in_upd) if has_update else None,
                      autoname=False))
    profile = ProfileStats(profile_name) if profile_name is not None else None
    return Function(FunctionGraph(roots, outs), ins, shared_vars, containers, n_out,
                    borrows, single, output_keys, update_slots, mode, name,
                    allow_input_downcast, profile, defaults, trust_input=trust_input,
                    shard=shard)


def explain(e, fgraph, values, label, fn=None):
    """Name the failing op, its inputs' shapes and types; returns a new exception of
    the same class (or `e` if no node is found). The linked function locates the
    node from the exception's traceback (py and numba: nothing runs again, so user
    code in the graph runs as often as the graph says, and a failure at the end of
    a long loop is reported at once); a backend that cannot (one compiled
    function for the whole graph) has the graph re-run node by node on NumPy."""
    found = None
    locate = getattr(fn, "locate", None)
    try:
        if locate is not None:
            hit = locate(e)
            found = None if hit is None else (hit[0], hit[1], _reference_error(*hit, e))
        else:
            found = run_nodes(fgraph, values)
    except Exception:  # noqa: BLE001 - diagnosis must never hide the original error
        found = None
    if found is None:
        return e
    node, ins, err = found
    shapes = [np.shape(x) for x in ins] if ins is not None else "(not kept)"
    types = [str(v.type) for v in node.inputs]
    names = [str(v) for v in node.inputs]
    msg = (f"{err}\nin {label}, while computing node: {node.op}\n"
           f"  inputs: {names}\n  input shapes: {shapes}\n  input types: {types}")
    try:
        new = type(err)(msg)
    except Exception:  # noqa: BLE001 - some exception classes take other arguments
        new = ValueError(msg)
    new.__cause__ = e
    return new


def _reference_error(node, ins, e):
    """The error the reference (py) implementation of `node` raises on `ins`, which
    names the argument and the values, where a compiled kernel's message is generic;
    `e` when that cannot be had cheaply and safely. Only one node runs again, and
    only a built-in tensor op: never a loop or branch (the work of a whole loop, and
    the step is already named), a user's Python code (as_op, Print: it runs as often
    as the graph says) or an op on generator states (a draw would advance them)."""
    op = node.op
    if (ins is None or isinstance(op, (InnerGraphOp, FromFunctionOp, Print))
            or not all(isinstance(v.type, TensorType) for v in node.inputs + node.outputs)):
        return e
    try:
        py_funcify(op, node)(*ins)
    except Exception as ref:  # noqa: BLE001 - the reference's own error, reported instead
        return ref
    return e
