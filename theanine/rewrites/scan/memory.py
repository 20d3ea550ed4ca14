"""scan_memory: a loop stores only the rows of its outputs that are read.

A trace (or per-step output) read only through constant negative indices --
``out[-1]``, ``out[-3]``, ``out[-5:]``, ``out[-4:-1]`` -- needs only its last k rows:
the Scan keeps a ring buffer of k rows (``Scan.keep``) instead of one row per
step, and returns the last min(steps, k) rows in order, so the readers' indices
select the same rows as before. A 10,000-step loop read as ``h[-2:]`` stores two
rows, not 10,000. (``h[-1]`` of a carry is its final state: scan_last_state in
rewrites/scan/prune.py reads that without any trace.)

A trace read as concatenate([init[None], trace]) -- the states before each step,
which the gradient's reverse loop reads -- is stored with the initial state as row
0 (``Scan.keep`` -1), so the concatenation copies nothing.

A loop's NumPy-generator carry that keeps no trace is advanced in place: the
chain of draws from the carry entering a step to the carry leaving it (each
generator value read by the next draw only) becomes in-place draws, and the loop
copies the generator once at its start instead of once per draw and step (a
RandomState copy costs ~200 us).

This step runs after the other scan rules, which see only whole traces.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import RuleSet, rule
from theanine.scan.op import Scan
from theanine.scan.utils import is_tensor
from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.join import Join
from theanine.tensor.random import RandomOp
from theanine.tensor.subtensor import Subtensor

from .parts import ScanParts


def _rows_needed(first):
    """How many trailing rows index entry `first` reads, or None (not only trailing)."""
    if isinstance(first, int):
        return -first if first < 0 else None
    if isinstance(first, tuple) and first[0] == "slice":
        _, start, stop, step = first
        if not isinstance(start, int) or start >= 0 or step not in (None, 1):
            return None
        if stop is not None and not (isinstance(stop, int) and stop < 0):
            return None
        return -start
    return None


def rows_read(graph, var):
    """The number of trailing rows of `var` its readers need, or None."""
    users = graph.clients_of(var)
    need = 0
    for node, _ in users:
        if isinstance(node, str) or not isinstance(node.op, Subtensor) or len(node.inputs) != 1:
            return None
        k = _rows_needed(node.op.idx_list[0])
        if k is None:
            return None
        need = max(need, k)
    return need or None


@rule(Scan)
def scan_keep_last(graph, node):
    """Outputs read only as out[-k], out[-k:] ... keep a ring buffer of their last k rows."""
    parts = ScanParts(node)
    changed = False
    items = [(c, c["trace"]) for c in parts.carries if c["traced"]]
    items += [(y, y["outer"]) for y in parts.ys]
    for item, outer in items:
        if outer is None or item["keep"] or not is_tensor(outer):
            continue
        k = rows_read(graph, outer)
        if k is not None:
            item["keep"], changed = k, True
    return parts.build() if changed else None


def _prepends_init(graph, trace, init):
    """The outputs of concatenate([init[None], trace]) nodes reading `trace`."""
    out = []
    for node, _ in graph.clients_of(trace):
        if isinstance(node, str) or not isinstance(node.op, Join) or node.op.axis != 0 \
                or len(node.inputs) != 2 or node.inputs[1] is not trace:
            continue
        first = node.inputs[0]
        head = first.owner
        if head is not None and isinstance(head.op, DimShuffle) and head.inputs[0] is init \
                and head.op.new_order == ("x", *range(init.ndim)):
            out.append(node.outputs[0])
        elif _is_row_of(first, init):  # a constant init, init[None] folded
            out.append(node.outputs[0])
    return out


def _is_row_of(row, init):
    """Whether constant `row` is constant `init` with a leading axis of one row."""
    if not (isinstance(row, Constant) and isinstance(init, Constant)):
        return False
    a, b = np.asarray(row.data), np.asarray(init.data)
    return a.dtype == b.dtype and a.shape == (1,) + b.shape and \
        np.array_equal(a[0], b, equal_nan=True)


@rule(Scan)
def scan_trace_with_init(graph, node):
    """concatenate([init[None], trace]) (the states before each step, which a gradient
    reads) is the trace stored with the initial state as row 0: no copy of the trace."""
    parts = ScanParts(node)
    found = {}
    for k, c in enumerate(parts.carries):
        if c["traced"] and not c["keep"] and is_tensor(c["trace"]):
            joins = _prepends_init(graph, c["trace"], c["init"])
            if joins:
                c["keep"], found[k] = -1, (c["trace"], joins)
    if not found:
        return None
    out = parts.build()
    for trace, joins in found.values():
        full = out[trace]
        out[trace] = full[1:]
        out.update({j: full for j in joins})
    return out


def _draw_chain(clients, carry):
    """The draws taking an untraced generator carry from the step's input to its
    output, each generator value read by the next draw only; else []."""
    chain, v = [], carry["inner"]
    while v is not carry["out"]:
        users = clients.get(id(v), [])
        if len(users) != 1:
            return []
        user, pos = users[0]
        if not isinstance(user.op, RandomOp) or user.op.inplace or pos != 0:
            return []
        chain.append(user)
        v = user.outputs[0]
    return chain if not clients.get(id(v)) else []


@rule(Scan)
def scan_random_inplace(graph, node):
    """A loop's generator carry that keeps no trace is advanced by in-place draws."""
    parts = ScanParts(node)
    clients = parts.inner_clients()
    mapping = {}
    for c in parts.carries:
        if c["traced"] or is_tensor(c["inner"]):
            continue
        for draw in _draw_chain(clients, c):
            op = draw.op
            ins = [mapping.get(v, v) for v in draw.inputs]
            new = RandomOp(op.dist, op.ndim, op.dtype, inplace=True).make_node(*ins)
            mapping.update(zip(draw.outputs, new.outputs))
    if not mapping:
        return None
    parts.substitute(mapping)
    return parts.build()


scan_memory = RuleSet("scan_memory", [scan_keep_last, scan_trace_with_init,
                                      scan_random_inplace],
                      "loops store only the rows of their outputs that are read, and "
                      "advance their generators in place")
