"""Taps are checked when the graph is built (or, for lengths only known then, before
the loop runs), with errors naming the argument; Theano's accepted forms work."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.graph.fgraph import MissingInputError

PY = "FAST_COMPILE"  # the py backend: errors raised by the reference implementations


def test_initial_state_too_short_for_its_taps_symbolic():
    y0 = T.dvector("y0")
    r, _ = theano.scan(lambda a, b: a + b, outputs_info=dict(initial=y0, taps=[-3, -1]),
                       n_steps=4)
    f = theano.function([y0], r, mode=PY)
    with pytest.raises(ValueError, match=r"outputs_info\[0\]\['initial'\] has 2 rows.*"
                                         r"taps \[-3, -1\].*at least 3"):
        f(np.ones(2))
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), [4, 6, 9, 13])  # y[t-3] + y[t-1]


def test_initial_state_too_short_for_its_taps_known_now():
    with pytest.raises(ValueError, match=r"outputs_info\[1\]\['initial'\] has 2 rows.*"
                                         r"at least 4"):
        theano.scan(lambda a, b, c: [a + 1, b + c],
                    outputs_info=[T.constant(0.0), dict(initial=np.zeros(2), taps=[-4, -2])],
                    n_steps=3)


def test_sequence_shorter_than_its_taps_span_symbolic():
    x = T.dvector("x")
    r, _ = theano.scan(lambda a, b: a - b, sequences=dict(input=x, taps=[-2, 0]))
    f = theano.function([x], r, mode=PY)
    with pytest.raises(ValueError, match=r"sequences\[0\] has 1 rows.*taps \[-2, 0\].*"
                                         r"at least 2"):
        f(np.ones(1))
    assert f(np.ones(2)).shape == (0,)  # exactly the span: zero steps
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 4.0, 8.0])), [-3.0, -6.0])


def test_sequence_shorter_than_its_taps_span_known_now():
    with pytest.raises(ValueError, match=r"sequences\[1\] has 2 rows.*at least 3"):
        theano.scan(lambda a, b, c: a + b + c,
                    sequences=[T.dvector("x"), dict(input=np.arange(2.0), taps=[-1, 2])])


@pytest.mark.parametrize("where", ["sequences", "outputs_info"])
def test_non_integer_taps_refused(where):
    x = T.dvector("x")
    kw = (dict(sequences=dict(input=x, taps=[1.5])) if where == "sequences" else
          dict(outputs_info=dict(initial=x, taps=[-1.5]), n_steps=2))
    with pytest.raises(TypeError, match=rf"{where}\[0\].*taps must be integers.*1.5"):
        theano.scan(lambda a: a, **kw)


@pytest.mark.parametrize("where", ["sequences", "outputs_info"])
def test_duplicate_taps_refused(where):
    x = T.dvector("x")
    kw = (dict(sequences=dict(input=x, taps=[0, 0])) if where == "sequences" else
          dict(outputs_info=dict(initial=x, taps=[-1, -1]), n_steps=2))
    with pytest.raises(ValueError, match=rf"{where}\[0\].*taps must be different"):
        theano.scan(lambda a, b: a + b, **kw)


def test_a_single_tap_may_be_an_int():
    u, y0 = T.dvector("u"), T.dvector("y0")
    r1, _ = theano.scan(lambda a, b: a + b, sequences=dict(input=u, taps=-2),
                        outputs_info=dict(initial=y0, taps=-2))
    r2, _ = theano.scan(lambda a, b: a + b, sequences=dict(input=u, taps=[-2]),
                        outputs_info=dict(initial=y0, taps=[-2]))
    uv, y0v = np.arange(6.0), np.array([10.0, 20.0])
    got1, got2 = theano.function([u, y0], [r1, r2], mode=PY)(uv, y0v)
    ys = list(y0v)
    for t in range(len(uv) - 2):  # u[t-2] with lo=-2: step t reads u[t], y[t-2]
        ys.append(uv[t] + ys[-2])
    np.testing.assert_allclose(got1, ys[2:])
    np.testing.assert_allclose(got2, ys[2:])


def test_empty_updates_with_until():
    x = T.dvector("x")

    def step(e, acc):
        new = acc + e
        return [new], (), theano.until(new > 5)

    r, upd = theano.scan(step, sequences=x, outputs_info=T.constant(0.0))
    assert len(upd) == 0
    got = theano.function([x], r, mode=PY)(np.arange(10.0))
    np.testing.assert_allclose(got, [0.0, 1.0, 3.0, 6.0])


def test_strict_raises_missing_input_error_naming_the_variable():
    w = theano.shared(np.float64(2.0), name="w")
    x = T.dvector("x")
    with pytest.raises(MissingInputError, match="shared variable w.*non_sequences") as info:
        theano.scan(lambda e: e * w, sequences=x, strict=True)
    assert isinstance(info.value, ValueError)  # except ValueError keeps catching it


def test_runtime_error_names_the_step_and_the_inner_op():
    x, i = T.dmatrix("x"), T.lvector("i")
    r, _ = theano.scan(lambda xt, it: xt[it] * 2, sequences=[x, i], name="pick")
    f = theano.function([x, i], r, mode=PY)
    np.testing.assert_allclose(f(np.arange(6.0).reshape(3, 2), np.array([0, 1, 0])),
                               [0.0, 6.0, 8.0])
    with pytest.raises(IndexError, match=r"(?s)out of bounds.*step 2 of Scan\{pick\}.*"
                                         r"Subtensor"):
        f(np.ones((3, 2)), np.array([0, 1, 5]))
