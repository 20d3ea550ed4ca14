"""Shared variables: symbolic variables with a value that persists between calls
(Theano's theano.compile.sharedvalue; ``theanine.compile.shared`` re-exports them).

A SharedVariable's value lives in its Container; compiled functions read it as
an implicit input and write their updates to it only after a call succeeds.
Values are converted by the variable's type (``_filter``), so a SharedVariable
of any Type works; theanine/tensor/sharedvar.py adds the tensor kind and
``shared()``.
"""

from __future__ import annotations

import copy

import numpy as np

from .basic import Variable


class Container:
    """A mutable cell holding one value of a given type.

    ``value`` is always a host value (NumPy, or a random generator). A backend that
    keeps values on a device (jax) stores its device value with ``store_device(v,
    to_host)``: ``raw`` is then the device value, ``value`` its host copy (made on
    first read, cached until the value changes). Assigning ``value`` stores a host
    value again. Pickling stores the host value."""

    __slots__ = ("type", "_raw", "name", "_to_host", "_host")

    def __init__(self, type, value, name=None):
        self.type, self.name = type, name
        self._raw, self._to_host, self._host = value, None, None

    @property
    def value(self):
        if self._to_host is None:
            return self._raw
        if self._host is None:
            self._host = self._to_host(self._raw)
        return self._host

    @value.setter
    def value(self, v):
        self._raw, self._to_host, self._host = v, None, None

    @property
    def raw(self):
        """The stored object: the host value, or the device value."""
        return self._raw

    @property
    def on_device(self):
        return self._to_host is not None

    def store_device(self, v, to_host, host=None):
        """Store a device value; `to_host(v)` gives its host value when one is read
        (`host`: the host value it was made from, returned until the value changes)."""
        self._raw, self._to_host, self._host = v, to_host, host

    def rebuffer(self, v):
        """Store `v`, a device value equal to the current one in new memory (after a
        failed call that consumed the old memory): the host copy stays valid."""
        self._raw = v

    def __getstate__(self):
        return (self.type, self.value, self.name)

    def __setstate__(self, state):
        self.type, value, self.name = state
        self._raw, self._to_host, self._host = value, None, None

    @property
    def data(self):
        """Theano's name for the stored value."""
        return self.value

    def __repr__(self):
        return f"<Container {self.name or ''} of {self.type}>"


class SharedVariable(Variable):
    """A variable whose value is stored between calls (Theano's theano.shared).

    ``sharding``: how the jax backend splits the value over a device mesh (a
    normalised spec, graph/sharding.py), or None (replicated); other backends ignore
    it."""

    sharding = None

    def __init__(self, type, value, name=None, strict=False, allow_downcast=None,
                 borrow=False):
        super().__init__(type, owner=None, index=None, name=name)
        label = f"shared variable {name}" if name else "shared variable"
        v = self._filter(value, strict, allow_downcast, f"value of {label}")
        if not borrow and _aliases(v, value):
            v = copy_value(v)
        self.container = Container(type, v, name)

    def _filter(self, value, strict, allow_downcast, label):
        """`value` as a value of this variable's type; `label` names it in errors."""
        return self.type.filter(value, strict=strict, allow_downcast=allow_downcast)

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value: a copy, or with borrow=True the stored object itself
        (mutating it then changes the shared value). A value kept on a device (jax
        backend) comes back as NumPy (borrow=True: a read-only view where the device
        is the CPU); return_internal_type=True returns the device array itself."""
        if return_internal_type:
            return self.container.raw
        v = self.container.value
        return v if borrow else copy_value(v)

    def set_value(self, new_value, borrow=False):
        """Replace the value (converted by the type: else TypeError, and nothing
        changes); it is copied unless borrow=True."""
        label = f"{self.name or 'shared variable'}.set_value"
        v = self._filter(new_value, False, None, label)
        if not borrow and _aliases(v, new_value):
            v = copy_value(v)
        self.container.value = v

    @property
    def value(self):
        return self.get_value()

    def clone(self, name=None):
        cp = type(self).__new__(type(self))
        cp.__dict__.update(self.__dict__)
        cp.tag = self.tag.copy()
        if name is not None:
            cp.name = name
        return cp

    def zero(self, borrow=False):
        """Set the value to zeros of the same shape."""
        self.set_value(np.zeros_like(self.container.value), borrow=True)


def _aliases(v, value):
    """True when the filtered value `v` is `value` or a view of it (a plain-ndarray
    view of an np.matrix): then it is copied unless borrow=True."""
    return v is value or (isinstance(value, np.ndarray) and isinstance(v, np.ndarray)
                          and np.may_share_memory(v, value))


def copy_value(v):
    """An independent copy of a stored value."""
    return v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v)
