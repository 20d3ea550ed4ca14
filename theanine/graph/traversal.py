"""Graph traversal, toposort, clone and replace.

Every function here is iterative (explicit stacks): graphs of 100,000+ nodes
must never hit Python's recursion limit. The walks also pause Python's cyclic
garbage collector: they allocate many small objects while a big graph is
alive, and each automatic collection would rescan the whole graph (5x slower
at 100,000 nodes). Pausing only defers collection; nothing here makes cycles.
"""

from __future__ import annotations

import functools
import gc

from .basic import Apply, Constant, Variable  # noqa: F401 - Apply: Theano's gof.graph name


class gc_paused:
    """Context manager and decorator: no automatic cyclic GC inside; the
    previous state is restored on exit (nesting is fine)."""

    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self.was_enabled:
            gc.enable()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                return fn(*args, **kwargs)
            finally:
                if was_enabled:
                    gc.enable()

        return wrapper


@gc_paused()
def toposort(outputs, stop_at=()):
    """Apply nodes needed to compute `outputs`, each after the nodes it depends on.

    Traversal stops at variables in `stop_at` (treated as inputs)."""
    stop = {id(v) for v in stop_at}
    order = []
    done = set()  # ids of Apply nodes emitted
    seen = set()
    stack = []
    for o in reversed(list(outputs)):
        if o.owner is not None and id(o) not in stop:
            stack.append((o.owner, False))
    while stack:
        node, expanded = stack.pop()
        nid = id(node)
        if nid in done:
            continue
        if expanded:
            done.add(nid)
            order.append(node)
            continue
        if nid in seen:
            continue
        seen.add(nid)
        stack.append((node, True))
        for inp in reversed(node.inputs):
            own = inp.owner
            if own is not None and id(own) not in done and id(inp) not in stop:
                stack.append((own, False))
    return order


@gc_paused()
def ancestors(outputs, stop_at=()):
    """All variables that `outputs` depend on (outputs included), unordered but deterministic."""
    stop = {id(v) for v in stop_at}
    seen = set()
    out = []
    stack = list(reversed(list(outputs)))
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        out.append(v)
        if v.owner is not None and id(v) not in stop:
            stack.extend(reversed(v.owner.inputs))
    return out


def graph_inputs(outputs, stop_at=()):
    """Root variables (no owner, or in stop_at) that `outputs` depend on, in first-seen order."""
    stop = {id(v) for v in stop_at}
    return [v for v in ancestors(outputs, stop_at) if v.owner is None or id(v) in stop]


inputs = graph_inputs  # Theano's gof.graph.inputs(variable_list, blockers=None)


def inner_dependencies(inputs, outputs):
    """For each of `outputs`, the set of positions in `inputs` it is connected to,
    following each op's connection_pattern as the gradient does (the connection
    pattern of an op defined by an inner graph)."""
    pos = {id(v): {k} for k, v in enumerate(inputs)}
    for node in toposort(outputs, stop_at=inputs):
        cp = node.op.connection_pattern(node)
        for j, o in enumerate(node.outputs):
            got = set()
            for i, v in enumerate(node.inputs):
                if cp[i][j]:
                    got |= pos.get(id(v), set())
            pos[id(o)] = got
    return [pos.get(id(o), set()) for o in outputs]


def variables_in(outputs):
    return ancestors(outputs)


def is_in_ancestors(node_or_var, targets):
    """True if any variable of `targets` is an ancestor of `node_or_var`."""
    ids = {id(t) for t in targets}
    start = node_or_var.outputs if hasattr(node_or_var, "outputs") else [node_or_var]
    return any(id(v) in ids for v in ancestors(start))


