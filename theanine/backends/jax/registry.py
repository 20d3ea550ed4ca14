"""Per-Op JAX lowerings: one registered function per Op class, in the Registry
shared by every backend (theanine.graph.dispatch).

    @lowerings.register(Reshape)
    def _reshape(node, x, shape):
        return jnp.reshape(x, tuple(int(s) for s in shape))

A lowering receives the node and its input values while JAX traces the graph:
jax arrays (tracers), or NumPy values where the value is known when tracing
(constants, shapes, values the linker specialises on; see plan.py). It returns
the output value (one output) or a tuple of them. Lookup walks the op's MRO, so
a lowering registered for a base class serves its subclasses. The modules that
hold the registrations are listed in this package's ``__init__``
(LOWERING_MODULES); importing the linker (backends.load) imports them, else the
first lookup.

Attributes a lowering may carry, read by plan.py and control.py: ``host`` (the
node runs on the host between jitted segments), ``deferred`` / ``traceable``
(its output shapes may depend on values), ``no_fold`` (never evaluated while
compiling).
"""

from __future__ import annotations

from theanine.graph.dispatch import Registry

from . import LOWERING_MODULES

lowerings = Registry("jax", modules=LOWERING_MODULES)


def lowering_for(op):
    """The lowering of `op` (None: it runs through a Python callback)."""
    return lowerings.lookup(op)
