"""Ops with no JAX lowering (a user's as_op, a custom Op with only ``perform``,
Print) run their Python implementation through ``jax.experimental.io_callback``.

io_callback, not pure_callback: XLA may drop or repeat a pure callback, and a
user's Python code must run exactly as often as the graph says (once per node
per call, once per step in a loop). Print's callbacks are ordered, so prints
come out in graph order.

XLA needs the callback's output shapes while tracing. They come from the op's
``infer_shape`` evaluated on the inputs' (static) shapes, or from a fully
broadcastable output type. When neither says (no infer_shape, or one that reads
input values only known at run time), ``NeedsHost`` is raised: at the top level
of a function the linker then runs the node between jitted segments on NumPy
values (plan.py); inside a loop body the whole loop runs that way.

A one-time warning per op class names the op and the cost (a host round trip).
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
from jax.experimental import io_callback

from theanine.backends.py.linker import link as py_link
from theanine.backends.py.linker import py_funcify
from theanine.graph.basic import Constant
from theanine.graph.fgraph import FunctionGraph
from theanine.tensor.basic import constant
from theanine.tensor.python_ops import Print
from theanine.tensor.shape import Shape, Shape_i
from theanine.tensor.type import TensorType

_warned = set()


class NeedsHost(Exception):
    """The node's output shapes cannot be known while tracing."""


def warn_once(op, why):
    name = type(op).__name__
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(f"theanine jax backend: {name} ({op}) {why}", stacklevel=5)


def run(node, ins):
    """Outputs of `node`, computed by its Python implementation from inside XLA."""
    if any(not isinstance(v.type, TensorType) for v in node.inputs + node.outputs):
        raise NeedsHost(f"{node.op} has non-tensor inputs or outputs")
    shapes = output_shapes(node, ins)
    if not isinstance(node.op, Print):
        warn_once(node.op, "has no JAX implementation: its Python implementation runs "
                  "through jax io_callback (a round trip to the host at each call)")
    fn = py_funcify(node.op, node)
    dtypes = [o.type.numpy_dtype for o in node.outputs]
    single = len(node.outputs) == 1

    def host(*args):
        res = fn(*[np.asarray(a) for a in args])
        res = [res] if single else list(res)
        out = []
        for r, d, s, o in zip(res, dtypes, shapes, node.outputs):
            r = np.asarray(r, dtype=d)
            if r.shape != s:
                raise ValueError(f"{node.op}: output {o.index} has shape {r.shape}; its "
                                 f"infer_shape said {s}")
            out.append(r)
        return tuple(out)

    specs = tuple(jax.ShapeDtypeStruct(s, d) for s, d in zip(shapes, dtypes))
    res = io_callback(host, specs, *ins, ordered=isinstance(node.op, Print))
    return res[0] if single else tuple(res)


def traceable(node):
    """Whether a node without a lowering can run as a callback inside a trace: tensors
    only, and output shapes known from the input shapes alone."""
    if any(not isinstance(v.type, TensorType) for v in node.inputs + node.outputs):
        return False
    if all(all(o.type.broadcastable) for o in node.outputs):
        return True
    fn = _shape_function(node)
    return fn is not None and not fn[1]


def output_shapes(node, ins):
    """The output shapes of `node` for inputs `ins` (static shapes), or NeedsHost."""
    outs = node.outputs
    if all(all(o.type.broadcastable) for o in outs):
        return [(1,) * o.type.ndim for o in outs]
    shape_fn = _shape_function(node)
    if shape_fn is None:
        raise NeedsHost(f"{node.op} has no infer_shape")
    fn, value_inputs = shape_fn
    if any(not isinstance(ins[k], (np.ndarray, np.generic)) for k in value_inputs):
        raise NeedsHost(f"{node.op}: its infer_shape reads input values known only at "
                        "run time")
    args = [np.asarray(x) if k in value_inputs
            else np.broadcast_to(np.zeros((), v.type.numpy_dtype), np.shape(x))
            for k, (v, x) in enumerate(zip(node.inputs, ins))]
    flat = [int(d) for d in fn(*args)]
    shapes, pos = [], 0
    for o in outs:
        shapes.append(tuple(flat[pos:pos + o.type.ndim]))
        pos += o.type.ndim
    return shapes


def _shape_function(node):
    """(py function: input values -> flat output dims, indices of inputs whose values it
    reads) from the op's infer_shape, or None when the op cannot say."""
    if "jax_shape_fn" in node.tag:
        return node.tag["jax_shape_fn"]
    try:
        sym = [tuple(Shape_i(d)(v) for d in range(v.type.ndim)) for v in node.inputs]
        shapes = node.op.infer_shape(node, sym)
        flat = []
        for o, shp in zip(node.outputs, shapes):
            if shp is None or len(shp) != o.type.ndim:
                raise NotImplementedError
            flat += [e if hasattr(e, "type") else constant(np.int64(e)) for e in shp]
        reads = _value_reads(flat, node.inputs)
        res = (py_link(FunctionGraph(list(node.inputs), flat, check=False)), reads)
    except Exception:  # noqa: BLE001 - an op that cannot say has no shape function
        res = None
    node.tag["jax_shape_fn"] = res
    return res


def _value_reads(exprs, inputs):
    """Indices of `inputs` whose values (not only shapes) the expressions read."""
    pos = {id(v): k for k, v in enumerate(inputs)}
    reads = set()
    stack = [e for e in exprs if not isinstance(e, Constant)]
    seen = set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if id(v) in pos:
            reads.add(pos[id(v)])
            continue
        if v.owner is None:
            continue
        if isinstance(v.owner.op, (Shape, Shape_i)):
            continue
        stack.extend(v.owner.inputs)
    return reads
