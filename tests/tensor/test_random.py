"""Random streams: RNG type and shared variables, distributions, shapes, dtypes,
seeding, default updates, pickling, gradients and error messages."""

import pickle

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import config
from theanine.gradient import NullTypeGradError
from theanine.sandbox.rng_mrg import MRG_RandomStreams
from theanine.tensor import shared_randomstreams as raw
from theanine.tensor.random import RandomOp, RandomStateSharedVariable, random_state_type
from theanine.tensor.shared_randomstreams import RandomStreams

STREAMS = [RandomStreams, MRG_RandomStreams]
N = 100_000


def draw(var, inputs=(), *args, **kw):
    return theano.function(list(inputs), var, **kw)(*args)


# -- the type and shared variables --------------------------------------------
def test_shared_randomstate_is_rng_shared_variable():
    r = theano.shared(np.random.RandomState(0))
    g = theano.shared(np.random.default_rng(0), name="g")
    assert isinstance(r, RandomStateSharedVariable) and isinstance(g, RandomStateSharedVariable)
    assert r.type == g.type == random_state_type
    assert isinstance(r.get_value(), np.random.RandomState)
    assert isinstance(g.get_value(), np.random.Generator)


def test_get_value_is_a_copy_and_set_value_replaces():
    r = theano.shared(np.random.RandomState(0))
    v = r.get_value()
    first = v.uniform()
    assert r.get_value().uniform() == first  # drawing from the copy left r unchanged
    r.set_value(np.random.RandomState(1))
    assert r.get_value().uniform() == np.random.RandomState(1).uniform()
    src = np.random.RandomState(2)
    r.set_value(src)
    src.uniform()  # advancing the caller's generator does not change r
    assert r.get_value().uniform() == np.random.RandomState(2).uniform()


def test_type_filter_and_values_eq():
    a, b = np.random.RandomState(3), np.random.RandomState(3)
    assert random_state_type.filter(a) is a
    assert random_state_type.values_eq(a, b)
    b.uniform()
    assert not random_state_type.values_eq(a, b)
    assert random_state_type.values_eq(np.random.default_rng(5), np.random.default_rng(5))
    assert not random_state_type.values_eq(np.random.default_rng(5), a)
    with pytest.raises(TypeError, match="RandomState or numpy.random.Generator, got list"):
        random_state_type.filter([1, 2])
    r = theano.shared(np.random.RandomState(0), name="r")
    with pytest.raises(TypeError, match="set_value of r.*got ndarray"):
        r.set_value(np.zeros(3))


def test_op_is_pure_and_does_not_advance_its_input():
    rng = np.random.RandomState(7)
    r = theano.shared(rng)
    new_r, u = raw.uniform(r, size=(4,))
    op = u.owner.op
    before = r.get_value(borrow=True).get_state(legacy=False)["state"]["key"].copy()
    new_state, sample = op.compute(u.owner, r.get_value(borrow=True),
                                   np.array([4], dtype="int64"), np.array(0.0), np.array(1.0))
    after = r.get_value(borrow=True).get_state(legacy=False)["state"]["key"]
    assert np.array_equal(before, after)
    assert new_state is not r.get_value(borrow=True)
    np.testing.assert_array_equal(sample, np.random.RandomState(7).uniform(0, 1, 4))
    assert isinstance(op, RandomOp) and op == RandomOp("uniform", 1, "float64")


# -- distributions -------------------------------------------------------------
@pytest.mark.parametrize("Streams", STREAMS)
def test_moments(Streams):
    s = Streams(42)
    outs = [s.uniform((N,), low=2.0, high=5.0), s.normal((N,), avg=1.0, std=2.0),
            s.binomial((N,), n=5, p=0.3), s.random_integers((N,), low=-2, high=3),
            s.poisson((N,), lam=4.0), s.multinomial((N,), n=3, pvals=[0.2, 0.3, 0.5]),
            s.choice((N,), a=4, replace=True, p=[0.1, 0.2, 0.3, 0.4])]
    u, nrm, b, ri, po, mn, ch = theano.function([], outs)()
    assert u.min() >= 2 and u.max() < 5
    assert abs(u.mean() - 3.5) < 0.02 and abs(u.var() - 0.75) < 0.02
    assert abs(nrm.mean() - 1) < 0.03 and abs(nrm.std() - 2) < 0.03
    assert abs(b.mean() - 1.5) < 0.02 and abs(b.var() - 1.05) < 0.03
    assert set(np.unique(ri)) == {-2, -1, 0, 1, 2, 3}  # high is inclusive
    assert abs(ri.mean() - 0.5) < 0.03
    assert abs(po.mean() - 4) < 0.03 and abs(po.var() - 4) < 0.1
    assert mn.shape == (N, 3) and (mn.sum(axis=1) == 3).all()
    np.testing.assert_allclose(mn.mean(axis=0), [0.6, 0.9, 1.5], atol=0.02)
    np.testing.assert_allclose(np.bincount(ch, minlength=4) / N, [0.1, 0.2, 0.3, 0.4],
                               atol=0.01)