def clone_replace(outputs, replace=None, share_inputs=True, strict=False):
    """Copy the graph of `outputs`, substituting variables per `replace`.

    `replace` maps old variables to new ones (dict or list of pairs). Nodes not
    depending on any replaced variable are shared, not copied, unless
    share_inputs is False (then every node is rebuilt and root non-constant
    inputs are cloned). Returns a list (or a single variable if `outputs` was one).
    """
    single = isinstance(outputs, Variable)
    outs = [outputs] if single else list(outputs)
    pairs = list(replace.items()) if isinstance(replace, dict) else list(replace or [])
    memo = {}
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise TypeError(f"replace key {old!r} is not a symbolic variable")
        if not isinstance(new, Variable):
            new = old.type.make_constant(new)
        if not strict and old.type != new.type:
            new = old.type.filter_variable(new)
        memo[id(old)] = new
    new_outs = clone_with_memo(outs, memo, share_inputs)
    return new_outs[0] if single else new_outs


@gc_paused()
def clone_with_memo(outputs, memo, share_inputs=True):
    """Rebuild `outputs` given memo {id(old var): new var}; returns new outputs.

    `memo` is updated with every variable visited."""
    for v in graph_inputs(outputs, stop_at=[]):
        if id(v) not in memo:
            if share_inputs or isinstance(v, Constant):
                memo[id(v)] = v
            else:
                memo[id(v)] = v.clone()
    for node in toposort(outputs):
        if all(id(o) in memo for o in node.outputs):
            continue
        new_inputs = [memo.get(id(i), i) for i in node.inputs]
        if share_inputs and all(a is b for a, b in zip(new_inputs, node.inputs)):
            for o in node.outputs:
                memo.setdefault(id(o), o)  # an output replaced by the caller stays so
            continue
        new_node = node.clone_with_new_inputs(new_inputs, strict=False)
        for o, no in zip(node.outputs, new_node.outputs):
            if id(o) in memo:  # replaced by the caller
                continue
            if no.name is None:
                no.name = o.name
            if no.type != o.type and getattr(no.type, "is_super", None) \
                    and no.type.is_super(o.type):
                # the new inputs say less (a reshape to a shape that is now a variable
                # loses its length-1 dims): keep the old, checked at run time
                no = o.type.filter_variable(no)
            memo[id(o)] = no
    return [memo.get(id(o), o) for o in outputs]


def clone_with_replacements(output, replace=None, strict=True, share_inputs=True):
    """Theano's ``theano.clone``: a copy of the graph of `output` (a variable or a
    list) with the variables of `replace` ({old: new} or pairs) substituted.

    strict: a replacement must have its variable's type (a broadcast pattern that
    converts is accepted; another dtype or ndim raises TypeError); with
    strict=False it may differ, and the nodes above re-infer their types.
    share_inputs: the copy shares the graph's inputs (and shared variables);
    False copies them, and the replacements' graphs too (a copied shared variable
    still uses the same storage)."""
    single = isinstance(output, Variable)
    outs = [output] if single else list(output)
    pairs = list(replace.items()) if isinstance(replace, dict) else list(replace or [])
    memo = {}
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise TypeError(f"clone: replace key {old!r} is not a symbolic variable")
        if not isinstance(new, Variable):
            raise TypeError(f"clone: the replacement of {old} must be a symbolic variable, "
                            f"got {new!r}")
        if strict and new.type != old.type:
            try:
                new = old.type.filter_variable(new)
            except TypeError:
                raise TypeError(f"clone: {old} ({old.type}) is replaced by {new} "
                                f"({new.type}), of another type; cast the replacement, or "
                                "pass strict=False to let the graph change type") from None
        if not share_inputs:
            new = clone_with_memo([new], {}, share_inputs=False)[0]
        memo[id(old)] = new
    new_outs = clone_with_memo(outs, memo, share_inputs)
    return new_outs[0] if single else new_outs


def clone(inputs, outputs, copy_inputs=True):
    """Theano's gof.graph.clone: copies of inputs and outputs with a fresh graph."""
    memo = {}
    new_inputs = []
    for i in inputs:
        ni = i.clone() if copy_inputs else i
        memo[id(i)] = ni
        new_inputs.append(ni)
    new_outs = clone_with_memo(outputs, memo, share_inputs=False)
    return new_inputs, new_outs
