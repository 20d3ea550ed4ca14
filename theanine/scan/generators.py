"""Random generators carried by a loop: the one place scan deals with them.

A generator used in fn (RandomStreams) is a shared variable with a default update;
the front end makes it a carry like any shared variable fn updates (api.py), whose
trace, if kept, is a list. What is particular to generators is here:

- ``carries_at_start``: the values a loop starts from. A body whose draws advance
  their generator in place (the scan_random_inplace rewrite) gets copies of the
  generators it is given, made once when the loop starts, so the caller's values
  are never changed (the reference loop of scan/op.py calls this).
- ``draws``: the samples of generator draws a graph reads (the gradient's reverse
  loop reads them from the forward loop instead of drawing again).
"""

from __future__ import annotations

from theanine.graph.traversal import ancestors, toposort
from theanine.tensor.random import RandomOp, copy_generator, unwrap_generator

from .utils import is_tensor


def draws_in_place(op):
    """Whether `op`'s body advances generators in place (cached on the op)."""
    return op.cached("draws_in_place", lambda: any(
        isinstance(n.op, RandomOp) and n.op.inplace
        for n in toposort(op.inner_outputs, stop_at=op.inner_inputs)))


def carries_at_start(op, carries):
    """The carry values the loop of Scan `op` starts from (see the module docstring)."""
    if all(is_tensor(v) for v in op.carry_inputs) or not draws_in_place(op):
        return list(carries)
    return [c if is_tensor(v) else copy_generator(unwrap_generator(c))
            for c, v in zip(carries, op.carry_inputs)]


def draws(outputs):
    """The samples of NumPy-generator draws (RandomOp) that `outputs` depend on."""
    return [v for v in ancestors(outputs)
            if v.owner is not None and isinstance(v.owner.op, RandomOp)
            and v is v.owner.outputs[1]]
