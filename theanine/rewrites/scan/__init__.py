"""Scan rules: loops that do only the work they must, and store only what is read.

Each rule takes one Scan node apart (ScanParts, parts.py), changes the parts, and
builds a new Scan node; outputs nobody uses are never rebuilt. The rule set
``scan_loops`` (the pipeline's step "scan"), in order:

- scan_merge_traced (merge.py): two loops with the same body and inputs differing
  only in which traces they keep (the forward loop and the one a gradient asks
  for) run once;
- scan_merge_siblings (merge.py): independent loops over the same number of steps
  become one loop (sequences they share are read once);
- scan_remove_unused (prune.py): drop per-step outputs and traces nobody reads,
  duplicate per-step outputs, carries that feed nothing, inner inputs the body does
  not use, duplicate outer inputs;
- scan_inline_constants (prune.py): constant non-sequences become constants of the
  body;
- scan_last_state (prune.py): a trace read only as trace[-1] is the final state
  (no trace is stored);
- scan_hoist_invariant (hoist.py): body work that depends only on non-sequences
  runs once, before the loop;
- scan_hoist_draws (draws.py): per-step draws from a carried generator become one
  draw before the loop;
- scan_hoist_sequences (hoist.py): body work that depends only on sequence slices
  and non-sequences runs once over whole sequences, by the per-op batching rules in
  rewrites/vectorize_rules.py (x_t . W becomes one matrix product X . W);
- scan_output_is_sequence (hoist.py): a per-step output that is a sequence slice
  (or a loop invariant) needs no loop; a scan left with nothing to do disappears
  (a map of elementwise work becomes plain vectorised ops);
- scan_sum_accumulation (hoist.py): acc_t = acc_{t-1} + s_t read only at the end
  becomes acc_0 + sum(s) before the loop.

The rule set ``scan_accumulate`` (accumulate.py; the step after): sums of per-step
products become one product after the loop.

The rule set ``scan_linear`` (linear.py; the step after): loop carries updated as
A*h + B (cumsum, cumprod, running max/min, dot(h, M) + B) become LinearRecurrence
nodes (parallel prefix scans); the rules above run again on what is left; the adjoint
recurrence of a constant decay runs on the cotangents themselves (adjoint.py).

The rule set ``scan_memory`` (memory.py; the step after that): traces read only at their
end keep a ring buffer, a trace read with its initial state stores it as row 0, and
generator carries are advanced in place.
"""

from theanine.graph.rewrite import RuleSet

from .accumulate import scan_accumulate
from .adjoint import linear_recurrence_of_sums
from .draws import scan_hoist_draws
from .hoist import (
    scan_hoist_invariant,
    scan_hoist_sequences,
    scan_output_is_sequence,
    scan_sum_accumulation,
)
from .linear import linear_recurrence_final_only, scan_parallel_linear
from .memory import scan_keep_last, scan_memory, scan_random_inplace, scan_trace_with_init
from .merge import scan_merge_siblings, scan_merge_traced
from .parts import ScanParts
from .prune import (
    revolve_remove_unused,
    scan_inline_constants,
    scan_last_state,
    scan_remove_unused,
)

scan_loops = RuleSet(
    "scan",
    [scan_merge_traced, scan_merge_siblings, scan_remove_unused, scan_inline_constants,
     scan_last_state, scan_hoist_invariant, scan_hoist_draws, scan_hoist_sequences,
     scan_output_is_sequence, scan_sum_accumulation, revolve_remove_unused],
    doc="loops that do only the work they must (theanine/rewrites/scan/)")

scan_linear = RuleSet(
    "scan_linear", [scan_loops, scan_parallel_linear, linear_recurrence_final_only,
                    linear_recurrence_of_sums],
    "loop carries that are linear recurrences become parallel prefix scans "
    "(rewrites/scan/linear.py); the scan rules run again on what is left")

__all__ = ["ScanParts", "scan_loops", "scan_memory", "scan_accumulate", "scan_linear",
           "scan_parallel_linear", "linear_recurrence_final_only",
           "linear_recurrence_of_sums", "scan_merge_traced",
           "scan_merge_siblings", "scan_remove_unused", "scan_inline_constants",
           "scan_last_state", "scan_hoist_invariant", "scan_hoist_draws",
           "scan_hoist_sequences", "scan_output_is_sequence", "scan_sum_accumulation",
           "scan_keep_last", "scan_trace_with_init", "scan_random_inplace",
           "revolve_remove_unused"]
