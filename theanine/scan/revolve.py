"""Binomial (revolve) checkpoint schedules for the reverse pass of a loop.

Reversing steps [a, b) of a loop, with the state entering step a held by the caller
and `s` more states allowed, where each step may be run forward at most `r` more
times before the pass that keeps its trace (the "leaf"):

    leaf     : b - a <= leaf_steps(s): run steps a..b-1 once more keeping what their
               gradient needs (the trace), and run that gradient;
    otherwise: run a..m-1 forward (an "advance": one of the r repetitions of those
               steps) and keep the state entering m; reverse [m, b) with s - 1 states
               and r repetitions; drop that state; reverse [a, m) with s states and
               r - 1 repetitions (its steps were just advanced once).

Costs: a checkpoint keeps one state of the loop (`cost[0]` bytes), a leaf keeps
`cost[1]` bytes a step (its states and the per-step values its gradient stores:
input projections, per-step gradient terms; at least one state in practice). The s
states allowed are the room left beside the checkpoints held, so a leaf may take
leaf_steps(s) = (s + 1) * cost[0] // cost[1] steps (at least 1): with s_top states at
the start, a leaf's bytes plus the checkpoints held are at most (s_top + 1) * cost[0],
plus cost[1] - cost[0] where even one step does not fit in the room left (a leaf of
one step deep in the schedule: taking no checkpoint there instead would cost far
more repetitions, e.g. 140 instead of 11 for 10,000 steps in 7 states of 4.25 a
step).

So the steps reversible are capacity(s, r) = capacity(s - 1, r) + capacity(s, r - 1)
with capacity(s, 0) = leaf_steps(s) and capacity(0, r) = leaf_steps(0). With equal
costs (a leaf keeps one state a step) that is C(s + r + 1, s): the binomial bound
beta(s, r + 1) of Griewank and Walther's revolve (s checkpoints, r + 1 forward runs
of a step counting the leaf's). For n steps and s states the reverse pass takes the
fewest repetitions r with capacity(s, r) >= n; every step is then run forward at most
r + 1 more times.

Split point: the right part gets capacity(s - 1, r - 1) steps (as many as need one
repetition fewer), kept where both parts fit. The total of forward runs is then
within 3 % of the fewest any sequence of splits gives with equal costs, 5 % with a
leaf step of 4.25 checkpoints (found by exhaustive search for n < 400 in
tests/scan/test_revolve.py), and at most r * n.
"""

from __future__ import annotations

MIN_STATES = 2  # free states: with 1, r grows as n (n**2 / 2 forward runs)
EQUAL = (1, 1)  # costs: a leaf keeps one state a step

_tables = {}  # cost -> rows of capacities: rows[r][s]
_MAX_TABLES = 32


def leaf_steps(s, cost=EQUAL):
    """The most steps a leaf may take with s free states (at least 1)."""
    return max(1, (s + 1) * cost[0] // cost[1])


def capacity(s, r, cost=EQUAL):
    """The most steps reversible with s states besides the held one and r repetitions."""
    return _rows(s, r, cost)[r][s]


def _rows(s, r, cost):
    """The table of capacities for `cost`, at least s + 1 wide and r + 1 rows deep
    (built row by row: the recursion is as deep as s + r)."""
    cost = (int(cost[0]), int(cost[1]))
    if cost[0] < 1 or cost[1] < 1:
        raise ValueError(f"revolve: costs must be positive byte counts, got {cost}")
    rows = _tables.get(cost)
    if rows is None or len(rows[0]) <= s:
        if len(_tables) >= _MAX_TABLES:
            _tables.clear()
        width = max(s + 1, 2 * len(rows[0]) if rows else 0)
        rows = _tables[cost] = [[leaf_steps(j, cost) for j in range(width)]]
    while len(rows) <= r:
        prev, row = rows[-1], [rows[-1][0]]
        for j in range(1, len(prev)):
            row.append(row[j - 1] + prev[j])
        rows.append(row)
    return rows


def useful(n, s, cost=EQUAL):
    """s, or fewer states that still let one leaf take all n steps (more cannot
    help; the capacity tables are as wide as the states)."""
    return min(s, max(-(-n * cost[1] // cost[0]), MIN_STATES))


def repetitions(n, s, cost=EQUAL):
    """The fewest repetitions r with capacity(s, r) >= n (0 when one leaf takes all n
    steps: one recomputation of each)."""
    s, r = useful(n, s, cost), 0
    while capacity(s, r, cost) < n:
        r += 1
    return r


def reverse(n, s, state, advance, leaf, cost=EQUAL):
    """Run the schedule for n steps with s free states (s >= MIN_STATES) and the costs
    `cost` (a checkpoint's bytes, a leaf's bytes a step): calls advance(state, a, m)
    -> the state entering step m, and leaf(state, a, b) for each leaf, last leaf
    first (the order in which the gradient flows back)."""
    _schedule(n, s, state, advance, leaf, cost)


def _schedule(n, s, state, advance, leaf, cost):
    if s < MIN_STATES:
        raise ValueError(f"revolve: s (free states) must be >= {MIN_STATES}, got {s}")
    if n > 0:
        s = useful(n, s, cost)
        _reverse(0, n, state, s, repetitions(n, s, cost), advance, leaf, cost)


def _reverse(a, b, state, s, r, advance, leaf, cost):
    while b - a > leaf_steps(s, cost):  # the left part is handled by this loop
        m = a + _split(b - a, s, r, cost)
        _reverse(m, b, advance(state, a, m), s - 1, r, advance, leaf, cost)
        b, r = m, r - 1
    leaf(state, a, b)


def _split(length, s, r, cost):
    """The left part's length: what leaves a right part that needs one repetition
    fewer (capacity(s - 1, r - 1) steps), kept where both parts fit (left <=
    capacity(s, r - 1), right <= capacity(s - 1, r))."""
    lo = max(length - capacity(s - 1, r, cost), 1)
    hi = min(capacity(s, r - 1, cost), length - 1)
    return min(max(length - capacity(s - 1, r - 1, cost), lo), hi)


def counts(n, s, cost=EQUAL):
    """(forward steps run by the schedule's advances, steps run by its leaves, most
    bytes kept at once besides the initial state: checkpoints held times cost[0]
    plus a leaf's steps times cost[1]): what `reverse` does, counted. With equal
    costs the last is the most states kept."""
    held, most, steps = [0], [0], [0, 0]

    def advance(state, a, m):
        steps[0] += m - a
        held[0] += 1
        return _Held(held)

    def leaf(state, a, b):
        steps[1] += b - a
        most[0] = max(most[0], held[0] * cost[0] + (b - a) * cost[1])

    _schedule(n, s, None, advance, leaf, cost)
    return steps[0], steps[1], most[0]


class _Held:
    """A checkpoint in `counts`: releases its slot when the schedule drops it."""

    def __init__(self, held):
        self.held = held

    def __del__(self):
        self.held[0] -= 1
