"""SciPy's modules, imported at their first use.

Importing ``scipy.special`` or ``scipy.linalg`` takes ~0.15-0.25 s each (they load
SciPy's array-API layer, which walks NumPy's whole namespace): most of theanine's
import time, paid by every process at its start, while most programs never compute
an erf or a Cholesky factor. The ops call them only when they run, through these.
"""

from __future__ import annotations

import importlib


class DeferredModule:
    """The module `name`, imported when one of its attributes is first read; each
    attribute read is kept on this object, so later reads (an op's every call) are
    plain attribute reads."""

    def __init__(self, name):
        self.name = name

    def __getattr__(self, attr):
        value = getattr(importlib.import_module(self.name), attr)
        setattr(self, attr, value)
        return value


special = DeferredModule("scipy.special")
linalg = DeferredModule("scipy.linalg")


def special_function(name):
    """A function calling scipy.special's `name` with the same arguments (ufunc
    keywords included), importing scipy.special at its first call."""

    def call(*args, **kwargs):
        return getattr(special, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"scipy.special.{name}, imported at the first call."
    return call
