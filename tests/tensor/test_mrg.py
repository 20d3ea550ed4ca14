"""MRG_RandomStreams draws with MRG31k3p as Theano did: the recurrence against its
definition, the streams against L'Ecuyer's reference values, Theano's stream
layout and distributions, reseeding, scans and errors. (tests/tensor runs on py and
numba: see backend_suite.py.)"""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.sandbox import mrg_core
from theanine.sandbox.mrg_ops import ChoiceFromUniform, MRGUniform, MultinomialFromUniform
from theanine.sandbox.rng_mrg import MRG_RandomStreams, guess_n_streams

# Values of L'Ecuyer's reference (Java, SSJ) MRG31k3p, seed [12345] * 6, as in
# Theano's test data: stream 0's substreams 0..6 (5 values each), then the first
# values of substream 0 of streams 1 and 11 (each stream 2**134 steps on).
JAVA_STREAM0 = [
    0.7353244530968368, 0.6142074400559068, 0.11007806099951267, 0.6487741703167558,
    0.36619443260133266, 0.2585685825906694, 0.9489980279468, 0.4309556516818702,
    0.12257590936496854, 0.9760319022461772, 0.6940806899219751, 0.18046841165050864,
    0.003993193618953228, 0.5351603352464736, 0.02472442388534546, 0.7705746139399707,
    0.8138928869739175, 0.9650539481081069, 0.24507411010563374, 0.35767574002966285,
    0.4939101580530405, 0.9027785388752818, 0.27498403564095497, 0.03848231676965952,
    0.3081609820947051, 0.9062023567967117, 0.009030417073518038, 0.7953705741092563,
    0.5061718439683318, 0.5975547162815928, 0.5435514179989696, 0.330895590595901,
    0.49919482320547104, 0.9409166998229921, 0.8276205519214272]
JAVA_STREAM1_SUB0 = [0.5180770065635443, 0.2319392478093505, 0.36197659047320485,
                     0.11120751267299056, 0.5018561617471278]
JAVA_STREAM11_SUB0 = [0.015444065444171429, 0.6732339109294116, 0.9980663135647774,
                      0.8833195753395557, 0.21191661106422544]


def _reference_step(state):
    """One MRG31k3p step from the recurrences' definition, in Python ints."""
    x11, x12, x13, x21, x22, x23 = (int(v) for v in state)
    y1 = (2 ** 22 * x12 + (2 ** 7 + 1) * x13) % mrg_core.M1
    y2 = (2 ** 15 * x21 + (2 ** 15 + 1) * x23) % mrg_core.M2
    z = (y1 - y2) % mrg_core.M1 or mrg_core.M1
    return [y1, x11, x12, y2, x21, x22], z


# -- the generator ---------------------------------------------------------------
def test_step_matches_the_recurrence_for_any_state():
    rng = np.random.default_rng(0)
    states = np.concatenate([
        rng.integers(0, mrg_core.M1, (300, 3)), rng.integers(0, mrg_core.M2, (300, 3))],
        axis=1).astype("int32")
    states[:4, :3] = mrg_core.M1 - 1  # the largest values: int32 overflow paths
    states[4:8, 3:] = mrg_core.M2 - 1
    new, u = mrg_core.uniform(states, len(states), "float64")
    for k, s in enumerate(states):
        want, z = _reference_step(s)
        assert list(new[k]) == want
        assert u[k] == z * 2.0 ** -31


def test_reference_values_of_streams_and_substreams():
    rng = MRG_RandomStreams(12345)
    draws = [rng.uniform(size=(7,), nstreams=7, dtype="float64") for _ in range(12)]
    f = theano.function([], draws)
    got = np.array([f() for _ in range(5)])  # (call, stream, substream)
    np.testing.assert_allclose(got[:, 0, :].T.ravel(), JAVA_STREAM0, rtol=1e-15)
    np.testing.assert_allclose(got[:, 1, 0], JAVA_STREAM1_SUB0, rtol=1e-15)
    np.testing.assert_allclose(got[:, 11, 0], JAVA_STREAM11_SUB0, rtol=1e-15)


def test_substreams_are_successive_jumps():
    start = mrg_core.check_seed(987)
    rows = mrg_core.substreams(start, 37)
    for i in range(1, 37):
        np.testing.assert_array_equal(rows[i], mrg_core._apply(mrg_core.JUMP_STREAM,
                                                               rows[i - 1:i])[0])


def test_samples_stay_below_one_and_above_zero():
    z = np.array([1, 2, mrg_core.M1 - 1, mrg_core.M1], dtype="int32")
    for dtype in ("float16", "float32", "float64"):
        u = mrg_core.to_uniform(z, dtype)
        assert u.dtype == dtype and (u > 0).all() and (u < 1).all()


