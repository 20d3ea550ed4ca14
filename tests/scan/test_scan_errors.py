"""scan's errors name the argument, what was expected and what was given."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T


def test_initial_state_dtype_mismatch_says_which_output_and_how_to_fix():
    x = T.dvector("x")
    with pytest.raises(TypeError, match=r"output 0.*float64.*float32.*[Cc]ast"):
        theano.scan(lambda e, acc: acc + e, sequences=x,
                    outputs_info=T.constant(np.float32(0.0)))


def test_initial_state_ndim_mismatch():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match=r"output 0.*dimensions"):
        theano.scan(lambda e, acc: acc + e, sequences=x, outputs_info=T.constant(0.0))


def test_broadcast_pattern_mismatch_suggests_unbroadcast():
    h0 = T.drow("h0")
    W = T.dmatrix("W")
    with pytest.raises(TypeError, match="unbroadcast"):
        theano.scan(lambda h: h + W, outputs_info=h0, n_steps=3)


def test_wrong_number_of_outputs():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="returned 2 outputs but outputs_info has 1"):
        theano.scan(lambda e, acc: [acc + e, e], sequences=x, outputs_info=T.constant(0.0))


def test_python_constant_returned():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="constant"):
        theano.scan(lambda e: 1.0, sequences=x)


def test_positive_output_taps():
    with pytest.raises(ValueError, match="strictly negative"):
        theano.scan(lambda a: a, outputs_info=dict(initial=T.dvector(), taps=[1]), n_steps=2)


def test_taps_without_initial():
    with pytest.raises(ValueError, match="initial"):
        theano.scan(lambda a: a, outputs_info=dict(taps=[-1]), n_steps=2)


def test_non_integer_n_steps():
    with pytest.raises(TypeError, match="n_steps must be an integer"):
        theano.scan(lambda a: a * 2, outputs_info=T.constant(1.0), n_steps=2.5)
    with pytest.raises(TypeError, match="n_steps must be an integer"):
        theano.scan(lambda a: a * 2, outputs_info=T.constant(1.0), n_steps=T.dscalar())


def test_no_sequences_no_n_steps():
    with pytest.raises(ValueError, match="n_steps"):
        theano.scan(lambda a: a * 2, outputs_info=T.constant(1.0))


def test_until_not_last():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="last"):
        theano.scan(lambda e: (theano.until(e > 0), e), sequences=x)


def test_until_not_scalar():
    with pytest.raises(TypeError, match="0-d"):
        theano.until(T.dvector())


def test_strict_requires_shared_in_non_sequences():
    w = theano.shared(np.float64(2.0), name="w")
    x = T.dvector("x")
    with pytest.raises(ValueError, match="non_sequences"):
        theano.scan(lambda e: e * w, sequences=x, strict=True)
    r, _ = theano.scan(lambda e, w_: e * w_, sequences=x, non_sequences=[w], strict=True)
    np.testing.assert_array_equal(theano.function([x], r)(np.arange(3.0)), [0, 2, 4])


def test_state_changing_shape_at_run_time():
    h0 = T.dvector("h0")
    r, _ = theano.scan(lambda h: T.concatenate([h, h]), outputs_info=h0, n_steps=2)
    f = theano.function([h0], r)
    with pytest.raises(ValueError, match="shape"):
        f(np.ones(2))


def test_update_of_non_shared():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="shared"):
        theano.scan(lambda e: (e, {x: e}), sequences=x)
