"""Random numbers on jax: RandomStreams draws with JAX's generator (tested by
distribution and seed reproducibility), MRG_RandomStreams bit for bit as py."""

import numpy as np
import pytest

pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
from theanine.sandbox.rng_mrg import MRG_RandomStreams  # noqa: E402
from theanine.tensor import shared_randomstreams as raw  # noqa: E402
from theanine.tensor.shared_randomstreams import RandomStreams  # noqa: E402

N = 20000


def draws(out, mode="JAX"):
    f = theano.function([], out, mode=mode)
    return f(), f()


@pytest.mark.parametrize("dist, kw, mean, var, lo, hi", [
    ("uniform", dict(low=-1.0, high=3.0), 1.0, 16 / 12, -1.0, 3.0),
    ("normal", dict(avg=2.0, std=3.0), 2.0, 9.0, -np.inf, np.inf),
    ("binomial", dict(n=10, p=0.3), 3.0, 2.1, 0, 10),
    ("poisson", dict(lam=4.0), 4.0, 4.0, 0, np.inf),
    ("random_integers", dict(low=-2, high=5), 1.5, (8 ** 2 - 1) / 12, -2, 5),
])
def test_draws_have_their_distribution(dist, kw, mean, var, lo, hi):
    s = RandomStreams(42)
    a, b = draws(getattr(s, dist)((N,), **kw))
    assert a.shape == (N,) and not np.array_equal(a, b)  # the stream advances
    for v in (a, b):
        assert lo <= v.min() and v.max() <= hi
        se = np.sqrt(var / N)
        assert abs(v.mean() - mean) < 5 * se
        assert abs(v.var() / var - 1) < 0.06
    if dist == "random_integers":
        assert set(np.unique(a)) == set(range(int(lo), int(hi) + 1))
    if dist == "binomial":  # 8, 9, 10 have probabilities 1.4e-3, 1.4e-4, 6e-6
        assert set(range(8)) <= set(np.unique(a)) <= set(range(11))


def test_truncated_normal_stays_within_two_stds():
    r = theano.shared(np.random.RandomState(1))
    new, sample = raw.normal(r, (N,), avg=1.0, std=2.0, truncate=True)
    f = theano.function([], sample, updates=[(r, new)], mode="JAX")
    a = f()
    assert a.min() >= -3.0 and a.max() <= 5.0
    assert abs(a.mean() - 1.0) < 0.05 and 2.9 < a.var() < 3.3  # 4 * 0.774


@pytest.mark.slow  # one XLA program per distribution and size
def test_multinomial_choice_permutation():
    s = RandomStreams(7)
    p = np.array([0.2, 0.5, 0.3])
    m, _ = draws(s.multinomial((N,), n=5, pvals=p))
    assert m.shape == (N, 3) and np.all(m.sum(axis=1) == 5)
    np.testing.assert_allclose(m.mean(axis=0), 5 * p, atol=0.05)
    c, _ = draws(s.choice((N,), a=3, p=p))
    np.testing.assert_allclose(np.bincount(c, minlength=3) / N, p, atol=0.015)
    f = theano.function([], s.choice((3,), a=3, replace=False), mode="JAX")
    w = np.array([f() for _ in range(60)])
    assert np.all(np.sort(w, axis=1) == [0, 1, 2])
    assert len({tuple(r) for r in w}) == 6  # every order appears
    perm, _ = draws(s.permutation((500,), n=4))
    assert np.all(np.sort(perm, axis=1) == np.arange(4))
    assert len({tuple(r) for r in perm}) == 24  # every permutation of 4 appears


def test_same_seed_same_numbers_and_seed_resets():
    def run(seed):
        s = RandomStreams(seed)
        f = theano.function([], [s.uniform((5,)), s.normal((3,))], mode="JAX")
        return s, f, [f(), f()]

    _, _, first = run(3)
    s, f, again = run(3)
    for a, b in zip(first, again):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    _, _, other = run(4)
    assert not np.array_equal(first[0][0], other[0][0])
    s.seed(3)
    np.testing.assert_array_equal(f()[0], first[0][0])


def test_draws_in_a_loop_differ_per_step_and_repeat_with_the_seed():
    s = RandomStreams(0)
    out, upd = theano.scan(lambda: s.uniform((2,)), n_steps=4)
    f = theano.function([], out, updates=upd, mode="JAX")
    a, b = f(), f()
    assert a.shape == (4, 2) and len(np.unique(a)) == 8 and not np.allclose(a, b)
    s.seed(0)
    np.testing.assert_array_equal(f(), a)


@pytest.mark.parametrize("make", [
    lambda s: s.uniform((7, 5)),
    lambda s: s.uniform((3,), dtype="float32"),
    lambda s: s.uniform((2, 3), ndim=2, dtype="float16"),
    lambda s: s.binomial((50,), p=0.3),
    lambda s: s.multinomial(pvals=np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])),
    lambda s: s.choice(size=2, a=None, p=np.array([[0.1, 0.2, 0.3, 0.4]] * 3),
                       replace=False),
    lambda s: s.uniform((1000,)) + s.uniform((1,)),
])
def test_mrg_draws_are_bit_for_bit_the_py_numbers(make):
    got = []
    for mode in ("PY", "JAX"):
        s = MRG_RandomStreams(1234)
        f = theano.function([], make(s), mode=mode)
        got.append([f(), f(), f()])
    for a, b in zip(*got):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(b, a)


def test_mrg_normal_close_to_py():
    got = []
    for mode in ("PY", "JAX"):
        s = MRG_RandomStreams(99)
        got.append(theano.function([], s.normal((101,), avg=1.0, std=2.0), mode=mode)())
    np.testing.assert_allclose(got[1], got[0], rtol=1e-13, atol=1e-13)


def test_mrg_state_after_draws_matches_py():
    states = []
    for mode in ("PY", "JAX"):
        s = MRG_RandomStreams(5)
        u = s.uniform((100,))
        f = theano.function([], u, mode=mode)
        f(), f()
        states.append([r.get_value() for r, _ in s.state_updates])
    for a, b in zip(*states):
        np.testing.assert_array_equal(b, a)


def test_generator_state_round_trips_through_get_value():
    r = theano.shared(np.random.RandomState(3))
    new, sample = raw.uniform(r, (4,))
    f = theano.function([], sample, updates=[(r, new)], mode="JAX")
    f()
    g = theano.function([], sample, updates=[(r, new)], mode="JAX")
    saved = r.get_value()
    a = f()
    r.set_value(saved)
    np.testing.assert_array_equal(g(), a)
