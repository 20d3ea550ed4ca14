"""Timing shared by the benchmarks that run systems side by side in one process."""

from __future__ import annotations

import numpy as np


def random_rounds(systems, n, clock, warmup=2):
    """{name: [seconds of each of `n` rounds]} of the callables `systems`, timed with
    `clock`, after `warmup` calls of each.

    Each round calls the systems in a new random order (seeded): a call finds the
    caches (and JAX's threads) as the calls before it left them, which a fixed order
    (or a rotated one: the systems then still follow each other in the same cycle)
    makes the same for every round, charging one system with what another left.
    Measured: jax_bench.py, 6-8 us more for a 50 us call right after another
    system's, 15-50 us for a 0.6 ms one; linear_recurrence.py, case 2, the numba
    loop 10.3 ms right after the sequential theanine function and 8.0 ms after the
    others, theanine's function 4.6 and 7.4 ms."""
    for fn in systems.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in systems}
    order = list(systems.items())
    rng = np.random.default_rng(0)
    for _ in range(n):
        for i in rng.permutation(len(order)):
            k, fn = order[i]
            t = clock()
            fn()
            times[k].append(clock() - t)
    return times
