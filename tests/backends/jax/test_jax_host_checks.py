"""Range checks of index arrays that are function inputs run on the host, before the
compiled program (backends/jax/checks.py): no check in the program, the same errors
as py, and a failing call changes no shared value. Computed indices, lossy casts and
checks inside loops keep their check in the program."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import theanine as theano  # noqa: E402
import theanine.tensor as T  # noqa: E402
from theanine.ifelse import ifelse  # noqa: E402


def host_checks(f):
    """The host checks of a one-segment jax function's traces (one tuple per shapes)."""
    fn = list(f.fn.single.variants.values())[0]
    return list(fn.host_checks.values())


def embedding(index_of=lambda tok: tok, dtype="int32"):
    """A lookup emb[index_of(tok)] whose gradient updates emb; the same on py."""
    out = []
    for mode in ("PY", "JAX"):
        emb = theano.shared(np.arange(12, dtype="float32").reshape(6, 2), name="emb")
        tok = T.matrix("tok", dtype=dtype)
        cost = (emb[index_of(tok)] ** 2).sum()
        f = theano.function([tok], cost, updates=[(emb, emb - 0.01 * theano.grad(cost, emb))],
                            mode=mode)
        out.append((f, emb))
    return out


def same_run(ref, got, t):
    (p, pe), (f, fe) = ref, got
    np.testing.assert_allclose(f(t), p(t), rtol=1e-6)
    np.testing.assert_allclose(fe.get_value(), pe.get_value(), rtol=1e-6)


@pytest.mark.parametrize("index_of", [lambda t: t, lambda t: t.T, lambda t: t.flatten(),
                                      lambda t: T.cast(t, "int64")],
                         ids=["input", "transposed", "flattened", "widened"])
def test_input_index_checked_on_the_host_shared_value_unchanged(index_of):
    ref, got = embedding(index_of)
    f, emb = got
    bad = np.array([[0, 6]], "int32")
    before = emb.get_value()
    with pytest.raises(IndexError, match="index 6 is out of bounds for axis 0 with size 6"):
        f(bad)  # the first call: nothing traced before it
    np.testing.assert_array_equal(emb.get_value(), before)
    t = np.array([[0, 1], [2, 5]], "int32")
    for _ in range(2):
        same_run(ref, got, t)
    # no check left in the program: the lookup and its gradient are checked on the host
    assert f.fn.table.entries == []
    assert [len(c) for c in host_checks(f)] == [1, 1]
    before = emb.get_value()
    for b in (np.array([[0, -7]], "int32"), np.array([[1, 2], [3, 60]], "int32")):
        with pytest.raises(IndexError, match=f"index {b.min() if b.min() < 0 else b.max()} "
                                             "is out of bounds"):
            f(b)  # the fast path (same shapes) and a new shape
        np.testing.assert_array_equal(emb.get_value(), before)
    same_run(ref, got, np.array([[5, -6, 3]], "int32"))  # a third shape, in bounds
    same_run(ref, got, t)


def test_computed_index_keeps_its_check_in_the_program():
    ref, got = embedding(lambda t: t + 1)
    f, emb = got
    same_run(ref, got, np.array([[0, 1], [2, 4]], "int32"))
    assert f.fn.table.entries  # checked by the program
    assert all(c == () for c in host_checks(f))
    before = emb.get_value()
    with pytest.raises(IndexError):
        f(np.array([[0, 5]], "int32"))  # 5 + 1 is out of bounds
    np.testing.assert_array_equal(emb.get_value(), before)


def test_narrowing_cast_keeps_its_check_in_the_program():
    # cast to int8, 255 wraps to -1 (in bounds, as on py) and 128 to -128 (out of bounds):
    # the argument's values are not the index's, so the program checks the index
    ref, got = embedding(lambda t: T.cast(t, "int8"))
    f, emb = got
    same_run(ref, got, np.array([[0, 255]], "int32"))
    assert f.fn.table.entries
    before = emb.get_value()
    with pytest.raises(IndexError):
        f(np.array([[0, 128]], "int32"))
    np.testing.assert_array_equal(emb.get_value(), before)


def test_unsigned_index_input_checked_on_the_host():
    x = theano.shared(np.arange(5.0), name="x")
    i = T.vector("i", dtype="uint8")
    f = theano.function([i], x[i], mode="JAX")
    p = theano.function([i], x[i], mode="PY")
    ok = np.array([4, 0, 2], "uint8")
    np.testing.assert_array_equal(f(ok), p(ok))
    with pytest.raises(IndexError, match="index 200 is out of bounds"):
        f(np.array([1, 200], "uint8"))
    assert f.fn.table.entries == []


def test_float64_function_checks_on_the_host_too():
    # a 64-bit input: the calls stay on the jitted function under x64
    x, i = T.dvector("x"), T.lscalar("i")
    f = theano.function([x, i], x[i] * 2, mode="JAX")
    xv = np.arange(4.0)
    for k in (3, -4, 0):
        assert f(xv, k) == 2 * xv[k]
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 0 with size 4"):
        f(xv, 4)
    assert f.fn.table.entries == []
    assert f(np.arange(9.0), 8) == 16.0  # a new shape, a new bound


def test_crossentropy_targets_checked_on_the_host():
    z, y = T.fmatrix("z"), T.ivector("y")
    w = theano.shared(np.ones((3, 4), "float32"), name="w")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(z, w)), y).mean()
    f = theano.function([z, y], cost, updates=[(w, w - 0.1 * theano.grad(cost, w))],
                        mode="JAX")
    p = theano.function([z, y], cost, mode="PY")
    zv = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
    want = p(zv, np.array([3, 0], "int32"))  # before f updates w
    np.testing.assert_allclose(f(zv, np.array([3, 0], "int32")), want, rtol=1e-6)
    assert f.fn.table.entries == []
    before = w.get_value()
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\)"):
        f(zv, np.array([1, 4], "int32"))
    np.testing.assert_array_equal(w.get_value(), before)


def test_check_inside_a_lazy_branch_stays_in_the_branch():
    # the branch's lookup runs only when the branch is taken: not taken, py raises
    # nothing, and neither may a check moved out of the branch
    x, i, c = T.fvector("x"), T.iscalar("i"), T.iscalar("c")
    y = ifelse(c, x[i] * 2, T.constant(np.float32(-1)))
    f = theano.function([x, i, c], y, mode="JAX")
    p = theano.function([x, i, c], y, mode="PY")
    xv = np.arange(3, dtype="float32")
    for args in ((xv, 1, 1), (xv, 7, 0), (xv, -3, 1)):
        np.testing.assert_array_equal(f(*args), p(*args))
    assert f.fn.table.entries  # the check is the branch's
    with pytest.raises(IndexError, match="out of bounds"):
        f(xv, 7, 1)