@pytest.mark.parametrize("Streams", STREAMS)
def test_permutation_and_choice_without_replacement(Streams):
    s = Streams(1)
    perm = draw(s.permutation((3, 2), n=6))
    assert perm.shape == (3, 2, 6) and perm.dtype == np.int64
    assert (np.sort(perm, axis=-1) == np.arange(6)).all()
    one = draw(s.permutation(n=4))
    assert sorted(one) == [0, 1, 2, 3]
    ch = draw(s.choice((5,), a=5, replace=False))
    assert sorted(ch) == [0, 1, 2, 3, 4]
    vals = draw(s.choice((2, 3), a=np.array([10, 20, 30]), replace=True))
    assert vals.shape == (2, 3) and set(vals.ravel()) <= {10, 20, 30}


def test_mrg_choice_rows_and_multinomial_matrix():
    s = MRG_RandomStreams(5)
    p = T.matrix()
    pv = np.array([[0.25] * 4, [0.5, 0.5, 0, 0], [0, 0, 0.1, 0.9]])
    c = s.choice(size=2, p=p)
    rows = theano.function([p], c)(pv)
    assert rows.shape == (3, 2)
    assert all(len(set(r)) == 2 for r in rows)
    assert set(rows[1]) == {0, 1} and set(rows[2]) == {2, 3}
    m = s.multinomial(pvals=p, dtype="float64")
    counts = theano.function([p], m)(pv)
    assert counts.shape == pv.shape and counts.dtype == np.float64
    assert (counts.sum(axis=1) == 1).all() and counts[1, 2:].sum() == 0
    with pytest.raises(TypeError, match="pvals is required"):
        s.multinomial(size=(2,))


def test_truncated_normal():
    x = draw(MRG_RandomStreams(3).normal((N,), avg=1.0, std=0.5, truncate=True))
    assert x.min() >= 0 and x.max() <= 2
    assert abs(x.std() - 0.5 * 0.8796) < 0.01  # std of a normal truncated at 2 sigma


# -- shapes and broadcasting ---------------------------------------------------
@pytest.mark.parametrize("Streams", STREAMS)
def test_shapes(Streams):
    s = Streams(1)
    n = T.lscalar()
    x = T.matrix()
    v = T.lvector()
    assert draw(s.uniform((2, 3))).shape == (2, 3)
    assert draw(s.uniform()).shape == ()
    assert draw(s.normal(size=(n, 4)), [n], 3).shape == (3, 4)
    assert draw(s.uniform(size=x.shape), [x], np.zeros((2, 5))).shape == (2, 5)
    assert draw(s.binomial(size=v, ndim=3), [v], np.array([1, 2, 3])).shape == (1, 2, 3)
    assert draw(s.uniform(size=7)).shape == (7,)
    assert draw(s.uniform((0, 3))).shape == (0, 3)


def test_params_broadcast_against_size():
    s = RandomStreams(0)
    avg = T.vector()
    a = np.array([0.0, 100.0, 1000.0])
    out = draw(s.normal(avg=avg, std=0.01), [avg], a)  # size=() : the params' shape
    assert out.shape == (3,) and np.allclose(out, a, atol=1)
    out = draw(s.normal((4, 3), avg=avg, std=0.01), [avg], a)
    assert out.shape == (4, 3) and np.allclose(out, a, atol=1)
    col = T.col()
    out = draw(s.uniform((2, -1), low=col, high=col + 1), [col], np.array([[5.0], [9.0]]))
    assert out.shape == (2, 1) and (out[:, 0] >= [5, 9]).all()
    with pytest.raises(ValueError, match="shape \\(3,\\) cannot be broadcast to the "
                                         "sample's size \\(4, 2\\)"):
        draw(s.normal((4, 2), avg=avg), [avg], a)


