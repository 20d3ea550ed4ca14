"""theano.compile.ops: as_op, turning a NumPy function into an Op."""

from __future__ import annotations

from theanine.graph.basic import Apply, Op, Type


def _as_type(t, what):
    if isinstance(t, Type):
        return t
    if callable(t):
        v = t()
        if hasattr(v, "type"):
            return v.type
    raise TypeError(f"as_op: {what} must be types (e.g. T.dmatrix), got {t!r}")


class FromFunctionOp(Op):
    """An Op whose perform calls a Python function on NumPy values (no gradient)."""

    __props__ = ("fn", "itypes", "otypes", "infer_shape_fn")

    def __init__(self, fn, itypes, otypes, infer_shape):
        self.fn, self.itypes, self.otypes = fn, tuple(itypes), tuple(otypes)
        self.infer_shape_fn = infer_shape
        self.__name__ = getattr(fn, "__name__", "as_op")

    def __str__(self):
        return f"FromFunctionOp{{{self.__name__}}}"

    def make_node(self, *inputs):
        from theanine.tensor.basic import as_tensor_variable

        if len(inputs) != len(self.itypes):
            raise TypeError(f"{self}: expected {len(self.itypes)} inputs, got {len(inputs)}")
        ins = []
        for k, (v, t) in enumerate(zip(inputs, self.itypes)):
            v = as_tensor_variable(v)
            if v.type != t:
                try:
                    v = t.filter_variable(v)
                except TypeError:
                    raise TypeError(f"{self}: input {k} must be {t}, got {v.type}") from None
            ins.append(v)
        return Apply(self, ins, [t() for t in self.otypes])

    def perform(self, node, inputs, output_storage):
        outs = self.fn(*inputs)
        if len(self.otypes) == 1:
            outs = [outs]
        if len(outs) != len(self.otypes):
            raise ValueError(f"{self}: the function returned {len(outs)} outputs, expected "
                             f"{len(self.otypes)}")
        for k, (cell, o, t) in enumerate(zip(output_storage, outs, self.otypes)):
            cell[0] = t.filter(o, allow_downcast=True, arg=f"{self} output {k}")

    def infer_shape(self, node, input_shapes):
        if self.infer_shape_fn is None:
            raise NotImplementedError(f"{self} has no infer_shape")
        return self.infer_shape_fn(node, input_shapes)


def as_op(itypes, otypes, infer_shape=None):
    """Decorator: make an Op from a function of NumPy arrays.

        @as_op(itypes=[T.dmatrix, T.dmatrix], otypes=[T.dmatrix])
        def numpy_dot(a, b):
            return np.dot(a, b)
    """
    itypes = [_as_type(t, "itypes") for t in (itypes if isinstance(itypes, (list, tuple))
                                              else [itypes])]
    otypes = [_as_type(t, "otypes") for t in (otypes if isinstance(otypes, (list, tuple))
                                              else [otypes])]

    def decorate(fn):
        return FromFunctionOp(fn, itypes, otypes, infer_shape)

    return decorate
