"""fuse_recurrences: a LinearRecurrence (affine, add, mul) takes in the elementwise work
around it, becoming a FusedRecurrence that a backend runs as one loop:

- consumers: an Elemwise or Composite node reading the states (the trace, or the states
  before and after each step as views of ``concatenate([h0[None], trace])``;
  ``[trace, h0[None]]`` when the recurrence runs backwards), or the output of a node
  already taken in, and otherwise only values that do not depend on the recurrence: its
  program becomes per-step work of the loop, and its result an output of the loop if
  anything else reads it;
- producers: an Elemwise or Composite node computing an operand, or an input of a node
  taken in, when only the recurrence and the nodes taken in read it, or other
  recurrences and elementwise work feeding only them (a forward loop and its
  gradient's loop computing the same gates): its program computes that value inside
  the loop from its own inputs (so it is never stored; shared, each loop computes it);
- the states with h0 joined (which a gradient reads): stored with h0 as their first
  (last) row, so that they are not copied; the trace is stored only if something
  outside reads it.

Values may be wrapped as the scan rules leave sequences, in ``Subtensor{:n}(CheckSteps(
x, n))`` (x with at least n rows, cut to n) with the recurrence's own n: the wrappers
are seen through, and an input read through one is cut the same way. Runs after fusion
(the Composites are made by then), as its own pipeline step.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import OUTPUT, RuleSet, rule
from theanine.graph.traversal import ancestors
from theanine.scan.fused_recurrence import FUSABLE_MODES, FusedRecurrence
from theanine.scan.utils import CheckSteps
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.join import Join
from theanine.tensor.recurrence import LinearRecurrence
from theanine.tensor.subtensor import Subtensor

_CUT = (("slice", None, "s", None),)
MAX_STEPS = 512  # scalar steps in one loop (a Composite has at most 256)


class _Abort(Exception):
    """This recurrence is left as it is."""


def _cut_of(v, n):
    """x when v is Subtensor{:n}(CheckSteps(x, n)) for this n, else None."""
    o = v.owner
    if o is None or not isinstance(o.op, Subtensor) or o.op.idx_list != _CUT or \
            o.inputs[1] is not n:
        return None
    c = o.inputs[0].owner
    if c is None or not isinstance(c.op, CheckSteps) or c.inputs[1] is not n:
        return None
    return c.inputs[0]


def _strip(v, n):
    """(x, cut): v is x inside zero or more Subtensor{:n}(CheckSteps(., n)) wrappers."""
    cut = False
    while (x := _cut_of(v, n)) is not None:
        v, cut = x, True
    return v, cut


def _is_wrapper(node, n):
    return (isinstance(node.op, Subtensor) and node.op.idx_list == _CUT
            and node.inputs[1] is n) or \
        (isinstance(node.op, CheckSteps) and node.inputs[1] is n)


def _elementwise(node):
    return node is not None and isinstance(node.op, (Elemwise, Composite)) and \
        len(node.outputs) == 1


def _size(node):
    return len(node.op.program) if isinstance(node.op, Composite) else 1


def _program_of(node):
    """(nin, steps) of an Elemwise or Composite node."""
    if isinstance(node.op, Composite):
        return node.op.nin, list(node.op.program)
    return len(node.inputs), [(node.op.scalar_op, tuple(range(len(node.inputs))),
                               node.outputs[0].dtype)]


def _same_value(a, b):
    if a is b:
        return True
    return isinstance(a, Constant) and isinstance(b, Constant) and \
        a.type == b.type and np.array_equal(a.data, b.data)


def _is_padleft_of(v, h0):
    """v is h0[None] (a DimShuffle adding a leading broadcastable dim, or a constant
    equal to it)."""
    o = v.owner
    if o is not None and isinstance(o.op, DimShuffle) and \
            tuple(o.op.new_order) == ("x",) + tuple(range(h0.ndim)):
        x = o.inputs[0]
        if x.owner is not None and isinstance(x.owner.op, Subtensor) and \
                not x.owner.op.idx_list:  # h0[None] indexes with () first
            x = x.owner.inputs[0]
        return _same_value(x, h0)
    if isinstance(v, Constant) and isinstance(h0, Constant):
        return np.array_equal(v.data, np.asarray(h0.data)[None])
    return False


def _reads_recurrence(v, depth=6):
    """Whether v is computed elementwise from a fusable recurrence's states, seen
    through slices, CheckSteps and a join with its initial state (as a gradient
    reads them)."""
    o = v.owner
    if o is None or depth <= 0:
        return False
    if isinstance(o.op, LinearRecurrence):
        return o.op.mode in FUSABLE_MODES
    if isinstance(o.op, (Subtensor, CheckSteps)):
        return _reads_recurrence(o.inputs[0], depth - 1)
    if _elementwise(o):
        return any(_reads_recurrence(u, depth - 1) for u in o.inputs)
    if isinstance(o.op, Join):
        return any(_reads_recurrence(u, depth - 1) for u in o.inputs)
    return False


class _States:
    """How the states of `lr` are read: the trace, and the states with h0 joined (a
    Join) whose views are the states before and after each step."""

    def __init__(self, graph, lr):
        self.lr = lr
        self.trace = lr.outputs[0] if lr.op.store else None
        self.join = None
        rev = lr.op.reverse
        head, tail = (1, 0) if rev else (0, 1)
        for c, _ in graph.clients.get(self.trace, ()) if self.trace is not None else ():
            if c is not OUTPUT and isinstance(c.op, Join) and c.op.axis == 0 and \
                    len(c.inputs) == 2 and c.inputs[tail] is self.trace and \
                    _is_padleft_of(c.inputs[head], lr.inputs[1]):
                self.join = c.outputs[0]
                break
        # the views of the join: before each step, after it
        self.views = ((("slice", 1, None, None),), (("slice", None, -1, None),)) if rev \
            else ((("slice", None, -1, None),), (("slice", 1, None, None),))

    def kind(self, x):
        """'hp' (the state before each step), 'hn' (after it) or None for a value x
        (wrappers already stripped)."""
        if x is self.trace:
            return "hn"
        o = x.owner
        if self.join is not None and o is not None and isinstance(o.op, Subtensor) and \
                o.inputs[0] is self.join:
            if o.op.idx_list == self.views[0]:
                return "hp"
            if o.op.idx_list == self.views[1]:
                return "hn"
        return None

    def roots(self):
        return [v for v in (self.trace, self.join) if v is not None]


class _Fusion:
    """The nodes a recurrence takes in, and the FusedRecurrence that computes them."""

    def __init__(self, graph, lr):
        self.graph, self.lr = graph, lr
        self.n, self.h0 = lr.inputs[0], lr.inputs[1]
        self.states = _States(graph, lr)
        self.members = {}  # node -> "pre" (no state in it) or "post"
        self.cut = set()  # producers whose inputs are read through a cut
        self.steps = 0

    # -- which nodes join ------------------------------------------------------------
    def conforms(self, v):
        lanes = getattr(v.type, "broadcastable", (None,))[1:]
        return (getattr(v.type, "ndim", -1) == self.h0.ndim + 1
                and (lanes == self.h0.broadcastable or all(lanes)))

    def readers(self, v):
        """The nodes reading v, through wrappers of this n (OUTPUT for a graph output)."""
        out = []
        for c, _ in self.graph.clients.get(v, ()):
            if c is not OUTPUT and _is_wrapper(c, self.n) and c.inputs[0] is v:
                out += self.readers(c.outputs[0])
            else:
                out.append(c)
        return out

    def reads_state(self, u):
        x, _ = _strip(u, self.n)
        return self.states.kind(x) is not None or x.owner in self.members

    def grow_consumers(self):
        queue = []
        for r in self.states.roots():
            queue += self._state_readers(r)
        seen = set()
        while queue:
            c = queue.pop(0)
            if c is OUTPUT or c in seen or c in self.members:
                continue
            seen.add(c)
            if self._consumable(c):
                self.members[c] = "post"
                self.steps += _size(c)
                queue += self.readers(c.outputs[0])

    def _state_readers(self, root):
        """Readers of the trace or join, through wrappers and the join's two views."""
        out = []
        for c in self.readers(root):
            if c is not OUTPUT and root is self.states.join and isinstance(c.op, Subtensor) \
                    and self.states.kind(c.outputs[0]) is not None:
                out += self.readers(c.outputs[0])
            else:
                out.append(c)
        return out

    def _consumable(self, c):
        if not _elementwise(c) or self.steps + _size(c) > MAX_STEPS:
            return False
        if c.outputs[0].type.broadcastable != (False,) + self.h0.broadcastable:
            return False
        free = [u for u in c.inputs if not self.reads_state(u)]
        if len(free) == len(c.inputs) or not all(self.conforms(u) for u in free):
            return False
        mine = set(self.lr.outputs)
        return not any(v in mine for v in ancestors(free))  # else it stays after the loop

    def grow_producers(self):
        """Producers of the operands and of the inputs of the nodes taken in."""
        todo = [(x, False) for x in self.lr.inputs[2:]]
        for c in list(self.members):
            todo += [(u, False) for u in c.inputs]
        while todo:
            u, cut = todo.pop()
            x, c2 = _strip(u, self.n)
            p = x.owner
            if not _elementwise(p) or p in self.members or self.states.kind(x) is not None:
                continue
            if not self.conforms(x) or self.steps + _size(p) > MAX_STEPS:
                continue
            allowed = set(self.members) | {self.lr}
            if any(r is OUTPUT or (r not in allowed and not self._feeds_recurrence(r))
                   for r in self.readers(x)):
                continue
            self.members[p] = "pre"
            self.steps += _size(p)
            if cut or c2:
                self.cut.add(p)
            todo += [(v, cut or c2) for v in p.inputs]

    def _feeds_recurrence(self, node, depth=4):
        """Whether `node` (read outside this loop) is another recurrence, or elementwise
        work that feeds recurrences or reads their states: each of them takes in what
        it reads, so a producer shared with it is computed inside each loop
        (recomputing an operand costs less than storing it and reading it back)
        rather than stored."""
        if node is OUTPUT or depth <= 0:
            return False
        if isinstance(node.op, LinearRecurrence):
            return node.op.mode in FUSABLE_MODES
        if not _elementwise(node):
            return False
        if any(_reads_recurrence(u) for u in node.inputs):
            return True
        readers = self.readers(node.outputs[0])
        return bool(readers) and all(self._feeds_recurrence(r, depth - 1) for r in readers)

    # -- the fused node ----------------------------------------------------------------
    def build(self):
        op = self.lr.op
        inputs, index, steps, value = [], {}, [], {}

        def leaf(v, cut):
            if not self.conforms(v):
                raise _Abort
            if cut and not v.broadcastable[0] and _cut_of(v, self.n) is None:
                v = CheckSteps()(v, self.n)[:self.n]
            if id(v) not in index:
                index[id(v)] = len(inputs)
                inputs.append(v)
            return ("x", index[id(v)])

        def ref(u, cut):
            x, c2 = _strip(u, self.n)
            kind = self.states.kind(x)
            if kind is not None:
                return (kind,)
            if x.owner in self.members:
                return value[x.owner]
            return leaf(u, cut)

        for node in self._ordered():
            args = [ref(u, node in self.cut) for u in node.inputs]
            _, prog = _program_of(node)
            vals = list(args)
            for sop, refs, dtype in prog:
                steps.append((sop, [vals[a] for a in refs], dtype))
                vals.append(("s", len(steps) - 1))
            value[node] = vals[-1]
        operands = []
        for x in self.lr.inputs[2:]:
            s, cut = _strip(x, self.n)
            operands.append(value[s.owner] if s.owner in self.members else leaf(x, False))
        allowed = set(self.members)
        outs = [node for node, kind in self.members.items() if kind == "post"
                and any(r is OUTPUT or r not in allowed for r in self.readers(node.outputs[0]))]
        if not self.members and self.states.join is None:
            return None
        trace_read = self._outside(self.states.trace, skip=self.states.join)
        init_row = self.states.join is not None and self._outside(self.states.join)
        store = trace_read or init_row
        nin = len(inputs)

        def num(r):
            return {"x": lambda: r[1], "hp": lambda: nin, "hn": lambda: nin + 1,
                    "s": lambda: nin + 2 + r[1]}[r[0]]()

        program = [(s, tuple(num(a) for a in args), d) for s, args, d in steps]
        fop = FusedRecurrence(op.mode, nin, program, [num(r) for r in operands],
                              [num(value[c]) for c in outs], op.reverse, store, init_row)
        res = fop(self.n, self.h0, *inputs)
        res = res if isinstance(res, list) else [res]
        result, k = {}, 0
        if store:
            full = res[0]
            if init_row:
                result[self.states.join] = full
                if trace_read:
                    result[self.lr.outputs[0]] = full[:-1] if op.reverse else full[1:]
            else:
                result[self.lr.outputs[0]] = full
            k = 1
        result[self.lr.outputs[-1]] = res[k]
        for c, new in zip(outs, res[k + 1:]):
            result[c.outputs[0]] = new
        return result

    def _ordered(self):
        """The members, each after the members it reads."""
        order, done = [], set()
        for start in self.members:
            stack = [(start, False)]
            while stack:
                node, ready = stack.pop()
                if ready:
                    if node not in done:
                        done.add(node)
                        order.append(node)
                    continue
                if node in done:
                    continue
                stack.append((node, True))
                for u in node.inputs:
                    p = _strip(u, self.n)[0].owner
                    if p in self.members and p not in done:
                        stack.append((p, False))
        return order

    def _outside(self, v, skip=None):
        """Whether v is read by a node that is not taken in (skip: the join, and the
        views only members read, do not count)."""
        if v is None:
            return False
        for r in self.readers(v):
            if r is OUTPUT:
                return True
            if skip is not None and r.outputs and r.outputs[0] is skip:
                continue
            if r in self.members:
                continue
            if v is self.states.join and isinstance(r.op, Subtensor) and \
                    self.states.kind(r.outputs[0]) is not None:
                if self._outside(r.outputs[0]):
                    return True
                continue
            return True
        return False


@rule(LinearRecurrence)
def fuse_recurrence(graph, node):
    """A LinearRecurrence takes in its elementwise producers and consumers; see the
    module docstring."""
    if node.op.mode not in FUSABLE_MODES or \
            node.inputs[1].dtype not in ("float32", "float64"):
        return None
    f = _Fusion(graph, node)
    try:
        f.grow_consumers()
        f.grow_producers()
        return f.build()
    except _Abort:
        return None


fuse_recurrences = RuleSet(
    "fuse_recurrences", [fuse_recurrence],
    "linear recurrences take in their elementwise operands and per-step outputs "
    "(rewrites/recurrence_fusion.py)")
