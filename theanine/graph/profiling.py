"""ProfileStats: calls and run time per compiled function, per Apply node, per op
and per labelled part (a named scan's loop). Backends record into it; compiled
functions (theanine/compile) create and report it. Several functions may share one
(pass the same object as ``profile=``); it accumulates.
"""

from __future__ import annotations

import collections
import sys


class ProfileStats:
    """Counts calls and seconds per function call, per Apply node and per label.

    The backend calls ``record(node, seconds)`` after each node; the Function
    calls ``record_call(seconds)`` after each call."""

    def __init__(self, name="function"):
        self.name = name
        self.calls = 0
        self.call_time = 0.0
        self.apply_time = collections.defaultdict(float)
        self.apply_calls = collections.defaultdict(int)
        self.extra = collections.defaultdict(lambda: [0, 0.0])

    def record(self, node, seconds):
        self.apply_time[node] += seconds
        self.apply_calls[node] += 1

    def record_call(self, seconds):
        self.calls += 1
        self.call_time += seconds

    def record_extra(self, label, seconds):
        """Time of a labelled part (e.g. a named scan's loop)."""
        e = self.extra[label]
        e[0] += 1
        e[1] += seconds

    @property
    def op_time(self):
        """{op description: seconds} summed over the nodes applying it."""
        out = collections.defaultdict(float)
        for node, t in self.apply_time.items():
            out[str(node.op)] += t
        return dict(out)

    @property
    def op_calls(self):
        """{op description: number of node evaluations}."""
        out = collections.defaultdict(int)
        for node, n in self.apply_calls.items():
            out[str(node.op)] += n
        return dict(out)

    def summary_text(self, n_ops_to_print=20, n_apply_to_print=20):
        """The summary as a string (see summary)."""
        total_nodes = sum(self.apply_time.values()) or 1e-300
        lines = [f"Function profile: {self.name}",
                 f"  Time in {self.calls} calls to Function.__call__: {self.call_time:.6e} s",
                 f"  Time in nodes: {sum(self.apply_time.values()):.6e} s"]
        if self.calls:
            lines.append(f"  Time per call: {self.call_time / self.calls:.6e} s")
        by_class = collections.defaultdict(lambda: [0.0, 0, set()])
        for node, t in self.apply_time.items():
            e = by_class[type(node.op).__name__]
            e[0] += t
            e[1] += self.apply_calls[node]
            e[2].add(id(node))
        lines += ["", "Class", "  <% time> <sum %> <time (s)> <#call> <#apply> <class>"]
        lines += _table(((t, n, len(a), k) for k, (t, n, a) in by_class.items()),
                        total_nodes, n_ops_to_print)
        ops, calls = self.op_time, self.op_calls
        apply_count = collections.Counter(str(node.op) for node in self.apply_time)
        lines += ["", "Ops", "  <% time> <sum %> <time (s)> <#call> <#apply> <op>"]
        lines += _table(((t, calls[k], apply_count[k], k) for k, t in ops.items()),
                        total_nodes, n_ops_to_print)
        lines += ["", "Apply", "  <% time> <sum %> <time (s)> <#call> <node>"]
        rows = sorted(self.apply_time.items(), key=lambda kv: -kv[1])[:n_apply_to_print]
        cum = 0.0
        for node, t in rows:
            cum += t
            lines.append(f"  {100 * t / total_nodes:7.1f}% {100 * cum / total_nodes:6.1f}% "
                         f"{t:10.3e} {self.apply_calls[node]:7d}  {node}")
        if self.extra:
            lines += ["", "Labelled parts"]
            for label, (n, t) in self.extra.items():
                lines.append(f"  {label}: {n} calls, {t:.6e} s")
        return "\n".join(lines)

    def summary(self, file=sys.stderr, n_ops_to_print=20, n_apply_to_print=20):
        """Print calls and total time, then time per op class, per op and per
        node (most expensive first), as Theano's ProfileStats.summary. Also
        returns the text (summary_text gives it without printing)."""
        text = self.summary_text(n_ops_to_print, n_apply_to_print)
        print(text, file=file)
        return text


def _table(rows, total, limit):
    rows = sorted(rows, key=lambda r: -r[0])
    out, cum = [], 0.0
    for t, n, n_apply, label in rows[:limit]:
        cum += t
        out.append(f"  {100 * t / total:7.1f}% {100 * cum / total:6.1f}% {t:10.3e} "
                   f"{n:7d} {n_apply:8d}  {label}")
    if len(rows) > limit:
        out.append(f"  ... ({len(rows) - limit} more)")
    return out
