"""Ops that run the user's Python code on values: Print (Theano's
theano.printing.Print) and as_op's FromFunctionOp (theano.compile.ops.as_op);
``theanine.printing`` and ``theanine.compile.ops`` re-export them.

Print is the identity on its input and prints it each time the node runs (it is
never constant-folded); FromFunctionOp calls a NumPy function, checks the
number of values it returns and converts each to its declared type.
"""

from __future__ import annotations

from theanine.graph.basic import Apply, Op, Type, Variable
from theanine.graph.inner_graph import nodes_with_inner

from .basic import as_tensor_variable
from .type import TensorType


def host_only(fgraph):
    """Why `fgraph` (inner graphs included) must run node by node as the graph says
    on a backend that runs the user's Python (a Print or a Python op: the user's
    code runs exactly where and as often as the graph says; a value that is not a
    tensor: e.g. a RandomStreams generator, whose numbers differ elsewhere), or
    None. Asked before a graph is moved to another backend (compile/interim.py)."""
    for node in nodes_with_inner(fgraph):
        op = node.op
        if isinstance(op, (Print, FromFunctionOp)):
            return f"{type(op).__name__} runs Python code"
        if any(not isinstance(v.type, TensorType) for v in node.inputs + node.outputs):
            return f"{type(op).__name__} takes or gives a value that is not a tensor"
    return None


# -- Print ------------------------------------------------------------------------
def _print_fn(op, value):
    for attr in op.attrs:
        got = getattr(value, attr)
        print(op.message, attr, "=", got() if callable(got) else got)


class Print(Op):
    """Identity that prints its input when the function runs (Theano's Print).

    ``x = Print("x is")(x)`` prints ``x is __str__ = [...]`` at each call;
    attrs names attributes to print instead (e.g. ('shape', 'sum')), global_fn
    replaces printing with any callable(op, value). Its gradient is the
    identity's, so printing does not change derivatives.
    """

    __props__ = ("message", "attrs", "global_fn")
    view_map = {0: [0]}

    def __init__(self, message="", attrs=("__str__",), global_fn=_print_fn):
        if isinstance(attrs, str):
            raise TypeError(f"Print: attrs must be a tuple of attribute names, got the "
                            f"string {attrs!r}; write attrs=({attrs!r},)")
        self.message = message
        self.attrs = tuple(attrs)
        self.global_fn = global_fn

    def make_node(self, x):
        x = as_tensor_variable(x) if not isinstance(x, Variable) else x
        return Apply(self, [x], [x.type()])

    def compute(self, node, x):
        self.global_fn(self, x)
        return x

    def grad(self, inputs, output_grads):
        return list(output_grads)

    def R_op(self, inputs, eval_points):
        return list(eval_points)

    def infer_shape(self, node, shapes):
        return list(shapes)

    def do_constant_folding(self, node):
        return False

    def __str__(self):
        return f"Print{{{self.message}}}" if self.message else "Print"


# -- as_op ---------------------------------------------------------------------------
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
