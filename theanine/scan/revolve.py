"""Binomial (revolve) checkpoint schedules for the reverse pass of a loop.

Reversing steps [a, b) of a loop, with the state entering step a held by the caller
and `s` more states allowed, where each step may be run forward at most `r` more
times before the pass that keeps its trace (the "leaf"):

    leaf     : b - a <= s + 1: run steps a..b-1 once more keeping their states (the
               trace: b - a states) and run their gradient (one extra forward pass);
    otherwise: run a..m-1 forward (an "advance": one of the r repetitions of those
               steps) and keep the state entering m; reverse [m, b) with s - 1 states
               and r repetitions; drop that state; reverse [a, m) with s states and
               r - 1 repetitions (its steps were just advanced once).

So the steps reversible are capacity(s, r) = capacity(s - 1, r) + capacity(s, r - 1)
with capacity(s, 0) = s + 1 and capacity(0, r) = 1, which is C(s + r + 1, s): the
binomial bound beta(s, r + 1) of Griewank and Walther's revolve (s checkpoints,
r + 1 forward runs of a step counting the leaf's). For n steps and s states the
reverse pass takes the fewest repetitions r with capacity(s, r) >= n; every step is
then run forward at most r + 1 more times, and at most s + 1 states are kept at once
(checkpoints held plus a leaf's trace), besides the one entering step 0.

Split point: the right part gets capacity(s - 1, r - 1) steps (as many as need one
repetition fewer), kept where both parts fit. The total of forward runs is then
within 3 % of the fewest any sequence of splits gives (found by exhaustive search for
n < 400 in tests/scan/test_revolve.py), and at most r * n.
"""

from __future__ import annotations

from math import comb

MIN_STATES = 2  # free states: with 1, r grows as n (n**2 / 2 forward runs)


def capacity(s, r):
    """The most steps reversible with s states besides the held one and r repetitions."""
    return comb(s + r + 1, s)


def repetitions(n, s):
    """The fewest repetitions r with capacity(s, r) >= n (0 when the states of all n
    steps fit: one recomputation of each)."""
    r = 0
    while capacity(s, r) < n:
        r += 1
    return r


def reverse(n, s, state, advance, leaf):
    """Run the schedule for n steps with s free states (s >= MIN_STATES): calls
    advance(state, a, m) -> the state entering step m, and leaf(state, a, b) for each
    leaf, last leaf first (the order in which the gradient flows back)."""
    _schedule(n, s, state, advance, leaf)


def _schedule(n, s, state, advance, leaf):
    if s < MIN_STATES:
        raise ValueError(f"revolve: s (free states) must be >= {MIN_STATES}, got {s}")
    if n > 0:
        _reverse(0, n, state, s, repetitions(n, s), advance, leaf)


def _reverse(a, b, state, s, r, advance, leaf):
    while b - a > s + 1:  # the left part is handled by this loop (tail call)
        left = _split(b - a, s, r)
        m = a + left
        _reverse(m, b, advance(state, a, m), s - 1, r, advance, leaf)
        b, r = m, r - 1
    leaf(state, a, b)


def _split(length, s, r):
    """The left part's length: what leaves a right part that needs one repetition
    fewer (capacity(s - 1, r - 1) steps), kept where both parts fit (left <=
    capacity(s, r - 1), right <= capacity(s - 1, r))."""
    lo = max(length - capacity(s - 1, r), 1)
    hi = min(capacity(s, r - 1), length - 1)
    return min(max(length - capacity(s - 1, r - 1), lo), hi)


def counts(n, s):
    """(forward steps run by the schedule's advances, steps run by its leaves, most
    states kept at once besides the initial one): what `reverse` does, counted."""
    held, most, steps = [0], [0], [0, 0]

    def advance(state, a, m):
        steps[0] += m - a
        held[0] += 1
        return _Held(held)

    def leaf(state, a, b):
        steps[1] += b - a
        most[0] = max(most[0], held[0] + (b - a))

    _schedule(n, s, None, advance, leaf)
    return steps[0], steps[1], most[0]


class _Held:
    """A checkpoint in `counts`: releases its slot when the schedule drops it."""

    def __init__(self, held):
        self.held = held

    def __del__(self):
        self.held[0] -= 1
