"""Small helpers shared by the rule modules: matching elementwise nodes and constants."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import OUTPUT
from theanine.tensor.basic import constant
from theanine.tensor.elemwise import DimShuffle, Elemwise


def elemwise(*scalar_classes):
    """Rule tracks for Elemwise nodes of the given scalar op classes."""
    return tuple((Elemwise, c) for c in scalar_classes)


def owner_op(var, cls, scalar=None):
    """var's owner if its op is a `cls` (with a `scalar` scalar op, for Elemwise)."""
    node = var.owner
    if node is None or not isinstance(node.op, cls):
        return None
    if scalar is not None and not isinstance(node.op.scalar_op, scalar):
        return None
    return node


def ew(var, scalar):
    """var's owner if it is an Elemwise of scalar op class `scalar`."""
    return owner_op(var, Elemwise, scalar)


def constant_data(var):
    """The value of a constant, seeing through DimShuffles of constants; else None."""
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]
    if isinstance(var, Constant):
        return np.asarray(var.data)
    return None


def scalar_value(var):
    """The single value of a constant whose every dim is broadcastable (so dropping or
    replacing it changes no shape), else None."""
    if not all(var.broadcastable):
        return None
    data = constant_data(var)
    if data is None or data.size != 1:
        return None
    return data.reshape(())[()]


def is_value(var, value):
    v = scalar_value(var)
    return v is not None and v == value


def single_use(graph, var):
    """True when var is used once, by a node (not as a graph output)."""
    c = graph.clients.get(var, ())
    return len(c) == 1 and next(iter(c))[0] is not OUTPUT


def scalar_constant(value, dtype):
    return constant(np.asarray(value, dtype=dtype))


def is_float(var):
    return var.dtype.startswith("float")
