"""The graph IR: Type, Variable, Constant, Apply and Op.

Invariants:
- A Variable has at most one owner (the Apply that computes it) and knows its
  output index there; root variables (inputs, constants, shared) have owner None.
- An Op is an immutable description of a computation. Its parameters are the
  fields named in ``__props__``; two ops of one class with equal props compare
  and hash equal, so equal computations can be merged.
- ``make_node`` is the single place of type inference; ``perform``/``compute``
  are pure NumPy reference implementations.
- A gradient that is not a value has a type of its own: DisconnectedType (no
  gradient flows) or NullType (undefined or not implemented, with the reason).
  Every op's ``grad`` may return them, so they are graph vocabulary, stated here.
"""

from __future__ import annotations

import itertools

_ids = itertools.count()


class Type:
    """The type of a Variable: knows which values are valid and how to make variables."""

    variable_type = None  # set by subclasses: the Variable class to instantiate
    constant_type = None

    def filter(self, value, strict=False, allow_downcast=None):
        raise NotImplementedError

    def filter_variable(self, var):
        """Return `var` converted to this type, or raise TypeError."""
        if var.type == self:
            return var
        raise TypeError(f"cannot convert {var} of type {var.type} to type {self}")

    def is_valid_value(self, value):
        try:
            self.filter(value, strict=True)
            return True
        except (TypeError, ValueError):
            return False

    def make_variable(self, name=None):
        cls = self.variable_type or Variable
        return cls(self, name=name)

    def __call__(self, name=None):
        return self.make_variable(name)

    def make_constant(self, value, name=None):
        """A constant of this type holding `value` (converted by ``filter``)."""
        return (self.constant_type or Constant)(self, value, name=name)

    def values_eq(self, a, b):
        return a == b


class Variable:
    """A symbolic value: the result of an Apply, or a root input."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.serial = next(_ids)  # creation order: see next_serial()

    @property
    def auto_name(self):
        return f"v{self.serial}"

    @property
    def tag(self):
        """Free-form annotations; created on first use (most variables never need one)."""
        tag = self.__dict__.get("_tag")
        if tag is None:
            tag = self.__dict__["_tag"] = Tag()
        return tag

    @tag.setter
    def tag(self, value):
        self.__dict__["_tag"] = value

    def clone(self, name=None):
        """A new root variable of the same type and name (owner dropped)."""
        cp = type(self)(self.type, name=self.name if name is None else name)
        cp.tag = self.tag.copy()
        return cp

    def __str__(self):
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = str(self.owner.op)
            if len(self.owner.outputs) == 1:
                return f"{op}.0"
            return f"{op}.{self.index}"
        return f"<{self.type}>"

    def __repr__(self):
        return str(self)

    def get_parents(self):
        return [self.owner] if self.owner is not None else []

    def eval(self, inputs_to_values=None):
        """Compile (cached) and evaluate this variable, as Theano's Variable.eval."""
        from theanine.compile.function import function  # allow-listed: compile is above

        inputs_to_values = inputs_to_values or {}
        keys = tuple(inputs_to_values)
        cache = self.__dict__.setdefault("_eval_cache", {})
        if keys not in cache:
            cache[keys] = function(list(keys), self, on_unused_input="ignore")
        return cache[keys](*[inputs_to_values[k] for k in keys])

    def __getstate__(self):
        d = self.__dict__.copy()
        d.pop("_eval_cache", None)
        return d

    def __reduce_ex__(self, protocol):
        # A computed variable pickles as "output i of its owner", so that deep
        # graphs pickle without recursion (see graph.serialize.reduce_apply).
        if self.owner is None:
            return super().__reduce_ex__(protocol)
        from .serialize import output_of  # allow-listed: serialize.py builds on this module

        return (output_of, (self.owner, self.index))


def next_serial():
    """A number greater than the ``serial`` of every variable created so far, and at
    most that of any variable created later (scan uses it to tell the variables a
    step function closes over from those it creates)."""
    return next(_ids)


class Tag(dict):
    """Free-form annotations (``var.tag.test_value`` style attribute access)."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None

    def __setattr__(self, k, v):
        self[k] = v

    def copy(self):
        return Tag(self)

    def __reduce__(self):
        return (Tag, (dict(self),))


class Constant(Variable):
    """A root variable with a fixed value. Constants with equal type and data merge."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = type.filter(data)

    def signature(self):
        return (self.type, self.type.data_signature(self.data))

    def clone(self, name=None):
        cp = type(self)(self.type, self.data, name=self.name if name is None else name)
        cp.tag = self.tag.copy()
        return cp

    def __str__(self):
        if self.name is not None:
            return self.name
        text = str(self.data)
        if len(text) > 20:
            text = text[:10] + ".." + text[-10:]
        return f"Constant{{{text}}}"


