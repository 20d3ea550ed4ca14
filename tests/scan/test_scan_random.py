"""Random streams inside scan: default updates collected, new draws every call,
reproducible for a seed, and gradients that reuse the forward pass's draws."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.rewrites.scan.draws import SEQUENTIAL
from theanine.sandbox.rng_mrg import MRG_RandomStreams
from theanine.scan.grad import ListStepInputs
from theanine.scan.op import Scan
from theanine.tensor import shared_randomstreams as raw
from theanine.tensor.random import RandomOp, random_state_type
from theanine.tensor.shared_randomstreams import RandomStreams


def _noisy_walk(srng, n=4):
    r, upd = theano.scan(lambda h: h + srng.uniform(size=(2,)),
                         outputs_info=T.constant(np.zeros(2)), n_steps=n)
    return r, upd


def test_random_stream_updates_are_returned_and_advance():
    srng = RandomStreams(seed=42)
    r, upd = _noisy_walk(srng)
    assert len(upd) == 1
    f = theano.function([], r, updates=upd)
    a, b = f(), f()
    assert a.shape == (4, 2)
    assert not np.allclose(a, b)
    steps = np.diff(np.vstack([np.zeros(2), a]), axis=0)
    assert np.all((steps >= 0) & (steps < 1))
    assert len({tuple(s) for s in steps}) == 4  # a new draw at every step


def test_reproducible_for_a_seed():
    outs = []
    for _ in range(2):
        srng = MRG_RandomStreams(seed=7)
        r, upd = _noisy_walk(srng)
        f = theano.function([], r, updates=upd)
        outs.append((f(), f()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


def test_without_updates_the_draws_repeat():
    srng = RandomStreams(seed=3)
    r, upd = _noisy_walk(srng)
    f = theano.function([], r, no_default_updates=True)
    np.testing.assert_array_equal(f(), f())


def test_gradient_uses_the_same_draws_as_the_forward_pass():
    srng = RandomStreams(seed=5)
    w = T.dscalar("w")
    x = T.dvector("x")

    def step(e, h):
        mask = srng.binomial(size=(), p=0.5, dtype="float64")
        return T.tanh(h * w + e) * mask + h * (1 - mask)

    r, upd = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
    f = theano.function([x, w], [r, T.grad(T.sum(r), w)], no_default_updates=True)
    fr = theano.function([x, w], T.sum(r), no_default_updates=True)
    xv = np.linspace(-1, 1, 6)
    _, g = f(xv, 0.7)
    eps = 1e-6
    num = (fr(xv, 0.7 + eps) - fr(xv, 0.7 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6)


def test_gradient_reads_generator_draws_from_the_forward_loop():
    # the reverse loop gets each step's sample from the one forward loop (no second
    # forward loop, no list of generator copies): it holds tensors only

    srng = RandomStreams(seed=9)
    w = T.dscalar("w")
    x = T.dmatrix("x")

    def step(e, h):
        keep = srng.binomial(size=(3,), p=0.7, dtype="float64")
        return T.tanh(h * w + e) * keep

    r, upd = theano.scan(step, sequences=x, outputs_info=T.zeros((3,)))
    # the reverse loop is linear in its adjoint: it stays a loop only without the
    # scan_parallel_linear rewrite (which tests/scan/test_linear_recurrence.py covers)
    with theano.config.change_flags({"scan.parallel_linear": False}):
        f = theano.function([x, w], [r, T.grad(T.sum(r ** 2), w)], updates=upd)
    nodes = f.maker.fgraph.toposort()
    scans = [n for n in nodes if isinstance(n.op, Scan)]
    assert len(scans) == 2 and not any(isinstance(n.op, ListStepInputs) for n in nodes)
    rev = next(n.op for n in scans if (n.op.name or "").startswith("grad_of"))
    inner = [v for v in theano.graph.traversal.ancestors(rev.inner_outputs) if v.owner]
    assert not any(isinstance(v.owner.op, RandomOp) for v in inner)
    xv = np.random.default_rng(0).normal(size=(7, 3))
    srng.seed(9)
    rv, g = f(xv, 0.4)
    srng.seed(9)
    fr = theano.function([x, w], T.sum(r ** 2), no_default_updates=True)
    eps = 1e-6
    num = (fr(xv, 0.4 + eps) - fr(xv, 0.4 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6)
    np.testing.assert_allclose(fr(xv, 0.4), np.sum(rv ** 2))  # the same draws


def _state_dependent_walk(seed, n=6):
    srng = RandomStreams(seed=seed)

    def step(h):  # the mean depends on the loop's state: the draw stays in the loop
        return h + srng.normal(size=(2,), avg=h * 0.5)

    return theano.scan(step, outputs_info=T.zeros((2,)), n_steps=n)


def _chained_walk(seed, n=6):
    rng = theano.shared(np.random.RandomState(seed))

    def step(h):  # one generator drawn twice a step
        r1, a = raw.uniform(rng, (2,))
        r2, b = raw.normal(r1, (2,))
        return h + a * b, {rng: r2}

    return theano.scan(step, outputs_info=T.zeros((2,)), n_steps=n)


def _until_walk(seed, n=30):
    srng = RandomStreams(seed=seed)

    def step(h):  # a loop that may stop early keeps its draws
        new = h + srng.uniform(size=(2,))
        return new, theano.scan_module.until(T.sum(new) > 6)

    return theano.scan(step, outputs_info=T.zeros((2,)), n_steps=n)


def _body_draws(f):
    scan = next(n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan))
    return [v.owner.op for v in theano.graph.traversal.ancestors(scan.inner_outputs)
            if v.owner is not None and isinstance(v.owner.op, RandomOp)]


def pure_mode():
    """The suite's backend without the rewrites that change how draws are made."""
    return theano.compile.mode.get_default_mode().excluding("scan_random_inplace",
                                                            "scan_hoist_draws")