def test_sample_i_comes_from_stream_i_mod_n():
    state = mrg_core.substreams(mrg_core.check_seed(5), 3)
    _, u = mrg_core.uniform(state, 7, "float64")
    for j in range(3):
        s, alone = state[j:j + 1], []
        for _ in range(len(range(j, 7, 3))):
            s, v = mrg_core.uniform(s, 1, "float64")
            alone.append(v[0])
        np.testing.assert_array_equal(u[j::3], alone)


# -- streams ----------------------------------------------------------------------
def test_theano_stream_counts():
    assert guess_n_streams((10, 20)) == 33
    assert guess_n_streams((5,)) == 5
    assert guess_n_streams((1000, 1000)) == 60 * 256
    assert guess_n_streams((T.iscalar(), 3)) == 60 * 256
    s = MRG_RandomStreams(3)
    s.uniform((10, 20))
    s.normal((4,))
    assert [r.get_value().shape for r, _ in s.updates()] == [(33, 6), (60 * 256, 6)]


def test_same_seed_same_numbers_and_reseeding():
    def make(seed):
        s = MRG_RandomStreams(seed)
        outs = [s.uniform((3, 4)), s.normal((5,)), s.binomial((6,), p=0.4),
                s.multinomial(pvals=np.full((2, 3), 1 / 3)), s.poisson((3,), lam=2.0)]
        return s, theano.function([], outs)

    _, f = make(42)
    _, g = make(42)
    a = f()
    for x, y in zip(a, g()):
        np.testing.assert_array_equal(x, y)
    s, h = make(7)
    h()
    s.seed(42)  # now as a fresh MRG_RandomStreams(42)
    for x, y in zip(a, h()):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(f()[0], a[0])  # calls advance the streams


