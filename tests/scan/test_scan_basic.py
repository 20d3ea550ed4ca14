"""scan semantics against plain Python/NumPy reference loops."""

import os

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import config


@pytest.fixture(params=["float32", "float64"])
def floatX(request):
    with config.change_flags(floatX=request.param):
        yield request.param


# -- the four seed examples, verbatim ---------------------------------------------
def test_seed_map_plus_one(floatX):
    x = T.matrix("x")
    results, updates = theano.scan(lambda v: v + 1, sequences=x)
    f = theano.function([x], results, updates=updates)
    out = f(np.ones((2, 3), dtype=floatX))
    np.testing.assert_array_equal(out, np.full((2, 3), 2.0))
    assert out.dtype == floatX


def test_seed_cumulative_sum(floatX):
    v = T.vector("v")
    results, updates = theano.scan(lambda e, acc: acc + e, sequences=v,
                                   outputs_info=T.constant(0.0))
    f = theano.function([v], results, updates=updates)
    out = f(np.array([0, 3, 5], dtype=floatX))
    np.testing.assert_array_equal(out, [0, 3, 8])
    assert out.dtype == floatX


def test_seed_row_sums(floatX):
    m = T.matrix("m")
    results, updates = theano.scan(lambda row, acc: acc + T.sum(row), sequences=m,
                                   outputs_info=T.constant(0.0))
    f = theano.function([m], results, updates=updates)
    out = f(np.ones((20, 5), dtype=floatX))
    np.testing.assert_array_equal(out, np.arange(5, 101, 5))
    assert out.dtype == floatX


def test_seed_non_sequences(floatX):
    a = T.vector()
    s0 = T.scalar("s0")

    def fn(current_element, prior, non_seq):
        return non_seq * prior + current_element

    results, updates = theano.scan(fn=fn, n_steps=10, sequences=a,
                                   outputs_info=T.constant(0.0), non_sequences=s0)
    f = theano.function([a, s0], results, updates=updates)
    out = f(np.ones(20, dtype=floatX), 5)
    ref, acc = [], 0.0
    for _ in range(10):
        acc = 5 * acc + 1
        ref.append(acc)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert out.dtype == floatX
    np.testing.assert_array_equal(out[:5], [1, 6, 31, 156, 781])


# -- taps ---------------------------------------------------------------------------
def test_fibonacci_taps():
    init = T.vector("init")
    r, _ = theano.scan(lambda a, b: a + b, outputs_info=dict(initial=init, taps=[-2, -1]),
                       n_steps=10)
    out = theano.function([init], r)(np.array([1.0, 1.0]))
    ref = [1.0, 1.0]
    for _ in range(10):
        ref.append(ref[-2] + ref[-1])
    np.testing.assert_array_equal(out, ref[2:])


def test_output_taps_use_first_rows_of_initial():
    init = T.vector("init")
    r, _ = theano.scan(lambda a, b: a * 10 + b, outputs_info=dict(initial=init, taps=[-3, -1]),
                       n_steps=4)
    out = theano.function([init], r)(np.array([1.0, 2.0, 3.0, 99.0]))
    buf = [1.0, 2.0, 3.0]
    for _ in range(4):
        buf.append(buf[-3] * 10 + buf[-1])
    np.testing.assert_array_equal(out, buf[3:])


def test_sequence_taps_past_present_future():
    x = T.vector("x")
    r, _ = theano.scan(lambda a, b, c: a + 10 * b + 100 * c,
                       sequences=dict(input=x, taps=[-1, 0, 1]))
    xv = np.arange(6.0)
    out = theano.function([x], r)(xv)
    ref = [xv[t - 1] + 10 * xv[t] + 100 * xv[t + 1] for t in range(1, 5)]
    np.testing.assert_array_equal(out, ref)


def test_sequence_tap_minus_one_gives_one_step_less():
    x = T.vector("x")
    r, _ = theano.scan(lambda a: a * 2, sequences=dict(input=x, taps=[-1]))
    out = theano.function([x], r)(np.arange(5.0))
    np.testing.assert_array_equal(out, np.arange(4.0) * 2)


def test_sequences_of_different_lengths_run_to_shortest():
    x, y = T.vector("x"), T.vector("y")
    r, _ = theano.scan(lambda a, b: a * b, sequences=[x, y])
    out = theano.function([x, y], r)(np.arange(5.0), np.arange(3.0))
    np.testing.assert_array_equal(out, [0, 1, 4])


def test_go_backwards():
    x = T.vector("x")
    r, _ = theano.scan(lambda e, acc: acc * 10 + e, sequences=x, outputs_info=T.constant(0.0),
                       go_backwards=True)
    out = theano.function([x], r)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out, [3, 32, 321])


