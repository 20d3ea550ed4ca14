"""Elementwise ops over broadcast tensors, DimShuffle, and gradient reduction.

`Elemwise(scalar_op)` applies one ScalarOp (see scalar_ops.py) elementwise with
NumPy broadcasting. Inputs of fewer dims are left-padded by DimShuffle in
make_node, so an Elemwise node's inputs always share one ndim. The gradient of
each input is the scalar op's gradient formula reduced back to that input's
runtime shape (`sum_to`), so runtime length-1 dims broadcast correctly too.
"""

from __future__ import annotations

import numpy as np

# the package, which imports this module: used at call time
# (gradients and shapes with dims.py's functions, which build on DimShuffle)
import theanine.tensor as T
from theanine.graph.basic import (
    Apply,
    Constant,
    Op,
    disconnected_type,
    grad_not_implemented,
)
from theanine.graph.rewrite import register_commutative, register_subkey

from .basic import as_tensor_variable, constant
from .type import TensorType, discrete_dtypes, python_scalar_dtype, upcast


class ScalarOp:
    """A scalar function: output dtype rule, NumPy impl, gradient formula.

    Hashable by class and ``__props__``. ``grad(inputs, output, gz)`` returns
    one symbolic gradient per input (None: no gradient, e.g. discrete input)."""

    __props__ = ()
    nin = 1
    name = None
    # True: integer inputs are converted to the (float) output dtype before impl runs,
    # so NumPy does not compute in a narrower float (int8 -> float16) first.
    cast_inputs = False
    # Indices of the inputs whose dtypes Python-scalar inputs follow (None: all);
    # switch's condition does not decide the dtype of its branches.
    weak_from = None
    # True (add, mul, max, min): the inputs may be given in any order, so rewrites
    # merge two such nodes whose inputs are equal as multisets.
    commutative = False

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        n = self.name or type(self).__name__.lower()
        if self.__props__:
            return f"{n}{{{', '.join(map(repr, self._props()))}}}"
        return n

    __repr__ = __str__

    def output_dtype(self, *dtypes):
        return upcast(*dtypes)

    def impl(self, *args):
        raise NotImplementedError

    def grad(self, inputs, output, gz):
        return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]

    def connection_pattern(self):
        """None (every input's values reach the output) or one bool per input."""
        return None


class Elemwise(Op):
    """Apply `scalar_op` elementwise with broadcasting."""

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op

    def __str__(self):
        return f"Elemwise{{{self.scalar_op}}}"

    def make_node(self, *inputs):
        sop = self.scalar_op
        if sop.nin != -1 and len(inputs) != sop.nin:
            raise TypeError(f"{sop} takes {sop.nin} inputs, got {len(inputs)}")
        inputs = convert_weak_scalars(inputs, sop.weak_from)
        ndim = max(v.ndim for v in inputs)
        padded = []
        for v in inputs:
            if v.ndim < ndim and isinstance(v, Constant):
                # a constant is padded directly: no DimShuffle node per literal
                v = constant(v.data.reshape((1,) * (ndim - v.ndim) + v.data.shape))
            elif v.ndim < ndim:
                v = DimShuffle(v.broadcastable, ["x"] * (ndim - v.ndim) + list(range(v.ndim)))(v)
            padded.append(v)
        bcast = tuple(all(v.broadcastable[i] for v in padded) for i in range(ndim))
        dtype = sop.output_dtype(*[v.dtype for v in padded])
        return Apply(self, padded, [TensorType(dtype, bcast)()])

    def compute(self, node, *inputs):
        dtype = node.outputs[0].type.dtype
        if self.scalar_op.cast_inputs:
            inputs = [a.astype(dtype) if a.dtype.kind in "biu" else a for a in inputs]
        r = np.asarray(self.scalar_op.impl(*inputs))
        if r.dtype != dtype:
            r = r.astype(dtype)
        if len(inputs) > 1:
            shape = np.shape(r)
            for a in inputs:
                if np.shape(a) != shape:
                    check_broadcast(node, inputs, shape)
                    break
        return r

    def grad(self, inputs, output_grads):
        return self.L_op(inputs, [self(*inputs)], output_grads)

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        if getattr(gz.type, "is_disconnected", False) or outputs[0].dtype in discrete_dtypes:
            # an integer output passes no gradient on (Theano: zero)
            return [disconnected_type() for _ in inputs]
        grads = self.scalar_op.grad(inputs, outputs[0], gz)
        res = []
        for x, g in zip(inputs, grads):
            if g is None:
                # no gradient (a discrete input): zero, reported as disconnected
                res.append(disconnected_type())
                continue
            if getattr(g.type, "is_null", False) or getattr(g.type, "is_disconnected", False):
                res.append(g)
                continue
            res.append(sum_to(g, x))
        return res

    def infer_shape(self, node, shapes):
        return [T.dims.broadcast_shape(*shapes)]

    def connection_pattern(self, node):
        cp = self.scalar_op.connection_pattern()
        return [[True] for _ in node.inputs] if cp is None else [[c] for c in cp]


def check_broadcast(node, inputs, shape):
    """Refuse runtime broadcasting of a dim not declared broadcastable (as Theano):
    its gradient would otherwise have the wrong shape."""
    for k, (a, v) in enumerate(zip(inputs, node.inputs)):
        for i, (n, b) in enumerate(zip(np.shape(a), v.type.broadcastable)):
            if n != shape[i] and not b:
                shapes = [np.shape(x) for x in inputs]
                raise ValueError(
                    f"{node.op}: input {k} has length {n} in dimension {i} where the "
                    f"result has {shape[i]} (input shapes {shapes}). Dimension {i} of "
                    f"input {k} is not broadcastable; if it has length 1 on purpose, "
                    f"mark it with T.addbroadcast(x, {i}) or use a row/col variable.")


