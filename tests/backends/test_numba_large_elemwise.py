"""Fused elementwise ops with transcendental functions use NumPy's kernels on large
arrays and the compiled kernel on small ones (and for cheap arithmetic), except a
sigmoid, which our kernel computes faster than NumPy's (scipy's expit), lone or fused:
both give NumPy's values."""

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine.backends.numba import linker
from theanine.backends.numba.linker import _LARGE, _SMALL, _numpy_when_large
from theanine.rewrites.composite import Composite
from theanine.tensor import scalar_ops as so
from theanine.tensor.elemwise import Elemwise


@pytest.mark.parametrize("n", [7, _SMALL + 5, _LARGE + 5])
def test_tanh_times_two_matches_numpy(n, rng):
    x = T.fvector("x")
    f = theano.function([x], T.tanh(x) * 2, mode="NUMBA")
    xv = rng.normal(size=n).astype("float32")
    for _ in range(3):  # first calls may run before the kernel is compiled
        np.testing.assert_allclose(f(xv), np.tanh(xv) * 2, rtol=2e-6, atol=1e-6)


def test_dispatch_rule():
    heavy = Composite(1, [(so.Tanh(), (0,), "float64"), (so.Mul(), (0, 1), "float64")])
    light = Composite(1, [(so.Add(), (0, 0), "float64")] +
                      [(so.Mul(), (k, k), "float64") for k in range(1, 5)])

    def kernel(*a):
        return "kernel"

    def numpy(*a):
        return "numpy"

    big, mid, tiny = np.zeros(_LARGE), np.zeros(_SMALL), np.zeros(3)
    call = _numpy_when_large(heavy, kernel, numpy)
    assert [call(big), call(mid), call(tiny)] == ["numpy", "kernel", "numpy"]
    call = _numpy_when_large(light, kernel, numpy)
    assert [call(big), call(mid), call(tiny)] == ["kernel", "kernel", "numpy"]
    with_sigmoid = Composite(1, [(so.Tanh(), (0,), "float64"), (so.Sigmoid(), (1,), "float64")])
    call = _numpy_when_large(with_sigmoid, kernel, numpy)
    assert [call(big), call(mid), call(tiny)] == ["kernel", "kernel", "numpy"]
    call = _numpy_when_large(Elemwise(so.Sigmoid()), kernel, numpy)
    assert [call(big), call(mid), call(tiny)] == ["kernel", "kernel", "numpy"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_lone_sigmoid_is_compiled_at_the_top_level(dtype, rng):
    x = T.tensor3("x", dtype=dtype)
    with linker.policy("sync"):  # the default granularity: lone ufuncs run on NumPy
        f = theano.function([x], T.nnet.sigmoid(x), mode="NUMBA")
        g = theano.function([x], T.tanh(x), mode="NUMBA")
    assert [type(nk.node.op.scalar_op).__name__ for nk in f.fn.kernels] == ["Sigmoid"]
    assert g.fn.kernels == []  # NumPy's tanh is faster than ours
    xv = (rng.normal(size=(4, 8, _LARGE // 16)) * 20).astype(dtype)
    xv[0, 0, :4] = [np.inf, -np.inf, 0.0, -100.0]
    got = f(xv)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-xv.astype("float64"))),
                               rtol=1e-6 if dtype == "float32" else 1e-13, atol=1e-30)