def test_broadcastable_pattern_and_infer_shape():
    s = RandomStreams(0)
    assert s.uniform((1, 3)).broadcastable == (True, False)
    n = T.lscalar()
    assert s.uniform((1, n)).broadcastable == (True, False)
    assert s.uniform((n, 1)).broadcastable == (False, True)
    assert s.normal(avg=T.row()).broadcastable == (True, False)
    assert s.multinomial(pvals=T.matrix()).broadcastable == (False, False)
    x = T.matrix()
    u = s.uniform((n, 3), low=x)
    shp = u.owner.op.infer_shape(u.owner, [None, (), (n, 3), (x.shape[0], x.shape[1]), ()])
    assert shp[0] is None
    f = theano.function([n, x], list(shp[1]), on_unused_input="ignore")
    assert [int(d) for d in f(4, np.zeros((1, 3)))] == [4, 3]
    v = T.lvector()
    m = s.multinomial(size=v, ndim=2, pvals=x)
    shp = m.owner.op.infer_shape(m.owner, [None, (v.shape[0],), (), (x.shape[0], x.shape[1])])
    f = theano.function([v, x], list(shp[1]))
    assert [int(d) for d in f(np.array([2, -1]), np.full((5, 4), 0.25))] == [2, 5, 4]


# -- dtypes ----------------------------------------------------------------------
@pytest.mark.parametrize("Streams", STREAMS)
def test_dtypes(Streams):
    s = Streams(1)
    with config.change_flags(floatX="float32"):
        u = s.uniform((3,))
        nrm = s.normal((3,))
    assert u.dtype == "float32" and nrm.dtype == "float32"
    assert draw(u).dtype == np.float32
    assert s.uniform((2,), low=T.dvector()).dtype == "float64"
    assert s.uniform((2,), dtype="float64").dtype == "float64"
    assert s.binomial((2,)).dtype == "int64"
    assert draw(s.binomial((2,), dtype="float32")).dtype == np.float32
    assert draw(s.random_integers((2,), dtype="int8")).dtype == np.int8
    assert s.permutation(n=3).dtype == "int64" and s.choice().dtype == "int64"


def test_float32_uniform_stays_below_high():
    # float32 values are 8 apart near 1e8: rounding would give `high` half of the time
    x = draw(RandomStreams(0).uniform((1000,), low=1e8, high=1e8 + 8, dtype="float32"))
    assert x.max() < np.float32(1e8 + 8) and x.min() >= np.float32(1e8)


# -- seeding and updates -----------------------------------------------------------
@pytest.mark.parametrize("Streams", STREAMS)
def test_reproducible_and_new_numbers_each_call(Streams):
    def run(seed):
        s = Streams(seed)
        f = theano.function([], [s.uniform((3,)), s.normal((2,))])
        return [np.concatenate(f()) for _ in range(3)]

    a, b, c = run(10), run(10), run(11)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[0], a[1]) and not np.allclose(a[1], a[2])
    assert not np.allclose(a[0], c[0])


def test_randomstreams_matches_theano_seeding():
    s = RandomStreams(234)
    u, nrm = s.uniform((2, 2)), s.normal((3,))
    seeds = np.random.RandomState(234)
    r1 = np.random.RandomState(seeds.randint(2 ** 30))
    r2 = np.random.RandomState(seeds.randint(2 ** 30))
    f = theano.function([], [u, nrm])
    for _ in range(2):
        a, b = f()
        np.testing.assert_array_equal(a, r1.uniform(0.0, 1.0, (2, 2)))
        np.testing.assert_array_equal(b, r2.normal(0.0, 1.0, (3,)))


@pytest.mark.parametrize("Streams", STREAMS)
def test_seed_resets_every_stream(Streams):
    s = Streams(3)
    u, b = s.uniform((4,)), s.binomial((4,), n=100)
    f = theano.function([], [u, b])
    first, second = f(), f()
    s.seed(3)
    again = f()
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[1])
    s.seed()  # the constructor's seed
    np.testing.assert_array_equal(f()[0], first[0])
    np.testing.assert_array_equal(f()[0], second[0])
    s.seed(4)
    assert not np.allclose(f()[0], first[0])


@pytest.mark.parametrize("Streams", STREAMS)
def test_no_default_updates(Streams):
    s = Streams(1)
    u, v = s.uniform((3,)), s.uniform((3,))
    f = theano.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(f(), f())
    g = theano.function([], [u, v], no_default_updates=[u.rng])
    a1, b1 = g()
    a2, b2 = g()
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(b1, b2)
    # explicit updates still advance a stream
    h = theano.function([], u, no_default_updates=True, updates=[u.update])
    assert not np.allclose(h(), h())