@pytest.mark.parametrize("walk", [_state_dependent_walk, _chained_walk, _until_walk])
def test_generator_carry_advanced_in_place_gives_the_same_numbers(walk):
    r, upd = walk(4)
    f = theano.function([], r, updates=upd)
    draws = _body_draws(f)
    assert draws and all(op.inplace for op in draws)
    r2, upd2 = walk(4)
    pure = theano.function([], r2, updates=upd2, mode=pure_mode())
    assert not any(op.inplace for op in _body_draws(pure))
    for _ in range(3):  # the same numbers, call after call (the streams advance alike)
        np.testing.assert_array_equal(f(), pure())


def _dropout_walk(seed, dist):
    srng = RandomStreams(seed=seed)
    x = T.dmatrix("x")

    def step(e, h):
        noise = {"binomial": lambda: srng.binomial(size=(3,), p=0.7, dtype="float64"),
                 "uniform": lambda: srng.uniform(size=(3,), low=-1.0, high=2.0),
                 "normal": lambda: srng.normal(size=(3,), std=0.5),
                 "poisson": lambda: T.cast(srng.poisson(size=(3,), lam=2.0), "float64"),
                 "random_integers": lambda: T.cast(srng.random_integers(
                     size=(3,), low=-2, high=4), "float64")}[dist]()
        return T.tanh(h + e) * noise

    r, upd = theano.scan(step, sequences=x, outputs_info=T.zeros((3,)))
    return x, r, upd


@pytest.mark.parametrize("dist", ["binomial", "uniform", "normal", "poisson",
                                  "random_integers"])
def test_loop_invariant_draws_move_out_of_the_loop(dist):
    # one draw of n_steps samples before the loop: the same numbers and the same
    # final generator state as drawing at every step; the loop carries no generator
    x, r, upd = _dropout_walk(2, dist)
    f = theano.function([x], r, updates=upd)
    assert not _body_draws(f)
    x2, r2, upd2 = _dropout_walk(2, dist)
    pure = theano.function([x2], r2, updates=upd2, mode=pure_mode())
    xv = np.random.default_rng(0).normal(size=(5, 3))
    for _ in range(3):  # (numba's compiled tanh may differ from NumPy's in an ulp)
        np.testing.assert_allclose(f(xv), pure(xv), rtol=1e-13, atol=1e-15)
    (g1,), (g2,) = list(upd), list(upd2)
    assert random_state_type.values_eq(g1.get_value(), g2.get_value())


def test_bulk_draw_fills_in_step_order():
    # what scan_hoist_draws relies on: T draws of a shape are one draw of (T, shape)
    # in NumPy, numbers and final state alike (odd sizes: normal's cached value too)

    calls = {"uniform": ("uniform", (0.5, 2.0)), "normal": ("normal", (1.0, 2.0)),
             "binomial": ("binomial", (3, 0.3)), "poisson": ("poisson", (40.0,))}
    assert set(calls) | {"random_integers"} == SEQUENTIAL
    for make in (np.random.RandomState, np.random.default_rng):
        for name, args in calls.values():
            a, b = make(5), make(5)
            steps = np.stack([getattr(a, name)(*args, (3,)) for _ in range(7)])
            np.testing.assert_array_equal(steps, getattr(b, name)(*args, (7, 3)))
            assert random_state_type.values_eq(a, b)
        a, b = make(6), make(6)
        ints = (lambda g, s: g.randint(-2, 5, size=s)) if make is np.random.RandomState \
            else (lambda g, s: g.integers(-2, 4, size=s, endpoint=True))
        np.testing.assert_array_equal(np.stack([ints(a, (3,)) for _ in range(7)]),
                                      ints(b, (7, 3)))
        assert random_state_type.values_eq(a, b)


def test_in_place_draws_leave_the_shared_generator_alone_without_updates_or_on_error():
    r, upd = _state_dependent_walk(8)
    (rng, _), = [(k, v) for k, v in upd.items()][:1]
    before = rng.get_value().get_state(legacy=False)["state"]["key"].copy()
    f = theano.function([], r, no_default_updates=True)
    a, b = f(), f()
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(rng.get_value().get_state(legacy=False)["state"]["key"], before)
    srng = RandomStreams(seed=8)
    v, idx = T.dvector("v"), T.lvector("idx")
    s, upd = theano.scan(lambda i, h: h + v[i] * srng.uniform(size=(2,)), sequences=idx,
                         outputs_info=T.zeros((2,)))
    g = theano.function([v, idx], s, updates=upd)
    gen = list(upd)[0]
    key = gen.get_value().get_state(legacy=False)["state"]["key"].copy()
    with pytest.raises(IndexError):
        g(np.ones(3), np.array([0, 1, 7]))  # the third step fails, after two draws
    assert np.array_equal(gen.get_value().get_state(legacy=False)["state"]["key"], key)
    assert g(np.ones(3), np.array([0, 1, 2])).shape == (3, 2)
    assert not np.array_equal(gen.get_value().get_state(legacy=False)["state"]["key"], key)