# -- n_steps --------------------------------------------------------------------------
def test_symbolic_n_steps_without_sequences():
    n = T.iscalar("n")
    r, _ = theano.scan(lambda acc: acc * 2, outputs_info=T.constant(1.0), n_steps=n)
    f = theano.function([n], r)
    np.testing.assert_array_equal(f(4), [2, 4, 8, 16])
    np.testing.assert_array_equal(f(1), [2])


def test_zero_steps_gives_empty_traces_of_right_shapes():
    n = T.iscalar("n")
    h0 = T.vector("h0")
    W = T.matrix("W")
    r, _ = theano.scan(lambda h: [T.tanh(h * 2), T.sum(h) * W], outputs_info=[h0, None],
                       n_steps=n)
    f = theano.function([n, h0, W], r)
    a, b = f(0, np.ones(3), np.ones((2, 4)))
    assert a.shape == (0, 3) and b.shape == (0, 2, 4)
    a, b = f(2, np.ones(3), np.ones((2, 4)))
    assert a.shape == (2, 3) and b.shape == (2, 2, 4)


def test_negative_n_steps_raises():
    n = T.iscalar("n")
    r, _ = theano.scan(lambda acc: acc + 1, outputs_info=T.constant(0.0), n_steps=n)
    f = theano.function([n], r)
    with pytest.raises(ValueError, match="n_steps"):
        f(-1)


def test_sequence_shorter_than_n_steps_raises():
    x = T.vector("x")
    r, _ = theano.scan(lambda e: e + 1, sequences=x, n_steps=5)
    f = theano.function([x], r)
    np.testing.assert_array_equal(f(np.arange(7.0)), np.arange(5.0) + 1)
    with pytest.raises(ValueError, match="fewer"):
        f(np.arange(3.0))


def test_n_steps_cuts_sequences():
    x = T.vector("x")
    r, _ = theano.scan(lambda e: e * 3, sequences=x, n_steps=2)
    np.testing.assert_array_equal(theano.function([x], r)(np.arange(6.0)), [0, 3])


# -- until ------------------------------------------------------------------------------
def test_until_includes_the_stopping_step():
    r, _ = theano.scan(lambda acc: (acc * 2, theano.scan_module.until(acc * 2 > 20)),
                       outputs_info=T.constant(1.0), n_steps=100)
    out = theano.function([], r)()
    np.testing.assert_array_equal(out, [2, 4, 8, 16, 32])


def test_until_never_true_runs_n_steps():
    r, _ = theano.scan(lambda acc: (acc + 1, theano.until(T.constant(False))),
                       outputs_info=T.constant(0.0), n_steps=4)
    np.testing.assert_array_equal(theano.function([], r)(), [1, 2, 3, 4])


def test_until_with_sequence_and_map_output():
    x = T.vector("x")
    r, _ = theano.scan(lambda e: (e * 2, theano.until(e > 2)), sequences=x)
    np.testing.assert_array_equal(theano.function([x], r)(np.arange(10.0)), [0, 2, 4, 6])


# -- outputs ------------------------------------------------------------------------------
def test_several_outputs_and_none_outputs():
    x = T.vector("x")

    def step(e, acc):
        return acc + e, e * e

    (acc, sq), _ = theano.scan(step, sequences=x, outputs_info=[T.constant(0.0), None])
    a, s = theano.function([x], [acc, sq])(np.arange(4.0))
    np.testing.assert_array_equal(a, np.cumsum(np.arange(4.0)))
    np.testing.assert_array_equal(s, np.arange(4.0) ** 2)


def test_return_list_and_single_output_bare():
    x = T.vector("x")
    r, _ = theano.scan(lambda e: e + 1, sequences=x)
    assert isinstance(r, T.TensorVariable)
    r2, _ = theano.scan(lambda e: e + 1, sequences=x, return_list=True)
    assert isinstance(r2, list) and len(r2) == 1


def test_matrix_recurrence_against_reference(rng):
    X = T.matrix("X")
    W = T.matrix("W")
    h0 = T.vector("h0")
    r, _ = theano.scan(lambda x, h, w: T.tanh(x + h * 0.5 + T.sum(w)), sequences=X,
                       outputs_info=h0, non_sequences=W)
    xv, wv, hv = rng.normal(size=(6, 3)), rng.normal(size=(2, 2)), rng.normal(size=3)
    out = theano.function([X, W, h0], r)(xv, wv, hv)
    ref, h = [], hv
    for t in range(6):
        h = np.tanh(xv[t] + h * 0.5 + wv.sum())
        ref.append(h)
    np.testing.assert_allclose(out, ref)


def test_free_variables_are_found():
    x = T.vector("x")
    w = T.scalar("w")
    w2 = w * 2
    r, _ = theano.scan(lambda e: e * w2 + w, sequences=x)
    out = theano.function([x, w], r)(np.arange(3.0), 3.0)
    np.testing.assert_array_equal(out, np.arange(3.0) * 6 + 3)