class Apply:
    """One application of an Op to input variables, producing output variables."""

    def __init__(self, op, inputs, outputs):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, v in enumerate(self.inputs):
            if not isinstance(v, Variable):
                raise TypeError(f"input {i} of {op} is not a Variable: {v!r}")
        for i, out in enumerate(self.outputs):
            if not isinstance(out, Variable):
                raise TypeError(f"output {i} of {op} is not a Variable: {out!r}")
            if out.owner is not None and out.owner is not self:
                raise ValueError(f"output {i} of {op} already has an owner")
            out.owner = self
            out.index = i

    tag = Variable.tag

    @property
    def out(self):
        return self.outputs[op_default_output(self)]

    @property
    def nin(self):
        return len(self.inputs)

    @property
    def nout(self):
        return len(self.outputs)

    def clone_with_new_inputs(self, inputs, strict=True):
        """Apply the same op to new inputs. With strict, types must match exactly;
        otherwise the op's make_node re-infers the output types."""
        inputs = list(inputs)
        if strict and all(a.type == b.type for a, b in zip(inputs, self.inputs)):
            outputs = [o.clone() for o in self.outputs]
            for o, old in zip(outputs, self.outputs):
                o.name = old.name
            return Apply(self.op, inputs, outputs)
        return self.op.make_node(*inputs)

    def __reduce_ex__(self, protocol):
        from .serialize import reduce_apply  # allow-listed, as in Variable.__reduce_ex__

        return reduce_apply(self)

    def __setstate__(self, state):
        from .serialize import set_apply_state  # allow-listed, as in Variable.__reduce_ex__

        set_apply_state(self, state)

    def __str__(self):
        return f"{self.op}({', '.join(map(str, self.inputs))})"

    __repr__ = __str__


def op_default_output(node):
    d = getattr(node.op, "default_output", None)
    if d is not None:
        return d
    if len(node.outputs) != 1:
        raise ValueError(f"{node.op} has {len(node.outputs)} outputs; use node.outputs")
    return 0


class Op:
    """Base class of operations (Theano's protocol).

    Subclasses set ``__props__`` (names of the hashable parameters), define
    ``make_node(*inputs) -> Apply``, a NumPy implementation, and usually
    ``grad(inputs, output_grads)`` and ``infer_shape(node, input_shapes)``.

    The NumPy implementation is either Theano's
    ``perform(node, inputs, output_storage)`` (users' ops) or, for built-in ops,
    the pure ``compute(node, *inputs)`` returning the output (or a tuple of
    outputs); each is derived from the other.
    """

    __props__ = ()
    default_output = None
    view_map = {}
    destroy_map = {}

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        if self.__props__:
            args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.__props__)
            return f"{type(self).__name__}{{{args}}}"
        return type(self).__name__

    __repr__ = __str__

    def make_node(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}.make_node")

    def __call__(self, *inputs, **kwargs):
        check_runnable(self)
        node = self.make_node(*inputs, **kwargs)
        if self.default_output is not None:
            return node.outputs[self.default_output]
        if len(node.outputs) == 1:
            return node.outputs[0]
        return node.outputs

    def perform(self, node, inputs, output_storage, params=None):
        if type(self).compute is Op.compute:
            raise NotImplementedError(f"{type(self).__name__} has no perform or compute")
        res = self.compute(node, *inputs)
        if len(node.outputs) == 1:
            output_storage[0][0] = res
        else:
            for cell, r in zip(output_storage, res):
                cell[0] = r

    def compute(self, node, *inputs):
        storage = [[None] for _ in node.outputs]
        self.perform(node, list(inputs), storage)
        if len(node.outputs) == 1:
            return storage[0][0]
        return tuple(c[0] for c in storage)

    def grad(self, inputs, output_grads):
        return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]

    def L_op(self, inputs, outputs, output_grads):
        return self.grad(inputs, output_grads)

    def connection_pattern(self, node):
        """Default: every output depends on every input."""
        return [[True] * len(node.outputs) for _ in node.inputs]

    def do_constant_folding(self, node):
        return True

    def prepare_node(self, node, storage_map=None, compute_map=None, impl=None):
        pass

    # Theano names users sometimes call
    def __getstate__(self):
        return self.__dict__.copy()


def has_compute(op):
    return type(op).compute is not Op.compute


def check_runnable(op):
    """Refuse an op that defines only Theano's ``c_code`` (no ``perform`` or
    ``compute``): theanine generates no C, so it could never run."""
    cls = type(op)
    if (getattr(cls, "c_code", None) is not None and cls.perform is Op.perform
            and cls.compute is Op.compute):
        raise NotImplementedError(f"{cls.__name__} defines c_code but no perform(); "
                                  "theanine has no C backend: write perform()")


class PureOp(Op):
    """Alias kept for Theano code that subclasses gof.PureOp."""


# -- gradients that are not values ------------------------------------------------------
class DisconnectedType(Type):
    """Type of the 'gradient' of an output that does not depend on an input."""

    is_disconnected = True

    def filter(self, value, strict=False, allow_downcast=None):
        raise TypeError("a disconnected gradient has no value")

    def __eq__(self, other):
        return type(other) is DisconnectedType

    def __hash__(self):
        return hash(DisconnectedType)

    def __str__(self):
        return "DisconnectedType"


class NullType(Type):
    """Type of an undefined or unimplemented gradient; `why_null` says why."""

    is_null = True

    def __init__(self, why_null="(no explanation)"):
        self.why_null = why_null

    def filter(self, value, strict=False, allow_downcast=None):
        raise TypeError(f"an undefined gradient has no value: {self.why_null}")

    def __eq__(self, other):
        return type(other) is NullType and other.why_null == self.why_null

    def __hash__(self):
        return hash((NullType, self.why_null))

    def __str__(self):
        return "NullType"


def disconnected_type():
    """A variable standing for 'no gradient flows here'."""
    return DisconnectedType()()


def grad_not_implemented(op, x_pos, x, comment=""):
    """The gradient of `op` for its input `x_pos` is not implemented (asking raises)."""
    return NullType(f"the gradient of {op} with respect to its input {x_pos} is not "
                    f"implemented. {comment}")()


def grad_undefined(op, x_pos, x, comment=""):
    """The gradient of `op` for its input `x_pos` does not exist (asking raises)."""
    return NullType(f"the gradient of {op} with respect to its input {x_pos} is "
                    f"mathematically undefined. {comment}")()
