"""The py backend's specialised implementations (Elemwise, Gemm) give the reference
results and errors."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T


def _ops(f):
    return [type(n.op).__name__ for n in f.maker.fgraph.toposort()]


def test_gemm_fast_path_values_and_errors(rng):
    x, W, b = T.dvector("x"), T.dmatrix("W"), T.dvector("b")
    f = theano.function([x, W, b], T.dot(x, W) + b, mode="PY")
    assert "Gemm" in _ops(f)
    xv, Wv, bv = rng.normal(size=3), rng.normal(size=(3, 4)), rng.normal(size=4)
    np.testing.assert_allclose(f(xv, Wv, bv), xv @ Wv + bv)
    with pytest.raises(ValueError, match="not aligned"):
        f(xv, rng.normal(size=(2, 4)), bv)
    with pytest.raises(ValueError, match="shape"):
        f(xv, Wv, rng.normal(size=5))


def test_gemm_with_scale_factors(rng):
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("b")
    f = theano.function([x, W, b], 0.5 * b + 3 * T.dot(x, W), mode="PY")
    xv, Wv, bv = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    np.testing.assert_allclose(f(xv, Wv, bv), 0.5 * bv + 3 * xv @ Wv)


def test_elemwise_fast_path_dtypes_and_broadcast_errors():
    x = T.fvector("x")
    y = T.fmatrix("y")
    f = theano.function([x, y], x + y, mode="PY")
    out = f(np.ones(3, "float32"), np.ones((2, 3), "float32"))
    assert out.dtype == np.float32 and out.shape == (2, 3)
    g = theano.function([x], T.exp(x) * 2, mode="PY")
    assert g(np.zeros(2, "float32")).dtype == np.float32
    z = T.fmatrix("z")
    h = theano.function([y, z], y + z, mode="PY")
    with pytest.raises(ValueError, match="broadcastable"):
        h(np.ones((2, 3), "float32"), np.ones((1, 3), "float32"))


class _Returns(theano.Op):
    """An op whose perform returns a given value, whatever its declared output type."""

    __props__ = ("kind",)

    def __init__(self, kind):
        self.kind = kind

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [T.TensorType("float64", (False, True))()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0].reshape(-1, 1)
        output_storage[0][0] = {"right": x, "swapped": x.astype(">f8"),
                                "float32": x.astype("float32"), "vector": x.ravel(),
                                "wide": np.hstack([x, x]), "list": x.tolist()}[self.kind]


@pytest.mark.parametrize("kind, error", [
    ("right", None), ("swapped", None), ("float32", "dtype float32, ndim 2"),
    ("vector", "dtype float64, ndim 1"), ("wide", "dim 1 is declared broadcastable"),
    ("list", "returned list")])
def test_check_types_names_the_wrong_output(kind, error):
    x = T.dvector("x")
    with theano.config.change_flags(check_types=True):
        f = theano.function([x], _Returns(kind)(x), mode="PY")
        if error is None:
            np.testing.assert_array_equal(f(np.arange(3.0)), np.arange(3.0)[:, None])
        else:
            with pytest.raises(TypeError, match=error):
                f(np.arange(3.0))