def test_shared_variable_used_inside_fn():
    w = theano.shared(np.float64(2.0), name="w")
    x = T.vector("x")
    r, _ = theano.scan(lambda e: e * w, sequences=x)
    f = theano.function([x], r)
    np.testing.assert_array_equal(f(np.arange(3.0)), [0, 2, 4])
    w.set_value(3.0)
    np.testing.assert_array_equal(f(np.arange(3.0)), [0, 3, 6])


# -- updates --------------------------------------------------------------------------------
def test_updates_returned_by_fn():
    counter = theano.shared(np.float64(0.0), name="counter")

    def step(e):
        return e * 2, {counter: counter + e}

    r, upd = theano.scan(step, sequences=T.vector("x"))
    assert isinstance(upd, theano.OrderedUpdates) and list(upd) == [counter]


def test_updates_accumulate_and_function_applies_them():
    counter = theano.shared(np.float64(0.0), name="counter")
    x = T.vector("x")

    def step(e):
        return e * 2, {counter: counter + e}

    r, upd = theano.scan(step, sequences=x)
    f = theano.function([x], r, updates=upd)
    np.testing.assert_array_equal(f(np.array([1.0, 2.0, 3.0])), [2, 4, 6])
    assert counter.get_value() == 6.0
    f(np.array([1.0]))
    assert counter.get_value() == 7.0


def test_updates_dict_is_mutable_by_user():
    counter = theano.shared(np.float64(0.0), name="counter")
    other = theano.shared(np.float64(5.0), name="other")
    x = T.vector("x")
    r, upd = theano.scan(lambda e: (e, {counter: counter + 1}), sequences=x)
    upd[other] = other * 2
    f = theano.function([x], r, updates=upd)
    f(np.zeros(3))
    assert counter.get_value() == 3.0 and other.get_value() == 10.0


def test_updates_and_until():
    counter = theano.shared(np.float64(0.0), name="counter")

    def step(acc):
        return acc + 1, {counter: counter + 1}, theano.until(acc + 1 >= 3)

    r, upd = theano.scan(step, outputs_info=T.constant(0.0), n_steps=10)
    f = theano.function([], r, updates=upd)
    np.testing.assert_array_equal(f(), [1, 2, 3])
    assert counter.get_value() == 3.0


# -- nested ---------------------------------------------------------------------------------
def test_nested_scan():
    X = T.matrix("X")

    def outer(row):
        inner, _ = theano.scan(lambda e, acc: acc + e, sequences=row,
                               outputs_info=T.constant(0.0))
        return inner[-1]

    r, _ = theano.scan(outer, sequences=X)
    xv = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(theano.function([X], r)(xv), xv.sum(axis=1))


# -- views ----------------------------------------------------------------------------------
def test_map_reduce_foldl_foldr():
    x = T.vector("x")
    m, _ = theano.map(lambda e: e * 2, sequences=x)
    r, _ = theano.reduce(lambda e, acc: acc * 10 + e, sequences=x, outputs_info=T.constant(0.0))
    fl, _ = theano.foldl(lambda e, acc: acc * 10 + e, sequences=x, outputs_info=T.constant(0.0))
    fr, _ = theano.foldr(lambda e, acc: acc * 10 + e, sequences=x, outputs_info=T.constant(0.0))
    f = theano.function([x], [m, r, fl, fr])
    mv, rv, flv, frv = f(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(mv, [2, 4, 6])
    assert rv == 123 and flv == 123 and frv == 321
    assert f(np.zeros(0))[1] == 0.0  # reduce over nothing: the initial state


def test_scan_checkpoints_values_match_scan():
    x = T.vector("x")
    h0 = T.scalar("h0")
    ref, _ = theano.scan(lambda e, h: T.tanh(h + e), sequences=x, outputs_info=h0)
    ck, _ = theano.scan_checkpoints(lambda e, h: T.tanh(h + e), sequences=[x],
                                    outputs_info=[h0], save_every_N=3)
    f = theano.function([x, h0], [ref, ck])
    for n in (1, 3, 7, 9):
        a, b = f(np.linspace(-1, 1, n), 0.3)
        np.testing.assert_allclose(a, b)
        assert b.shape == (n,)


def test_name_and_profile():
    x = T.vector("x")
    r, _ = theano.scan(lambda e, acc: acc * 0.5 + e, sequences=x, name="myloop", profile=True,
                       outputs_info=T.constant(0.0))
    assert "myloop" in str(r.owner.op)
    f = theano.function([x], r, profile=True)
    f(np.arange(3.0))
    f(np.arange(3.0))
    with open(os.devnull, "w") as sink:
        text = f.profile.summary(file=sink)
    assert "myloop" in text
    g = theano.function([x], r, mode="PY")
    g(np.arange(3.0))
    assert r.owner.op.profile.extra  # the loop's own time and number of calls
