"""The bytes a leaf of a budgeted loop gradient keeps a step (checkpointed_grad.py).

A leaf (a Scan of steps [a, b) keeping its trace, then that Scan's gradient) keeps
arrays whose length grows with its number of steps L: the trace of the states, its
per-step outputs, the input projections x_t W its rewrites batch over the steps, the
per-step terms of the gradient, the copies a product of transposed arrays makes. The
schedule must count all of them, not only the states (revolve.py's cost[1]).

`step_bytes(inputs, outputs)` reads the leaf's rewritten inner graph (the one its
backend runs) and returns a function of the inner inputs' values giving its bytes a
step: every array the leaf's top-level graph computes (the temporaries inside its
loops are per step, of constant size), sized from the shapes inferred from the
inputs' shapes (tensor/shape.py: infer_shapes; no value is computed, no user code
runs), at two lengths, the difference per step. Invariants:
- Views allocate nothing: basic indexing, DimShuffle, CheckSteps, SpecifyShape,
  Rebroadcast, and a Reshape of a contiguous array; a Reshape of a transposed or
  stepped view is a copy and counts.
- Every array counts as if all were alive at once: an upper bound (the linkers free
  an intermediate after its last use, in an order this does not rely on).
- An array whose shape cannot be told without computing values (an op with no
  infer_shape whose output size depends on its values) is not counted.
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as T
from theanine.backends.py.linker import link
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.traversal import clone_replace, toposort
from theanine.tensor.checks import SpecifyShape
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.shape import Reshape, Shape, Shape_i, infer_shapes
from theanine.tensor.subtensor import Subtensor
from theanine.tensor.type import TensorType

from .utils import CheckSteps

_VIEWS = (Subtensor, DimShuffle, CheckSteps, SpecifyShape, Rebroadcast)
_MAX_ROUNDS = 64  # substitutions of inferred shapes (each moves toward the inputs)


def _keeps_layout(op):
    """Whether a view op's output is contiguous when its input is: a leading-axis
    slice of step 1, a DimShuffle that adds or drops broadcastable dims only."""
    if isinstance(op, Subtensor):
        entries = op.idx_list
        if not entries:
            return True
        first = entries[0]
        lead = not isinstance(first, tuple) or first[3] is None
        return lead and all(e == ("slice", None, None, None) for e in entries[1:])
    if isinstance(op, DimShuffle):
        kept = [d for d in op.new_order if d != "x"]
        return kept == sorted(kept)
    return True


def allocated(inputs, outputs):
    """The arrays (tensors of at least one dimension) the graph from `inputs` to
    `outputs` allocates, views left out."""
    strided, arrays = set(), []
    for node in toposort(outputs, stop_at=inputs):
        op = node.op
        if isinstance(op, Shape | Shape_i):
            continue
        src = node.inputs[0] if node.inputs else None
        if isinstance(op, _VIEWS) or (isinstance(op, Reshape) and id(src) not in strided):
            if id(src) in strided or not _keeps_layout(op):
                strided.add(id(node.outputs[0]))
            continue
        arrays += [o for o in node.outputs if isinstance(o.type, TensorType) and o.ndim]
    return arrays


def _from_inputs(entries, inputs):
    """Whether shape entries are computed from the inputs' shapes and integer
    arithmetic only (never from an intermediate array's values)."""
    known = {id(v) for v in inputs}
    for node in toposort(list(entries), stop_at=inputs):
        if isinstance(node.op, Shape | Shape_i):
            if id(node.inputs[0]) not in known:
                return False
        elif any(not isinstance(o.type, TensorType) or o.ndim > 1
                 or not o.dtype.startswith(("int", "uint", "bool")) for o in node.outputs):
            return False
    return True


def _scan_shape(v):
    """The shape of an output of a Scan node (scan/op.py's layout: traces of the
    traced carries, finals, per-step outputs; `keep` rows), from its outer inputs:
    a row's shape is the carry's initial state's, or the per-step output's inferred
    from the body with its inner inputs replaced by the outer ones (a sequence's
    slice by its first row). None when it cannot be told."""
    node, op = v.owner, v.owner.op
    S, C = op.n_seqs, op.n_carries
    n, outer = node.inputs[0], node.inputs[1:]
    k = node.outputs.index(v)
    traced = [c for c in range(C) if op.traced[c]]
    if len(traced) <= k < len(traced) + C:
        return tuple(T.shape(outer[S + k - len(traced)]))
    if k < len(traced):
        c = traced[k]
        row, keep = tuple(T.shape(outer[S + c])), op.keep[c]
    else:
        y = k - len(traced) - C
        inner = infer_shapes([op.y_outputs[y]], op.inner_inputs)[0]
        if inner is None:
            return None
        swap = {i: (o[0] if j < S else o) for j, (i, o) in
                enumerate(zip(op.inner_inputs, outer)) if isinstance(i.type, TensorType)}
        row, keep = tuple(clone_replace(list(inner), swap)), op.keep[C + y]
    rows = T.minimum(n, keep) if keep > 0 else n + (1 if keep < 0 else 0)
    return (T.cast(rows, "int64"),) + row


def _sizes(arrays, inputs, loop_type):
    """The byte size of each array as an int64 scalar computed from the inputs'
    shapes, or None where it cannot be told without computing values. Shapes the
    graph itself reads (a slice's bounds from an intermediate's Shape_i) are replaced
    by the shapes inferred for those intermediates, until only the inputs' remain."""
    known = {id(v) for v in inputs}
    shapes = {}

    def shape_of(v):
        if id(v) not in shapes:
            scan = v.owner is not None and isinstance(v.owner.op, loop_type)
            shapes[id(v)] = _scan_shape(v) if scan else infer_shapes([v], inputs)[0]
        return shapes[id(v)]

    out = []
    for v, shape in zip(arrays, infer_shapes(arrays, inputs)):
        size = None
        if shape is not None:
            size = T.constant(np.int64(np.dtype(v.dtype).itemsize))
            for e in shape:
                size = size * e
        for _ in range(_MAX_ROUNDS):
            if size is None or _from_inputs([size], inputs):
                break
            replace = {}
            for node in toposort([size], stop_at=inputs):
                src = node.inputs[0] if node.inputs else None
                if not isinstance(node.op, Shape | Shape_i) or id(src) in known:
                    continue
                entries = shape_of(src)
                if entries is None:
                    continue
                if isinstance(node.op, Shape_i):
                    replace[node.outputs[0]] = entries[node.op.i]
                else:
                    replace[node.outputs[0]] = T.as_tensor_variable(list(entries)) \
                        if entries else T.constant(np.zeros(0, "int64"))
            if not replace:
                break
            size = clone_replace(size, replace)
        out.append(size if size is not None and _from_inputs([size], inputs) else None)
    return out


def step_bytes(inputs, outputs, length, loop_type):
    """fn(values, n) -> the bytes the graph keeps a step of `length` (an inner input:
    the leaf's number of steps), from the values of `inputs` with n steps available.
    loop_type: the Scan class (scan/op.py, which imports this module's user)."""
    arrays = allocated(inputs, outputs)
    total = T.constant(np.int64(0))
    for size in _sizes(arrays, inputs, loop_type):
        if size is not None:
            total = total + size
    sized = link(FunctionGraph(inputs, [total]))
    at = inputs.index(length)

    def fn(values, n):
        if n < 2:
            return 0
        values = list(values)
        big, one = (int(sized(*values[:at], np.int64(k), *values[at + 1:])[0])
                    for k in (n, 1))
        return max(-(-(big - one) // (n - 1)), 0)

    return fn
