"""FunctionGraph: a closed graph from a list of inputs to a list of outputs.

It is what rewrites transform and what backends compile. Every root of the
outputs' graph is an input or a Constant (checked on construction).
"""

from __future__ import annotations

from .basic import Constant
from .traversal import graph_inputs, toposort


class MissingInputError(ValueError):
    """A variable needed to compute the outputs was not given as an input."""


class FunctionGraph:
    def __init__(self, inputs, outputs, check=True):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        if check:
            known = {id(v) for v in self.inputs}
            for v in graph_inputs(self.outputs, stop_at=self.inputs):
                if id(v) not in known and not isinstance(v, Constant):
                    raise MissingInputError(
                        f"input {v} (type {v.type}) is needed to compute the outputs but "
                        "was not provided: add it to the function's inputs, or give it a "
                        "value with givens=")

    def toposort(self):
        """The nodes in execution order, computed once (a FunctionGraph is never
        changed after construction: rewrites build a new one)."""
        order = self.__dict__.get("_order")
        if order is None:
            order = self._order = toposort(self.outputs, stop_at=self.inputs)
        return list(order)

    @property
    def apply_nodes(self):
        return self.toposort()

    def clients(self):
        """{id(variable): [(node, input index)]} for the current graph."""
        out = {}
        for node in self.toposort():
            for i, v in enumerate(node.inputs):
                out.setdefault(id(v), []).append((node, i))
        return out

    def __str__(self):
        return f"FunctionGraph({', '.join(map(str, self.outputs))})"