def convert_weak_scalars(inputs, weak_from=None):
    """Convert inputs to tensors; Python scalars are 'weak' (NumPy 2 / JAX rule):
    they take the dtype of the tensor operands (those at `weak_from`, default all)
    when that holds them."""
    out = [v if _is_py_scalar(v) else as_tensor_variable(v) for v in inputs]
    weak = [k for k, v in enumerate(inputs) if _is_py_scalar(v)]
    if not weak:
        return out
    idx = range(len(inputs)) if weak_from is None else weak_from
    strong = [out[k].dtype for k in idx if k not in weak]
    strong = upcast(*strong) if strong else None
    for k in weak:
        out[k] = as_tensor_variable(inputs[k], dtype=_weak_dtype(inputs[k], strong))
    return out


def _is_py_scalar(v):
    return isinstance(v, (bool, int, float, complex)) and not isinstance(v, np.generic)


def _weak_dtype(v, strong):
    own = python_scalar_dtype(v)
    if strong is None:
        return own
    kind = np.dtype(strong).kind
    if isinstance(v, bool):
        return strong if kind != "b" else "bool"
    if isinstance(v, int):
        if kind in "iu":
            info = np.iinfo(strong)
            return strong if info.min <= v <= info.max else own
        return strong if kind in "fc" else own
    if isinstance(v, float):
        return strong if kind in "fc" else own
    return strong if kind == "c" else own


class DimShuffle(Op):
    """Reorder dimensions, insert broadcastable ('x') dims, drop broadcastable dims.

    `new_order` lists, for each output dim, an input dim index or 'x'."""

    __props__ = ("input_broadcastable", "new_order")

    def __init__(self, input_broadcastable, new_order):
        self.input_broadcastable = tuple(bool(b) for b in input_broadcastable)
        self.new_order = tuple(new_order)
        nd = len(self.input_broadcastable)
        seen = [i for i in self.new_order if i != "x"]
        for i in seen:
            if not isinstance(i, (int, np.integer)) or not 0 <= i < nd:
                raise ValueError(f"dimshuffle: {i!r} is not a dimension of a {nd}-d tensor "
                                 f"(pattern {self.new_order})")
        if len(set(seen)) != len(seen):
            raise ValueError(f"dimshuffle: pattern {self.new_order} repeats a dimension")
        self.drop = tuple(i for i in range(nd) if i not in seen)
        for d in self.drop:
            if not self.input_broadcastable[d]:
                raise ValueError(f"dimshuffle: cannot drop dimension {d} of pattern "
                                 f"{self.new_order}: it is not broadcastable (use "
                                 "T.addbroadcast first if it has length 1)")
        self.perm = tuple(seen)
        self.augment = tuple(j for j, i in enumerate(self.new_order) if i == "x")

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.broadcastable != self.input_broadcastable:
            if len(x.broadcastable) != len(self.input_broadcastable):
                raise TypeError(f"dimshuffle expected a {len(self.input_broadcastable)}-d "
                                f"input, got {x.ndim}-d {x}")
            # A more specific input is fine: rebuild the op for its pattern.
            return DimShuffle(x.broadcastable, self.new_order).make_node(x)
        bc = tuple(True if i == "x" else x.broadcastable[i] for i in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, bc)()])

    def compute(self, node, x):
        out_shape = [1 if i == "x" else x.shape[i] for i in self.new_order]
        if self.perm != tuple(range(len(self.perm))):
            x = np.transpose(x, self.perm + self.drop)
        return np.reshape(x, out_shape)

    def grad(self, inputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        g = T.addbroadcast(gz, *self.augment) if self.augment else gz
        pos = {d: j for j, d in enumerate(self.new_order) if d != "x"}
        pattern = [pos.get(d, "x") for d in range(x.ndim)]
        g = DimShuffle(g.broadcastable, pattern)(g)
        return [T.patternbroadcast(g, x.broadcastable)]

    def infer_shape(self, node, shapes):
        (sh,) = shapes
        one = constant(np.int64(1))
        return [tuple(one if i == "x" else sh[i] for i in self.new_order)]

    def __str__(self):
        return f"DimShuffle{{{','.join(map(str, self.new_order))}}}"


def sum_to(g, x):
    """Reduce gradient `g` (of the broadcast output) to the type of input `x`:
    sum the dims where x is broadcastable and g is not. Valid because Elemwise
    refuses to broadcast a runtime length-1 dim not declared broadcastable."""
    if g.type.broadcastable == x.type.broadcastable:
        return g
    axes = tuple(i for i in range(x.ndim)
                 if x.type.broadcastable[i] and not g.type.broadcastable[i])
    r = g.sum(axis=axes, keepdims=True) if axes else g
    return T.patternbroadcast(r, x.type.broadcastable)


# -- how the rewrite engine (graph/rewrite.py) sees Elemwise nodes ----------------------
# Registered here, beside the op, so that they hold from the moment Elemwise exists.
def _scalar_op_of(op):
    """Rules registered for (Elemwise, Add) are tried only on additions."""
    return op.scalar_op


def _commutes(node):
    """Additions, products, max and min merge whatever the order of their inputs; for
    more than two inputs only when all have the output's dtype (the order then changes
    nothing but rounding)."""
    if not node.op.scalar_op.commutative:
        return False
    dtype = node.outputs[0].dtype
    return len(node.inputs) <= 2 or all(v.dtype == dtype for v in node.inputs)


register_subkey(Elemwise, _scalar_op_of)
register_commutative(Elemwise, _commutes)
