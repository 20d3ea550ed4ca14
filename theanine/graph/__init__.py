"""Graph IR: variables, apply nodes, ops, types, traversal."""

from .basic import Apply, Constant, Op, PureOp, Type, Variable
from .fgraph import FunctionGraph, MissingInputError
from .traversal import ancestors, clone, clone_replace, graph_inputs, inputs, toposort

__all__ = [
    "Apply", "Constant", "Op", "PureOp", "Type", "Variable", "FunctionGraph",
    "MissingInputError", "ancestors", "clone", "clone_replace", "graph_inputs", "inputs",
    "toposort",
]
