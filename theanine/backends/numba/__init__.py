"""The numba backend: Python glue around numba-compiled kernels (see linker.py).

Only this folder imports numba. Entry points: ``linker.link`` (the backend),
``linker.set_policy`` / ``linker.policy`` (when kernels compile), and
``registry.register`` for op implementations (emitters).

Layout: ``ops_<family>.py`` hold the emitters of the ops of one family of
theanine.tensor (and of scan, ifelse, the random streams); ``scalar_table.py`` the
source of each scalar function; ``codegen.py`` writes a kernel's module;
``kernels/`` is the compiled code kernels call (real ``@njit`` modules, gathered
by ``runtime.py``); ``store.py`` the disk cache, ``background.py`` / ``worker.py``
compilation in another process, ``debug.py`` DebugMode.
"""

# The modules holding the emitter registrations, imported by the registry at its
# first lookup (so no lookup depends on what was imported before it).
EMITTER_MODULES = [
    "theanine.backends.numba.ops_checks",  # tensor.checks (SpecifyShape, Assert)
    "theanine.backends.numba.ops_control",  # IfElse, Print, as_op, gradient markers
    "theanine.backends.numba.ops_conv",  # tensor.nnet.conv
    "theanine.backends.numba.ops_elemwise",  # tensor.elemwise (Elemwise, DimShuffle), Composite
    "theanine.backends.numba.ops_extra",  # tensor.extra_ops: ranges, cumulative, repetition,
    #                                       diagonal, unravel
    "theanine.backends.numba.ops_fused_recurrence",  # scan.fused_recurrence
    "theanine.backends.numba.loops",  # loop fusion in compiled regions (the region planner)
    "theanine.backends.numba.ops_linalg",  # tensor.linalg (Dot, Gemm), nlinalg, slinalg
    "theanine.backends.numba.ops_nnet",  # tensor.nnet: softmax, crossentropy checks
    "theanine.backends.numba.ops_pool",  # tensor.signal.pool
    "theanine.backends.numba.ops_random",  # sandbox.mrg (MRG_RandomStreams)
    "theanine.backends.numba.ops_recurrence",  # tensor.recurrence (LinearRecurrence)
    "theanine.backends.numba.ops_reduce",  # tensor.reduce (CAReduce, Argmax)
    "theanine.backends.numba.ops_scan",  # scan
    "theanine.backends.numba.ops_shape",  # tensor.shape, alloc, dims, join
    "theanine.backends.numba.ops_sorting",  # tensor.sorting (sort, argsort, searchsorted, unique)
    "theanine.backends.numba.ops_subtensor",  # tensor.subtensor*: basic, advanced, nonzero, split
]
