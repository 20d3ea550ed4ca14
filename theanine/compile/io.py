"""In and Out: how function inputs and outputs are declared (Theano's In/Out)."""

from __future__ import annotations

from theanine.graph.basic import Variable
from theanine.tensor.basic import as_tensor_variable


class In:
    """An input of a compiled function, with an optional default `value`.

    name: keyword name (default: the variable's name).
    value: default used when the argument is omitted.
    update: expression replacing the default after each call (a stateful input).
    strict: only values of exactly the input's dtype are accepted.
    allow_downcast: as theano.function's allow_input_downcast, for this input.
    borrow: the function may keep a reference to the value passed."""

    def __init__(self, variable, name=None, value=None, update=None, mutable=None,
                 strict=False, allow_downcast=None, autoname=True, implicit=None,
                 borrow=False, shared=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"In: variable must be a symbolic variable, got {variable!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"In: name must be a string or None, got {name!r}")
        if update is not None:
            update = _checked_update(variable, update)
        self.variable = variable
        self.name = name if name is not None else (variable.name if autoname else None)
        self.value = value
        self.update = update
        self.mutable = bool(mutable)
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.borrow = borrow
        self.implicit = implicit

    def __repr__(self):
        return f"In({self.variable})"


def _checked_update(variable, update):
    """`update` as a variable of `variable`'s type (a TypeError naming both if not)."""
    if not isinstance(update, Variable):
        try:
            update = as_tensor_variable(update)
        except TypeError:
            raise TypeError(f"In: update of {variable} must be a symbolic expression of its "
                            f"type {variable.type}, got {update!r}") from None
    try:
        return variable.type.filter_variable(update)
    except TypeError:
        raise TypeError(f"In: the update of {variable} ({variable.type}) has type "
                        f"{update.type}; an update must have its variable's type (cast "
                        "or reshape it)") from None


class Out:
    """An output of a compiled function; borrow=True allows returning internal storage."""

    def __init__(self, variable, borrow=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"Out: variable must be a symbolic variable, got {variable!r}")
        self.variable = variable
        self.borrow = borrow

    def __repr__(self):
        return f"Out({self.variable})"
