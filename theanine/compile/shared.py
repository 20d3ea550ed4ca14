"""Shared variables: symbolic variables with a value that persists between calls.

A SharedVariable's value lives in its Container; compiled functions read it as
an implicit input and write their updates to it only after a call succeeds.
"""

from __future__ import annotations

import copy

import numpy as np

from theanine.graph.basic import Variable
from theanine.graph.sharding import normalize_spec
from theanine.tensor.type import TensorType
from theanine.tensor.variable import _TensorMethods


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
        v = _filter(type, value, strict, allow_downcast, f"value of {label}")
        if not borrow and v is value:
            v = _copy(v)
        self.container = Container(type, v, name)

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value: a copy, or with borrow=True the stored object itself
        (mutating it then changes the shared value). A value kept on a device (jax
        backend) comes back as NumPy (borrow=True: a read-only view where the device
        is the CPU); return_internal_type=True returns the device array itself."""
        if return_internal_type:
            return self.container.raw
        v = self.container.value
        return v if borrow else _copy(v)

    def set_value(self, new_value, borrow=False):
        """Replace the value. It must have the variable's number of dimensions and a
        dtype that converts without loss (else TypeError, and nothing changes); it is
        copied unless borrow=True."""
        t = self.type
        label = f"{self.name or 'shared variable'}.set_value"
        if isinstance(t, TensorType) and isinstance(new_value, np.ndarray | np.generic):
            if np.ndim(new_value) != t.ndim:
                raise TypeError(f"{label}: expected a {t.ndim}-d value for {t}, got "
                                f"{np.ndim(new_value)}-d (shape {np.shape(new_value)})")
            if np.result_type(new_value.dtype, t.dtype).name != t.dtype:
                raise TypeError(f"{label}: expected dtype {t.dtype} (or one that converts "
                                f"to it without loss), got {new_value.dtype}; cast it first, "
                                f"e.g. numpy.asarray(value, dtype='{t.dtype}')")
        v = _filter(t, new_value, False, None, label)
        if not borrow and v is new_value:
            v = _copy(v)
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


def _filter(t, value, strict, allow_downcast, label):
    if isinstance(t, TensorType):
        return t.filter(value, strict=strict, allow_downcast=allow_downcast, arg=label)
    return t.filter(value, strict=strict, allow_downcast=allow_downcast)


def _copy(v):
    return v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v)


class TensorSharedVariable(_TensorMethods, SharedVariable):
    """A shared n-dimensional array."""


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False,
           broadcastable=None, target="cpu", sharding=None):
    """A shared variable holding `value` (a copy unless borrow=True).

    As in Theano, no dimension is broadcastable unless `broadcastable` says so;
    Python floats give float64 and Python ints int64 (no floatX autocast).
    sharding: how the jax backend splits the value over the devices of a mesh, e.g.
    ``(None, "model")`` (columns split over the mesh axis 'model'); see
    graph/sharding.py and docs/jax.md. Other backends ignore it."""
    if isinstance(value, Variable):
        raise TypeError(f"shared: value must be a number or an array, not the symbolic "
                        f"variable {value}")
    if isinstance(value, np.random.RandomState | np.random.Generator):
        from theanine.tensor.random import RandomStateSharedVariable

        if sharding is not None:
            raise TypeError(f"shared: a random generator cannot be split over devices "
                            f"(sharding={sharding!r}); it is replicated")
        return RandomStateSharedVariable(value, name=name, borrow=borrow)
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype.kind in "OUSV" or arr.dtype.name not in _DTYPES:
        raise TypeError(f"shared: cannot make a shared tensor from {type(value).__name__} "
                        f"of dtype {arr.dtype}")
    if broadcastable is None:
        broadcastable = (False,) * arr.ndim
    if len(broadcastable) != arr.ndim:
        raise ValueError(f"shared: broadcastable has {len(broadcastable)} entries for a "
                         f"{arr.ndim}-d value")
    ttype = TensorType(arr.dtype.name, broadcastable)
    if sharding is not None:
        sharding = normalize_spec(sharding, arr.ndim, f"shared {name or ''}".rstrip())
    var = TensorSharedVariable(ttype, arr, name=name, strict=strict,
                               allow_downcast=allow_downcast,
                               borrow=borrow or arr is not value)
    var.sharding = sharding
    return var


_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64", "complex64", "complex128"}
