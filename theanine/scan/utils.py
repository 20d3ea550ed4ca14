"""Scan helpers: until, OrderedUpdates, the generic type of non-tensor carries, and
CheckSteps (a loop's check on its sequences' lengths, kept when a rewrite takes the
loop away)."""

from __future__ import annotations

from collections import OrderedDict

from theanine.graph.basic import Apply, Op, Type, Variable, disconnected_type
from theanine.graph.sharedvalue import SharedVariable
from theanine.graph.traversal import (  # noqa: F401 - Theano's scan_utils.clone
    clone_with_replacements as clone,
)
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.type import TensorType


def wrap_list(v):
    """None -> [], a list or tuple -> a list, anything else -> [it]."""
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


class until:
    """Returned by a scan step function to stop the loop once `condition` is true.

    The step where the condition becomes true is included in the outputs."""

    def __init__(self, condition):
        cond = as_tensor_variable(condition)
        if cond.ndim != 0:
            raise TypeError(f"until: the condition must be a 0-d (scalar) tensor, got a "
                            f"{cond.ndim}-d {cond.type}")
        self.condition = cond


class OrderedUpdates(OrderedDict):
    """An ordered dict {shared variable: new value expression}, as Theano returns
    from scan; it may be passed to theano.function(updates=...) and mutated."""

    def __setitem__(self, key, value):
        if not isinstance(key, SharedVariable):
            raise TypeError(f"OrderedUpdates: keys must be shared variables, got {key!r}")
        super().__setitem__(key, value)

    def __add__(self, other):
        out = OrderedUpdates(self)
        for k, v in OrderedDict(other).items():
            if k in out and out[k] is not v:
                raise KeyError(f"OrderedUpdates: two updates for {k}")
            out[k] = v
        return out

    __radd__ = __add__


class ListType(Type):
    """Type of the trace of a non-tensor carry (e.g. a random generator): a list."""

    def __init__(self, item_type):
        self.item_type = item_type

    def filter(self, value, strict=False, allow_downcast=None, **kw):
        if not isinstance(value, list):
            raise TypeError(f"expected a list of {self.item_type} values, got {type(value)}")
        return value

    def __eq__(self, other):
        return type(other) is ListType and other.item_type == self.item_type

    def __hash__(self):
        return hash((ListType, self.item_type))

    def __str__(self):
        return f"List({self.item_type})"


def is_tensor(v):
    return isinstance(v, Variable) and isinstance(v.type, TensorType)


class CheckSteps(Op):
    """Identity on a sequence that raises, as the loop would, when it has fewer rows
    than the steps asked for (kept when a rewrite takes the loop away), or than its
    taps need. `message` says what is wrong, with {rows} for the rows found and {n}
    for the rows needed."""

    __props__ = ("message",)

    def __init__(self, message="scan: a sequence has {rows} rows, fewer than the {n} "
                               "steps asked for (n_steps)"):
        self.message = message

    def __str__(self):
        return "CheckSteps"

    def make_node(self, seq, n_steps):
        n_steps = as_tensor_variable(n_steps)
        return Apply(self, [seq, n_steps], [seq.type()])

    def compute(self, node, seq, n):
        if n < 0:
            raise ValueError(f"scan: n_steps must be >= 0, got {n}")
        if len(seq) < n:
            raise ValueError(self.message.format(rows=len(seq), n=n))
        return seq

    def grad(self, inputs, output_grads):
        return [output_grads[0], disconnected_type()]

    def connection_pattern(self, node):
        return [[True], [False]]

    def infer_shape(self, node, shapes):
        return [shapes[0]]