def test_streams_and_draws_are_independent():
    a, b = RandomStreams(1), RandomStreams(2)
    ua, ub, ua2 = a.uniform((5,)), b.uniform((5,)), a.uniform((5,))
    assert ua.rng is not ua2.rng
    fa, fb, fa2 = (theano.function([], x) for x in (ua, ub, ua2))
    x1 = fa()
    fb(), fa2(), fa2()  # advancing other streams does not touch ua's generator
    x2 = fa()
    ref = RandomStreams(1).uniform((5,))
    g = theano.function([], ref)
    np.testing.assert_array_equal(x1, g())
    np.testing.assert_array_equal(x2, g())
    assert not np.allclose(x1, draw(ub)) and not np.allclose(x1, draw(ua2))


def test_two_functions_share_one_stream():
    s = RandomStreams(9)
    u = s.uniform((3,))
    f1, f2 = theano.function([], u), theano.function([], u * 2)
    a, b, c = f1(), f2(), f1()
    ref = RandomStreams(9).uniform((3,))
    g = theano.function([], ref)
    np.testing.assert_array_equal(a, g())
    np.testing.assert_allclose(b, 2 * g())
    np.testing.assert_array_equal(c, g())


def test_same_draw_used_twice_in_one_call_is_one_sample():
    u = RandomStreams(0).uniform((4,))
    a, b = theano.function([], [u, u + 0])()
    np.testing.assert_array_equal(a, b)


def test_eval_advances():
    u = MRG_RandomStreams(1).uniform((3,))
    assert not np.allclose(u.eval(), u.eval())


@pytest.mark.parametrize("Streams", STREAMS)
def test_pickle_function(Streams):
    s = Streams(5)
    x = T.vector()
    f = theano.function([x], x + s.uniform((3,)))
    f(np.zeros(3))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g(np.zeros(3)), f(np.zeros(3)))
    np.testing.assert_array_equal(g(np.ones(3)), f(np.ones(3)))
    s2 = pickle.loads(pickle.dumps(s))
    assert len(s2.updates()) == 1


def test_updates_gen_and_attributes():
    s = RandomStreams(0)
    u = s.uniform((2,))
    assert s.updates() == [(u.rng, u.update[1])]
    assert u.rng.default_update is u.update[1]
    out = s.gen(raw.poisson, (3,), 2.0)
    assert len(s.updates()) == 2 and draw(out).shape == (3,)
    assert isinstance(s[u.rng], np.random.RandomState)
    s[u.rng] = np.random.RandomState(1)
    np.testing.assert_array_equal(draw(u, no_default_updates=True),
                                  np.random.RandomState(1).uniform(size=2))


def test_raw_functions_with_a_generator_and_explicit_updates():
    r = theano.shared(np.random.default_rng(3))
    new_r, sample = raw.random_integers(r, (1000,), low=1, high=6)
    f = theano.function([], sample, updates=[(r, new_r)])
    a, b = f(), f()
    assert a.min() == 1 and a.max() == 6 and not np.array_equal(a, b)
    ref = np.random.default_rng(3)
    np.testing.assert_array_equal(a, ref.integers(1, 6, size=1000, endpoint=True))


# -- gradients ---------------------------------------------------------------------------
def test_gradients():
    s = RandomStreams(0)
    w = T.vector()
    u = s.uniform((3,))
    g = theano.grad(T.sum(u * w), w)
    gv = theano.function([w], g, no_default_updates=True)(np.ones(3))
    np.testing.assert_array_equal(gv, draw(u, no_default_updates=True))
    low = T.scalar()
    v = s.uniform((3,), low=low, high=low + 1)
    with pytest.raises(NullTypeGradError, match="random samples have no gradient"):
        theano.grad(T.sum(v), low)


# -- errors ------------------------------------------------------------------------------
def test_bad_size_errors():
    s = RandomStreams(0)
    with pytest.raises(ValueError, match=r"uniform: size\[1\] must be a non-negative "
                                         r"length .*got -3"):
        s.uniform((2, -3))
    with pytest.raises(TypeError, match=r"normal: size\[0\] must be an int .*got 2.5"):
        s.normal((2.5,))
    with pytest.raises(TypeError, match=r"size\[0\] must be an integer scalar, got .*"
                                        "float64"):
        s.uniform((T.dscalar(),))
    with pytest.raises(TypeError, match="a symbolic size must be an integer vector"):
        s.uniform(T.lmatrix())
    with pytest.raises(ValueError, match="length of the symbolic size .* pass ndim="):
        s.uniform(T.lvector())
    with pytest.raises(ValueError, match="ndim=1 but size has 2 entries"):
        s.uniform((2, 3), ndim=1)
    with pytest.raises(ValueError, match="ndim=0 is less than the 1 dims of avg"):
        s.normal(avg=T.vector(), ndim=0)
    with pytest.raises(TypeError, match="size must be a tuple"):
        s.uniform("big")
    v = T.lvector()
    f = theano.function([v], s.uniform(v, ndim=2))
    with pytest.raises(ValueError, match="size must hold non-negative lengths"):
        f(np.array([2, -5]))


