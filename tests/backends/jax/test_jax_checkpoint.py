"""A memory-budgeted loop gradient on jax (backends/jax/checkpoint.py) stays on device:
the revolve schedule as an action table run by one fori_loop, no host callback, the
values and gradients of the unbudgeted loop for budgets from three states to all."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.jax import checkpoint  # noqa: E402
from theanine.scan import revolve  # noqa: E402


def hlo(f, *args):
    """The StableHLO text of a one-segment jax function for these arguments."""
    with jax.enable_x64(True):
        return f.fn.single.compiled(()).lower(*args).as_text()


def rnn(budget):
    X, h0, W = T.dmatrix("X"), T.dvector("h0"), T.dmatrix("W")
    h, _ = theano.scan(lambda x, h, W: T.tanh(x + T.dot(h, W)), sequences=X,
                       outputs_info=h0, non_sequences=W, memory_budget=budget)
    cost = (h ** 2).sum() * 0.1 + h[-1].sum()
    return theano.function([X, h0, W], [cost] + theano.grad(cost, [X, h0, W]), mode="JAX")


@pytest.mark.parametrize("n,free", [(1, 2), (10, 2), (97, 3), (1000, 5), (10_000, 31)])
def test_the_plan_is_the_revolve_schedule(n, free):
    """The action table replays scan/revolve.py: advances write the slot one deeper
    than any held, leaves cover the steps last first from the state they read, the
    slots and the longest leaf keep the states the schedule allows."""
    actions, slots, longest = checkpoint.plan(n, free)
    advanced, leaf_steps, most = revolve.counts(n, free)
    assert slots <= max(free, revolve.MIN_STATES) + 1 and most <= free + 1 and longest <= slots
    held = {0: 0}  # slot -> the step its state enters
    end = n
    for kind, first, steps, src, dst in actions.tolist():
        assert src in held and held[src] == first and steps >= 1
        assert kind == checkpoint.ADVANCE or src + steps <= slots  # the leaf's states
        if kind == checkpoint.ADVANCE:
            assert dst == max(held) + 1 and dst < slots
            held[dst] = first + steps
        else:
            assert kind == checkpoint.LEAF and first + steps == end and steps <= longest
            end = first
            assert src == max(held)  # the deepest checkpoint: held ones are below
            if src:
                del held[src]  # the leaf starting at it ends the part it began
    assert end == 0
    assert sum(r[2] for r in actions.tolist() if r[0] == checkpoint.ADVANCE) == advanced
    assert sum(r[2] for r in actions.tolist() if r[0] == checkpoint.LEAF) == leaf_steps == n


@pytest.mark.parametrize("n", [1, 7, 97, 200])
def test_gradients_equal_the_unbudgeted_ones_at_every_level(n):
    rng = np.random.default_rng(n)
    vals = [rng.normal(size=(n, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) / 3]
    want = rnn(None)(*vals)
    # one state is 24 bytes: budgets of 2 (raised to 3), 5, 12 and all states
    for budget in (48, 120, 288, 10 ** 6):
        for a, b in zip(rnn(budget)(*vals), want):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_a_budgeted_gradient_has_no_host_callback():
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(50, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) / 3]
    f = rnn(120)
    text = hlo(f, *vals)
    assert "callback" not in text.lower() and "stablehlo.while" in text
    for a, b in zip(f(*vals), rnn(None)(*vals)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)
