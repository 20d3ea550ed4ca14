"""theano.scan: Theano 1.0's front end, translated into the core Scan form.

Translation (see README.md beside this file; taps in taps.py):
- a sequence with taps T becomes one core sequence per tap, x[k - lo : L - (hi - k)]
  with lo = min(T, 0), hi = max(T, 0); go_backwards reverses x first;
- an output with taps [-1] is a carry; with taps T (m = -min T) a carry holding a
  window of the last m values, whose trace's last column is the output;
- an output with info None is a per-step output (y);
- shared variables updated inside fn (explicit updates or the default updates of
  random streams) become carries whose final value is returned in `updates`;
- every other variable fn uses from outside becomes a non-sequence (const).

``scan`` runs these steps in order, one function each below.
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.config import memory_size
from theanine.graph.basic import Constant, Variable, next_serial
from theanine.graph.fgraph import MissingInputError
from theanine.graph.profiling import ProfileStats
from theanine.graph.sharedvalue import SharedVariable
from theanine.graph.traversal import ancestors, clone_replace, clone_with_memo, toposort

from . import taps as tp
from .op import Scan
from .step import as_output, match_type, parse_return
from .utils import OrderedUpdates, is_tensor, wrap_list


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, profile=False,
         allow_gc=None, strict=False, return_list=False, memory_budget=None, _finals=False):
    """Loop `fn` over `sequences` (Theano 1.0 semantics). Returns (outputs, updates).

    `memory_budget` (bytes, or a string such as '256MB'; default: the config flag
    scan_memory_budget) bounds what the gradient keeps of the loop's states: above
    it, the gradient stores checkpoints and recomputes steps on a binomial (revolve)
    schedule (checkpointed_grad.py, revolve.py).

    `_finals` (internal, for reduce/foldl/foldr): return the final state of each
    recurrent output instead of its trace (the initial state when no step runs)."""
    before = next_serial()  # variables older than this exist outside the loop
    non_seqs = [tp.as_var(v, f"non_sequences[{k}]")
                for k, v in enumerate(wrap_list(non_sequences))]
    if not isinstance(truncate_gradient, (int, np.integer)):
        raise TypeError(f"scan: truncate_gradient must be an int, got {truncate_gradient!r}")
    if memory_budget is not None:
        try:
            memory_budget = memory_size(memory_budget)
        except ValueError as e:
            raise ValueError(f"scan: memory_budget: {e}") from None
    seqs = tp.sequences(wrap_list(sequences), go_backwards)
    outs = tp.outputs(wrap_list(outputs_info))
    steps = _n_steps(n_steps, seqs)
    outputs, fn_updates, cond = _call(fn, seqs, outs, non_seqs)
    if not outs:
        outs = [tp.Output("y") for _ in outputs]
    loop = _Loop(seqs, outs, outputs, cond)
    loop.add_shared_carries(fn_updates, before, non_seqs)
    loop.close(non_seqs, strict)
    node = loop.node(steps, name, truncate_gradient, _profile(profile, name), mode,
                     memory_budget)
    results, updates = loop.results(node, _finals)
    for r in results:
        if name:
            r.name = name
    if return_list:
        return results, updates
    if not results:
        return None, updates
    return (results[0] if len(results) == 1 else results), updates


def _n_steps(n_steps, seqs):
    """The number of steps: n_steps (an integer scalar), else the shortest sequence's."""
    if n_steps is None:
        if not seqs:
            raise ValueError("scan: give sequences or n_steps (the number of steps cannot "
                             "be inferred without sequences)")
        steps = seqs[0].n_steps
        for s in seqs[1:]:
            steps = T.minimum(steps, s.n_steps)
        return steps
    steps = tp.as_var(n_steps, "n_steps")
    if steps.ndim != 0 or not steps.dtype.startswith(("int", "uint")):
        raise TypeError(f"scan: n_steps must be an integer scalar, got {steps.type}"
                        f"{' = ' + str(n_steps) if not isinstance(n_steps, Variable) else ''}")
    return steps


def _call(fn, seqs, outs, non_seqs):
    """Call fn once on the step variables: per sequence one per tap, per fed-back
    output one per tap, then the non-sequences. Returns (outputs, updates, until)."""
    args = [a for s in seqs for a in s.args] + [a for o in outs for a in o.args]
    outputs, updates, cond = parse_return(fn(*args, *non_seqs))
    if outs and len(outputs) != len(outs):
        raise ValueError(f"scan: fn returned {len(outputs)} outputs but outputs_info has "
                         f"{len(outs)} entries; they must match (use None in "
                         "outputs_info for outputs that are not fed back)")
    return [as_output(o, k) for k, o in enumerate(outputs)], updates, cond


