"""The jax backend: the whole graph as one jitted JAX function (linker.py).

JAX is imported only inside this folder. Lowerings per op family live in the
modules named after the tensor/ families (elemwise.py, shape.py, scan.py, ...),
registered in one theanine.graph.dispatch.Registry (registry.py); docs/jax.md is
the user's page.
"""

# The modules holding the lowering registrations, imported by the registry at its
# first lookup (so no lookup depends on what was imported before it).
LOWERING_MODULES = [
    "theanine.backends.jax.checkpoint",  # memory-budgeted loop gradients (RevolveGrad)
    "theanine.backends.jax.control",  # ifelse, OpFromGraph, Print, checks, gradient markers
    "theanine.backends.jax.conv",  # tensor.nnet.conv
    "theanine.backends.jax.cumulative",  # tensor.extra_ops: cumsum, cumprod
    "theanine.backends.jax.elemwise",  # tensor.elemwise (Elemwise, DimShuffle), Composite
    "theanine.backends.jax.linalg",  # tensor.linalg (Dot, Gemm), nlinalg, slinalg
    "theanine.backends.jax.mrg",  # sandbox.mrg (MRG_RandomStreams)
    "theanine.backends.jax.nnet",  # tensor.nnet: softmax, crossentropy
    "theanine.backends.jax.pool",  # tensor.signal.pool
    "theanine.backends.jax.random",  # RandomStreams (JAX's threefry generator)
    "theanine.backends.jax.recurrence",  # LinearRecurrence, FusedRecurrence, ZeroPad
    "theanine.backends.jax.reduce",  # tensor.reduce
    "theanine.backends.jax.scan",  # scan (lax.scan, lax.while_loop)
    "theanine.backends.jax.shape",  # tensor.shape, alloc, join, extra_ops ranges
    "theanine.backends.jax.sorting",  # tensor.sorting
    "theanine.backends.jax.subtensor",  # tensor.subtensor*
]
