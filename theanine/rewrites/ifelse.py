"""ifelse rules: an ifelse whose condition is a constant is the branch it picks (e.g.
``givens={is_training: 1}``), and one whose branches are the same variables is them.
Part of constant_folding, so every mode with rewrites applies them."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewrite import rule
from theanine.ifelse import IfElse


@rule(IfElse, name="ifelse_constant_condition")
def ifelse_constant_condition(graph, node):
    """ifelse(constant c, t, e) -> t if c else e."""
    cond, n = node.inputs[0], node.op.n_outs
    if not isinstance(cond, Constant):
        return None
    return list(node.inputs[1:1 + n] if np.asarray(cond.data).item() else node.inputs[1 + n:])


@rule(IfElse, name="ifelse_same_branches")
def ifelse_same_branches(graph, node):
    """ifelse(c, x, x) -> x (per output)."""
    n = node.op.n_outs
    ts, es = node.inputs[1:1 + n], node.inputs[1 + n:]
    if not all(t is e for t, e in zip(ts, es)):
        return None
    return list(ts)


IFELSE_RULES = [ifelse_constant_condition, ifelse_same_branches]
