"""Per-Op JAX lowerings: one registered function per Op class.

    @lowerings.register(Reshape)
    def _reshape(node, x, shape):
        return jnp.reshape(x, tuple(int(s) for s in shape))

A lowering receives the node and its input values while JAX traces the graph:
jax arrays (tracers), or NumPy values where the value is known when tracing
(constants, shapes, values the linker specialises on; see plan.py). It returns
the output value (one output) or a tuple of them. Lookup walks the op's MRO, so
a lowering registered for a base class serves its subclasses.

``Registry`` is the shape of the registration mechanism shared by all backends
(being unified elsewhere); this local copy keeps exactly that shape so that the
switch is a one-line import.
"""

from __future__ import annotations


class Registry:
    """Op class -> implementation, with lookup along the op's MRO."""

    def __init__(self, name):
        self.name = name
        self._table = {}

    def register(self, *op_classes):
        def deco(fn):
            for c in op_classes:
                self._table[c] = fn
            return fn

        return deco

    def lookup(self, op):
        """The implementation registered for op's class or its nearest base, else None."""
        for cls in type(op).__mro__:
            fn = self._table.get(cls)
            if fn is not None:
                return fn
        return None

    def registered_classes(self):
        return set(self._table)


lowerings = Registry("jax")


def lowering_for(op):
    """The lowering of `op` (None: it runs through a Python callback). The family
    modules register theirs when the linker imports them."""
    return lowerings.lookup(op)
