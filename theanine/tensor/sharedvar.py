"""Shared tensors and ``shared()`` (Theano's theano.tensor.sharedvar and
theano.shared; ``theanine.compile.shared`` and ``theanine.shared`` re-export them).

Invariants:
- A TensorSharedVariable's value is an ndarray of its type's dtype and ndim;
  set_value refuses another ndim or a dtype that does not convert without loss,
  and then changes nothing.
- ``shared(value)`` makes no dimension broadcastable unless told, and gives Python
  floats float64 and Python ints int64 (no floatX autocast), as Theano.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Variable
from theanine.graph.sharding import normalize_spec
from theanine.graph.sharedvalue import SharedVariable

from .random import RandomStateSharedVariable
from .type import TensorType
from .variable import _TensorMethods


class TensorSharedVariable(_TensorMethods, SharedVariable):
    """A shared n-dimensional array."""

    def _filter(self, value, strict, allow_downcast, label):
        return self.type.filter(value, strict=strict, allow_downcast=allow_downcast,
                                arg=label)

    def set_value(self, new_value, borrow=False):
        """Replace the value. It must have the variable's number of dimensions and a
        dtype that converts without loss (else TypeError, and nothing changes); it is
        copied unless borrow=True."""
        t = self.type
        label = f"{self.name or 'shared variable'}.set_value"
        if isinstance(new_value, np.ndarray | np.generic):
            if np.ndim(new_value) != t.ndim:
                raise TypeError(f"{label}: expected a {t.ndim}-d value for {t}, got "
                                f"{np.ndim(new_value)}-d (shape {np.shape(new_value)})")
            if np.result_type(new_value.dtype, t.dtype).name != t.dtype:
                raise TypeError(f"{label}: expected dtype {t.dtype} (or one that converts "
                                f"to it without loss), got {new_value.dtype}; cast it first, "
                                f"e.g. numpy.asarray(value, dtype='{t.dtype}')")
        super().set_value(new_value, borrow)


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
