"""fusion: connected elementwise nodes become one Composite node.

Starting from the nodes nearest the outputs, a group grows into the inputs of its
members: an elementwise node joins when every use of its output is inside the group
(so nothing outside needs the intermediate value, and no cycle can form). A group
of one node stays as it is; a group stops growing at MAX_STEPS scalar steps or
MAX_INPUTS inputs (a loop with more arguments than that compiles slowly). Linear
time: each node joins at most one group, and a value is examined once per user.
"""

from __future__ import annotations

from theanine.graph.rewrite import OUTPUT, GraphPass
from theanine.tensor.composite import Composite
from theanine.tensor.elemwise import Elemwise

MAX_STEPS = 256
MAX_INPUTS = 64


def _fusable(node):
    return isinstance(node.op, Elemwise) and len(node.outputs) == 1


def _grow(graph, root, taken):
    """The members of the group rooted at `root`, in no particular order."""
    members = {root}
    ext = set(root.inputs)  # the group's inputs so far
    stack = list(root.inputs)
    while stack and len(members) < MAX_STEPS:
        v = stack.pop()
        node = v.owner
        if node is None or node in members or node in taken or not _fusable(node):
            continue
        users = graph.clients.get(v, ())
        if any(n is OUTPUT or n not in members for n, _ in users):
            continue  # seen again if another user joins
        new = {u for u in node.inputs if u not in ext}
        if len(ext) - 1 + len(new) > MAX_INPUTS:
            continue
        members.add(node)
        ext.discard(v)
        ext |= new
        stack.extend(node.inputs)
    return members


def composite_of(members, root):
    """(Composite op, its input variables) computing root's output from the members."""
    inputs, number, program = [], {}, []
    order, seen, stack = [], set(), [(root, False)]
    while stack:  # members in dependency order
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((v.owner, False) for v in reversed(node.inputs)
                     if v.owner in members and v.owner not in seen)
    for node in order:
        for v in node.inputs:
            if v not in number and v.owner not in members:
                number[v] = len(inputs)
                inputs.append(v)
    for node in order:
        args = [number[v] for v in node.inputs]
        number[node.outputs[0]] = len(inputs) + len(program)
        program.append((node.op.scalar_op, args, node.outputs[0].dtype))
    return Composite(len(inputs), program), inputs


def _fuse(graph):
    """Replace each maximal group of elementwise nodes by one Composite."""
    taken, n = set(), 0
    for root in reversed(graph.toposort()):
        if root in taken or root not in graph.nodes or not _fusable(root):
            continue
        members = _grow(graph, root, taken)
        taken |= members
        if len(members) < 2:
            continue
        op, inputs = composite_of(members, root)
        graph.replace(root.outputs[0], op(*inputs), "fusion")
        graph.record("fuse", root, [f"{len(members)} nodes"])
        n += 1
    return n


fusion = GraphPass("fusion", _fuse, __doc__.split("\n\n")[0])
