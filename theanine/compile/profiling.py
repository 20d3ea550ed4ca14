"""Profiling of compiled functions: calls and time per function and per op."""

from __future__ import annotations

import collections


class ProfileStats:
    """Counts calls and seconds, per function and per node (by op class)."""

    def __init__(self, name="function"):
        self.name = name
        self.calls = 0
        self.call_time = 0.0
        self.node_time = collections.defaultdict(float)
        self.node_calls = collections.defaultdict(int)
        self.extra = collections.defaultdict(lambda: [0, 0.0])

    def record(self, node, seconds):
        key = str(node.op)
        self.node_time[key] += seconds
        self.node_calls[key] += 1

    def record_call(self, seconds):
        self.calls += 1
        self.call_time += seconds

    def record_extra(self, label, seconds):
        """Time of a labelled part (e.g. a named scan's loop)."""
        e = self.extra[label]
        e[0] += 1
        e[1] += seconds

    def summary(self, file=None):
        lines = [f"Function profile: {self.name}",
                 f"  calls: {self.calls}, total time: {self.call_time:.6f} s"]
        if self.node_time:
            lines.append("  time per op (s)    calls   op")
            for k, t in sorted(self.node_time.items(), key=lambda kv: -kv[1]):
                lines.append(f"  {t:14.6f} {self.node_calls[k]:8d}   {k}")
        for label, (n, t) in self.extra.items():
            lines.append(f"  {label}: {n} calls, {t:.6f} s")
        text = "\n".join(lines)
        print(text, file=file)
        return text
