"""constant_folding: a node whose inputs are all constants becomes constants.

The node is computed once, at compile time, with the py backend's implementation.
An ifelse with a constant condition becomes the branch it picks (rewrites/ifelse.py).
Not folded: ops that refuse (``op.do_constant_folding(node)`` is False: random draws,
Print), outputs that are not tensors, computations that raise (the error is left
for run time, where the original graph raises it), and results that would embed a
large array built from small ones (an alloc of zeros stays an alloc).
"""

from __future__ import annotations

import warnings

import numpy as np

from theanine.backends.py.linker import py_funcify
from theanine.graph.basic import Constant
from theanine.graph.rewrite import RuleSet, rule
from theanine.tensor.type import TensorType
from theanine.tensor.variable import TensorConstant

from .ifelse import IFELSE_RULES

MAX_GROWTH_SIZE = 10_000  # folded outputs above this size must not outgrow their inputs


@rule(name="fold")
def fold(graph, node):
    """All inputs constant: compute the outputs now."""
    for v in node.inputs:
        if not isinstance(v, Constant):
            return None
    if not node.inputs:
        return None
    if not all(isinstance(o.type, TensorType) for o in node.outputs):
        return None
    if not node.op.do_constant_folding(node):
        return None

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = py_funcify(node.op, node)(*[v.data for v in node.inputs])
    except Exception:  # noqa: BLE001 - the error is raised at run time instead
        return None
    values = [values] if len(node.outputs) == 1 else list(values)
    biggest_input = max(np.size(v.data) for v in node.inputs)
    out = []
    for o, val in zip(node.outputs, values):
        val = np.asarray(val)
        if val.size > MAX_GROWTH_SIZE and val.size > 4 * biggest_input:
            return None
        if val.base is not None:
            val = val.copy()  # never a view of another constant's data
        try:
            out.append(TensorConstant(o.type, o.type.filter(val, strict=True)))
        except TypeError:
            return None
    return out


constant_folding = RuleSet("constant_folding", [fold, *IFELSE_RULES],
                           __doc__.split("\n\n")[0])
