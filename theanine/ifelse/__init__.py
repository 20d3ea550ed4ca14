"""theano.ifelse: ``ifelse(condition, then_branch, else_branch)``, a conditional that
computes only the branch taken.

op.py: IfElse, whose branch values are ordinary inputs (building and differentiating
it copy nothing). lazy.py: LazyIfElse, the form backends run, made by lazy_ifelse
when a graph is linked: each branch holds the nodes only it needs.
"""

from .lazy import LazyIfElse, lazy_ifelse
from .op import IfElse, ifelse

__all__ = ["IfElse", "LazyIfElse", "ifelse", "lazy_ifelse"]