def test_bad_param_errors():
    s = RandomStreams(0)
    x = T.scalar()
    with pytest.raises(ValueError, match="normal: std must be >= 0, got -1"):
        draw(s.normal((2,), std=x), [x], -1.0)
    with pytest.raises(ValueError, match=r"binomial: p must be in \[0, 1\], got 1.5"):
        draw(s.binomial((2,), p=1.5))
    with pytest.raises(ValueError, match="multinomial: the sum of pvals"):
        draw(s.multinomial((2,), pvals=[0.5, 0.2]))
    with pytest.raises(ValueError, match="cannot draw 6 elements .* without replacement "
                                         "from 5"):
        draw(s.choice((6,), a=5, replace=False))
    with pytest.raises(ValueError, match="p must have 3 entries"):
        draw(s.choice((2,), a=3, p=[0.5, 0.5]))
    with pytest.raises(ValueError, match="random_integers: low must be <= high"):
        draw(s.random_integers((2,), low=3, high=1))
    with pytest.raises(TypeError, match="uniform: dtype must be a float dtype"):
        s.uniform((2,), dtype="int32")
    with pytest.raises(TypeError, match="choice: a holds float64 values but dtype is "
                                        "'int64'"):
        s.choice((2,), a=np.array([0.5, 1.5]))
    with pytest.raises(TypeError, match="permutation: n must be an integer scalar"):
        s.permutation(n=T.lvector())
    with pytest.raises(TypeError, match="the random state must be a random generator "
                                        "variable"):
        raw.uniform(np.random.RandomState(0), (2,))
    with pytest.raises(TypeError, match="seed must be an int"):
        MRG_RandomStreams("abc")


def test_size_from_shape_keeps_broadcastable_dims():
    x = T.row()
    u = RandomStreams(0).uniform(size=x.shape)
    assert u.broadcastable == (True, False)
    assert draw(u, [x], np.zeros((1, 4))).shape == (1, 4)


def test_function_copy_shares_the_generator():
    u = RandomStreams(0).uniform((3,))
    f = theano.function([], u)
    g = f.copy()  # as Theano: the copy reads and advances the same generator
    a, b = f(), g()
    assert not np.allclose(a, b)
    fresh = theano.function([], RandomStreams(0).uniform((3,)))
    np.testing.assert_array_equal(fresh(), a)
    np.testing.assert_array_equal(fresh(), b)


def test_draws_inside_scan_differ_per_step_and_per_call():
    s = RandomStreams(0)
    out, upd = theano.scan(lambda: s.uniform((2,)), n_steps=3)
    f = theano.function([], out, updates=upd)
    a, b = f(), f()
    assert a.shape == (3, 2) and len(np.unique(a)) == 6
    assert not np.allclose(a, b)
    s.seed(0)
    np.testing.assert_array_equal(f(), a)


@pytest.mark.parametrize("dist, params", [
    ("uniform", (2.0, 5.0)), ("normal", (1.0, 2.0)), ("binomial", (3, 0.4)),
    ("poisson", (4.0,)), ("random_integers", (-2, 3))])
def test_scalar_parameters_draw_the_numbers_of_broadcast_ones(dist, params):
    # scalar parameters go to NumPy unbroadcast (faster): the numbers are those of
    # parameters broadcast to the sample's shape
    r = theano.shared(np.random.RandomState(11))
    _, out = getattr(raw, dist)(r, (4, 5), *params)
    got = theano.function([], out)()
    ref = np.random.RandomState(11)
    full = [np.broadcast_to(np.asarray(p), (4, 5)) for p in params]
    if dist == "random_integers":
        want = ref.randint(full[0], full[1] + 1, size=(4, 5))
    else:
        want = getattr(ref, dist)(*full, (4, 5))
    np.testing.assert_array_equal(got, want.astype(got.dtype))
