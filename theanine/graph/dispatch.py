"""Backend implementations, registered per Op class: one ``Registry`` per backend.

Every backend (py, numba, jax) keeps its implementations in one Registry:

    IMPLS = Registry("numba", modules=["theanine.backends.numba.ops_elemwise", ...])

    # in theanine/backends/numba/ops_elemwise.py, next to the code it describes:
    @IMPLS.register(Elemwise, outer=True)
    def _elemwise(ctx, node, ins, outs):
        ...

    IMPLS.lookup(op)           # the function for type(op), else for its nearest base
                               # class in the MRO, else None
    IMPLS.info(op, "outer")    # a keyword given at registration (default if none)
    IMPLS.classes()            # {class: function} of every registration

What the registered function is (its signature, what it returns) is the backend's
business: the py backend registers ``fn(op, node) -> callable``, the numba backend
emitters ``fn(ctx, node, ins, outs)``. ``register`` takes any number of classes and
keyword information stored with each (numba's ``outer``).

Invariants:
- A lookup never depends on what happened to be imported before it: the first
  ``lookup`` / ``info`` / ``classes`` call imports every module named in
  ``modules`` (the modules that hold the backend's registrations), so a fresh
  interpreter sees all of them.
- One class, one implementation per registry: registering a class twice raises
  (``replace=True`` for a deliberate override, e.g. in a test).
- Lookups follow the MRO: an implementation registered for a base class serves its
  subclasses unless they have their own.
- Thread-safe; this module imports nothing from theanine.
"""

from __future__ import annotations

import importlib
import threading

__all__ = ["Registry"]


class Registry:
    """Implementations of one backend, per Op class (see the module docstring)."""

    def __init__(self, name, modules=()):
        self.name = name
        self.modules = tuple(modules)
        self._impls = {}  # class -> (fn, info)
        self._memo = {}  # class -> (fn, info) or None, after the MRO walk
        self._loaded = False
        self._lock = threading.RLock()

    def __repr__(self):
        return f"Registry({self.name!r}, {len(self._impls)} classes)"

    def register(self, *op_classes, replace=False, **info):
        """Decorator: ``fn`` implements each of `op_classes` on this backend; `info`
        (keywords) is stored with it and read back with ``info(op, key)``."""
        if not op_classes:
            raise TypeError(f"{self.name} registry: register() needs at least one Op class")
        for c in op_classes:
            if not isinstance(c, type):
                raise TypeError(f"{self.name} registry: register() expects Op classes, got "
                                f"{c!r}")

        def deco(fn):
            with self._lock:
                for c in op_classes:
                    old = self._impls.get(c)
                    if old is not None and not replace and old[0] is not fn:
                        raise ValueError(
                            f"{self.name} registry: {c.__qualname__} already has an "
                            f"implementation ({old[0].__module__}.{old[0].__qualname__}); "
                            "pass replace=True to override it")
                    self._impls[c] = (fn, dict(info))
                self._memo.clear()
            return fn

        return deco

    def load(self):
        """Import the modules holding this backend's registrations (once)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            for m in self.modules:
                importlib.import_module(m)
            self._loaded = True

    def _entry(self, op_or_class):
        self.load()
        cls = op_or_class if isinstance(op_or_class, type) else type(op_or_class)
        try:
            return self._memo[cls]
        except KeyError:
            pass
        with self._lock:
            hit = next((self._impls[c] for c in cls.__mro__ if c in self._impls), None)
            self._memo[cls] = hit
        return hit

    def lookup(self, op_or_class):
        """The function registered for this op's class or its nearest base, or None."""
        hit = self._entry(op_or_class)
        return None if hit is None else hit[0]

    def info(self, op_or_class, key, default=None):
        """The keyword `key` given when this op's implementation was registered."""
        hit = self._entry(op_or_class)
        return default if hit is None else hit[1].get(key, default)

    def classes(self):
        """{class: function} of every registration (after loading the modules)."""
        self.load()
        with self._lock:
            return {c: fn for c, (fn, _) in self._impls.items()}
