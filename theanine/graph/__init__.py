"""Graph IR: variables, apply nodes, ops, types, traversal."""

from .basic import Apply, Constant, Op, Type, Variable
from .traversal import ancestors, clone, clone_replace, graph_inputs, toposort

__all__ = [
    "Apply", "Constant", "Op", "Type", "Variable",
    "ancestors", "clone", "clone_replace", "graph_inputs", "toposort",
]
