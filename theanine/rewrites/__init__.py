"""Graph rewrites, one module per topic; pipeline.py lists, per mode, the rule sets and
passes in the order they run (see README.md in this folder).

Elemwise nodes dispatch on their scalar op too: a rule registered for
``(Elemwise, Add)`` is tried only on additions. Additions, products, max and min
merge whatever the order of their inputs (for more than two inputs, only when all
have the output's dtype: then the order changes nothing but rounding).
"""

from theanine.graph.rewrite import register_commutative, register_subkey
from theanine.tensor import scalar_ops as _so
from theanine.tensor.elemwise import Elemwise

register_subkey(Elemwise, lambda op: op.scalar_op)

_COMMUTATIVE = (_so.Add, _so.Mul, _so.Maximum, _so.Minimum)


def _commutes(node):
    if not isinstance(node.op.scalar_op, _COMMUTATIVE):
        return False
    dtype = node.outputs[0].dtype
    return len(node.inputs) <= 2 or all(v.dtype == dtype for v in node.inputs)


register_commutative(Elemwise, _commutes)
