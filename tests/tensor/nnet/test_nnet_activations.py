"""T.nnet activations (sigmoid family, softplus, softsign, relu, elu, selu) against
NumPy references, their dtypes, gradients, and finite gradients at extreme inputs."""

import numpy as np
import pytest
import scipy.special as sps

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad

nnet = T.nnet
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def ultra_fast_ref(x):
    """Theano's piecewise approximation, written out per element."""
    out = []
    for v in np.ravel(x).astype("float64"):
        h = abs(v) / 2
        z = 1.5 * h / (1 + h) if h < 1.7 else (
            0.935409070603099 + 0.0458812946797165 * (h - 1.7) if h < 3 else 0.99505475368673)
        out.append(0.5 + 0.5 * np.sign(v) * z)
    return np.array(out).reshape(np.shape(x))


REFS = {
    "sigmoid": (nnet.sigmoid, sps.expit),
    "softplus": (nnet.softplus, lambda x: np.logaddexp(0, x)),
    "hard_sigmoid": (nnet.hard_sigmoid, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    "ultra_fast_sigmoid": (nnet.ultra_fast_sigmoid, ultra_fast_ref),
    "softsign": (nnet.softsign, lambda x: x / (1 + np.abs(x))),
    "relu": (nnet.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda x: nnet.relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "elu": (nnet.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "elu_half": (lambda x: nnet.elu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    "selu": (nnet.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x))),
}


@pytest.mark.parametrize("name", sorted(REFS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4)])
def test_activation_matches_numpy(name, dtype, shape, rng):
    fn, ref = REFS[name]
    x = T.TensorType(dtype, (False,) * len(shape))("x")
    v = (rng.standard_normal(shape) * 4).astype(dtype)
    out = fn(x)
    assert out.dtype == dtype and out.ndim == len(shape)
    got = theano.function([x], out)(v)
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, ref(v.astype("float64")), rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "hard_sigmoid", "ultra_fast_sigmoid",
                                  "softsign", "elu", "selu"])
@pytest.mark.parametrize("dtype,expected", [("int8", "float32"), ("int64", "float64")])
def test_integer_inputs_give_floats(name, dtype, expected):
    fn, ref = REFS[name]
    x = T.TensorType(dtype, (False,))("x")
    out = fn(x)
    assert out.dtype == expected
    v = np.array([-3, 0, 2], dtype=dtype)
    np.testing.assert_allclose(theano.function([x], out)(v), ref(v.astype("float64")),
                               rtol=1e-6)


# points away from each function's kinks (0 for relu/elu, +-2.5 hard, 3.4 and 6 ultra)
GRAD_POINTS = np.array([-7.0, -4.1, -2.0, -0.7, -0.2, 0.3, 0.9, 2.2, 5.0, 8.0])


@pytest.mark.parametrize("name", sorted(REFS))
def test_activation_gradient(name):
    verify_grad(REFS[name][0], [GRAD_POINTS.copy()])


def test_ultra_fast_sigmoid_gradient_at_zero_is_the_slope():
    x = T.dscalar("x")
    g = theano.function([x], T.grad(nnet.ultra_fast_sigmoid(x), x))
    assert g(0.0) == pytest.approx(0.375)  # d/dx of 0.5 + 0.5 * 1.5 * (x/2) / (1 + |x/2|)


def test_relu_symbolic_alpha():
    x, a = T.dvector("x"), T.dscalar("a")
    f = theano.function([x, a], nnet.relu(x, a))
    np.testing.assert_allclose(f(np.array([-2.0, 3.0]), 0.25), [-0.5, 3.0])
    verify_grad(lambda x, a: nnet.relu(x, a), [np.array([-2.0, 3.0]), np.array(0.3)])


def test_relu_keeps_float32_with_python_alpha():
    x = T.fvector("x")
    assert nnet.relu(x).dtype == "float32"
    assert nnet.relu(x, 0.2).dtype == "float32"


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "elu", "selu", "softsign",
                                  "ultra_fast_sigmoid", "hard_sigmoid", "relu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_give_finite_values_and_gradients(name, dtype):
    fn, ref = REFS[name]
    x = T.TensorType(dtype, (False,))("x")
    v = np.array([-1000.0, -800.0, -50.0, 50.0, 800.0, 1000.0], dtype=dtype)
    out = fn(x)
    f = theano.function([x], [out, T.grad(out.sum(), x)])
    val, g = f(v)
    assert np.all(np.isfinite(val)) and np.all(np.isfinite(g))
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(val, ref(v.astype("float64")), rtol=1e-6,
                                   atol=1e-7 if dtype == "float32" else 0)


def test_sigmoid_and_softplus_extreme_gradients_are_exact():
    x = T.dvector("x")
    v = np.array([-800.0, 800.0])
    gs = theano.function([x], T.grad(nnet.sigmoid(x).sum(), x))(v)
    gp = theano.function([x], T.grad(nnet.softplus(x).sum(), x))(v)
    np.testing.assert_array_equal(gs, [0.0, 0.0])
    np.testing.assert_array_equal(gp, [0.0, 1.0])


def test_sigmoid_is_theanos_elemwise_op():
    x = T.dmatrix("x")
    assert nnet.sigmoid(x).owner.op == nnet.sigmoid == T.nnet_sigmoid.op
    assert nnet.softplus(x).owner.op == nnet.softplus
    assert nnet.sigm.sigmoid is nnet.sigmoid


def test_activation_rejects_complex():
    with pytest.raises(TypeError, match="softsign: x must be a real tensor"):
        nnet.softsign(T.zvector("z"))
