"""shape: x.shape and x.shape[i] from the shapes of x's inputs, so x is not computed.

``Shape_i(i)(x)`` becomes entry i of ``x.owner.op.infer_shape`` applied to the
shapes of x's inputs (themselves ``Shape_i`` of those inputs, rewritten in turn);
``Shape(x)`` becomes a MakeVector of such entries; ``shape[i]`` with a constant i
becomes ``Shape_i(i)``; a broadcastable dim has length 1; ``second(x, c)`` (an
array of x's shape filled with c) becomes an alloc when x's value is not otherwise
needed. As in Theano, a shape
computed this way does not check that x itself could be computed: ``(a + b).shape``
is found without adding a and b, so a shape mismatch there is not reported by it.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import RuleSet, rule
from theanine.tensor import math as M
from theanine.tensor import scalar_ops as so
from theanine.tensor.alloc import alloc
from theanine.tensor.dims import Rebroadcast
from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.shape import MakeVector, Shape, Shape_i, shape_i
from theanine.tensor.subtensor import Subtensor
from theanine.tensor.type import TensorType
from theanine.tensor.variable import TensorConstant

from .constant_folding import constant_folding
from .utils import elemwise, owner_op, scalar_constant, scalar_value, single_use

_SEARCH_BUDGET = 200  # nodes examined when checking that a shape does not need x


def _input_shapes(node):
    return [tuple(shape_i(v, d) for d in range(v.ndim)) if isinstance(v.type, TensorType)
            else None for v in node.inputs]


def _as_int64(e):
    if isinstance(e, (int, np.integer)):
        return scalar_constant(e, "int64")
    if not hasattr(e, "type") or not isinstance(e.type, TensorType) or e.ndim != 0:
        return None
    if e.dtype == "int64":
        return e
    return M.cast(e, "int64") if e.dtype.startswith(("int", "uint")) else None


def _needs(e, outputs):
    """True if shape expression e may depend on one of `outputs` (bounded search that
    stops at shape ops, which do not compute their input)."""
    stack, seen = [e], set()
    while stack:
        v = stack.pop()
        if v in outputs:
            return True
        if v.owner is None or v.owner in seen:
            continue
        seen.add(v.owner)
        if len(seen) > _SEARCH_BUDGET:
            return True
        if isinstance(v.owner.op, (Shape, Shape_i)):
            if v.owner.inputs[0] in outputs:
                return True
            continue
        stack.extend(v.owner.inputs)
    return False


def inferred_shape(x):
    """x's shape as int64 scalars computed from its owner's inputs, or None."""
    node = x.owner
    if node is None or not hasattr(node.op, "infer_shape"):
        return None
    try:
        shapes = node.op.infer_shape(node, _input_shapes(node))
        entries = [_as_int64(e) for e in shapes[x.index]]
    except Exception:  # noqa: BLE001 - an op that cannot say: keep computing x
        return None
    if len(entries) != x.ndim or any(e is None for e in entries):
        return None
    if any(_needs(e, node.outputs) for e in entries):
        return None
    return entries


@rule(Shape_i, name="shape_i")
def shape_i_rule(graph, node):
    """x.shape[i] from x's inputs' shapes (or 1 for a broadcastable dim)."""
    x, i = node.inputs[0], node.op.i
    if x.broadcastable[i]:
        return [scalar_constant(1, "int64")]
    if isinstance(x, Constant):
        return [scalar_constant(np.shape(x.data)[i], "int64")]
    entries = inferred_shape(x)
    return [entries[i]] if entries is not None else None


@rule(Shape, name="shape_of")
def shape_rule(graph, node):
    """x.shape -> a vector of x's dims, computed without x."""
    x = node.inputs[0]
    if x.ndim == 0:
        return [TensorConstant(node.outputs[0].type, np.zeros(0, "int64"))]
    entries = inferred_shape(x)
    return [MakeVector("int64")(*entries)] if entries is not None else None


@rule(Subtensor, name="shape_subtensor")
def shape_subtensor(graph, node):
    """shape(x)[i] -> Shape_i(i)(x), make_vector(a, b, ...)[i] -> the i-th element,
    for a constant i."""
    idx = node.op.idx_list
    if len(idx) != 1 or not isinstance(idx[0], int) or len(node.inputs) != 1:
        return None
    v, i = node.inputs[0], idx[0]
    while owner_op(v, Rebroadcast) is not None:  # changes no value
        v = v.owner.inputs[0]
    shape_node = owner_op(v, Shape)
    if shape_node is not None:
        x = shape_node.inputs[0]
        if -x.ndim <= i < x.ndim:
            return [shape_i(x, i % x.ndim)]
    mv = owner_op(v, MakeVector)
    if mv is not None and -len(mv.inputs) <= i < len(mv.inputs):
        e = mv.inputs[i]
        dtype = node.outputs[0].dtype
        return [e if e.dtype == dtype else M.cast(e, dtype)]
    return None


@rule(*elemwise(so.Second), name="fill_to_alloc")
def fill_to_alloc(graph, node):
    """second(x, c) -> alloc(c, *x.shape) for c of one element, when nothing else uses
    x: x's value is not needed, only its shape (zeros_like(f(x)) in gradients)."""
    x, c = node.inputs
    if x.owner is None or not all(c.broadcastable) or not single_use(graph, x):
        return None
    value = scalar_value(c)
    if value is not None:
        value = scalar_constant(value, c.dtype)
    else:
        value = DimShuffle(c.broadcastable, ())(c) if c.ndim else c
    return [alloc(value, *[shape_i(x, d) for d in range(x.ndim)])]


shape = RuleSet("shape", [constant_folding, shape_subtensor, shape_i_rule, shape_rule,
                          fill_to_alloc],
                __doc__.split("\n\n")[0])
