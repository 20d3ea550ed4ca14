"""A memory-budgeted loop gradient on jax (backends/jax/checkpoint.py) stays on device:
nested checkpointed lax.scan segments, no host callback, the values and gradients of
the unbudgeted loop for every number of levels (lengths with remainders)."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.backends.jax import checkpoint  # noqa: E402


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


def test_levels_keep_the_states_given():
    for n in (1, 2, 10, 97, 1000, 10_000):
        for states in (3, 8, 30, 200, 20_000):
            k, length = checkpoint.levels(n, states)
            assert 1 <= k <= checkpoint.MAX_LEVELS and length ** k >= n
            if k * length > states:  # only when no number of levels fits
                assert all(j * int(np.ceil(n ** (1 / j))) > states
                           for j in range(1, checkpoint.MAX_LEVELS + 1))
    assert checkpoint.levels(10_000, 20_000) == (1, 10_000)
    assert checkpoint.levels(10_000, 200) == (2, 100)


@pytest.mark.parametrize("n", [1, 7, 97, 200])
def test_gradients_equal_the_unbudgeted_ones_at_every_level(n):
    rng = np.random.default_rng(n)
    vals = [rng.normal(size=(n, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) / 3]
    want = rnn(None)(*vals)
    # one state is 24 bytes: budgets of 2, 5, 12 and all states (4, 3, 2, 1 levels)
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
