"""T.nnet.bn: batch_normalization (both modes), batch_normalization_train (axes,
parameter forms, running averages) and batch_normalization_test against NumPy."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.gradient import verify_grad
from theanine.tensor.nnet import bn


@pytest.mark.parametrize("mode", ["low_mem", "high_mem"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_normalization(mode, dtype, rng):
    x, g, b, m, s = (T.TensorType(dtype, bc)(n) for n, bc in zip(
        "xgbms", [(False, False)] + [(True, False)] * 4))
    xv = rng.standard_normal((5, 3)).astype(dtype)
    gv, bv, mv = (rng.standard_normal((1, 3)).astype(dtype) for _ in range(3))
    sv = (rng.random((1, 3)) + 0.5).astype(dtype)
    out = bn.batch_normalization(x, g, b, m, s, mode=mode)
    assert out.dtype == dtype
    got = theano.function([x, g, b, m, s], out)(xv, gv, bv, mv, sv)
    np.testing.assert_allclose(got, (xv - mv) * gv / sv + bv, rtol=1e-5)
    assert T.nnet.batch_normalization is bn.batch_normalization


def test_batch_normalization_gradient(rng):
    vals = [rng.standard_normal((4, 3))] + [rng.standard_normal(3) for _ in range(3)]
    vals.append(rng.random(3) + 0.5)
    verify_grad(lambda *a: bn.batch_normalization(*a), vals, rng=rng)


def test_batch_normalization_bad_mode():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="mode must be 'low_mem' or 'high_mem', got 'fast'"):
        bn.batch_normalization(x, x, x, x, x, mode="fast")


def np_train(x, gamma, beta, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    return (x - mean) * invstd * gamma + beta, mean, invstd, var


@pytest.mark.parametrize("axes,shape,axes_tuple", [
    ("per-activation", (6, 3), (0,)), ("spatial", (4, 3, 2, 5), (0, 2, 3)),
    ((0, 1), (3, 4, 2), (0, 1)), ([2], (3, 4, 5), (2,))])
@pytest.mark.parametrize("squeezed", [False, True])
def test_batch_normalization_train(axes, shape, axes_tuple, squeezed, rng):
    xv = rng.standard_normal(shape) * 2 + 1
    pshape = tuple(1 if i in axes_tuple else n for i, n in enumerate(shape))
    gv, bv = rng.standard_normal(pshape), rng.standard_normal(pshape)
    rmv, rvv = rng.standard_normal(pshape), rng.random(pshape) + 0.5
    kept = tuple(n for i, n in enumerate(shape) if i not in axes_tuple)
    given = [a.reshape(kept) if squeezed else a for a in (gv, bv, rmv, rvv)]
    x = T.TensorType("float64", (False,) * len(shape))("x")
    g, b, rm, rv = (T.TensorType("float64", (False,) * a.ndim)(n)
                    for n, a in zip(["g", "b", "rm", "rv"], given))
    outs = bn.batch_normalization_train(x, g, b, axes, epsilon=1e-3,
                                        running_average_factor=0.3, running_mean=rm,
                                        running_var=rv)
    assert len(outs) == 5
    got = theano.function([x, g, b, rm, rv], list(outs))(xv, *given)
    out, mean, invstd, var = np_train(xv, gv, bv, axes_tuple, 1e-3)
    m = np.prod([shape[a] for a in axes_tuple])
    new_rm = rmv * 0.7 + mean * 0.3
    new_rv = rvv * 0.7 + var * m / (m - 1) * 0.3
    for a, e in zip(got, [out, mean, invstd, new_rm, new_rv]):
        np.testing.assert_allclose(a, e.reshape(kept) if squeezed and e is not out else e,
                                   rtol=1e-10)
    three = bn.batch_normalization_train(x, g, b, axes)
    assert len(three) == 3


def test_batch_normalization_train_gradient(rng):
    def f(x, g, b):
        return bn.batch_normalization_train(x, g, b, "spatial", epsilon=1e-2)[0]

    verify_grad(f, [rng.standard_normal((3, 2, 2)), rng.standard_normal(2),
                    rng.standard_normal(2)], rng=rng)


def test_running_averages_as_shared_updates(rng):
    x = T.fmatrix("x")
    g = theano.shared(np.ones((1, 3), "float32"))
    b = theano.shared(np.zeros((1, 3), "float32"))
    rm = theano.shared(np.zeros((1, 3), "float32"))
    rv = theano.shared(np.ones((1, 3), "float32"))
    out, _, _, nrm, nrv = bn.batch_normalization_train(x, g, b, running_mean=rm,
                                                       running_var=rv)
    step = theano.function([x], out, updates=[(rm, nrm), (rv, nrv)])
    xv = rng.standard_normal((8, 3)).astype("float32")
    step(xv)
    np.testing.assert_allclose(rm.get_value(), 0.1 * xv.mean(axis=0, keepdims=True),
                               rtol=1e-5)
    np.testing.assert_allclose(rv.get_value(),
                               0.9 + 0.1 * xv.var(axis=0, ddof=1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("squeezed", [False, True])
def test_batch_normalization_test(squeezed, rng):
    xv = rng.standard_normal((4, 3, 2))
    params = [rng.standard_normal((1, 3, 1)) for _ in range(3)] + [rng.random((1, 3, 1)) + .5]
    given = [p.reshape(3) if squeezed else p for p in params]
    x = T.dtensor3("x")
    ps = [T.TensorType("float64", (False,) * p.ndim)(f"p{i}") for i, p in enumerate(given)]
    out = bn.batch_normalization_test(x, *ps, axes="spatial", epsilon=1e-3)
    got = theano.function([x, *ps], out)(xv, *given)
    gv, bv, mv, vv = params
    np.testing.assert_allclose(got, (xv - mv) * gv / np.sqrt(vv + 1e-3) + bv)
    verify_grad(lambda *a: bn.batch_normalization_test(*a, axes="spatial"), [xv, *given],
                rng=rng)


def test_train_and_test_errors():
    x, v, m = T.dtensor3("x"), T.dvector("v"), T.dmatrix("m")
    with pytest.raises(ValueError, match="axes must be 'per-activation', 'spatial'"):
        bn.batch_normalization_train(x, v, v, axes="channels")
    with pytest.raises(ValueError, match=r"axes must be distinct ints in \[0, 3\)"):
        bn.batch_normalization_train(x, v, v, axes=(0, 3))
    with pytest.raises(ValueError, match="at least one axis"):
        bn.batch_normalization_train(x, v, v, axes=())
    with pytest.raises(ValueError, match="gamma must have 3 dimensions .* or 2 .*got 1"):
        bn.batch_normalization_train(x, v, m)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        bn.batch_normalization_train(x, m, m, running_mean=m)
    with pytest.raises(ValueError, match="var must have 3 dimensions"):
        bn.batch_normalization_test(x, m, m, m, v)
