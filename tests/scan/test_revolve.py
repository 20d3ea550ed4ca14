"""The binomial (revolve) schedule of scan/revolve.py: its capacity is the binomial
bound, it takes the fewest repetitions, keeps at most free + 1 states, visits every
step once in a leaf, last steps first, and runs about as few forward steps as any
split can (found by search for small n); with a leaf step costing more than a
checkpoint (cost), the bytes held stay within the states' bytes."""

from functools import lru_cache
from math import comb

import pytest

from theanine.scan import revolve


def test_capacity_is_the_binomial_bound():
    for s in range(0, 8):
        assert revolve.capacity(s, 0) == s + 1
        assert revolve.capacity(0, s) == 1
        for r in range(1, 8):
            assert revolve.capacity(s, r) == comb(s + r + 1, s)
            if s:
                assert revolve.capacity(s, r) == (revolve.capacity(s - 1, r)
                                                  + revolve.capacity(s, r - 1))


def test_repetitions_are_the_fewest():
    for s in (2, 3, 5, 31, 500):
        for n in (1, 2, s + 1, s + 2, 100, 10_000, 123_457):
            r = revolve.repetitions(n, s)
            assert revolve.capacity(s, r) >= n
            assert r == 0 or revolve.capacity(s, r - 1) < n
    assert revolve.repetitions(10_000, 31) == 3  # C(34, 31) = 5984 < 10,000 <= C(35, 31)
    assert revolve.repetitions(10_000, 511) == 1


def _walk(n, s, cost=revolve.EQUAL):
    """(leaves in the order run, checkpoints (position, number held) in the order made)."""
    leaves, held = [], []
    live = [0]

    class Ckpt:
        def __init__(self, pos):
            self.pos = pos
            live[0] += 1
            held.append((pos, live[0]))

        def __del__(self):
            live[0] -= 1

    def advance(state, a, m):
        assert state.pos == a  # an advance starts from the state it is given
        return Ckpt(m)

    def leaf(state, a, b):
        assert state.pos == a
        leaves.append((a, b, live[0]))

    first = Ckpt(0)
    live[0] = 0
    revolve.reverse(n, s, first, advance, leaf, cost)
    return leaves, held


@pytest.mark.parametrize("n,s", [(1, 2), (7, 2), (40, 2), (100, 3), (333, 5), (10_000, 31),
                                 (10_000, 8), (5000, 200)])
def test_leaves_cover_the_steps_last_first_within_the_states(n, s):
    leaves, _ = _walk(n, s)
    end = n
    for a, b, held in leaves:  # last steps first, without gaps
        assert b == end and a < b
        end = a
        assert held + (b - a) <= s + 1  # checkpoints held + the leaf's trace
    assert end == 0
    advanced, leaf_steps, most = revolve.counts(n, s)
    assert leaf_steps == n and most <= s + 1
    assert advanced <= revolve.repetitions(n, s) * n


@lru_cache(None)
def _fewest(length, s, r, cost):
    """The fewest forward steps of any sequence of splits (exhaustive search)."""
    if length <= revolve.leaf_steps(s, cost):
        return 0
    lo = max(length - revolve.capacity(s - 1, r, cost), 1)
    hi = min(revolve.capacity(s, r - 1, cost), length - 1)
    return min(left + _fewest(length - left, s - 1, r, cost)
               + _fewest(left, s, r - 1, cost) for left in range(lo, hi + 1))


@pytest.mark.parametrize("cost,within", [((1, 1), 1.03), ((4, 17), 1.05)])
def test_forward_steps_are_close_to_the_fewest(cost, within):
    worst = 0.0
    for s in (2, 3, 4, 6, 10):
        for n in range(1, 400, 7):
            best = _fewest(n, s, revolve.repetitions(n, s, cost), cost)
            advanced = revolve.counts(n, s, cost)[0]
            assert advanced >= best
            if best:
                worst = max(worst, advanced / best)
    assert worst <= within, worst


COSTS = [(1, 1), (4, 17), (32768, 139264), (3, 2)]  # a checkpoint's bytes, a leaf step's


@pytest.mark.parametrize("cost", COSTS)
def test_capacity_with_costs_is_the_recursion(cost):
    for s in range(0, 12):
        assert revolve.capacity(s, 0, cost) == revolve.leaf_steps(s, cost)
        assert revolve.leaf_steps(s, cost) == max(1, (s + 1) * cost[0] // cost[1])
        for r in range(1, 9):
            below = revolve.capacity(s - 1, r, cost) if s else 0
            assert revolve.capacity(s, r, cost) == (
                below + revolve.capacity(s, r - 1, cost) if s
                else revolve.leaf_steps(0, cost))


@pytest.mark.parametrize("cost", COSTS[1:])
@pytest.mark.parametrize("n,s", [(1, 2), (7, 2), (40, 2), (100, 3), (333, 5), (10_000, 31),
                                 (10_000, 122), (5000, 200)])
def test_leaves_within_the_bytes_with_costs(n, s, cost):
    """With a leaf step costing cost[1] bytes and a checkpoint cost[0], the
    checkpoints held plus a leaf's steps stay within (s + 1) checkpoints' bytes,
    plus what a leaf of one step takes beyond one state where even one does not
    fit."""
    c, step = cost
    leaves, _ = _walk(n, s, cost)
    end = n
    for a, b, held in leaves:
        assert b == end and a < b
        end = a
        assert held * c + (b - a) * step <= (s + 1) * c + max(step - c, 0)
    assert end == 0
    advanced, leaf_steps, most = revolve.counts(n, s, cost)
    assert leaf_steps == n and most <= (s + 1) * c + max(step - c, 0)
    assert advanced <= revolve.repetitions(n, s, cost) * n


def test_more_states_than_useful_build_no_huge_table():
    """A budget of a billion states for 10 steps: one leaf, at once."""
    assert revolve.repetitions(10, 10 ** 9) == 0
    assert revolve.counts(10, 10 ** 9, (8, 24)) == (0, 10, 240)


def test_too_few_states_is_an_error():
    with pytest.raises(ValueError, match="free states"):
        revolve.reverse(5, 1, None, None, None)
