"""The rewrite pipeline of each mode: a plain ordered list of named steps.

Each step is a rule set (run to a fixed point) or a pass over the whole graph; see
README.md in this folder for one line per step. ``Mode(excluding=[name])`` skips a
step, a rule set or a single rule anywhere in the pipeline; ``including`` adds a step
of FAST_RUN (or the step that contains the named rule set) to a smaller pipeline, at
its FAST_RUN position.
"""

from __future__ import annotations

from theanine.config import config
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.rewrite import RewriteGraph, RuleSet, run_pipeline

from .canonicalize import canonicalize
from .constant_folding import constant_folding
from .fusion import fusion
from .inline import inline
from .inner_graphs import inner_graphs
from .merge import dead_code, merge
from .recurrence_fusion import fuse_recurrences
from .scan import scan_accumulate, scan_linear, scan_loops, scan_memory
from .shape import shape
from .specialize import specialize
from .stabilize import stabilize
from .tidy import tidy

FAST_RUN = [
    inline,             # OpFromGraph(inline=True) nodes become their inner graphs
    merge,              # equal subgraphs computed once (and kept so while rewriting)
    dead_code,          # nodes no output needs are dropped
    constant_folding,   # nodes of constants become constants
    RuleSet("simplify", [
        canonicalize,   # x*1, x+0, x-x, --x, flat sorted add/mul, x/c, x**k, chains
        shape,          # x.shape, x.shape[i] without computing x
    ], "canonicalize and shape, to one fixed point: each creates work for the other"),
    scan_loops,         # loops do only the work they must (rewrites/scan/)
    scan_accumulate,    # sums of per-step products: one product after the loop
    scan_linear,        # linear recurrences become parallel prefix scans
    tidy,               # no copies for set_subtensor into zeros, alloc(1) * w, x[::-1][::-1]
    scan_memory,        # loops store only the last rows that are read
    stabilize,          # log1p, expm1, softplus, log_softmax, logsumexp
    specialize,         # sum(x*y) -> dot, outer products, gemm
    fusion,             # chains of elementwise ops -> one Composite op
    fuse_recurrences,   # linear recurrences take in their elementwise neighbours
    inner_graphs,       # loop bodies through this same pipeline (every backend runs them)
]

FAST_COMPILE = [inline, merge, dead_code, constant_folding, inner_graphs]

PIPELINES = {
    "fast_run": FAST_RUN,
    "fast_compile": FAST_COMPILE,
    "merge": [inline, merge, dead_code, inner_graphs],
    "none": [],
    "None": [],
    None: [],
}

# Theano's names for rewrites that theanine has under another name.
ALIASES = {
    "local_elemwise_fusion": "fusion", "elemwise_fusion": "fusion", "fusion": "fusion",
    "constant_folding": "constant_folding", "topo_constant_folding": "constant_folding",
    "ShapeOpt": "shape", "local_shape_to_shape_i": "shape", "canonicalize": "canonicalize",
    "local_log1p": "log1p", "local_expm1": "expm1", "local_log_softmax": "log_softmax",
    "local_log_sum_exp": "logsumexp", "local_gemm": "gemm", "BlasOpt": "gemm",
    "merge": "merge", "MergeOptimizer": "merge",
}


def _names(names):
    out = set()
    for n in names:
        out.add(n)
        out.add(ALIASES.get(n, n))
    return out


def _flag_names(text):
    return [n for n in text.replace(",", ":").split(":") if n]


# Rules a backend's FAST_RUN leaves out (names as for `excluding`; the user's `including`
# brings one back), each with the measurement that decided it (benchmarks/RESULTS.md).
BACKEND_EXCLUDES = {
    # XLA runs BPTT's in-loop accumulation dU += dot(h_t.T, dz_t) as one fused loop;
    # storing h_t and dz_t per step for one product after the loop made XLA copy the
    # gradient loop's reversed trace into a transposed buffer: the RNN BPTT (T=1000,
    # H=256) peaked at 101.9 MiB with the rule, 63.2 MiB without (hand-written JAX: 94.5)
    "jax": ("scan_accumulate_products",),
}


def steps_for(optimizer="fast_run", excluding=(), including=(), backend=None):
    """(steps, names to exclude) for an optimizer name and Mode-style name lists;
    `backend`'s BACKEND_EXCLUDES are excluded unless `including` names them."""
    if optimizer == "default":
        optimizer = config.optimizer
    key = optimizer.lower() if isinstance(optimizer, str) and optimizer != "None" else optimizer
    if key not in PIPELINES:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: "
                         f"{sorted(k for k in PIPELINES if isinstance(k, str))}")
    steps = list(PIPELINES[key])
    include = _names(list(including) + _flag_names(config.optimizer_including))
    if include:  # a FAST_RUN step joins if it is, or contains, an included name
        steps = [s for s in FAST_RUN if s in steps or include & set(s.names())]
    exclude = _names(list(excluding) + _flag_names(config.optimizer_excluding)
                     + ([] if config.tensor.local_elemwise_fusion else ["fusion"])
                     + [n for n in BACKEND_EXCLUDES.get(backend, ()) if n not in include])
    return steps, frozenset(exclude)


def rewrite_fgraph(fgraph, mode):
    """The mode's pipeline applied to a copy of `fgraph` (a new FunctionGraph with the
    same inputs and outputs of the same types). ``config.print_rewrites`` (or Theano's
    ``optimizer_verbose``) prints each rewrite as it fires."""
    steps, excluding = mode.rewrite_steps()
    steps = [s for s in steps if s.name not in excluding]
    if not steps:
        return fgraph
    graph = RewriteGraph(fgraph.inputs, fgraph.outputs,
                         trace=config.print_rewrites or config.optimizer_verbose)
    run_pipeline(graph, steps, excluding)
    return FunctionGraph(graph.inputs, graph.outputs, check=False)


def all_names():
    """Every step, rule set and rule name that excluding/including accept."""
    names = []
    for step in FAST_RUN:
        names += [n for n in step.names() if n not in names]
    return names