def test_six_int_seed_and_class_state_moves_on():
    s = MRG_RandomStreams([1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(s.rstate, [1, 2, 3, 4, 5, 6])
    rows = s.get_substream_rstates(2)
    np.testing.assert_array_equal(rows[0], [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(s.rstate, mrg_core.next_class_state(rows[0]))


# -- distributions ----------------------------------------------------------------
def test_uniform_normal_binomial_moments():
    s = MRG_RandomStreams(11)
    n = 200_000
    u, z, zt, b = theano.function([], [
        s.uniform((n,), low=-1.0, high=3.0), s.normal((n,), avg=2.0, std=0.5),
        s.truncated_normal((n,)), s.binomial((n,), p=0.3)])()
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1) < 0.01
    assert abs(z.mean() - 2) < 0.005 and abs(z.std() - 0.5) < 0.005
    # Theano's truncation redraws the radius and keeps the angle: std 1.011, not 1
    assert np.abs(zt).max() <= 2 / 0.8796 + 1e-6 and abs(zt.std() - 1) < 0.02
    assert set(np.unique(b)) == {0, 1} and abs(b.mean() - 0.3) < 0.005


def test_normal_is_box_muller_of_the_uniforms():
    s = MRG_RandomStreams(9)
    z = s.normal((2, 3), dtype="float64")
    state = s.updates()[0][0].get_value()
    _, u = mrg_core.uniform(state, 6, "float64")
    r, th = np.sqrt(-2 * np.log(u[:3])), 2 * np.pi * u[3:]
    want = np.concatenate([r * np.cos(th), r * np.sin(th)]).reshape(2, 3)
    np.testing.assert_allclose(theano.function([], z)(), want, rtol=1e-12)


def test_odd_and_scalar_sizes_and_params_shape():
    s = MRG_RandomStreams(2)
    avg = T.vector("avg")
    a, b, c = theano.function([avg], [s.normal((3,)), s.normal(()), s.normal(avg=avg)])(
        np.zeros(4, dtype=theano.config.floatX))
    assert a.shape == (3,) and b.shape == () and c.shape == (4,)
    n = T.iscalar("n")
    v = theano.function([n], s.uniform(size=(n, 2)))(5)
    assert v.shape == (5, 2) and v.dtype == theano.config.floatX
    assert theano.function([n], s.uniform(size=(n, 2)))(0).shape == (0, 2)


def test_multinomial_and_choice_rules():
    # draw c of row r takes the first outcome whose running sum exceeds unis[c*rows + r]
    p = T.matrix("p", dtype="float64")
    u = T.vector("u", dtype="float64")
    n = T.lscalar("n")
    counts = theano.function([p, u, n], MultinomialFromUniform("int64")(p, u, n))
    pv = np.array([[0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(counts(pv, np.array([0.1, 0.7, 0.2, 0.3, 0.95, 0.2]), 3),
                                  [[1, 1, 1], [2, 1, 0]])
    np.testing.assert_array_equal(counts(pv, np.array([0.999, 1.5]), 1), [[0, 0, 1], [0, 0, 0]])
    choose = theano.function([p, u, n], ChoiceFromUniform("int64")(p, u, n))
    # row 0: 0.1 -> 0; then p = [0, .375, .625]: 0.5 -> 2
    np.testing.assert_array_equal(choose(pv, np.array([0.1, 0.6, 0.5, 0.3]), 2),
                                  [[0, 2], [1, 0]])


def test_mrg_multinomial_and_choice_distributions():
    s = MRG_RandomStreams(4)
    pv = np.array([[0.1, 0.2, 0.7]] * 20000)
    m, c = theano.function([], [s.multinomial(pvals=pv, n=4),
                                s.choice(size=2, p=pv)])()
    assert m.shape == (20000, 3) and (m.sum(axis=1) == 4).all()
    np.testing.assert_allclose(m.mean(axis=0), [0.4, 0.8, 2.8], atol=0.03)
    assert c.shape == (20000, 2) and (c[:, 0] != c[:, 1]).all()
    np.testing.assert_allclose(np.bincount(c[:, 0], minlength=3) / 20000, [0.1, 0.2, 0.7],
                               atol=0.01)


# -- scan, gradients ----------------------------------------------------------------
def test_dropout_in_scan_reproducible_and_differentiable():
    def model(seed):
        s = MRG_RandomStreams(seed)
        w = T.dscalar("w")
        x = T.dvector("x")

        def step(e, h):
            keep = s.binomial(size=(), p=0.5, dtype="float64")
            return T.tanh(h * w + e) * keep + h * (1 - keep)

        r, upd = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
        return w, x, r, upd

    w, x, r, upd = model(5)
    f = theano.function([x, w], [r, T.grad(T.sum(r), w)], updates=upd)
    w2, x2, r2, upd2 = model(5)
    f2 = theano.function([x2, w2], r2, updates=upd2)
    xv = np.linspace(-1, 1, 40)
    first, g = f(xv, 0.7)
    np.testing.assert_array_equal(first, f2(xv, 0.7))
    assert not np.array_equal(f(xv, 0.7)[0], first)  # the streams moved on
    w3, x3, r3, _ = model(5)  # no updates: the same draws every call
    fr = theano.function([x3, w3], T.sum(r3), no_default_updates=True)
    eps = 1e-6
    num = (fr(xv, 0.7 + eps) - fr(xv, 0.7 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6)


# -- errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed, err, match", [
    (0, ValueError, r"seed must be in \[1, 2147462578\]"),
    (2 ** 31, ValueError, "must be in"),
    ([0, 0, 0, 1, 2, 3], ValueError, "neither three all 0"),
    ([1, 2, 3], TypeError, "six ints"),
    ("abc", TypeError, "an int or a list of six ints"),
])
def test_bad_seeds(seed, err, match):
    with pytest.raises(err, match=match):
        MRG_RandomStreams(seed)


def test_bad_arguments():
    s = MRG_RandomStreams(1)
    with pytest.raises(ValueError, match="nstreams must be a positive int"):
        s.uniform((3,), nstreams=0)
    with pytest.raises(ValueError, match="non-negative length"):
        s.uniform((3, -2))
    with pytest.raises(ValueError, match="non-negative lengths, got"):
        s.uniform((-1, 2))
    with pytest.raises(ValueError, match="give a size that covers"):
        s.uniform((3,), low=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cannot draw 3 distinct outcomes from 2"):
        theano.function([], s.choice(size=3, p=np.full((2, 2), 0.5)))()
    with pytest.raises(TypeError, match="random state must be an int32 matrix"):
        MRGUniform(1, "float64")(T.dmatrix(), np.array([3]))
    with pytest.raises(TypeError, match="pvals must be a float matrix"):
        MultinomialFromUniform()(T.dvector(), T.dvector(), 1)


def test_few_streams_many_rounds_by_jump_matrices():
    # 1 and 3 streams with many samples draw by jump matrices: the same numbers as
    # stepping each stream (the reference recurrence) one sample at a time
    for ns in (1, 3):
        state = mrg_core.substreams(mrg_core.check_seed(21), ns)
        new, u = mrg_core.uniform(state, 64 * ns * 3 + 2, "float64")
        rows = [list(r) for r in state]
        for i in range(len(u)):
            rows[i % ns], z = _reference_step(rows[i % ns])
            assert u[i] == z * 2.0 ** -31
        np.testing.assert_array_equal(new, np.array(rows, dtype="int32"))


def test_size_from_the_parameters_uses_theano_symbolic_stream_count():
    s = MRG_RandomStreams(6)
    low = T.dvector("low")
    u = s.uniform(low=low, high=low + 1)
    assert s.updates()[0][0].get_value().shape == (60 * 256, 6)
    v = theano.function([low], u)(np.arange(5.0))
    assert v.shape == (5,) and ((v >= np.arange(5)) & (v < np.arange(5) + 1)).all()