class _Loop:
    """The core form being assembled: inner inputs and outputs, outer inputs."""

    def __init__(self, seqs, outs, outputs, cond):
        self.seqs, self.outs, self.cond = seqs, outs, cond
        self.carry_in, self.carry_out, self.inits, self.ys = [], [], [], []
        for k, (o, out) in enumerate(zip(outs, outputs)):
            if o.kind == "y":
                self.ys.append(out)
                continue
            if o.kind == "carry":
                new = match_type(out, o.carry.type, k, o.init)
            else:  # a window: drop the oldest value, append the new one
                w = o.carry
                out = match_type(out, w.type.clone(broadcastable=w.broadcastable[1:]), k,
                                 o.init)
                new = T.patternbroadcast(T.concatenate([w[1:], T.shape_padleft(out)],
                                                       axis=0), w.broadcastable)
            self.carry_in.append(o.carry)
            self.carry_out.append(new)
            self.inits.append(o.init)
        self.n_user_carries = len(self.carry_in)
        self.shared = []  # (shared variable, its new value), carried after the user's

    def add_shared_carries(self, fn_updates, before, non_seqs):
        """Shared variables fn updates, explicitly or by the default updates of those it
        uses (random streams), become carries whose final value is the update. What
        the loop reads from outside (``self.outside``, see _computed_outside) is
        evaluated once before it, so its draws are not the loop's."""
        updates = list(fn_updates)
        seen = {id(s) for s, _ in updates}
        todo = self.carry_out + self.ys + [e for _, e in updates] + self._cond()
        self.outside = _computed_outside(todo, before, non_seqs, [s for s, _ in updates])
        while todo:
            new = []
            for v in ancestors(todo, stop_at=self.outside):
                du = getattr(v, "default_update", None)
                if isinstance(v, SharedVariable) and du is not None and id(v) not in seen:
                    seen.add(id(v))
                    updates.append((v, du))
                    new.append(du)
            todo = new
        for s, e in updates:
            if not isinstance(s, SharedVariable):
                raise TypeError(f"scan: fn returned an update for {s!r}, which is not a "
                                "shared variable")
            e = e if isinstance(e, Variable) else T.as_tensor_variable(e)
            self.shared.append((s, s.type.filter_variable(e) if is_tensor(s) else e))

    def close(self, non_seqs, strict):
        """Make the inner graph closed: updated shared variables read inside become
        carries, every other outer variable fn reads a non-sequence (strict=True: a
        shared variable must then be one of `non_seqs`)."""
        repl = {}
        for s, _ in self.shared:
            c = s.type()
            c.name = s.name
            repl[s] = c
        self.inner_in = ([a for s in self.seqs for a in s.args] + self.carry_in
                         + [repl[s] for s, _ in self.shared])
        outs = self.carry_out + [e for _, e in self.shared] + self.ys + self._cond()
        if repl:
            memo = {id(v): v for v in self.outside}  # values from outside are not rebuilt
            memo.update((id(s), c) for s, c in repl.items())
            outs = clone_with_memo(outs, memo)
        self.consts, consts_inner = _free_variables(outs, self.inner_in, non_seqs)
        if strict:
            for v in self.consts:
                if isinstance(v, SharedVariable) and all(v is not n for n in non_seqs):
                    raise MissingInputError(
                        f"scan(strict=True): fn uses the shared variable {v} without it "
                        "being passed in non_sequences; add it to non_sequences")
        self.inner_out = clone_replace(outs, dict(zip(self.consts, consts_inner)))
        self.inner_in = self.inner_in + consts_inner

    def node(self, steps, name, truncate_gradient, profile, mode, memory_budget=None):
        """The Scan node of the loop."""
        n_c = len(self.carry_in) + len(self.shared)
        traced = [True] * len(self.carry_in) + [False] * len(self.shared)
        op = Scan(self.inner_in, self.inner_out, sum(len(s.args) for s in self.seqs), n_c,
                  traced, self.cond is not None, name, truncate_gradient, profile=profile,
                  mode=mode, memory_budget=memory_budget)
        return op.make_node(steps, *[x for s in self.seqs for x in s.slices], *self.inits,
                            *[s for s, _ in self.shared], *self.consts)

    def results(self, node, finals):
        """(results in the order of outputs_info, OrderedUpdates) from the node."""
        n_u, n_c = self.n_user_carries, len(self.carry_in) + len(self.shared)
        traces = node.outputs[:n_u]  # the user's carries are traced, the shared ones not
        ends = node.outputs[n_u:n_u + n_c]
        y_traces = iter(node.outputs[n_u + n_c:])
        ti = iter(ends[:n_u] if finals else traces)
        results = []
        for o in self.outs:
            if o.kind == "y":
                results.append(next(y_traces)[-1] if finals else next(y_traces))
            elif o.kind == "carry":
                results.append(next(ti))
            else:
                results.append(next(ti)[-1] if finals else next(ti)[:, -1])
        updates = OrderedUpdates()
        for (s, _), f in zip(self.shared, ends[n_u:]):
            updates[s] = f
        return results, updates

    def _cond(self):
        return [self.cond] if self.cond is not None else []


def _computed_outside(roots, before, non_seqs, updated):
    """The computed variables that the loop reads from outside, evaluated once before
    it (Theano): the non-sequences, and the variables that existed before scan was
    called (the step function closes over them, e.g. a dropout mask drawn outside the
    loop), except those depending on a shared variable that the step updates
    explicitly (Theano recomputes those from the updated value at every step)."""
    frontier, seen, stack = [], set(), list(roots)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.owner is None:
            continue
        if v.serial < before:
            frontier.append(v)
        else:
            stack.extend(v.owner.inputs)
    if updated and frontier:
        stale = {id(s) for s in updated}
        for node in toposort(frontier):
            if any(id(i) in stale for i in node.inputs):
                stale.update(id(o) for o in node.outputs)
        frontier = [v for v in frontier if id(v) not in stale]
    keep = [v for v in non_seqs if v.owner is not None]
    ids = {id(v) for v in keep}
    return keep + [v for v in frontier if id(v) not in ids]


def _profile(profile, name):
    if not profile:
        return False
    return profile if isinstance(profile, ProfileStats) else ProfileStats(name or "scan_fn")


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
