"""Values entering a graph are plain ndarrays: np.matrix (and scipy.sparse's
todense()) becomes a plain ndarray with elementwise semantics; a masked array is
refused with a TypeError naming the value. Checked at every place a value enters:
function arguments (by position and name), In defaults and f[name] = v, shared
values and set_value, givens and update values, constants in expressions, scan's
sequences / outputs_info / non_sequences; on py and numba."""

import numpy as np
import pytest
import scipy.sparse

import theanine as theano
import theanine.tensor as T
from tests.backends.conftest import BACKENDS, backend_mode
from theanine import In

M = np.matrix([[1.0, 2.0], [3.0, 4.0]])
A = np.asarray(M)
MASKED = np.ma.array(A, mask=[[True, False], [False, False]])
MASK_MSG = "masked arrays"


def _matrices():
    return [M, scipy.sparse.csr_matrix(A).todense(), np.asmatrix(A.astype("float32"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", range(3))
def test_matrix_arguments_have_elementwise_semantics(backend, k):
    m = _matrices()[k]
    X, Y = T.dmatrices("X", "Y")
    f = theano.function([X, Y], [X * Y, (X * Y).sum(), T.dot(X, Y)],
                        mode=backend_mode(backend))
    prod, total, dot = f(m, m)
    assert type(prod) is np.ndarray and type(total) is np.ndarray
    np.testing.assert_array_equal(prod, A * A)  # not the matrix product
    assert total.shape == () and total == (A * A).sum()
    np.testing.assert_array_equal(dot, A @ A)
    prod2, _, _ = f(X=m, Y=A)  # by name
    np.testing.assert_array_equal(prod2, A * A)


def test_in_default_and_setitem_convert_matrix():
    X, Y = T.dmatrices("X", "Y")
    f = theano.function([X, In(Y, value=M, name="y")], X * Y)
    np.testing.assert_array_equal(f(A), A * A)
    assert type(f["y"]) is np.ndarray
    f["y"] = 2 * M
    assert type(f["y"]) is np.ndarray
    np.testing.assert_array_equal(f(A), 2 * A * A)


def test_shared_and_set_value_convert_and_copy_matrix():
    m = M.copy()
    s = theano.shared(m, name="s")
    assert type(s.get_value(borrow=True)) is np.ndarray
    m[0, 0] = 100.0  # a copy was taken (borrow=False)
    assert s.get_value()[0, 0] == 1.0
    s.set_value(m)
    m[0, 0] = 7.0
    assert type(s.get_value(borrow=True)) is np.ndarray and s.get_value()[0, 0] == 100.0
    f = theano.function([], [s * s, (s * s).sum()])
    prod, total = f()
    np.testing.assert_array_equal(prod, [[1e4, 4.0], [9.0, 16.0]])
    assert total.shape == ()
    s.set_value(m, borrow=True)  # borrow: may share memory, still a plain ndarray
    assert type(s.get_value(borrow=True)) is np.ndarray


def test_givens_updates_and_constants_convert_matrix():
    X = T.dmatrix("X")
    Z = T.dmatrix("Z")
    s = theano.shared(np.zeros((2, 2)), name="s")
    f = theano.function([X], [X * Z, (X * M).sum()], givens={Z: M}, updates=[(s, M)])
    prod, total = f(A)
    np.testing.assert_array_equal(prod, A * A)
    assert total.shape == () and total == (A * A).sum()
    assert type(s.get_value(borrow=True)) is np.ndarray
    np.testing.assert_array_equal(s.get_value(), A)
    c = T.constant(M)
    assert type(c.data) is np.ndarray and (c * c).eval().tolist() == (A * A).tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_inputs_convert_matrix(backend):
    x0 = T.dvector("x0")
    out, _ = theano.scan(lambda row, h, w: h * row * w[0], sequences=M, outputs_info=x0,
                         non_sequences=M)
    f = theano.function([x0], out[-1], mode=backend_mode(backend))
    np.testing.assert_allclose(f(np.ones(2)), A[0] * A[1] * A[0] ** 2)


def _refused(fn):
    with pytest.raises(TypeError, match=MASK_MSG):
        fn()


def test_masked_arrays_are_refused_everywhere():
    X, Y = T.dmatrices("X", "Y")
    f = theano.function([X, In(Y, value=A, name="y")], X * Y)
    _refused(lambda: f(MASKED, A))
    _refused(lambda: f(A, y=MASKED))
    _refused(lambda: f.__setitem__("y", MASKED))
    np.testing.assert_array_equal(f["y"], A)  # unchanged
    _refused(lambda: theano.function([X, In(Y, value=MASKED)], X * Y))
    _refused(lambda: theano.shared(MASKED))
    s = theano.shared(A.copy(), name="s")
    _refused(lambda: s.set_value(MASKED))
    np.testing.assert_array_equal(s.get_value(), A)  # unchanged
    _refused(lambda: theano.function([X], X * Y, givens={Y: MASKED}))
    _refused(lambda: theano.function([X], X, updates=[(s, MASKED)]))
    _refused(lambda: X * MASKED)
    _refused(lambda: T.constant(MASKED))
    _refused(lambda: theano.scan(lambda r: r * 2, sequences=MASKED))
    # an unmasked masked array is refused too: one rule
    _refused(lambda: f(np.ma.array(A), A))


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_argument_refused_before_any_state_changes(backend):
    x = T.dvector("x")
    s = theano.shared(np.zeros(2), name="s")
    f = theano.function([x], x.sum(), updates=[(s, s + x)], mode=backend_mode(backend))
    with pytest.raises(TypeError, match=r"input 0 \(x\).*masked arrays"):
        f(np.ma.array([1.0, 2.0], mask=[0, 1]))
    np.testing.assert_array_equal(s.get_value(), [0.0, 0.0])
    assert f(np.ones(2)) == 2.0
