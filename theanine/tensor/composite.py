"""Composite: a chain of elementwise ops fused into one op (created by the fusion pass
of theanine/rewrites; a tensor op all the same).

The op holds a small program over scalars: ``program`` is a tuple of steps
``(scalar_op, args, dtype)``. Values are numbered: 0..nin-1 are the inputs, and step
k produces value nin + k; ``args`` are value numbers; the last step's value is the
output. A backend that compiles loops (numba) turns the program into one loop over
the output's elements; the py backend runs it as a sequence of NumPy calls that
reuse their buffers (backends/py/fused.py).

Invariants:
- Each step computes exactly what ``Elemwise(scalar_op)`` computes on its args
  (integer args of float-valued ops are cast first; the result has ``dtype``), so a
  Composite equals the chain it replaced, including its dtype and broadcast pattern.
- Every input reaches the output, and all inputs have the output's ndim; runtime
  broadcasting of a dim not declared broadcastable is refused, as Elemwise does.
- The gradient is the gradient of the unfused chain (``unfuse``).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Op

from .basic import as_tensor_variable
from .elemwise import Elemwise, check_broadcast
from .shape import broadcast_shape
from .type import TensorType


class Composite(Op):
    """Fused elementwise computation: see the module docstring."""

    __props__ = ("nin", "program")

    def __init__(self, nin, program):
        self.nin = int(nin)
        self.program = tuple((sop, tuple(int(a) for a in args), str(dtype))
                             for sop, args, dtype in program)
        if not self.program:
            raise ValueError("Composite: the program has no steps")
        for k, (_, args, _) in enumerate(self.program):
            if any(not 0 <= a < self.nin + k for a in args):
                raise ValueError(f"Composite: step {k} uses a value not yet computed: {args}")
        self._hash = hash((Composite, self.nin, self.program))

    def __hash__(self):
        return self._hash  # computed once: programs can be long, and merging hashes often

    def make_node(self, *inputs):
        inputs = [as_tensor_variable(v) for v in inputs]
        if len(inputs) != self.nin:
            raise TypeError(f"Composite takes {self.nin} inputs, got {len(inputs)}")
        if len({v.ndim for v in inputs}) > 1:
            raise TypeError(f"Composite: inputs must share one ndim, got "
                            f"{[v.ndim for v in inputs]}")
        dtypes = [v.dtype for v in inputs]
        bcast = [v.broadcastable for v in inputs]
        for sop, args, dtype in self.program:
            expected = sop.output_dtype(*[dtypes[a] for a in args])
            if expected != dtype:
                raise TypeError(f"Composite: {sop} of {[dtypes[a] for a in args]} gives "
                                f"{expected}, the program says {dtype}")
            dtypes.append(dtype)
            bcast.append(tuple(all(d) for d in zip(*[bcast[a] for a in args])))
        return Apply(self, inputs, [TensorType(dtypes[-1], bcast[-1])()])

    def compute(self, node, *inputs):
        """Reference implementation: each step as Elemwise.compute does it."""
        values = list(inputs)
        for sop, args, dtype in self.program:
            xs = [values[a] for a in args]
            if sop.cast_inputs:
                xs = [x.astype(dtype) if x.dtype.kind in "biu" else x for x in xs]
            r = np.asarray(sop.impl(*xs))
            values.append(r if r.dtype == dtype else r.astype(dtype))
        out = values[-1]
        for a in inputs:
            if a.shape != out.shape:
                check_broadcast(node, inputs, out.shape)
                break
        return out

    def unfuse(self, inputs):
        """The chain of Elemwise ops this Composite computes, applied to `inputs`."""
        values = list(inputs)
        for sop, args, _ in self.program:
            values.append(Elemwise(sop)(*[values[a] for a in args]))
        return values[-1]

    def grad(self, inputs, output_grads):
        from theanine.gradient import grad  # allow-listed: gradient sits above tensor

        out = self.unfuse(inputs)
        return grad(None, list(inputs), known_grads={out: output_grads[0]},
                    disconnected_inputs="ignore", return_disconnected="Disconnected",
                    null_gradients="return")

    def connection_pattern(self, node):
        reach = [{k} for k in range(self.nin)]
        for sop, args, _ in self.program:
            cp = sop.connection_pattern()
            reach.append(set().union(*[reach[a] for j, a in enumerate(args)
                                       if cp is None or cp[j]]))
        return [[k in reach[-1]] for k in range(self.nin)]

    def infer_shape(self, node, shapes):
        return [broadcast_shape(*shapes)]

    def expression(self, limit=80):
        """The program as one expression, e.g. ``tanh(add(i0, mul(i1, i2)))``."""
        text = [f"i{k}" for k in range(self.nin)]
        for sop, args, _ in self.program:
            text.append(f"{sop}({', '.join(text[a] for a in args)})")
            if len(text[-1]) > limit:
                text[-1] = text[-1][:limit - 3] + "..."
        return text[-1]

    def __str__(self):
        return f"Composite{{{self.expression()}}}"
